"""The built-in authorization server: /oauth/token and the well-known documents."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx2  # what Authlib's httpx client is built on
import pytest
from authlib.integrations.httpx_client import (  # type: ignore[import-untyped]
    AsyncOAuth2Client,
    OAuthError,
)
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata  # type: ignore[import-untyped]
from joserfc import jwt
from starlette.applications import Starlette
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from auth.policy.scopes import ALL_SCOPES
from auth.tokens import clients
from auth.tokens.keys import load_or_create
from store.database import transaction
from tests.support.auth import TYPENAME, call
from tests.support.callers import FULFILLMENT_PARTNER

# Authlib refuses OAuth over plain http except on loopback; so does Steward's token endpoint.
PUBLIC_URL = "http://127.0.0.1:8000"
TOKEN_URL = f"{PUBLIC_URL}/oauth/token"


@pytest.fixture
def issuer_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"public_url": PUBLIC_URL})


@pytest.fixture
def issuer_app(issuer_settings: Settings) -> Iterator[Starlette]:
    app = create_app(issuer_settings)
    yield app
    app.state.engine.dispose()  # the ASGI transport runs no lifespan


@pytest.fixture
def web(issuer_app: Starlette) -> Iterator[TestClient]:
    with TestClient(issuer_app, base_url=PUBLIC_URL) as client:
        yield client


@pytest.fixture
def registered(issuer_app: Starlette) -> tuple[str, str]:
    """A client registered with the fulfilment partner's scopes: (client_id, client_secret)."""
    with transaction(issuer_app.state.sessions) as session:
        return clients.register(session, "courier", FULFILLMENT_PARTNER)


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def assert_oauth_error(response: httpx2.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"].startswith("application/json")


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_real_oauth_client_gets_a_token_and_calls_the_api(
    issuer_app: Starlette, issuer_settings: Settings, registered: tuple[str, str], method: str
) -> None:
    # given a registered client using Authlib's OAuth 2.0 client
    client_id, secret = registered
    async with AsyncOAuth2Client(
        client_id,
        secret,
        scope="orders:read purpose:order_fulfillment",
        token_endpoint_auth_method=method,
        transport=httpx2.ASGITransport(app=issuer_app),
        base_url=PUBLIC_URL,
    ) as oauth:
        # when it obtains a token and calls the API with it
        token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
        response = await oauth.post("/graphql", json=TYPENAME)
    # then
    assert response.status_code == 200, response.text
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == "orders:read purpose:order_fulfillment"
    assert "refresh_token" not in token
    decoded = jwt.decode(token["access_token"], load_or_create(issuer_settings.key_file))
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.claims["iss"] == PUBLIC_URL
    assert decoded.claims["aud"] == "steward"
    assert decoded.claims["sub"] == decoded.claims["client_id"] == client_id
    assert decoded.claims["scope"] == "orders:read purpose:order_fulfillment"
    assert decoded.claims["jti"]


def test_no_scope_requested_grants_the_registered_scope(
    web: TestClient, registered: tuple[str, str]
) -> None:
    response = web.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(*registered)
    )
    assert response.status_code == 200
    assert set(response.json()["scope"].split()) == set(FULFILLMENT_PARTNER.split())
    assert response.headers["Cache-Control"] == "no-store"
    assert call(web, response.json()["access_token"]).status_code == 200


@pytest.mark.anyio
async def test_scope_beyond_the_registration_is_invalid_scope(
    issuer_app: Starlette, registered: tuple[str, str]
) -> None:
    async with AsyncOAuth2Client(
        *registered,
        scope="orders:read privacy:admin",
        transport=httpx2.ASGITransport(app=issuer_app),
    ) as oauth:
        with pytest.raises(OAuthError) as raised:
            await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert raised.value.error == "invalid_scope"


@pytest.mark.parametrize("scope", ["orders:read privacy:admin", "no-such-scope", "ORDERS:READ"])
def test_invalid_scope_answer(web: TestClient, registered: tuple[str, str], scope: str) -> None:
    form = {"grant_type": "client_credentials", "scope": scope}
    assert_oauth_error(
        web.post("/oauth/token", data=form, headers=basic(*registered)), 400, "invalid_scope"
    )


def test_wrong_secret_over_basic_is_401_invalid_client_with_challenge(
    web: TestClient, registered: tuple[str, str]
) -> None:
    client_id, _secret = registered
    response = web.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, "wrong")
    )
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize(
    "form",
    [
        {"client_id": "nobody", "client_secret": "x"},
        {"client_secret": "x"},
        {},
    ],
    ids=["unknown client", "no client_id", "no credentials"],
)
def test_bad_client_credentials_are_invalid_client(web: TestClient, form: dict[str, str]) -> None:
    response = web.post("/oauth/token", data={"grant_type": "client_credentials", **form})
    assert response.status_code in (400, 401)
    assert_oauth_error(response, response.status_code, "invalid_client")


def test_removed_client_gets_no_token(
    web: TestClient, issuer_app: Starlette, registered: tuple[str, str]
) -> None:
    with transaction(issuer_app.state.sessions) as session:
        assert clients.remove(session, registered[0])
    response = web.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(*registered)
    )
    assert_oauth_error(response, 401, "invalid_client")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"grant_type": "password", "username": "u", "password": "p"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
        ("grant_type=client_credentials&grant_type=client_credentials", "invalid_request"),
    ],
    ids=["password", "authorization_code", "no grant_type", "repeated parameter"],
)
def test_malformed_token_requests(
    web: TestClient, registered: tuple[str, str], data: Any, error: str
) -> None:
    headers = {**basic(*registered), "Content-Type": "application/x-www-form-urlencoded"}
    response = web.post(
        "/oauth/token",
        content=data if isinstance(data, str) else None,
        data=data if isinstance(data, dict) else None,
        headers=headers,
    )
    assert_oauth_error(response, 400, error)


def test_json_body_is_invalid_request(web: TestClient, registered: tuple[str, str]) -> None:
    response = web.post(
        "/oauth/token", json={"grant_type": "client_credentials"}, headers=basic(*registered)
    )
    assert_oauth_error(response, 400, "invalid_request")


def test_two_client_authentication_methods_are_invalid_request(
    web: TestClient, registered: tuple[str, str]
) -> None:
    client_id, secret = registered
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert_oauth_error(
        web.post("/oauth/token", data=form, headers=basic(*registered)), 400, "invalid_request"
    )


def test_token_endpoint_accepts_only_post(web: TestClient) -> None:
    assert web.get("/oauth/token").status_code == 405


def test_token_endpoint_refuses_plain_http_on_a_public_host(
    client: TestClient, settings: Settings
) -> None:
    # The shared fixture's public URL is http://testserver: not loopback, not https.
    with transaction(client.app.state.sessions) as session:  # type: ignore[attr-defined]
        credentials = clients.register(session, "courier", FULFILLMENT_PARTNER)
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(*credentials)
    )
    assert_oauth_error(response, 400, "insecure_transport")


def test_secrets_are_stored_hashed(issuer_app: Starlette, registered: tuple[str, str]) -> None:
    client_id, secret = registered
    with issuer_app.state.sessions() as session:
        (row,) = clients.list_clients(session)
    assert row.client_id == client_id
    assert secret not in row.secret_hash
    assert row.secret_hash.startswith("scrypt$")
    assert clients.verify_secret(secret, row.secret_hash)
    assert not clients.verify_secret(secret + "x", row.secret_hash)


def test_authorization_server_metadata(web: TestClient) -> None:
    document = web.get("/.well-known/oauth-authorization-server").json()
    metadata = AuthorizationServerMetadata(document)
    for check in (
        "issuer",
        "token_endpoint",
        "jwks_uri",
        "scopes_supported",
        "grant_types_supported",
        "token_endpoint_auth_methods_supported",
    ):
        getattr(metadata, f"validate_{check}")()
    assert document["issuer"] == PUBLIC_URL
    assert document["token_endpoint"] == TOKEN_URL
    assert document["jwks_uri"] == f"{PUBLIC_URL}/.well-known/jwks.json"
    assert document["grant_types_supported"] == ["client_credentials"]
    assert document["scopes_supported"] == list(ALL_SCOPES)
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }


def test_protected_resource_metadata(web: TestClient) -> None:
    document = web.get("/.well-known/oauth-protected-resource").json()
    assert document["resource"] == PUBLIC_URL
    assert document["authorization_servers"] == [PUBLIC_URL]
    assert document["scopes_supported"] == list(ALL_SCOPES)
    assert document["bearer_methods_supported"] == ["header"]


def test_jwks_publishes_public_keys_only(web: TestClient, issuer_settings: Settings) -> None:
    (published,) = web.get("/.well-known/jwks.json").json()["keys"]
    (key,) = load_or_create(issuer_settings.key_file).keys
    assert "d" not in published
    assert published["kid"] == key.kid == key.thumbprint()
    assert published["alg"] == "ES256"
    assert published["use"] == "sig"
