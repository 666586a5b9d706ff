"""The built-in issuer: RFC 9068 access tokens, the token endpoint and the metadata documents.

Routes (see :func:`routes`):

- ``POST /oauth/token`` — client_credentials grant (RFC 6749 section 4.4);
- ``GET /.well-known/jwks.json`` — the public keys;
- ``GET /.well-known/oauth-authorization-server`` — RFC 8414 metadata;
- ``GET /.well-known/oauth-protected-resource`` — RFC 9728 metadata, served also when the
  built-in issuer is off (it then names only the external provider).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from auth.policy.scopes import ALL_SCOPES
from auth.tokens._server import AUTH_METHODS
from auth.tokens._token_endpoint import TokenEndpoint
from auth.tokens.clients import new_identifier, record_issued
from auth.tokens.config import TokenSettings
from auth.tokens.keys import public_jwks, signing_algorithm
from store.database import DEFAULT_TIMEOUTS, transaction

__all__ = [
    "TOKEN_TTL",
    "IssuedToken",
    "authorization_server_metadata",
    "issue",
    "issue_token",
    "protected_resource_metadata",
    "routes",
]

TOKEN_TTL = 3600
"""Lifetime of the tokens ``/oauth/token`` issues, in seconds."""

METADATA_PATH = "/.well-known/oauth-protected-resource"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A signed access token and the claims a holder wants without decoding it."""

    access_token: str
    jti: str
    expires_at: int
    """``exp``: seconds since the epoch."""
    scope: str


def issue(
    settings: TokenSettings,
    keys: KeySet,
    *,
    scope: str,
    subject: str,
    client_id: str,
    ttl: int = 3600,
) -> IssuedToken:
    """A signed RFC 9068 access token from the built-in issuer, with its ``jti`` and ``exp``.

    Signed by the first key of ``keys``; carries ``iss`` (``settings.public_url``), ``aud``,
    ``sub``, ``client_id``, ``scope``, a random ``jti``, ``iat``, ``nbf`` and ``exp``.

    Example:
        >>> issued = issue(settings, keys, scope="me:read", subject="42", client_id="app")
        >>> issued.access_token, issued.jti
        ('eyJ0eXAiOiJhdCtqd3Qi...', 'p1Xq...')
    """
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    key = keys.keys[0]
    algorithm = signing_algorithm(key)
    now = int(time.time())
    jti = new_identifier(16)
    claims = {
        "iss": settings.public_url,
        "aud": settings.audience,
        "sub": subject,
        "client_id": client_id,
        "scope": scope,
        "jti": jti,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
    }
    header = {"typ": "at+jwt", "alg": algorithm, "kid": key.kid}
    token = jwt.encode(header, claims, key, algorithms=[algorithm])
    return IssuedToken(token, jti, now + ttl, scope)


def issue_token(
    settings: TokenSettings,
    keys: KeySet,
    *,
    scope: str,
    subject: str,
    client_id: str,
    ttl: int = 3600,
) -> str:
    """:func:`issue`'s signed access token alone.

    Example:
        >>> issue_token(settings, keys, scope="me:read", subject="42", client_id="app")
        'eyJ0eXAiOiJhdCtqd3Qi...'
    """
    return issue(
        settings, keys, scope=scope, subject=subject, client_id=client_id, ttl=ttl
    ).access_token


def authorization_server_metadata(settings: TokenSettings) -> dict[str, Any]:
    """The built-in issuer's RFC 8414 metadata."""
    base = settings.public_url
    return {
        "issuer": base,
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "scopes_supported": list(ALL_SCOPES),
        # REQUIRED by RFC 8414; empty because there is no authorization endpoint.
        "response_types_supported": [],
    }


def protected_resource_metadata(settings: TokenSettings) -> dict[str, Any]:
    """Steward's RFC 9728 metadata.

    The resource is ``public_url``: RFC 9728 section 3 derives the metadata URL by inserting
    the well-known path after the host of the resource identifier, and ``/graphql`` and
    ``/metrics`` are both guarded by the same tokens.
    """
    servers = [settings.public_url] if settings.builtin_issuer else []
    if settings.issuer and settings.issuer not in servers:
        servers.append(settings.issuer)
    return {
        "resource": settings.public_url,
        "authorization_servers": servers,
        "scopes_supported": list(ALL_SCOPES),
        "bearer_methods_supported": ["header"],
        "resource_name": "Steward",
    }


def routes(
    settings: TokenSettings,
    sessions: sessionmaker[Session],
    keys: KeySet | None,
    database_deadline: float = DEFAULT_TIMEOUTS.deadline,
) -> list[BaseRoute]:
    """The issuer's routes; only the protected-resource metadata when the issuer is off.

    ``database_deadline``: seconds the token endpoint may wait for the database.
    """
    resource = _document(protected_resource_metadata(settings))
    served: list[BaseRoute] = [Route(METADATA_PATH, resource, methods=["GET"])]
    if not settings.builtin_issuer:
        return served
    if keys is None:
        raise ValueError("the built-in issuer needs its keys")

    def issue_for(client_id: str, scope: str) -> tuple[str, int]:
        issued = issue(
            settings, keys, scope=scope, subject=client_id, client_id=client_id, ttl=TOKEN_TTL
        )
        with transaction(sessions) as session:
            record_issued(session, issued.jti, client_id, issued.expires_at)
        return issued.access_token, TOKEN_TTL

    endpoint = TokenEndpoint(settings.public_url, sessions, issue_for, database_deadline)
    served += [
        Route("/oauth/token", endpoint.handle, methods=["POST"]),
        Route("/.well-known/jwks.json", _document(public_jwks(keys)), methods=["GET"]),
        Route(
            "/.well-known/oauth-authorization-server",
            _document(authorization_server_metadata(settings)),
            methods=["GET"],
        ),
    ]
    return served


def _document(content: dict[str, Any]) -> Any:
    """An endpoint answering with a fixed JSON document, cacheable for five minutes."""

    async def endpoint(_request: Request) -> Response:
        return JSONResponse(content, headers={"Cache-Control": "public, max-age=300"})

    return endpoint
