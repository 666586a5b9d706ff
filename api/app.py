"""The Starlette application, declared in one place."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from graphql import GraphQLSchema
from joserfc.jwk import KeySet
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from api import devtoken, metrics
from api.devsecret import DevSecret
from api.edge import Edge
from api.errors import RequestTimeout
from api.graphiql import DevMode, GraphiQL
from api.graphql import GraphQLEndpoint
from api.health import Health
from api.pseudonyms import pseudonym_keys
from api.ratelimit import RateLimiter
from api.settings import Settings
from api.telemetry import MetricsEndpoint, on_database_unavailable, on_request_timeout
from auth.tokens import issuer
from auth.tokens.authentication import Authenticator
from auth.tokens.keys import load_or_create
from privacy.linking import WrongCodes
from schema.build import build_schema, graphql_schema
from schema.compiled import CompiledReads
from schema.context import Options
from schema.execution import Execution
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
    ``make bench`` measures the gain (`bench.app.WINS`).
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
    serving: bool = False,
) -> Starlette:
    """Steward's ASGI application.

    Args:
        settings: the configuration; read from the environment when omitted.
        http: the client for an external identity provider's key set (tests fake it).
        serving: the process exists to serve this application: `settle_heap` at startup.
    """
    settings = settings or Settings()
    engine = make_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        prepared=settings.database_prepared_statements,
        timeouts=settings.database_timeouts,
    )
    sessions = session_factory(engine)
    schema = graphql_schema(build_schema())
    keys = signing_keys(settings)
    execution = execution_for(settings, schema, sessions, keys)
    return compose(settings, engine, execution, keys, http=http, serving=serving)


def signing_keys(settings: Settings) -> KeySet | None:
    """The key file's keys (created at first start), or ``None`` without the built-in issuer."""
    return load_or_create(settings.key_file) if settings.builtin_issuer else None


def execution_for(
    settings: Settings, schema: GraphQLSchema, sessions: sessionmaker[Session], keys: KeySet | None
) -> Execution:
    """What answers the operations of ``schema`` under ``settings`` (``keys``: the key file's,
    from which pseudonym keys derive without ``STEWARD_PSEUDONYM_KEY``)."""
    compiled = None
    if settings.compiled_reads:
        compiled = CompiledReads(
            schema,
            sessions.kw["bind"].dialect,
            max_page_size=settings.max_page_size,
            observe=metrics.observe_compiled_fallback,
        )
    return Execution(
        schema,
        sessions,
        resolver_options(settings),
        settings.issuers,
        compiled,
        assignment_days=settings.partner_assignment_days,
        pseudonym_keys=pseudonym_keys(settings, keys),
        kept_reads=settings.database_pool_size,
    )


def resolver_options(settings: Settings) -> Options:
    """What the schema's resolvers are configured with, under ``settings``."""
    return Options(
        max_page_size=settings.max_page_size,
        self_registration=settings.self_registration,
        wrong_codes=WrongCodes(settings.attempts_storage),
    )


def compose(
    settings: Settings,
    engine: Engine,
    execution: Execution,
    keys: KeySet | None,
    *,
    http: httpx.AsyncClient | None = None,
    serving: bool = False,
) -> Starlette:
    """The application around ``execution``, over ``engine``, signing with ``keys``
    (`create_app`'s pieces; a benchmark composes its own, `bench.app`)."""
    if settings.issuer and not settings.audience_is_a_resource_uri:
        log.warning(
            "STEWARD_AUDIENCE %r is not a resource indicator (RFC 8707: an absolute URI "
            "without a fragment), the only audience an OpenID provider issues access tokens "
            "for: set it to the API's URL, e.g. %r",
            settings.audience,
            settings.public_url,
        )
    metrics.instrument_pool(engine)
    sessions = execution.sessions
    deadline = settings.database_timeouts.deadline
    authenticator = Authenticator(
        settings.tokens, sessions, keys, http=http, database_deadline=deadline
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
        settings,
        authenticator,
        limiter,
        execution,
        (dev.secret.guard(ide.page) if dev else ide.page) if ide else None,
        explorer=devtoken.CLIENT_ID if dev else None,
    )

    health = Health(engine, keys, limiter)
    scrape = MetricsEndpoint(authenticator, graphql.resource_metadata)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if serving:
            settle_heap()
        await authenticator.start()
        yield
        await authenticator.aclose()
        await limiter.aclose()
        execution.close()
        engine.dispose()
        metrics.process_exited()

    routes = [  # the one every API request takes first: routing tries them in order
        Route("/graphql", graphql, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/", _to_graphql, methods=["GET", "HEAD"]),
        *health.routes(),
        Route("/metrics", scrape.handle, methods=["GET"]),
        *issuer.routes(settings.tokens, sessions, keys, deadline),
        *(ide.routes() if ide else []),
        *(dev.routes() if dev else []),
    ]
    middleware = [
        Middleware(
            Edge,
            routes=[getattr(route, "path", "") for route in routes],
            read_timeout=settings.request_read_timeout,
            origins=list(settings.cors_origins),
        ),
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
    app.state.execution = execution
    return app


async def _to_graphql(_request: Request) -> RedirectResponse:
    """``/``: the API and its IDE live at ``/graphql``."""
    return RedirectResponse("/graphql", status_code=302)
