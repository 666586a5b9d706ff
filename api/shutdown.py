"""Requests that a graceful shutdown will not serve get a 503 of Steward's.

On SIGTERM uvicorn stops accepting connections and waits ``--graceful-timeout`` seconds for
the requests in flight; then it cancels them, and answers each one whose response had not
begun with its own ``text/plain`` 500. :class:`Unfinished` answers them first, in Steward's
shape: 503 ``SHUTTING_DOWN`` with ``Retry-After`` (GraphQL-shaped; RFC 6749's
``temporarily_unavailable`` on ``/oauth/token``), and the connection closes.

Meanwhile a kept-alive connection stays open (`api.request_bounds.HttpProtocol`) rather than being
closed under a request its client may be sending: a request that arrives on it is marked
`DRAINING` in its scope, and answered the same 503 with ``Connection: close``.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import SHUTTING_DOWN, unavailable_response
from api.telemetry import outcome_of

__all__ = ["DRAINING", "Unfinished"]

DRAINING = "steward.draining"
"""The scope key of a request that arrived on a kept-alive connection during a shutdown."""


class Unfinished:
    """ASGI middleware: a request cancelled before its response began, or that arrived while
    the server shuts down, is answered 503.

    Args:
        app: the application to wrap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request; answer it 503 if it is cancelled before it answered."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get(DRAINING):
            await self._unavailable(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError:
            if started:
                raise
            # The server cancels this request's task and waits for it no more: answer, and
            # end the task (re-raising would have uvicorn log a traceback per request).
            await self._unavailable(scope, receive, send)

    @staticmethod
    async def _unavailable(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        outcome_of(request).codes.append(SHUTTING_DOWN)
        response = unavailable_response(SHUTTING_DOWN, scope["path"], request.headers.get("accept"))
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
