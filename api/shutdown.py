"""Requests that a graceful shutdown will not serve get a 503 of Steward's.

On SIGTERM uvicorn stops accepting connections and waits ``--graceful-timeout`` seconds for
the requests in flight; then it cancels them, and answers each one whose response had not
begun with its own ``text/plain`` 500. `api.edge.Edge` answers them first, in Steward's
shape (:func:`shutting_down`): 503 ``SHUTTING_DOWN`` with ``Retry-After`` (GraphQL-shaped;
RFC 6749's ``temporarily_unavailable`` on ``/oauth/token``), and the connection closes.

Meanwhile a kept-alive connection stays open (`api.request_bounds.HttpProtocol`) rather than being
closed under a request its client may be sending: a request that arrives on it is marked
`DRAINING` in its scope, and answered the same 503 with ``Connection: close``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from api.errors import SHUTTING_DOWN, unavailable_response
from api.telemetry import outcome_of

__all__ = ["DRAINING", "shutting_down"]

DRAINING = "steward.draining"
"""The scope key of a request that arrived on a kept-alive connection during a shutdown."""


def shutting_down(scope: Scope) -> Response:
    """The 503 ``SHUTTING_DOWN`` (closing the connection) for the request of ``scope``, whose
    outcome notes the code."""
    request = Request(scope)
    outcome_of(request).codes.append(SHUTTING_DOWN)
    response = unavailable_response(SHUTTING_DOWN, scope["path"], request.headers.get("accept"))
    response.headers["Connection"] = "close"
    return response
