"""Who is calling: the verified facts of an access token."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, as its verified access token describes it.

    Attributes:
        subject: the token's ``sub``.
        client_id: the OAuth client (``client_id``, else ``azp``, else ``cid``).
        scopes: the granted scopes.
        issuer: the token's ``iss``.
        jti: the token's id, when it has one (built-in tokens always do).
        expires_at: the token's ``exp``, in seconds since the epoch.
        partner: the client is a registered partner (a third party); not a claim of the
            token, but read from the partner table on every request.
        trusted_documents_only: the client is a partner that may run only its registered
            documents (read with ``partner``).
    """

    subject: str
    client_id: str
    scopes: frozenset[str]
    issuer: str
    jti: str | None
    expires_at: int
    partner: bool = False
    trusted_documents_only: bool = False

    def has(self, scope: str) -> bool:
        """Whether the token grants ``scope``."""
        return scope in self.scopes
