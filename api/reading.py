"""Slow clients: a request's headers, and its body, arrive within ``REQUEST_READ_TIMEOUT``.

A client that sends a few bytes now and then would otherwise hold a connection, and the
memory of what it sent so far, for as long as it likes. Two places enforce the bound:

- the body: :class:`BodyDeadline`, ASGI middleware; the body must have arrived within the
  timeout of the endpoint's first read (``/graphql`` reads it only once the token passed),
  else `api.errors.RequestTimeout`: 408 and the connection is closed;
- the headers: :class:`HeaderDeadline`, the HTTP protocol of ``steward serve`` (uvicorn's
  httptools protocol, which has no such timeout: ``timeout_keep_alive`` bounds only the
  silence *between* requests). Headers that have begun but not ended within the timeout
  get a GraphQL-shaped 408 and the connection is closed; a connection that sends nothing at
  all is closed without a word.

uvicorn's protocol class is subclassed here and nowhere else;
``tests/test_request_bounds.py::test_the_header_deadline_is_written_against_this_uvicorn`` pins the
release it was written against.
"""

from __future__ import annotations

import asyncio
import time
from functools import cache
from typing import Any

import anyio
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from api.errors import RequestTimeout
from api.settings import Settings

__all__ = ["WRITTEN_AGAINST", "BodyDeadline", "HeaderDeadline"]

WRITTEN_AGAINST = "0.54"
"""The uvicorn release (major.minor) :class:`HeaderDeadline` was written against."""


class BodyDeadline:
    """ASGI middleware: the whole body arrives within ``timeout`` seconds of its first read.

    Args:
        app: the application to wrap.
        timeout: seconds.
    """

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with a ``receive`` that raises `RequestTimeout` when late."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline: float | None = None
        complete = False

        async def bounded() -> Message:
            nonlocal deadline, complete
            if complete:  # later reads wait for a disconnect, which has no deadline
                return await receive()
            if deadline is None:
                deadline = time.monotonic() + self.timeout
            try:
                with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(self.timeout) from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, bounded, send)


@cache
def _timeout() -> float:
    return Settings().request_read_timeout


_BODY = orjson.dumps(
    {
        "errors": [
            {
                "message": "The request headers did not arrive in time.",
                "extensions": {"code": RequestTimeout.code},
            }
        ]
    }
)
_RESPONSE = b"".join(
    [
        STATUS_LINE[408],
        b"content-type: application/json\r\n",
        b"content-length: " + str(len(_BODY)).encode() + b"\r\n",
        b"connection: close\r\n",
        b"\r\n",
        _BODY,
    ]
)


class HeaderDeadline(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline on each request's headers.

    The timeout is ``STEWARD_REQUEST_READ_TIMEOUT``, read once per process.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._begun = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's headers."""
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        """A request begins: its headers have the timeout from now (on a kept-alive
        connection, the silence before it is ``timeout_keep_alive``'s)."""
        super().on_message_begin()
        self._begun = True
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        """The headers are in: the body's deadline is `BodyDeadline`'s."""
        self._disarm()
        self._begun = False
        super().on_headers_complete()

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(_timeout(), self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._begun:
            self.transport.write(_RESPONSE)
        self.transport.close()
