"""The refusal floor: what a request refused for want of a purpose must do, on Steward's stack.

One Starlette route and no middleware. The request's body is read and parsed; its bearer token
is found verified in Steward's own cache (`Authenticator.verify`: its SHA-256, a dictionary);
the token's standing is had as Steward has it (`Authenticator.standing_now`: read through the
driver on the event loop for SQLite, kept under PostgreSQL's notifications; else
`Authenticator.standing` in a worker thread); the answer is Steward's ``400
PURPOSE_REQUIRED``. No
GraphQL document, rate limit, telemetry, CORS, request id or shutdown tracking. What is left
between it and Steward's refused row is Steward's own machinery around those steps; what it
costs itself is the least a refusal that keeps "revoked from the next request on" costs with
Starlette, SQLAlchemy and the driver (SPEC section 6, v5: a refused request at most 0.2 ms of
server CPU).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.app import signing_keys
from api.errors import error_response
from api.settings import Settings
from auth.policy.errors import PurposeRequired
from auth.tokens.authentication import Authenticator
from store.database import make_engine, run_in_thread, session_factory


def create_refusal(settings: Settings) -> Starlette:
    """The refusal floor's app over ``settings``' database and keys."""
    engine = make_engine(settings.database_url, timeouts=settings.database_timeouts)
    authenticator = Authenticator(settings.tokens, session_factory(engine), signing_keys(settings))
    deadline = settings.database_timeouts.deadline

    async def graphql(request: Request) -> Response:
        params = orjson.loads(await request.body())
        verified = await authenticator.verify(request.headers.get("authorization"))
        if await authenticator.standing_now(verified) is None:
            await run_in_thread(partial(authenticator.standing, verified), deadline=deadline)
        if "query" not in params or request.headers.get("x-purpose"):
            raise ValueError("the refusal floor answers only requests without a purpose")
        refusal = PurposeRequired()
        return error_response(400, refusal.code, refusal.message)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await authenticator.start()
        yield
        await authenticator.aclose()
        engine.dispose()

    app = Starlette(routes=[Route("/graphql", graphql, methods=["POST"])], lifespan=lifespan)
    app.state.engine = engine
    return app
