"""What every HTTP request passes through, in one ASGI middleware: :class:`Edge`.

Four concerns meet at the edge of the app, and a request pays once for their wrapping (a
wrapped ``send``, a wrapped ``receive``, a look at its headers), not once each:

- its :class:`api.telemetry.Outcome`, its ``X-Request-ID`` and, once the response is sent,
  its log line and metrics (`api.telemetry.Telemetry`);
- a graceful shutdown: a request cancelled before its response began, or that arrived on a
  connection being drained, is answered 503 ``SHUTTING_DOWN`` (`api.shutdown`);
- its bounds (`api.request_bounds`): a head over the bounds that no protocol counted is
  answered 431; the body must arrive within ``REQUEST_READ_TIMEOUT`` of the endpoint's first
  read, else `api.errors.RequestTimeout`; a response that leaves a body unread closes the
  connection;
- CORS (`api.cors`): a request with an ``Origin`` goes through Starlette's `CORSMiddleware`;
  every other response gets ``Vary: Origin``, as that middleware would add.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.cors import cross_origin, vary_origin
from api.errors import RequestTimeout
from api.request_bounds import BODY_ARRIVED, headers_too_large
from api.shutdown import DRAINING, shutting_down
from api.telemetry import REQUEST_ID, Telemetry

__all__ = ["Edge"]

_CLOSE = (b"connection", b"close")


class Edge:
    """ASGI middleware, the app's outermost of its own: telemetry, shutdown, request bounds
    and CORS for each HTTP request (see the module).

    Args:
        app: the application to wrap.
        routes: the app's route paths; any other is counted as ``other``.
        read_timeout: seconds the body may take to arrive from the endpoint's first read.
        origins: the browser origins CORS allows.
    """

    def __init__(
        self, app: ASGIApp, routes: Iterable[str], read_timeout: float, origins: Sequence[str]
    ) -> None:
        self.app = app
        self.cross_origin = cross_origin(app, origins)
        self.telemetry = Telemetry(routes)
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, then log and measure it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        outcome = self.telemetry.begin(scope)
        request_id = (REQUEST_ID, outcome.request_id.encode())
        status = 500
        started = False
        origin = has_body = False
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = True
            elif name == b"transfer-encoding" or (
                name == b"content-length" and value.strip() != b"0"
            ):
                has_body = True
        complete = not has_body  # later reads wait for a disconnect, which has no deadline
        deadline: float | None = None

        async def bounded() -> Message:
            nonlocal deadline, complete
            if complete:
                return await receive()
            if scope.get(BODY_ARRIVED):  # the server holds all of it: no read waits
                complete = True
                return await receive()
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + self.read_timeout
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(self.read_timeout) from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def answered(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", ()))
                if not origin:
                    headers = vary_origin(headers)
                # A response that leaves the body unread ends the connection: reading the
                # rest (a refused client's 50 MB) to reach the next request is what it must
                # not cost.
                if not complete and not any(name.lower() == b"connection" for name, _ in headers):
                    headers.append(_CLOSE)
                headers.append(request_id)
                message["headers"] = headers
            await send(message)

        try:
            own = shutting_down(scope) if scope.get(DRAINING) else headers_too_large(scope)
            if own is None:
                try:
                    await (self.cross_origin if origin else self.app)(scope, bounded, answered)
                    return
                except asyncio.CancelledError:
                    if started:
                        raise
                    # The server cancels this request's task and waits for it no more:
                    # answer, and end the task (re-raising would have uvicorn log a
                    # traceback per request).
                    own = shutting_down(scope)
            # An answer of the edge's own, not the app's.
            status = own.status_code
            own.raw_headers.append(request_id)
            await own(scope, receive, send)
        finally:
            self.telemetry.end(scope, outcome, status, time.perf_counter() - began)
