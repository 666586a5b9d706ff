"""Prometheus metrics (prometheus-client), served at ``/metrics`` to tokens with metrics:read.

What is measured (every label value but an operation's name comes from a bounded set Steward
defines; none comes from a person's data):

============================================  =========================================
``steward_requests_total``                    route, operation, purpose, status
``steward_request_duration_seconds``          route, operation (histogram)
``steward_graphql_errors_total``              code (``extensions.code`` of each error)
``steward_redactions_total``                  field (schema coordinate), reason
``steward_authentication_failures_total``     cause (``auth.tokens.errors.Cause`` and two more)
``steward_rate_limit_refusals_total``         reason (``limited``, ``store_unavailable``)
``steward_compiled_fallbacks_total``          reason (``declined``, ``failed``): documents per
                                              policy shape that compiled reads left to
                                              Strawberry (each also logged once)
``steward_db_pool_size``                      connections the pool keeps
``steward_db_pool_checked_out``               connections in use
============================================  =========================================

Operation names come from the client; they become label values only when they name an
operation of a document that validated, and only the first :data:`MAX_OPERATIONS` distinct
names a process sees: later ones collapse into ``other``, unnamed operations into
``anonymous``, requests refused before their document was read into ``unknown``.

Several worker processes (``steward serve --workers N``) share their metrics through
prometheus-client's multiprocess mode: every process writes its values to memory-mapped files
in ``PROMETHEUS_MULTIPROC_DIR`` and a scrape of any worker adds them all up. The variable
must be set before this module is imported; ``steward serve`` does it. The endpoint itself
is in :mod:`api.telemetry`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.exposition import choose_encoder
from sqlalchemy import Engine, event

from auth.tokens.errors import AuthError, InvalidToken, MissingToken, ProviderUnavailable

__all__ = [
    "MULTIPROC_ENV",
    "OperationLabels",
    "auth_failure_cause",
    "exposition",
    "instrument_pool",
    "multiprocess_dir",
    "observe_auth_failure",
    "observe_compiled_fallback",
    "observe_errors",
    "observe_rate_limit",
    "observe_redactions",
    "observe_request",
    "process_exited",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MAX_OPERATIONS = 100
"""Distinct operation names per process that get their own label value."""

ANONYMOUS = "anonymous"
OTHER = "other"
UNKNOWN = "unknown"
NONE = "none"

disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series: noise

REQUESTS = Counter(
    "steward_requests",
    "HTTP requests answered, by route, GraphQL operation, declared purpose and status.",
    ["route", "operation", "purpose", "status"],
)
LATENCY = Histogram(
    "steward_request_duration_seconds",
    "Time from the request's arrival to the end of its response.",
    ["route", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
GRAPHQL_ERRORS = Counter(
    "steward_graphql_errors",
    "Errors in GraphQL responses and refusals, by extensions.code.",
    ["code"],
)
REDACTIONS = Counter(
    "steward_redactions",
    "Values hidden in responses, by field (schema coordinate) and reason.",
    ["field", "reason"],
)
AUTH_FAILURES = Counter(
    "steward_authentication_failures",
    "Requests refused before authentication succeeded, by cause.",
    ["cause"],
)
RATE_LIMIT_REFUSALS = Counter(
    "steward_rate_limit_refusals",
    "Requests refused by the rate limiter: over the limit, or its store unreachable.",
    ["reason"],
)
COMPILED_FALLBACKS = Counter(
    "steward_compiled_fallbacks",
    "Documents (per policy shape) that compiled reads left to Strawberry: declined or failed.",
    ["reason"],
)
POOL_SIZE = Gauge(
    "steward_db_pool_size",
    "Database connections the pools keep open (PostgreSQL pools may overflow to twice this).",
    multiprocess_mode="livesum",
)
POOL_CHECKED_OUT = Gauge(
    "steward_db_pool_checked_out",
    "Database connections currently checked out of the pools.",
    multiprocess_mode="livesum",
)

_REQUEST_SERIES: dict[tuple[str, str, str | None, int], tuple[Counter, Histogram]] = {}
"""Each label set's series of `REQUESTS` and `LATENCY`, looked up once (every label value comes
from a bounded set: the dictionary is as bounded)."""

MAX_KEPT_CODES = 200
"""Error codes whose `GRAPHQL_ERRORS` series is kept at hand (Steward has fewer)."""
_ERROR_SERIES: dict[str, Counter] = {}
"""The `GRAPHQL_ERRORS` series of the first codes seen, looked up once."""

_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_COORDINATE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\.[A-Za-z_][A-Za-z0-9_]{0,63}")
_LIVE_GAUGE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


class OperationLabels:
    """Bounded label values for operation names: the first ``limit`` seen, then ``other``.

    Args:
        limit: how many distinct names get their own value.
    """

    def __init__(self, limit: int = MAX_OPERATIONS) -> None:
        self._limit = limit
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None) -> str:
        """The label value for an operation name.

        Args:
            name: the operation's name; ``""`` for an unnamed operation, ``None`` when the
                request never got as far as a valid document.
        """
        if name is None:
            return UNKNOWN
        if not name:
            return ANONYMOUS
        if name in self._known:
            return name
        with self._lock:
            if len(self._known) < self._limit:
                self._known.add(name)
                return name
        return OTHER


def observe_request(
    route: str, operation: str, purpose: str | None, status: int, seconds: float
) -> None:
    """Count one answered request and its latency."""
    key = (route, operation, purpose, status)
    series = _REQUEST_SERIES.get(key)
    if series is None:
        series = _REQUEST_SERIES[key] = (
            REQUESTS.labels(route, operation, purpose or NONE, str(status)),
            LATENCY.labels(route, operation),
        )
    count, latency = series
    count.inc()
    latency.observe(seconds)


def observe_errors(codes: list[str]) -> None:
    """Count the ``extensions.code`` of each error in a response."""
    for code in codes:
        series = _ERROR_SERIES.get(code)
        if series is None:
            series = GRAPHQL_ERRORS.labels(code if _CODE.fullmatch(code) else OTHER)
            if len(_ERROR_SERIES) < MAX_KEPT_CODES:
                _ERROR_SERIES[code] = series
        series.inc()


def observe_redactions(redactions: list[dict[str, Any]]) -> None:
    """Count hidden values from a response's ``extensions.redactions``."""
    for entry in redactions:
        field, reason = str(entry.get("field", "")), str(entry.get("reason", ""))
        REDACTIONS.labels(
            field if _COORDINATE.fullmatch(field) else OTHER,
            reason if _CODE.fullmatch(reason) else OTHER,
        ).inc(int(entry.get("count", 1)))


def observe_compiled_fallback(reason: str) -> None:
    """Count one document the compiled read path left to Strawberry (``declined``, ``failed``)."""
    COMPILED_FALLBACKS.labels(reason).inc()


def observe_auth_failure(cause: str) -> None:
    """Count one refused authentication."""
    AUTH_FAILURES.labels(cause).inc()


def observe_rate_limit(reason: str) -> None:
    """Count one rate-limit refusal (``limited`` or ``store_unavailable``)."""
    RATE_LIMIT_REFUSALS.labels(reason).inc()


def auth_failure_cause(error: AuthError) -> str:
    """The label value for why authentication failed."""
    if isinstance(error, InvalidToken):
        return error.cause.value
    if isinstance(error, MissingToken):
        return "missing_token"
    if isinstance(error, ProviderUnavailable):
        return "provider_unavailable"
    return OTHER


def instrument_pool(engine: Engine) -> None:
    """Publish the size of ``engine``'s pool and count its checked-out connections."""
    size = getattr(engine.pool, "size", None)
    if callable(size):
        POOL_SIZE.set(size())

    def checkout(*_args: Any) -> None:
        POOL_CHECKED_OUT.inc()

    def checkin(*_args: Any) -> None:
        POOL_CHECKED_OUT.dec()

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)


@contextlib.contextmanager
def multiprocess_dir(workers: int) -> Iterator[Path | None]:
    """Set up multiprocess metrics for a server of ``workers`` processes, while it runs.

    ``PROMETHEUS_MULTIPROC_DIR``, when set, is used (emptied of a previous run's files: give
    each server its own); otherwise, with more than one worker, a private temporary folder is
    made, exported to the workers and removed at the end. Call it before the workers start.

    Yields:
        The folder, or ``None`` for one process without it (plain in-process metrics).
    """
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        yield path
        return
    if workers <= 1:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="steward-metrics-") as folder:
        os.environ[MULTIPROC_ENV] = folder
        try:
            yield Path(folder)
        finally:
            del os.environ[MULTIPROC_ENV]


def process_exited() -> None:
    """Drop this process's live gauges (pool usage) from the shared metrics, if any."""
    if os.environ.get(MULTIPROC_ENV):
        prometheus_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def _reap_dead_processes(path: str) -> None:
    """Drop the live gauges of workers that died without :func:`process_exited`."""
    for file in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        match = _LIVE_GAUGE.fullmatch(os.path.basename(file))
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            prometheus_multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
        except PermissionError:  # alive, under another user
            continue


def exposition(accept: str | None) -> tuple[bytes, str]:
    """The metrics in the format ``accept`` prefers, and its content type.

    In multiprocess mode, the values of every worker, live or dead, added up.
    """
    path = os.environ.get(MULTIPROC_ENV)
    registry: CollectorRegistry = REGISTRY
    if path:
        _reap_dead_processes(path)
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


for _reason in ("limited", "store_unavailable"):  # both series exist from the start, at 0
    RATE_LIMIT_REFUSALS.labels(_reason)
