"""What the token layer is configured with (``api.settings`` builds it from the environment)."""

from __future__ import annotations

from dataclasses import dataclass

from auth.tokens.scope_claims import ScopeClaims


@dataclass(frozen=True, slots=True)
class TokenSettings:
    """Which issuers Steward trusts, and as whom it issues.

    Attributes:
        public_url: Steward's base URL: the built-in issuer's ``iss`` and the resource's id.
        audience: the ``aud`` every token must name.
        issuer: an external identity provider's ``iss``, if one is trusted.
        jwks_url: that provider's key set.
        allow_plain_jwt: accept ``typ: JWT`` from providers that do not set ``at+jwt``.
        builtin_issuer: whether the built-in issuer is trusted (and serves tokens).
        scope_claims: the external provider's roles claim and the scopes its roles grant
            (staff single sign-on); never applied to the built-in issuer's tokens.
    """

    public_url: str
    audience: str = "steward"
    issuer: str | None = None
    jwks_url: str | None = None
    allow_plain_jwt: bool = False
    builtin_issuer: bool = True
    scope_claims: ScopeClaims | None = None
