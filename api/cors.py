"""CORS for the browser origins of ``STEWARD_CORS_ORIGINS``, by Starlette's `CORSMiddleware`.

Most of Steward's callers are not browsers (servers, partners' integrations, mobile apps,
curl): their requests carry no ``Origin``, and for them Starlette's middleware only adds
``Vary: Origin`` to the response, through a request's worth of its own objects (the request's
headers, a response's mutable headers, a wrapped ``send``). `CrossOrigin` sends requests with
an ``Origin`` through that middleware and adds ``Vary: Origin`` to the others' responses
itself, as the middleware does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CrossOrigin"]


class CrossOrigin:
    """ASGI middleware: `CORSMiddleware`, configured by the arguments of the same names, for
    requests with an ``Origin``; ``Vary: Origin`` on every other HTTP response."""

    def __init__(
        self,
        app: ASGIApp,
        allow_origins: Sequence[str] = (),
        allow_methods: Sequence[str] = ("GET",),
        allow_headers: Sequence[str] = (),
        max_age: int = 600,
    ) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=allow_origins,
            allow_methods=allow_methods,
            allow_headers=allow_headers,
            max_age=max_age,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(name == b"origin" for name, _ in scope["headers"]):
            await self.cors(scope, receive, send)
            return

        async def varying(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _vary_origin(message.get("headers", ()))}
            await send(message)

        await self.app(scope, receive, varying)


def _vary_origin(headers: Any) -> list[tuple[bytes, bytes]]:
    """``headers`` with ``Origin`` added to their ``Vary``: one header, where the first was
    (as Starlette's `MutableHeaders` sets it), else last."""
    raw = list(headers)
    at = [index for index, (name, _value) in enumerate(raw) if name.lower() == b"vary"]
    vary = b", ".join([*(raw[index][1] for index in at), b"Origin"])
    if not at:
        return [*raw, (b"vary", vary)]
    kept = [pair for index, pair in enumerate(raw) if index not in at[1:]]
    kept[at[0]] = (b"vary", vary)
    return kept
