"""Tokens signed by real keys, and a fake external identity provider."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import httpx2  # Starlette's TestClient is built on it
from joserfc import jwt
from joserfc.jwk import Key, RSAKey
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from auth.tokens.keys import load_or_create, signing_algorithm

TokenFactory = Callable[..., str]
"""The ``token`` fixture: ``token(scope, *, sub=..., client_id=...)`` signs an access token."""

TYPENAME = {"query": "{ __typename }"}
METADATA_URL = "http://testserver/.well-known/oauth-protected-resource"

DEV_SECRET = "test-development-secret"
"""The development token secret of test servers in development mode (`api.devsecret`)."""

DROP = object()
"""A claim or header value meaning: leave this one out."""


def builtin_key(settings: Settings) -> Key:
    """The key the built-in issuer signs with."""
    return load_or_create(settings.key_file).keys[0]


def claims_for(issuer: str, audience: str = "steward", **changes: Any) -> dict[str, Any]:
    """Valid RFC 9068 claims for ``issuer``; ``changes`` override, ``DROP`` removes."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": "staff-1",
        "client_id": "test-client",
        "scope": "customers:read",
        "jti": secrets.token_urlsafe(8),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not DROP}


def sign(claims: dict[str, Any], key: Key, **header: Any) -> str:
    """A JWS over ``claims`` with ``typ: at+jwt``, the key's ``alg`` and ``kid``."""
    algorithm = header.get("alg", signing_algorithm(key))
    full = {"typ": "at+jwt", "alg": algorithm, "kid": key.kid, **header}
    full = {name: value for name, value in full.items() if value is not DROP}
    return jwt.encode(full, claims, key, algorithms=[algorithm], default_type=None)


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call(client: TestClient, token: str | None = None, **headers: str) -> httpx2.Response:
    """``{ __typename }`` on /graphql, with ``token`` when given."""
    sent = {**(bearer(token) if token else {}), **headers}
    return client.post("/graphql", json=TYPENAME, headers=sent)


def error_of(response: httpx2.Response) -> tuple[str, str]:
    """The (code, message) of a refused request's single GraphQL error."""
    (error,) = response.json()["errors"]
    return error["extensions"]["code"], error["message"]


@contextmanager
def app_client(settings: Settings, http: httpx.AsyncClient | None = None) -> Iterator[TestClient]:
    """A TestClient for an app built from ``settings`` (lifespan included)."""
    with TestClient(create_app(settings, http=http)) as client:
        yield client


class Provider:
    """An external identity provider, faked at the HTTP level with a real JWKS.

    ``keys[0]`` signs; all of ``keys`` are published, with the raw JWKs in ``extra``.
    ``up = False`` makes the JWKS endpoint unreachable, ``status`` sets its answer's status;
    ``fetches`` counts requests to it.
    """

    ISSUER = "https://idp.example.com/"
    JWKS_URL = "https://idp.example.com/.well-known/jwks.json"

    def __init__(self) -> None:
        self.keys = [self.new_key()]
        self.up = True
        self.status = 200
        self.fetches = 0
        self.extra: list[dict[str, Any]] = []

    @staticmethod
    def new_key() -> Key:
        return RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"}, auto_kid=True)

    def settings(self, base: Settings, **changes: Any) -> Settings:
        """``base`` configured to trust this provider."""
        return base.model_copy(update={"issuer": self.ISSUER, "jwks_url": self.JWKS_URL, **changes})

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self._handle))

    def token(
        self, key: Key | None = None, header: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        """A token as the provider issues it (no ``client_id`` unless given; a fresh ``jti``)."""
        defaults: dict[str, Any] = {
            "client_id": DROP,
            "jti": secrets.token_urlsafe(8),
            "azp": "partner-app",
        }
        return sign(
            claims_for(self.ISSUER, **{**defaults, **claims}), key or self.keys[0], **(header or {})
        )

    def _handle(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == self.JWKS_URL
        self.fetches += 1
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        document = {"keys": [key.as_dict(private=False) for key in self.keys] + self.extra}
        return httpx.Response(self.status, json=document)
