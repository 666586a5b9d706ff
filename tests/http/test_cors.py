"""CORS for STEWARD_CORS_ORIGINS: preflight needs no token; other origins get no grant."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from api.cors import ALLOW_HEADERS, ALLOW_METHODS, MAX_AGE
from api.edge import Edge
from api.settings import Settings
from tests.support.auth import TYPENAME, app_client, bearer, builtin_key, claims_for, sign

ALLOWED = "https://console.example.com"
HEADERS = ("Authorization", "Content-Type", "X-Purpose", "X-Legal-Reference")


@pytest.fixture
def browser_app(settings: Settings) -> Iterator[TestClient]:
    with app_client(settings.model_copy(update={"cors_origins": (ALLOWED,)})) as client:
        yield client


def preflight(
    client: TestClient, origin: str, headers: str = ", ".join(HEADERS)
) -> httpx2.Response:
    return client.options(
        "/graphql",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": ", ".join(HEADERS),
        },
    )


def test_preflight_from_allowed_origin_needs_no_token(browser_app: TestClient) -> None:
    response = preflight(browser_app, ALLOWED)
    assert response.status_code == 200
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    assert all(header.lower() in allowed_headers for header in HEADERS)
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_preflight_from_other_origin_is_refused(browser_app: TestClient) -> None:
    response = preflight(browser_app, "https://evil.example")
    assert response.status_code == 400
    assert "Access-Control-Allow-Origin" not in response.headers


def test_actual_request_from_allowed_origin_is_readable(
    browser_app: TestClient, settings: Settings
) -> None:
    token = sign(claims_for(settings.public_url), builtin_key(settings))
    response = browser_app.post(
        "/graphql", json=TYPENAME, headers={**bearer(token), "Origin": ALLOWED}
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_refusal_is_readable_by_the_allowed_origin(browser_app: TestClient) -> None:
    # A browser app must be able to read the 401 to start its login.
    response = browser_app.post("/graphql", json=TYPENAME, headers={"Origin": ALLOWED})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_no_origins_configured_means_no_cors(client: TestClient) -> None:
    response = preflight(client, ALLOWED)
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("vary", [None, "Accept", "Accept, Accept-Language"])
@pytest.mark.parametrize("origin", [None, ALLOWED, "https://evil.example"])
def test_the_edge_answers_cors_as_starlettes_cors_middleware(
    vary: str | None, origin: str | None
) -> None:
    # given a route (with or without a Vary of its own) behind Steward's edge and behind
    # Starlette's CORS middleware configured as Steward's
    async def route(_request: Request) -> Response:
        return Response("ok", headers={"Vary": vary} if vary else None)

    middleware = [
        Middleware(Edge, routes=["/"], read_timeout=5.0, origins=[ALLOWED]),
        Middleware(
            CORSMiddleware,
            allow_origins=[ALLOWED],
            allow_methods=ALLOW_METHODS,
            allow_headers=ALLOW_HEADERS,
            max_age=MAX_AGE,
        ),
    ]
    apps = [Starlette(routes=[Route("/", route)], middleware=[one]) for one in middleware]
    # when a request comes with no Origin, or one
    headers = {"Origin": origin} if origin else {}
    ours, theirs = (TestClient(app).get("/", headers=headers) for app in apps)
    # then both answer with the same status and headers, but for the edge's request id
    assert ours.status_code == theirs.status_code
    assert [
        pair for pair in ours.headers.multi_items() if pair[0] != "x-request-id"
    ] == theirs.headers.multi_items()
    assert "Origin" in ours.headers["vary"]
