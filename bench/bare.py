"""The floors' bare ASGI apps: no framework, the lifespan acknowledged, the request's body read,
one JSON answer per request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Answer = Callable[[str], Awaitable[bytes]]
"""The answer's bytes for a request's path."""

HEADERS = [(b"content-type", b"application/json")]


def bare_app(answer: Answer) -> Any:
    """An ASGI app that answers every HTTP request 200 with ``await answer(path)``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        body = await answer(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": body})

    return app
