"""Who is calling: the verified facts of an access token."""

from __future__ import annotations

from dataclasses import dataclass

from store.models import BUILTIN_ISSUER


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, as its verified access token describes it.

    Attributes:
        subject: the token's ``sub``.
        client_id: the OAuth client (``client_id``, else ``azp``, else ``cid``).
        scopes: the granted scopes.
        issuer: the token's ``iss``.
        jti: the token's id (RFC 9068 requires one of every access token).
        expires_at: the token's ``exp``, in seconds since the epoch.
        partner: the client is a registered partner (a third party); not a claim of the
            token, but read from the partner table on every request.
        assigned: the partner's access is ``assigned``: it sees only the orders assigned to
            it (read with ``partner``).
        trusted_documents_only: the client (a partner or any other) may run only its
            registered documents (read with ``partner``).
        customer_id: the customer linked to the token's (issuer, subject), read with
            ``partner`` (``None``: no customer is; `open_scope` makes it the owner only for a
            token with a ``me`` scope).
    """

    subject: str
    client_id: str
    scopes: frozenset[str]
    issuer: str
    jti: str
    expires_at: int
    partner: bool = False
    assigned: bool = False
    trusted_documents_only: bool = False
    customer_id: int | None = None

    def has(self, scope: str) -> bool:
        """Whether the token grants ``scope``."""
        return scope in self.scopes


@dataclass(frozen=True, slots=True)
class Issuers:
    """The issuers whose subjects customers are linked to, by (issuer, subject) pairs.

    Built from the settings (``api.settings.Settings.issuers``) and handed to `open_scope`:
    the policy reads no environment.

    Attributes:
        builtin: the built-in issuer's ``iss`` (Steward's public URL), ``None`` when it is off.
        external: the external identity provider's ``iss``, if one is trusted.

    Example:
        >>> Issuers(builtin="https://steward.example").stored("https://steward.example")
        ''
    """

    builtin: str | None = None
    external: str | None = None

    def stored(self, issuer: str) -> str:
        """How the subjects of ``issuer`` are stored: the built-in marker, else its ``iss``."""
        return BUILTIN_ISSUER if issuer == self.builtin else issuer

    def link(self, principal: Principal) -> tuple[str, str]:
        """The stored (issuer, subject) pair of the caller."""
        return self.stored(principal.issuer), principal.subject
