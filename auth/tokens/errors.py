"""Why a request could not be authenticated.

The hierarchy::

    AuthError
    ├── MissingToken          401 UNAUTHENTICATED
    ├── InvalidToken          401 INVALID_TOKEN (``cause`` says why, for metrics and tests)
    └── ProviderUnavailable   503 IDENTITY_PROVIDER_UNAVAILABLE

Messages are fixed here: they never echo the token, its claims' values or schema names.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import ClassVar
from urllib.parse import quote

__all__ = ["AuthError", "Cause", "InvalidToken", "MissingToken", "ProviderUnavailable"]


class AuthError(Exception):
    """Base class: the request is refused before its GraphQL document is read."""

    code: ClassVar[str] = "UNAUTHENTICATED"
    status: ClassVar[int] = 401

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def www_authenticate(self, resource_metadata_url: str) -> str | None:
        """The ``WWW-Authenticate`` header value (RFC 6750, RFC 9728), or ``None``."""
        return f'Bearer resource_metadata="{resource_metadata_url}"'


class MissingToken(AuthError):
    """The request carries no bearer token."""

    def __init__(self) -> None:
        super().__init__(
            "Authentication required: send an access token as 'Authorization: Bearer <token>'."
        )


class Cause(enum.StrEnum):
    """Why a token was refused; machine-readable, stable."""

    MALFORMED = "malformed"
    ALGORITHM_NOT_ALLOWED = "algorithm_not_allowed"
    WRONG_TYPE = "wrong_type"
    UNTRUSTED_ISSUER = "untrusted_issuer"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_AUDIENCE = "wrong_audience"
    MISSING_CLAIM = "missing_claim"
    INVALID_CLAIM = "invalid_claim"
    REVOKED = "revoked"
    CLIENT_REMOVED = "client_removed"
    PARTNER_REMOVED = "partner_removed"


_MESSAGES = {
    Cause.MALFORMED: "The access token is not a well-formed signed JWT.",
    Cause.ALGORITHM_NOT_ALLOWED: "The access token's signing algorithm is not allowed.",
    Cause.WRONG_TYPE: "The access token's 'typ' header must be 'at+jwt'.",
    Cause.UNTRUSTED_ISSUER: "The access token comes from an issuer this API does not trust.",
    Cause.UNKNOWN_KEY: "The access token is signed with a key this API does not trust.",
    Cause.BAD_SIGNATURE: "The access token's signature is not valid.",
    Cause.EXPIRED: "The access token has expired.",
    Cause.NOT_YET_VALID: "The access token is not valid yet.",
    Cause.WRONG_AUDIENCE: "The access token is not meant for this API (aud).",
    Cause.MISSING_CLAIM: "The access token lacks a required claim.",
    Cause.INVALID_CLAIM: "The access token has an invalid claim.",
    Cause.REVOKED: "The access token has been revoked.",
    Cause.CLIENT_REMOVED: "The access token's client has been removed.",
    Cause.PARTNER_REMOVED: "The access token's client is no longer a registered partner.",
}

# Claim names may appear in messages: they come from this fixed set, never from the token.
_NAMEABLE_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "scp"}
)


# RFC 6749's error_description charset (printable ASCII without '"' and '\\'), less the
# space and the comma, which separate the names of trusted issuers.
_ISSUER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"\\,')


class InvalidToken(AuthError):
    """The bearer token is malformed, untrusted, expired, revoked or otherwise invalid.

    Args:
        cause: why.
        claim: the claim at fault, named in the message when it is a registered one.
        trusted: with ``UNTRUSTED_ISSUER``, the issuers this API trusts, named in the
            message (configuration, never a value of the token), so that a caller holding a
            token of the wrong issuer learns where to get the right one.
    """

    code = "INVALID_TOKEN"

    def __init__(
        self, cause: Cause, *, claim: str | None = None, trusted: Iterable[str] = ()
    ) -> None:
        message = _MESSAGES[cause]
        if claim in _NAMEABLE_CLAIMS and cause in (Cause.MISSING_CLAIM, Cause.INVALID_CLAIM):
            message = f"{message[:-1]}: '{claim}'."
        issuers = [quote(issuer, safe=_ISSUER_SAFE) for issuer in trusted]
        if cause is Cause.UNTRUSTED_ISSUER and issuers:
            message = f"{message[:-1]}; it trusts tokens whose 'iss' is {' or '.join(issuers)}."
        super().__init__(message)
        self.cause = cause
        self.claim = claim

    def www_authenticate(self, resource_metadata_url: str) -> str | None:
        """``Bearer error="invalid_token"`` with a description and the metadata URL."""
        # The messages above are plain ASCII without quotes or backslashes: safe in a
        # quoted-string (RFC 9110) and within RFC 6749's error_description charset.
        return (
            f'Bearer error="invalid_token", error_description="{self.message}", '
            f'resource_metadata="{resource_metadata_url}"'
        )


class ProviderUnavailable(AuthError):
    """The identity provider's key set could not be fetched."""

    code = "IDENTITY_PROVIDER_UNAVAILABLE"
    status = 503

    def __init__(self) -> None:
        super().__init__("The identity provider cannot be reached; try again later.")

    def www_authenticate(self, resource_metadata_url: str) -> str | None:
        """No challenge: the token may well be good."""
        return None
