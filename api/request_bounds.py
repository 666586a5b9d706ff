"""What a request may send: its headers bounded in size and time, its body read only when wanted.

A client that sends a few bytes now and then, or header after header, would otherwise hold a
connection, and the memory of what it sent so far, for as long as it likes. Three bounds:

- the body: `api.edge.Edge`, the app's outermost middleware; the body must have arrived within
  ``REQUEST_READ_TIMEOUT`` of the endpoint's first read (``/graphql`` reads it only once the
  token passed), else `api.errors.RequestTimeout`: 408 and the connection is closed. A
  response sent while a body is still unread (a refusal before the body was wanted) closes
  the connection: the rest of the body is never read;
- the headers' size: at most :data:`MAX_HEADER_BYTES` (request line included) and
  :data:`MAX_HEADER_LINES` lines, else 431 ``HEADERS_TOO_LARGE`` and the connection closed.
  :class:`HttpProtocol` counts them while they arrive (uvicorn's httptools protocol keeps
  every header it is sent, without limit); under any other ASGI server `api.edge.Edge` counts
  them (:func:`headers_too_large`);
- the headers' time: :class:`HttpProtocol`, the HTTP protocol of ``steward serve`` (uvicorn's
  has no such timeout: ``timeout_keep_alive`` bounds only the silence *between* requests).
  Headers that have begun but not ended within the timeout get a GraphQL-shaped 408 and the
  connection is closed; a connection that sends nothing at all is closed without a word.

:class:`HttpProtocol` also keeps a graceful shutdown from resetting kept-alive connections
(`api.shutdown`). uvicorn's protocol class is subclassed here and nowhere else;
``tests/http/test_request_bounds.py::test_the_http_protocol_is_written_against_this_uvicorn``
pins the release it was written against.
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from api.errors import HeadersTooLarge, RequestTimeout, error_response
from api.settings import Settings
from api.shutdown import DRAINING
from api.telemetry import outcome_of

__all__ = [
    "BODY_ARRIVED",
    "HEAD_BOUNDED",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_LINES",
    "WRITTEN_AGAINST",
    "HttpProtocol",
    "headers_too_large",
]

WRITTEN_AGAINST = "0.54"
"""The uvicorn release (major.minor) :class:`HttpProtocol` was written against."""
MAX_HEADER_BYTES = 64 * 1024
"""The most a request's head may take: its request line and header lines, line ends included."""
MAX_HEADER_LINES = 100
"""The most header lines a request may have."""
HEAD_BOUNDED = "steward.head_bounded"
"""A request scope's key, set by :class:`HttpProtocol`, which counted the head while it
arrived: :func:`headers_too_large` does not count it again."""
BODY_ARRIVED = "steward.body_arrived"
"""A request scope's key, set by :class:`HttpProtocol` once the request's whole body has
arrived: `api.edge.Edge` then reads it without a timer."""


def headers_too_large(scope: Scope) -> Response | None:
    """The 431 for the request of ``scope`` if its head is over the bounds (and was not
    counted by :class:`HttpProtocol` while it arrived); else ``None``."""
    if scope.get(HEAD_BOUNDED) or not _head_too_large(scope):
        return None
    error = HeadersTooLarge(MAX_HEADER_BYTES, MAX_HEADER_LINES)
    outcome_of(Request(scope)).codes.append(error.code)
    return error_response(431, error.code, error.message, headers=error.headers)


def _head_too_large(scope: Scope) -> bool:
    headers = scope["headers"]
    if len(headers) > MAX_HEADER_LINES:
        return True
    size = len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) + 16
    return size + sum(len(name) + len(value) + 4 for name, value in headers) > MAX_HEADER_BYTES


@cache
def _timeout() -> float:
    return Settings().request_read_timeout


def _raw(status: int, code: str, message: str) -> bytes:
    """A whole GraphQL-shaped response that closes the connection, as bytes."""
    body = orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n",
            b"\r\n",
            body,
        ]
    )


_LATE = _raw(408, RequestTimeout.code, "The request headers did not arrive in time.")
_TOO_LARGE = _raw(
    431, HeadersTooLarge.code, HeadersTooLarge(MAX_HEADER_BYTES, MAX_HEADER_LINES).message
)
RAW_SLACK = 4096
"""Bytes a head may take on the wire beyond what is counted (method, version, spacing): more,
and the head is refused before its end (a header line that never ends)."""
DRAIN_STEP = 0.05
"""Seconds between two looks, in a graceful shutdown, at whether a kept-alive connection may
close: once no other connection has a request in flight."""


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with each request's head bounded in time and size, and
    kept-alive connections drained, not reset, in a graceful shutdown.

    Time: the headers arrive within ``STEWARD_REQUEST_READ_TIMEOUT`` (read once per
    process) of their first byte (the first request's: of the connection's start; stray
    line ends between requests start a head's clock too), else 408; one timer per
    connection keeps that clock. Size: `MAX_HEADER_LINES` counted as the lines arrive (no
    more are kept), `MAX_HEADER_BYTES` exactly once the head is complete and by its raw
    bytes while it arrives (also a header line that never ends), else 431; either closes
    the connection.

    Shutdown: uvicorn closes an idle kept-alive connection at once, and a request the client
    sent on it just then meets a reset. Here an idle connection stays open while the server
    still waits for other requests in flight; a request that arrives on it is answered 503
    ``SHUTTING_DOWN`` with ``Connection: close`` (`api.shutdown.shutting_down`, told by the
    scope's `api.shutdown.DRAINING`). It closes once no request is in flight anywhere.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._opened = 0.0
        self._head_began: float | None = None
        self._served = False
        self._in_head = True
        self._head_bytes = 0
        self._refused = False
        self._draining = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's headers."""
        super().connection_made(transport)
        self._opened = self.loop.time()
        self._arm(self._opened)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse ``data``; refuse the request (431) once its head is over the bounds."""
        if self._refused:
            return
        if self._in_head:
            if self._head_began is None:  # a head's first bytes (or stray line ends)
                self._began(self.loop.time() if self._served else self._opened)
            self._head_bytes += len(data)
        super().data_received(data)
        # Still in the head after all of it was parsed: every byte counted is the head's (a
        # header line that never ends). A head that ended here was counted exactly.
        if self._refused or (self._in_head and self._head_bytes > MAX_HEADER_BYTES + RAW_SLACK):
            self._refuse()

    def on_message_begin(self) -> None:
        """A request begins: its headers have the timeout from their first byte (the first
        request's from the connection's start; on a kept-alive connection, the silence
        before it is ``timeout_keep_alive``'s)."""
        super().on_message_begin()
        self._in_head = True
        if self._head_began is None:  # pipelined: begun in the data of the request before
            self._began(self.loop.time())

    def on_header(self, name: bytes, value: bytes) -> None:
        """Keep the header while the head is within its lines (its exact count is
        `on_headers_complete`'s): a flood of short lines in one read is not all kept."""
        if len(self.headers) < MAX_HEADER_LINES:
            super().on_header(name, value)
        else:
            self._refused = True

    def on_headers_complete(self) -> None:
        """The headers are in: within the bounds, counted exactly, the request is served,
        its body's deadline `api.edge.Edge`'s; else refused."""
        self._head_began = None
        self._served = True
        self._in_head = False
        self._head_bytes = 0
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if self._refused or size > MAX_HEADER_BYTES:  # (too many lines: `on_header`)
            self._refused = True
            return
        super().on_headers_complete()
        self.scope[HEAD_BOUNDED] = True  # type: ignore[literal-required]
        if self._draining:
            self.scope[DRAINING] = True  # type: ignore[literal-required]
            self.cycle.keep_alive = False

    def on_body(self, body: bytes) -> None:
        """A refused request's body is never kept."""
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        """The request's body has all arrived (`BODY_ARRIVED`); the next request's head is
        counted from its first byte."""
        if not self._refused:
            super().on_message_complete()
            self.cycle.scope[BODY_ARRIVED] = True  # type: ignore[literal-required]
        self._in_head = True

    def shutdown(self) -> None:
        """A graceful shutdown: a request in flight finishes and closes the connection; an
        idle connection is drained (see the class)."""
        if self.cycle is not None and not self.cycle.response_complete:
            super().shutdown()
            return
        self._draining = True
        self._drain()

    def _drain(self) -> None:
        if self.transport.is_closing():
            return
        busy = any(
            connection.cycle is not None and not connection.cycle.response_complete
            for connection in self.connections
            if isinstance(connection, HttpToolsProtocol)
        )
        if busy:
            self.loop.call_later(DRAIN_STEP, self._drain)
        else:
            self.transport.close()

    def _refuse(self) -> None:
        self._refused = True
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(_TOO_LARGE)
            self.transport.close()

    def _began(self, began: float) -> None:
        self._head_began = began
        if self._header_timer is None:
            self._arm(began)

    def _arm(self, began: float) -> None:
        """The header clock: one timer per connection, not per request; it looks, when it
        fires, at the head under way then."""
        self._header_timer = self.loop.call_at(began + _timeout(), self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        began = self._head_began
        if began is None:
            if not self._served:  # a connection that never sent a request: closed silently
                self.transport.close()
            return  # between requests: the keep-alive timeout's
        if self.loop.time() - began < _timeout():  # a later head than the one armed for
            self._arm(began)
            return
        self.transport.write(_LATE)
        self.transport.close()
