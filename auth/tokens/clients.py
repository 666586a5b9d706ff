"""The built-in issuer's registry: OAuth clients (secrets stored hashed) and revoked tokens.

The functions take a session and leave the transaction to the caller::

    with transaction(sessions) as session:
        client_id, secret = register(session, "courier", "orders:read purpose:order_fulfillment")
"""

from __future__ import annotations

import base64
import difflib
import enum
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session
from sqlmodel import col, select

from auth.policy.scopes import ALL_SCOPES
from store.models import IssuedToken, OAuthClient, RevokedToken, utcnow

__all__ = [
    "Revocation",
    "UnknownScopeError",
    "find_active",
    "hash_secret",
    "list_clients",
    "new_identifier",
    "normalize_scope",
    "record_issued",
    "register",
    "remove",
    "revoke",
    "verify_secret",
]

# scrypt at 2**14 costs ~16 MiB and some tens of milliseconds: cheap for a token endpoint,
# expensive for anyone who got hold of the table. The secrets are random anyway.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class UnknownScopeError(ValueError):
    """A scope that Steward does not know (see :mod:`auth.policy.scopes`); the message names
    the known scopes closest to each unknown one, not all of them.

    Attributes:
        unknown: the unknown scopes, in the order given.
        closest: each unknown scope's closest known ones (none when nothing is close).
    """

    def __init__(self, unknown: Sequence[str]) -> None:
        self.unknown = tuple(unknown)
        self.closest = {
            item: tuple(difflib.get_close_matches(item, ALL_SCOPES, n=3, cutoff=0.6))
            for item in self.unknown
        }
        super().__init__(
            "; ".join(
                f"unknown scope '{item}'"
                + (f" (did you mean {' or '.join(matches)}?)" if matches else "")
                for item, matches in self.closest.items()
            )
        )


def normalize_scope(scope: str) -> str:
    """``scope`` deduplicated in the canonical order of :data:`auth.policy.scopes.ALL_SCOPES`.

    Raises:
        UnknownScopeError: a scope is not in ``ALL_SCOPES``.
        ValueError: no scope at all.
    """
    requested = scope.split()
    if not requested:
        raise ValueError("at least one scope is needed")
    unknown = [item for item in dict.fromkeys(requested) if item not in ALL_SCOPES]
    if unknown:
        raise UnknownScopeError(unknown)
    return " ".join(item for item in ALL_SCOPES if item in requested)


def new_identifier(nbytes: int) -> str:
    """A random URL-safe identifier of ``nbytes`` random bytes that never begins with ``-``.

    Such ids (client ids, token ids, secrets) are typed as command-line arguments, where a
    leading ``-`` reads as an option; one in 64 ``token_urlsafe`` values has one.
    """
    while True:
        value = secrets.token_urlsafe(nbytes)
        if not value.startswith("-"):
            return value


def register(session: Session, name: str, scope: str) -> tuple[str, str]:
    """Register a client allowed ``scope``; returns ``(client_id, client_secret)``.

    The secret is returned only here: the table keeps its scrypt hash.

    Raises:
        UnknownScopeError: ``scope`` names a scope Steward does not know.
    """
    if not name.strip():
        raise ValueError("a client needs a name")
    client_id = new_identifier(16)
    secret = new_identifier(32)
    session.add(
        OAuthClient(
            client_id=client_id,
            name=name.strip(),
            secret_hash=hash_secret(secret),
            scope=normalize_scope(scope),
        )
    )
    session.flush()
    return client_id, secret


def list_clients(session: Session, *, include_removed: bool = False) -> list[OAuthClient]:
    """The registered clients, oldest first; removed ones only when asked for."""
    statement = select(OAuthClient).order_by(col(OAuthClient.id))
    if not include_removed:
        statement = statement.where(col(OAuthClient.removed_at).is_(None))
    return list(session.scalars(statement))


def find_active(session: Session, client_id: str) -> OAuthClient | None:
    """The client ``client_id`` unless it is unknown or removed."""
    statement = select(OAuthClient).where(
        col(OAuthClient.client_id) == client_id, col(OAuthClient.removed_at).is_(None)
    )
    return session.scalars(statement).first()


def remove(session: Session, client_id: str) -> bool:
    """Remove a client: it gets no new tokens, and its tokens are refused from now on.

    The row stays as a tombstone so that the refusal holds until the tokens expire.
    Returns whether an active client was removed.
    """
    client = find_active(session, client_id)
    if client is None:
        return False
    client.removed_at = utcnow()
    session.add(client)
    session.flush()
    return True


def record_issued(session: Session, jti: str, client_id: str, expires_at: int) -> None:
    """Remember that the built-in issuer signed the token ``jti`` (for `revoke`'s answer)."""
    session.add(
        IssuedToken(
            jti=jti, client_id=client_id, expires_at=datetime.fromtimestamp(expires_at, UTC)
        )
    )
    session.flush()


class Revocation(enum.Enum):
    """What `revoke` did."""

    REVOKED = "revoked"
    """A token the built-in issuer signed is refused from the next request on."""
    NOT_SEEN = "not seen"
    """Steward never issued a token with this id (an external provider's, or a typo); it is
    refused all the same, should it ever come."""
    ALREADY = "already revoked"
    """Nothing changed."""


def revoke(session: Session, jti: str) -> Revocation:
    """Refuse the token ``jti`` from the next request on, whether or not Steward issued it."""
    if session.get(RevokedToken, jti) is not None:
        return Revocation.ALREADY
    session.add(RevokedToken(jti=jti))
    session.flush()
    if session.get(IssuedToken, jti) is None:
        return Revocation.NOT_SEEN
    return Revocation.REVOKED


def hash_secret(secret: str) -> str:
    """A salted scrypt hash of ``secret``, self-describing (``scrypt$n$r$p$salt$hash``)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    parts = (_SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"], _b64(salt), _b64(digest))
    return "scrypt$" + "$".join(str(part) for part in parts)


def verify_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` matches ``stored`` (a :func:`hash_secret` value), in constant time."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(secret.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(digest, _unb64(expected))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
