"""From a bearer token to a :class:`Principal`: parsing before, and claims after, verification."""

from __future__ import annotations

import json
import re

from joserfc import jws
from joserfc.errors import JoseError

from auth.policy.principal import Principal
from auth.tokens._validator import REGISTRY, AccessTokenClaims
from auth.tokens.errors import Cause, InvalidToken, MissingToken

__all__ = ["bearer_token", "peek", "principal_from", "scopes_of"]

MAX_TOKEN_LENGTH = 16 * 1024
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 section 2.1


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` value (the scheme is case-insensitive)."""
    # Another scheme (Basic, say) carries no bearer token: the caller gets the challenge.
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise MissingToken()
    if len(token) > MAX_TOKEN_LENGTH or not _B64TOKEN.fullmatch(token):
        raise InvalidToken(Cause.MALFORMED)
    return token


def peek(token: str) -> tuple[dict[str, object], dict[str, object]]:
    """The header and claims, unverified: only to choose the issuer's keys."""
    try:
        signed = jws.extract_compact(token.encode("ascii"), registry=REGISTRY)
        claims = json.loads(signed.payload)
    except (JoseError, ValueError) as error:
        raise InvalidToken(Cause.MALFORMED) from error
    if not isinstance(claims, dict):
        raise InvalidToken(Cause.MALFORMED)
    return dict(signed.headers()), claims


def principal_from(claims: AccessTokenClaims, *, builtin: bool) -> Principal:
    """The caller a verified token describes; external clients may be ``azp`` or ``cid``."""
    names = ("client_id",) if builtin else ("client_id", "azp", "cid")
    client_id = next((claims[name] for name in names if claims.get(name)), None)
    if not isinstance(client_id, str):
        cause = Cause.MISSING_CLAIM if client_id is None else Cause.INVALID_CLAIM
        raise InvalidToken(cause, claim="client_id")
    jti = claims["jti"]
    if not isinstance(jti, str):
        raise InvalidToken(Cause.INVALID_CLAIM, claim="jti")
    return Principal(
        subject=claims["sub"],
        client_id=client_id,
        scopes=scopes_of(claims),
        issuer=claims["iss"],
        jti=jti,
        expires_at=int(claims["exp"]),
    )


def scopes_of(claims: AccessTokenClaims) -> frozenset[str]:
    """The granted scopes: ``scope`` (a string) and ``scp`` (a string or a list)."""
    scopes: set[str] = set()
    scope = claims.get("scope")  # RFC 8693 section 4.2: a space-separated string
    if isinstance(scope, str):
        scopes.update(scope.split())
    elif scope is not None:
        raise InvalidToken(Cause.INVALID_CLAIM, claim="scope")
    scp = claims.get("scp")  # Okta sends a list, Microsoft a string
    if isinstance(scp, str):
        scopes.update(scp.split())
    elif isinstance(scp, list) and all(isinstance(item, str) for item in scp):
        scopes.update(scp)
    elif scp is not None:
        raise InvalidToken(Cause.INVALID_CLAIM, claim="scp")
    return frozenset(scopes)
