"""What each request did: one access-log line and its metrics; and ``/metrics`` itself.

Every HTTP request gets an :class:`Outcome` (in ``request.state``, found with
:func:`outcome_of`), which the endpoints fill in as they learn who is calling and what they
ask; when the response is sent, :class:`Telemetry` (called by `api.edge.Edge`, which wraps the
whole app) writes one line to the ``steward.access`` logger and updates the metrics of
:mod:`api.metrics`::

    {"time": "…", "level": "info", "logger": "steward.access", "message": "request",
     "request_id": "9f1c…", "method": "POST", "route": "/graphql", "status": 200,
     "duration_ms": 12.4, "client_id": "courier-app", "purpose": "order_fulfillment",
     "operation": "DeliveriesToday", "codes": [], "redacted": 3}

The line never holds a token, a variable, a subject or any value of a customer's.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from api import metrics
from api.errors import (
    DATABASE_UNAVAILABLE,
    JSON,
    RateLimited,
    RateLimitUnavailable,
    RequestTimeout,
    error_response,
    refusal_response,
    timeout_response,
    unavailable_response,
)
from auth.policy import scopes
from auth.tokens.authentication import Authenticator
from auth.tokens.errors import AuthError
from store.errors import DatabaseUnavailable

__all__ = [
    "REQUEST_ID",
    "REQUEST_ID_HEADER",
    "MetricsEndpoint",
    "Outcome",
    "Telemetry",
    "database_unavailable",
    "on_database_unavailable",
    "on_request_timeout",
    "outcome_of",
]

log = logging.getLogger("steward.access")

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = REQUEST_ID_HEADER.lower().encode()
PROBES = frozenset({"/healthz", "/readyz"})
MAX_OPERATION_NAME = 100
_STATE_KEY = "steward_outcome"


@dataclass(slots=True)
class Outcome:
    """What the handler of one request learned, for the log and the metrics.

    Attributes:
        request_id: this request's id, also in ``X-Request-ID`` and in masked errors: a
            correlation id, not a secret (`random`, reseeded in each worker process, costs
            no system call on the event loop).
        client_id: the authenticated caller's OAuth client.
        purpose: the declared purpose's id.
        operation: the operation's name once a valid document names it; ``""`` for an
            unnamed operation; ``None`` until then.
        codes: the ``extensions.code`` of every error in the response.
        auth_failure: why authentication failed (a label of :mod:`api.metrics`).
        redactions: the response's ``extensions.redactions`` entries.
        fault: why a service the request needed failed (the database), for its log line.
    """

    request_id: str = field(default_factory=lambda: f"{random.getrandbits(128):032x}")
    client_id: str | None = None
    purpose: str | None = None
    operation: str | None = None
    codes: list[str] = field(default_factory=list)
    auth_failure: str | None = None
    redactions: list[dict[str, Any]] = field(default_factory=list)
    fault: str | None = None


def outcome_of(request: Request) -> Outcome:
    """The request's :class:`Outcome`; a new one when no `api.edge.Edge` wraps the app."""
    state = request.scope.setdefault("state", {})
    outcome = state.get(_STATE_KEY)
    if not isinstance(outcome, Outcome):
        outcome = state[_STATE_KEY] = Outcome()
    return outcome


class Telemetry:
    """What every HTTP request leaves: an :class:`Outcome`, begun with the request
    (`begin`) and logged and measured once its response is sent (`end`), by `api.edge.Edge`.

    Args:
        routes: the app's route paths; any other path is counted as ``other``.
    """

    def __init__(self, routes: Iterable[str]) -> None:
        self.routes = frozenset(routes)
        self.operations = metrics.OperationLabels()

    @staticmethod
    def begin(scope: Scope) -> Outcome:
        """The request's new :class:`Outcome`, kept in its scope for `outcome_of`."""
        outcome = Outcome()
        scope.setdefault("state", {})[_STATE_KEY] = outcome
        return outcome

    def end(self, scope: Scope, outcome: Outcome, status: int, seconds: float) -> None:
        """Log and measure the request of ``scope``: answered ``status`` in ``seconds``."""
        path = scope["path"]
        route = path if path in self.routes else metrics.OTHER
        graphql = route == "/graphql"
        operation = self.operations.label(outcome.operation) if graphql else metrics.NONE
        metrics.observe_request(route, operation, outcome.purpose, status, seconds)
        metrics.observe_errors(outcome.codes)
        metrics.observe_redactions(outcome.redactions)
        if outcome.auth_failure is not None:
            metrics.observe_auth_failure(outcome.auth_failure)
        if RateLimited.code in outcome.codes:
            metrics.observe_rate_limit("limited")
        elif RateLimitUnavailable.code in outcome.codes:
            metrics.observe_rate_limit("store_unavailable")
        level = logging.INFO
        if status >= 500:
            level = logging.WARNING
        if route in PROBES:  # a failed probe too: the load balancer acts on it
            level = logging.DEBUG
        if not log.isEnabledFor(level):
            return
        fields: dict[str, Any] = {
            "request_id": outcome.request_id,
            "method": scope["method"],
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "client_id": outcome.client_id,
            "purpose": outcome.purpose,
            "codes": outcome.codes,
        }
        if outcome.auth_failure is not None:
            fields["auth_failure"] = outcome.auth_failure
        if outcome.fault is not None:
            fields["fault"] = outcome.fault
        if graphql:
            fields["operation"] = (
                outcome.operation[:MAX_OPERATION_NAME] if outcome.operation is not None else None
            )
            fields["redacted"] = sum(int(entry.get("count", 1)) for entry in outcome.redactions)
        log.log(level, "request", extra={"fields": fields})


def database_unavailable(request: Request, error: DatabaseUnavailable) -> Response:
    """503 ``DATABASE_UNAVAILABLE`` for ``request``; the cause goes to its one log line."""
    outcome = outcome_of(request)
    outcome.codes.append(DATABASE_UNAVAILABLE)
    outcome.fault = error.cause
    return unavailable_response(
        DATABASE_UNAVAILABLE, request.url.path, request.headers.get("accept")
    )


async def on_database_unavailable(request: Request, error: Exception) -> Response:
    """The app's handler of `DatabaseUnavailable`, raised by any endpoint."""
    if not isinstance(error, DatabaseUnavailable):
        raise error
    return database_unavailable(request, error)


async def on_request_timeout(request: Request, error: Exception) -> Response:
    """The app's handler of `RequestTimeout` (``/graphql`` answers its own)."""
    if not isinstance(error, RequestTimeout):
        raise error
    outcome_of(request).codes.append(error.code)
    return timeout_response(error, request.url.path)


class MetricsEndpoint:
    """``GET /metrics``: the Prometheus exposition, for tokens with ``metrics:read``.

    Refusals have the shape of Steward's other errors: 401 (with ``WWW-Authenticate``) for a
    missing or invalid token, 403 ``FORBIDDEN`` for a token without ``metrics:read``.

    Args:
        authenticator: the app's authenticator (the same tokens as ``/graphql``).
        resource_metadata: the RFC 9728 metadata URL for ``WWW-Authenticate``.
    """

    def __init__(self, authenticator: Authenticator, resource_metadata: str) -> None:
        self.authenticator = authenticator
        self.resource_metadata = resource_metadata

    async def handle(self, request: Request) -> Response:
        """Answer one scrape."""
        outcome = outcome_of(request)
        try:
            principal = await self.authenticator.authenticate(request.headers.get("authorization"))
        except AuthError as error:
            outcome.auth_failure = metrics.auth_failure_cause(error)
            outcome.codes.append(error.code)
            return refusal_response(error, JSON, self.resource_metadata, graphql=False)
        outcome.client_id = principal.client_id
        if scopes.METRICS_READ not in principal.scopes:
            outcome.codes.append("FORBIDDEN")
            challenge = (
                f'Bearer error="insufficient_scope", scope="{scopes.METRICS_READ}", '
                f'resource_metadata="{self.resource_metadata}"'
            )
            return error_response(
                403,
                "FORBIDDEN",
                f"Reading metrics needs the scope {scopes.METRICS_READ}.",
                headers={"WWW-Authenticate": challenge},
            )
        body, content_type = await anyio.to_thread.run_sync(
            metrics.exposition, request.headers.get("accept")
        )
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})
