"""Authlib's RFC 9068 validator, with the gaps SPEC section 3 needs closed.

Authlib's ``JWTBearerTokenValidator`` decodes with whatever algorithm the token names (the
default registry still includes HMAC), accepts a token without ``typ``, has no leeway, and
insists on ``client_id``, which external providers often leave out. Here:

- :meth:`AccessTokenValidator.authenticate_token` decodes with an asymmetric allow-list;
- :class:`AccessTokenClaims` requires ``typ`` (``at+jwt``, or ``JWT`` when allowed);
- :meth:`AccessTokenValidator.validate_token` validates with a 30-second leeway;
- ``jti`` is required of every token (RFC 9068 section 2.2), ``client_id`` of built-in ones
  (external providers may name the client ``azp`` or ``cid``).

Every failure is raised as :class:`auth.tokens.errors.InvalidToken` with a machine-readable cause.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authlib.oauth2.claims import JWTClaims  # type: ignore[import-untyped]
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator  # type: ignore[import-untyped]
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    KeyParameterError,
    MissingClaimError,
    MissingKeyError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from auth.tokens.errors import Cause, InvalidToken
from auth.tokens.keys import ALGORITHMS

LEEWAY = 30
"""Seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``."""

#: Unknown header parameters are ignored, as RFC 7515 says, unless listed in ``crit``.
REGISTRY = JWSRegistry(algorithms=ALGORITHMS, strict_check_header=False)

_AT_JWT = frozenset({"at+jwt", "application/at+jwt"})
_PLAIN = frozenset({"jwt", "application/jwt"})


class AccessTokenClaims(JWTAccessTokenClaims):  # type: ignore[misc]
    """RFC 9068 claims whose ``typ`` header is required, not merely checked when present."""

    def validate(self, now: int | None = None, leeway: int = 0) -> None:
        typ = self.header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in self.params["typs"]:
            raise InvalidClaimError("typ")
        # The parent's own typ check would refuse "JWT", which ALLOW_PLAIN_JWT accepts.
        JWTClaims.validate(self, now=now, leeway=leeway)


class AccessTokenValidator(JWTBearerTokenValidator):  # type: ignore[misc]
    """Validates the access tokens of one issuer against that issuer's key set.

    Args:
        issuer: the exact ``iss``.
        audience: the value ``aud`` must contain.
        keys: returns the issuer's current key set (the caller refreshes it beforehand).
        builtin: whether the issuer is Steward's own (``client_id`` required).
        allow_plain_jwt: accept ``typ: JWT`` as well as ``at+jwt``.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        keys: Callable[[], KeySet | None],
        *,
        builtin: bool,
        allow_plain_jwt: bool = False,
    ) -> None:
        super().__init__(issuer=issuer, resource_server=audience)
        self._keys = keys
        self.builtin = builtin
        self._typs = _AT_JWT | _PLAIN if allow_plain_jwt else _AT_JWT

    def get_jwks(self) -> KeySet | None:
        return self._keys()

    def authenticate_token(self, token_string: str) -> AccessTokenClaims:
        keys = self.get_jwks()
        if keys is None:
            raise InvalidToken(Cause.UNKNOWN_KEY)
        try:
            token = jwt.decode(token_string, keys, registry=REGISTRY)
        except JoseError as error:
            raise InvalidToken(cause_of(error)) from error
        return AccessTokenClaims(
            token.claims, token.header, self._claims_options(), {"typs": self._typs}
        )

    def validate_token(
        self, token: AccessTokenClaims, scopes: Any = None, request: Any = None, **_: Any
    ) -> None:
        # No scope check here, unlike the parent: scopes are enforced per field by the policy.
        try:
            token.validate(leeway=LEEWAY)
        except JoseError as error:
            claim = getattr(error, "claim", None)
            cause = cause_of(error)
            # joserfc raises the same error for "nbf"/"iat" in the future and not a number.
            if cause is Cause.NOT_YET_VALID and not _is_number(token.get(claim)):
                cause = Cause.INVALID_CLAIM
            raise InvalidToken(cause, claim=claim) from error

    def _claims_options(self) -> dict[str, Any]:
        # A new dict each time: authlib pops the "validate" hooks out of it.
        return {
            "iss": {"essential": True, "validate": self.validate_iss},
            "aud": {"essential": True, "value": self.resource_server},
            "exp": {"essential": True},
            "iat": {"essential": True},
            "sub": {"essential": True},
            "client_id": {"essential": self.builtin},
            "jti": {"essential": True},
            "scope": {"essential": False, "allow_blank": True},
        }


def cause_of(error: JoseError) -> Cause:
    """The :class:`Cause` a joserfc error stands for."""
    if isinstance(error, BadSignatureError):
        return Cause.BAD_SIGNATURE
    if isinstance(error, UnsupportedAlgorithmError):
        return Cause.ALGORITHM_NOT_ALLOWED
    if isinstance(error, InvalidKeyIdError | MissingKeyError | KeyParameterError):
        return Cause.UNKNOWN_KEY
    if isinstance(error, ExpiredTokenError):
        return Cause.EXPIRED
    if isinstance(error, MissingClaimError):
        return Cause.MISSING_CLAIM
    if isinstance(error, ClaimError):
        return _CLAIM_CAUSES.get(error.claim, Cause.INVALID_CLAIM)
    return Cause.MALFORMED


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_CLAIM_CAUSES = {
    "typ": Cause.WRONG_TYPE,
    "aud": Cause.WRONG_AUDIENCE,
    "nbf": Cause.NOT_YET_VALID,
    "iat": Cause.NOT_YET_VALID,
    "iss": Cause.UNTRUSTED_ISSUER,
}
