"""Steward as a benchmark composes it: the production pieces, with one known win switched off or
the policy unenforced.

``make bench`` measures what each known win of SPEC section 6 is worth by serving, beside
Steward as it is, a Steward with that one win off (`bench.server`, `bench.wins`); and what
enforcement costs, beside a Steward built with ``build_schema(enforce=False)`` whose compiled
reads allow every field and row (`bench.policy_overhead`). These switches exist here only:
`api.app.create_app` has none, so a deployed Steward always runs enforced, with every win.

Wins measured as noise and no longer switched (``docs/performance.md``): orjson (0.96–1.05×)
and the token cache (1.02–1.11×, within the ±10–15 % of a server-level run); both stay in
place.
"""

from __future__ import annotations

import dataclasses

from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

from api import metrics
from api.app import compose, resolver_options, signing_keys
from api.pseudonyms import pseudonym_keys
from api.settings import Settings
from schema.build import build_schema, graphql_schema
from schema.compiled import CompiledReads
from schema.execution import Execution
from store.database import make_engine, session_factory

WINS = (
    "document cache",  # every request parses and validates
    "uvloop + httptools",  # the server's loop and parser: `bench.server.main`
    "pure ASGI middleware",
    "batched loaders",  # each parent fetched on its own
    "roomy worker frame",
    "settled heap (gc)",
    "prepared statements",  # a setting: STEWARD_DATABASE_PREPARED_STATEMENTS
    "connection pool",
    "kept read connections",  # each read checks a connection out of the pool
)
"""The known wins of SPEC section 6 that a benchmark switches off, one at a time."""


class PassThrough(BaseHTTPMiddleware):
    """A middleware that does nothing, the way ``BaseHTTPMiddleware`` does it (the cost of the
    win "pure ASGI middleware" switched off)."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        return await call_next(request)


def configured(settings: Settings, without: str | None) -> Settings:
    """The settings of a Steward with the win ``without`` switched off, where a setting does."""
    if without == "prepared statements":
        return settings.model_copy(update={"database_prepared_statements": False})
    if without == "document cache":
        return settings.model_copy(update={"document_cache_bytes": 0})
    return settings


def bench_app(
    settings: Settings,
    *,
    without: str | None = None,
    enforce: bool = True,
    serving: bool = False,
) -> Starlette:
    """Steward as `api.app.create_app` builds it, with the win ``without`` switched off
    (`WINS`) and, with ``enforce=False``, the policy neither checked nor guarded.

    Raises:
        ValueError: ``without`` is not one of `WINS`.
    """
    if without is not None and without not in WINS:
        raise ValueError(f"the win to switch off must be one of {list(WINS)}")
    settings = configured(settings, without)
    engine = make_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        prepared=settings.database_prepared_statements,
        timeouts=settings.database_timeouts,
        pooled=without != "connection pool",
    )
    sessions = session_factory(engine)
    keys = signing_keys(settings)
    schema = graphql_schema(build_schema(enforce=enforce))
    compiled = None
    if settings.compiled_reads:
        compiled = CompiledReads(
            schema,
            engine.dialect,
            max_page_size=settings.max_page_size,
            observe=metrics.observe_compiled_fallback,
            enforce=enforce,
        )
    options = dataclasses.replace(
        resolver_options(settings), batched_loaders=without != "batched loaders"
    )
    execution = Execution(
        schema,
        sessions,
        options,
        settings.issuers,
        compiled,
        roomy_frame=without != "roomy worker frame",
        pseudonym_keys=pseudonym_keys(settings, keys),
        kept_reads=(
            0
            if without in ("kept read connections", "connection pool")
            else settings.database_pool_size
        ),
    )
    app = compose(
        settings, engine, execution, keys, serving=serving and without != "settled heap (gc)"
    )
    if without == "pure ASGI middleware":
        app.add_middleware(PassThrough)
    return app
