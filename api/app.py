"""The Starlette application, declared in one place."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import strawberry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from api import devtoken, metrics
from api.devsecret import DevSecret
from api.errors import RequestTimeout
from api.graphiql import DevMode, GraphiQL
from api.graphql import GraphQLEndpoint
from api.health import Health
from api.pseudonyms import pseudonym_keys
from api.ratelimit import RateLimiter
from api.request_bounds import BodyDeadline
from api.settings import Settings
from api.shutdown import Unfinished
from api.telemetry import MetricsEndpoint, Telemetry, on_database_unavailable, on_request_timeout
from api.tuning import ALL_WINS, PassThrough, Tuning
from auth.tokens import issuer
from auth.tokens.authentication import CACHE_SIZE, Authenticator
from auth.tokens.keys import load_or_create
from schema.build import build_schema, graphql_schema
from store.database import make_engine, session_factory
from store.errors import DatabaseUnavailable

log = logging.getLogger("steward.app")

GC_THRESHOLD = 10_000
"""Allocations between young-generation collections in a serving process (CPython: 700)."""


def settle_heap() -> None:
    """Tune the garbage collector of a serving process, once its application has started.

    What exists then (the schema, the policy, SQLAlchemy's mappers and caches) lives as long
    as the process: `gc.freeze` takes it out of every later collection. A request allocates
    tens of thousands of short-lived objects, nearly all freed by reference counting; a
    larger young generation runs the collector a few times per request instead of dozens.
    ``make bench`` measures the gain (`bench.server.WINS`).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


def serving_app() -> Starlette:
    """The application of ``steward serve``: `create_app`, with `settle_heap` at startup."""
    return create_app(serving=True)


def create_app(
    settings: Settings | None = None,
    *,
    http: httpx.AsyncClient | None = None,
    schema: strawberry.Schema | None = None,
    serving: bool = False,
    tuning: Tuning = ALL_WINS,
    enforce: bool = True,
) -> Starlette:
    """Steward's ASGI application.

    Args:
        settings: the configuration; read from the environment when omitted.
        http: the client for an external identity provider's key set (tests fake it).
        schema: the schema to serve; the enforced one unless a benchmark says otherwise.
        serving: the process exists to serve this application: `settle_heap` at startup.
        tuning: the performance wins in place (all; benchmarks switch one off at a time).
        enforce: benchmarks only, never configuration: ``False`` serves the schema unenforced
            (``build_schema(enforce=False)``, unless ``schema`` is given) and compiles reads
            with every field and row allowed, to measure what enforcement costs.
    """
    settings = settings or Settings()
    if settings.issuer and not settings.audience_is_a_resource_uri:
        log.warning(
            "STEWARD_AUDIENCE %r is not a resource indicator (RFC 8707: an absolute URI "
            "without a fragment), the only audience an OpenID provider issues access tokens "
            "for: set it to the API's URL, e.g. %r",
            settings.audience,
            settings.public_url,
        )
    engine = make_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        prepared=settings.database_prepared_statements,
        timeouts=settings.database_timeouts,
        pooled=tuning.connection_pool,
    )
    metrics.instrument_pool(engine)
    sessions = session_factory(engine)
    keys = load_or_create(settings.key_file) if settings.builtin_issuer else None
    deadline = settings.database_timeouts.deadline
    authenticator = Authenticator(
        settings.tokens,
        sessions,
        keys,
        http=http,
        database_deadline=deadline,
        cache_size=CACHE_SIZE if tuning.token_cache else 0,
    )
    limiter = RateLimiter(settings)
    # The token page is GraphiQL's companion: development mode, the IDE and the issuer.
    dev = None
    if settings.dev_mode and settings.graphiql and keys is not None:
        given = settings.dev_token_secret.get_secret_value() if settings.dev_token_secret else ""
        if not given:
            log.warning("development mode without STEWARD_DEV_TOKEN_SECRET: no token page")
        else:
            secret = DevSecret(given)
            dev = devtoken.DevTokenPage(settings, sessions, keys, secret)
    ide = None
    if settings.graphiql:
        first = DevMode(devtoken.PATH, devtoken.DEFAULT_SCOPES, devtoken.DEFAULT_PURPOSE)
        ide = GraphiQL(dev=first if dev else None)
    graphql = GraphQLEndpoint(
        graphql_schema(schema or build_schema(enforce=enforce)),
        settings,
        sessions,
        authenticator,
        limiter,
        (dev.secret.guard(ide.page) if dev else ide.page) if ide else None,
        tuning,
        enforce=enforce,
        explorer=devtoken.CLIENT_ID if dev else None,
        pseudonym_keys=pseudonym_keys(settings, keys),
    )

    health = Health(engine, keys, limiter)
    scrape = MetricsEndpoint(authenticator, graphql.resource_metadata)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if serving and tuning.settled_heap:
            settle_heap()
        yield
        await authenticator.aclose()
        await limiter.aclose()
        engine.dispose()
        metrics.process_exited()

    routes = [
        Route("/", _to_graphql, methods=["GET", "HEAD"]),
        Route("/graphql", graphql.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        *health.routes(),
        Route("/metrics", scrape.handle, methods=["GET"]),
        *issuer.routes(settings.tokens, sessions, keys, deadline),
        *(ide.routes() if ide else []),
        *(dev.routes() if dev else []),
    ]
    middleware = [
        Middleware(Telemetry, routes=[getattr(route, "path", "") for route in routes]),
        Middleware(Unfinished),
        Middleware(BodyDeadline, timeout=settings.request_read_timeout),
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Purpose", "X-Legal-Reference"],
            max_age=600,
        ),
        *([] if tuning.pure_asgi_middleware else [Middleware(PassThrough)]),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            DatabaseUnavailable: on_database_unavailable,
            RequestTimeout: on_request_timeout,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    return app


async def _to_graphql(_request: Request) -> RedirectResponse:
    """``/``: the API and its IDE live at ``/graphql``."""
    return RedirectResponse("/graphql", status_code=302)
