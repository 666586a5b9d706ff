"""Who is calling: the bearer token of a request, verified into a :class:`Principal`."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import httpx
from joserfc.jwk import KeySet
from sqlalchemy import Connection, String, and_, bindparam, exists, false, or_, select
from sqlalchemy.orm import Session, sessionmaker
from sqlmodel import col

from auth.policy.principal import Principal
from auth.policy.request import linked_customer
from auth.tokens._jwks import RemoteKeySet
from auth.tokens._tokens import bearer_token, peek, principal_from
from auth.tokens._validator import LEEWAY, AccessTokenValidator
from auth.tokens.config import TokenSettings
from auth.tokens.errors import Cause, InvalidToken
from auth.tokens.keys import ALGORITHMS
from auth.tokens.scope_claims import ScopeClaims
from store.database import DEFAULT_TIMEOUTS, one_statement_reads, reads_on_loop, run_in_thread
from store.loop_reads import LoopConnections
from store.models import (
    BUILTIN_ISSUER,
    OAuthClient,
    Partner,
    PartnerAccess,
    RevokedToken,
    TrustedDocumentsOnly,
    UTCDateTime,
    utcnow,
)
from store.notifications import STANDING_CHANNEL, Changes
from store.precompiled import Precompiled

__all__ = ["Authenticator", "Verified"]

CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class _Trust:
    validator: AccessTokenValidator
    remote: RemoteKeySet | None
    scope_claims: ScopeClaims | None = None


@dataclass(frozen=True, slots=True)
class Verified:
    """A token whose signature and claims were checked, and the key set that checked them.

    Attributes:
        principal: the caller it describes (before its standing is read).
        builtin: whether the built-in issuer signed it.
        kid: the key id of its header.
        keys: its issuer's key set that verified it.
    """

    principal: Principal
    builtin: bool
    kid: str | None
    keys: KeySet | None


class Authenticator:
    """Verifies access tokens of the built-in issuer and/or one external provider.

    Verified tokens are cached (by hash, bounded, least recently used first out) until they
    expire, or until their issuer's key set changes: a token verified against a key set that
    Steward has since refetched is verified again, so a key that left the set verifies
    nothing from the next request on. A token's standing — revoked, its client removed, the
    client's standing as a partner (registered, removed, trusted documents only), its
    customer — holds on every replica from the next request on: SQLite's is read on every
    request (`standing_now`, on the event loop); PostgreSQL's is kept only while the
    database's notifications say that nothing it is read from changed, as a heartbeat sent
    after the request arrived confirms (`store.notifications.Changes.barrier`), and read
    again otherwise.

    Args:
        settings: ``public_url``/``builtin_issuer``, ``issuer``/``jwks_url``, ``audience``,
            ``allow_plain_jwt``, ``scope_claims`` (the provider's roles, mapped to scopes).
        sessions: where the revoked tokens and removed clients are.
        keys: the built-in issuer's keys (required when ``settings.builtin_issuer``).
        http: the client to fetch the external key set with (one with a timeout is made
            when omitted).
        database_deadline: seconds the revocation check may wait for the database.

    Example:
        >>> principal = await authenticator.authenticate(request.headers.get("authorization"))
    """

    def __init__(
        self,
        settings: TokenSettings,
        sessions: sessionmaker[Session],
        keys: KeySet | None,
        *,
        http: httpx.AsyncClient | None = None,
        database_deadline: float = DEFAULT_TIMEOUTS.deadline,
    ) -> None:
        self._engine = sessions.kw["bind"]
        self._database_deadline = database_deadline
        self._loop_reads = LoopConnections(self._engine) if reads_on_loop(self._engine) else None
        self._changes = Changes.for_engine(self._engine, STANDING_CHANNEL)
        # The standings kept, with the generation of changes they were read in: replaced
        # whole, so that a reader never pairs one generation with another's standings.
        self._kept: tuple[int, dict[_Key, _Standing]] | None = None
        self._keeping = threading.Lock()
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._cache: OrderedDict[bytes, Verified] = OrderedDict()
        self._trusts: dict[str, _Trust] = {}
        if settings.issuer:
            if not settings.jwks_url:
                raise ValueError("STEWARD_ISSUER needs STEWARD_JWKS_URL")
            remote = RemoteKeySet(settings.jwks_url, self._http)
            validator = AccessTokenValidator(
                settings.issuer,
                settings.audience,
                lambda: remote.current,
                builtin=False,
                allow_plain_jwt=settings.allow_plain_jwt,
            )
            self._trusts[settings.issuer] = _Trust(validator, remote, settings.scope_claims)
        if settings.builtin_issuer:
            if keys is None:
                raise ValueError("the built-in issuer needs its keys")
            public = KeySet.import_key_set({"keys": [k.as_dict(private=False) for k in keys]})
            validator = AccessTokenValidator(
                settings.public_url,
                settings.audience,
                lambda: public,
                builtin=True,
                allow_plain_jwt=settings.allow_plain_jwt,
            )
            self._trusts[settings.public_url] = _Trust(validator, None)

    async def authenticate(self, authorization: str | None) -> Principal:
        """The caller described by an ``Authorization`` header value.

        Raises:
            MissingToken: no bearer token.
            InvalidToken: the token is not acceptable (``cause`` says why).
            ProviderUnavailable: the external provider's keys cannot be fetched.
            DatabaseUnavailable: the revocation check cannot reach the database in time.
        """
        verified = await self.verify(authorization)
        # A thread, not the event loop: the database may be remote or its pool exhausted,
        # and the loop must never wait on either.
        return await run_in_thread(
            partial(self.standing, verified), deadline=self._database_deadline
        )

    async def verify(self, authorization: str | None) -> Verified:
        """The token's signature and claims, checked (or found checked in the cache); its
        standing is not: `standing` reads that, in a thread that may wait on the database.

        Raises:
            MissingToken: no bearer token.
            InvalidToken: the token is not acceptable (``cause`` says why).
            ProviderUnavailable: the external provider's keys cannot be fetched.
        """
        token = bearer_token(authorization)
        digest = hashlib.sha256(token.encode()).digest()
        verified = self._cache.get(digest)
        if verified is not None and await self._still_verified(verified):
            self._cache.move_to_end(digest)
        else:
            self._cache.pop(digest, None)
            verified = await self._verify(token)
            self._cache[digest] = verified
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return verified

    async def standing_now(self, verified: Verified) -> Principal | None:
        """The caller of a verified token, when its standing needs no worker thread (see
        `standing`), else ``None``: read on the event loop from a SQLite file; on PostgreSQL,
        kept from an earlier read while no change was announced since, which a heartbeat
        shared by the requests in flight confirms (`store.notifications.Changes.barrier`).

        Raises:
            InvalidToken: revoked, or its client (or partner) removed.
            DatabaseUnavailable: the SQLite file cannot be read.
        """
        key = _key(verified)
        if self._loop_reads is not None:
            row = self._loop_reads.first(_STANDING[verified.builtin], _parameters(key))
            return _caller(verified, _standing_of(row))
        generation = await self._changes.barrier() if self._changes is not None else None
        kept = self._kept
        if generation is None or kept is None or kept[0] != generation:
            return None
        standing = kept[1].get(key)
        return None if standing is None else _caller(verified, standing)

    def standing(self, verified: Verified, connection: Connection | None = None) -> Principal:
        """The caller of a verified token, once the database says the token still stands:
        not revoked, its client not removed; and whether the client is a partner. On
        PostgreSQL what is read is kept for `standing_now`, under the generation of changes
        it was read in.

        Args:
            verified: the token, as `verify` returned it.
            connection: a connection of the request set by `one_statement_reads`, to read the
                standing on (the request then checks out one connection, not two); without
                it, one of this authenticator's own.

        Raises:
            InvalidToken: revoked, or its client (or partner) removed.
        """
        key = _key(verified)
        # Before the read: a change announced while it runs leaves what it read unkept.
        generation = self._changes.generation() if self._changes is not None else None
        with ExitStack() as own:
            if connection is None:
                connection = one_statement_reads(own.enter_context(self._engine.connect()))
            row = _STANDING[verified.builtin].execute(connection, _parameters(key)).one()
        standing = _standing_of(row)
        if generation is not None and standing.keep:
            self._keep(generation, key, standing)
        return _caller(verified, standing)

    async def start(self) -> None:
        """Start listening for changes to standings (PostgreSQL), on the running loop."""
        if self._changes is not None:
            await self._changes.start()

    async def aclose(self) -> None:
        """Close the HTTP client, if this authenticator made it, and the connections it
        keeps."""
        if self._own_http:
            await self._http.aclose()
        if self._loop_reads is not None:
            self._loop_reads.close()
        if self._changes is not None:
            self._changes.close()

    def _keep(self, generation: int, key: _Key, standing: _Standing) -> None:
        """Keep ``standing``, read in ``generation``, unless a later one is already kept."""
        with self._keeping:
            kept = self._kept
            if kept is None or kept[0] < generation:
                kept = self._kept = (generation, {})
            elif kept[0] > generation:
                return
            standings = kept[1]
            standings[key] = standing
            if len(standings) > CACHE_SIZE:
                standings.pop(next(iter(standings)))

    async def _still_verified(self, verified: Verified) -> bool:
        """Whether a cached token is unexpired and its issuer's keys are those that verified it."""
        if verified.principal.expires_at + LEEWAY <= time.time():
            return False
        trust = self._trusts[verified.principal.issuer]
        if trust.remote is not None:
            await trust.remote.ensure(verified.kid)  # refetches once the keys are old
        return trust.validator.get_jwks() is verified.keys

    async def _verify(self, token: str) -> Verified:
        header, claims = peek(token)
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken(Cause.ALGORITHM_NOT_ALLOWED)
        issuer = claims.get("iss")
        if issuer is None:
            raise InvalidToken(Cause.MISSING_CLAIM, claim="iss")
        trust = self._trusts.get(issuer) if isinstance(issuer, str) else None
        if trust is None:
            raise InvalidToken(Cause.UNTRUSTED_ISSUER, trusted=self._trusts)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken(Cause.MALFORMED)
        if trust.remote is not None:
            await trust.remote.ensure(kid)
        keys = trust.validator.get_jwks()
        verified = trust.validator.authenticate_token(token)
        trust.validator.validate_token(verified)
        principal = principal_from(verified, builtin=trust.validator.builtin)
        if trust.scope_claims is not None:
            mapped = trust.scope_claims.scopes(verified)
            principal = replace(principal, scopes=principal.scopes | mapped)
        return Verified(principal, trust.remote is None, kid, keys)


@dataclass(frozen=True, slots=True)
class _Standing:
    refusal: Cause | None
    partner: bool = False
    assigned: bool = False
    trusted_documents_only: bool = False
    customer_id: int | None = None
    keep: bool = True
    """Whether it may be kept until a change is announced: not when it ends by itself (a
    partner registered until a time)."""


_Key = tuple[bool, str, str, str, str]
"""A token's standing's key: whether the built-in issuer signed it, its ``jti``, its client,
its stored issuer and its subject."""


def _key(verified: Verified) -> _Key:
    principal = verified.principal
    issuer = BUILTIN_ISSUER if verified.builtin else principal.issuer
    return (verified.builtin, principal.jti, principal.client_id, issuer, principal.subject)


def _parameters(key: _Key) -> dict[str, Any]:
    _builtin, jti, client_id, issuer, subject = key
    return {
        "jti": jti,
        "client_id": client_id,
        "issuer": issuer,
        "subject": subject,
        "now": utcnow(),
    }


def _caller(verified: Verified, standing: _Standing) -> Principal:
    """The caller of ``verified`` as its ``standing`` says.

    Raises:
        InvalidToken: revoked, or its client (or partner) removed.
    """
    if standing.refusal is not None:
        raise InvalidToken(standing.refusal)
    if standing.partner or standing.trusted_documents_only or standing.customer_id is not None:
        return replace(
            verified.principal,
            partner=standing.partner,
            assigned=standing.assigned,
            trusted_documents_only=standing.trusted_documents_only,
            customer_id=standing.customer_id,
        )
    return verified.principal


def _standing_of(row: Any) -> _Standing:
    """Whether the token was revoked or its client removed, whether the client is a partner,
    and whether it runs only its registered documents: the standing statement's row."""
    is_revoked, is_removed, was_removed, only_trusted, access, restricted, customer, ends = tuple(
        row
    )
    if is_revoked:
        return _Standing(Cause.REVOKED)
    if is_removed:
        return _Standing(Cause.CLIENT_REMOVED)
    if was_removed is None:
        return _Standing(None, trusted_documents_only=bool(restricted), customer_id=customer)
    if was_removed:
        return _Standing(Cause.PARTNER_REMOVED)  # for good, until a change
    return _Standing(
        None,
        partner=True,
        assigned=access == PartnerAccess.ASSIGNED,
        trusted_documents_only=bool(only_trusted or restricted),
        customer_id=customer,
        keep=not ends,
    )


def _standing_statement(builtin: bool) -> Precompiled:
    client_id = bindparam("client_id", type_=String)
    revoked = exists().where(col(RevokedToken.jti) == bindparam("jti", type_=String))
    # Only the built-in issuer's clients live in oauth_client; an external provider's
    # client may share an id with one of them by chance.
    removed = (
        exists().where(
            col(OAuthClient.client_id) == client_id,
            col(OAuthClient.removed_at).is_not(None),
        )
        if builtin
        else false()
    )
    # A partner is a client of one issuer; one registered before issuers were told apart
    # (issuer unknown: NULL) stands for its client id under any issuer.
    issuer = col(Partner.issuer)
    partner = and_(
        col(Partner.client_id) == client_id,
        or_(issuer == bindparam("issuer", type_=String), issuer.is_(None)),
    )
    # null: not a partner; false: an active partner; true: a removed one, or one registered
    # until a time now past.
    gone = or_(
        col(Partner.removed_at).is_not(None),
        and_(
            col(Partner.until).is_not(None),
            col(Partner.until) <= bindparam("now", type_=UTCDateTime),
        ),
    )
    partner_removed = select(gone).where(partner).scalar_subquery()
    trusted_only = select(col(Partner.trusted_documents_only)).where(partner).scalar_subquery()
    access = select(col(Partner.access)).where(partner).scalar_subquery()
    ends = select(col(Partner.until).is_not(None)).where(partner).scalar_subquery()
    # Any other client limited to its registered documents (a first-party app).
    restricted = exists().where(col(TrustedDocumentsOnly.client_id) == client_id)
    # Who the caller is, if a customer: the owner of a token with a `me` scope (`open_scope`).
    customer = linked_customer(
        bindparam("issuer", type_=String), bindparam("subject", type_=String)
    ).scalar_subquery()
    return Precompiled(
        select(revoked, removed, partner_removed, trusted_only, access, restricted, customer, ends)
    )


_STANDING = {builtin: _standing_statement(builtin) for builtin in (True, False)}
"""The standing statement, by whether the built-in issuer signed the token (every token has a
``jti``: RFC 9068)."""
