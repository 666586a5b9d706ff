"""A signed-in person becomes a customer: linked to an existing one, or registered.

Staff make a code for a customer (`create_link_code`) and hand it over (by phone, letter, at
the counter); the person signs in at the company's identity provider and enters it
(`link_me`), which binds their (``iss``, ``sub``) to the customer. A code:

- has 60 bits of entropy (12 characters of Crockford's base 32, from `secrets`), shown as
  ``XXXX-XXXX-XXXX``; case, dashes and spaces do not matter, nor ``O``/``0`` or ``I``/``L``/``1``;
- is valid for 15 minutes, once, and only the latest one made for a customer is;
- is stored as its SHA-256, never itself: neither the table nor a log line holds it.

A wrong, used or expired code gets one message for all three, so that a guesser learns
nothing; `WrongCodes` refuses a person after 5 wrong codes in an hour (``RATE_LIMITED``),
counting each code as it arrives, so that a burst sent at once gets no more tries.

Where the server allows it, a person with no customer registers instead (`register_me`): a
new customer bound to their pair, with the consents they chose and the evidence of the
notice they were shown.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col, select

from privacy.consents import Choice, record_choices
from privacy.customers import (
    RESERVED,
    UNLINKABLE,
    is_linkable,
    is_reserved,
    register_customer,
    touch,
)
from privacy.errors import InputError, LimitUnavailable, TooManyAttempts
from privacy.usage import UsageKind, record_usage
from store import models
from store.ids import to_global_id
from store.models import BUILTIN_ISSUER, CustomerStatus, utcnow

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base 32: no I, L, O or U, so that a code read aloud is not misheard."""
LENGTH = 12
"""Characters of a code: 60 bits."""
GROUP = 4
VALID_FOR = timedelta(minutes=15)
MAX_INPUT = 64
"""Characters of a submitted code looked at; anything longer is simply wrong."""
WRONG_CODE = "This code is wrong, used or expired; ask for a new one."
ALREADY_LINKED = "Your sign-in is already linked to a customer."
CUSTOMER_LINKED = "This customer is already linked to another sign-in."
WRONG_CODE_LIMIT = "5/hour"
"""Wrong codes one signed-in person may enter, in ``limits`` notation."""

_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    """A fresh code, ``XXXX-XXXX-XXXX``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def normalise(code: str) -> str | None:
    """The code as stored (its 12 characters), or ``None`` when it cannot be a code."""
    if len(code) > MAX_INPUT:
        return None
    raw = "".join(code.split()).replace("-", "").upper().translate(_READ_AS)
    if len(raw) != LENGTH or any(char not in ALPHABET for char in raw):
        return None
    return raw


def code_hash(normalised: str) -> str:
    """What is stored of a code: the SHA-256 of its normalised form, lower-case hex."""
    return hashlib.sha256(normalised.encode()).hexdigest()


def default_link(customer: models.Customer) -> tuple[str, str]:
    """The pair a customer is linked to when nobody signed in as them: the built-in issuer
    and the customer's global id (`steward token --sub`)."""
    assert customer.id is not None
    return BUILTIN_ISSUER, to_global_id("Customer", customer.id)


def is_linked(customer: models.Customer) -> bool:
    """Whether someone's sign-in, not the default pair, is linked to the customer."""
    return (customer.subject_issuer, customer.subject) != default_link(customer)


def create_link_code(
    session: Session, customer: models.Customer, created_by: str
) -> tuple[str, datetime]:
    """Make a code for ``customer``; returns the code (shown once) and its expiry.

    Earlier codes of the customer stop working: only the latest is valid.

    Raises:
        InputError: the customer is already linked to someone's sign-in (unlink first).
    """
    assert customer.id is not None
    if is_linked(customer):
        raise InputError("customerId", CUSTOMER_LINKED + " Unlink it first.")
    session.execute(
        delete(models.LinkCode).where(
            col(models.LinkCode.customer_id) == customer.id,
            col(models.LinkCode.used_at).is_(None),
        )
    )
    code = new_code()
    now = utcnow()
    expires_at = now + VALID_FOR
    session.add(
        models.LinkCode(
            customer_id=customer.id,
            code_hash=code_hash(normalise(code) or ""),
            created_by=created_by[:255],
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    return code, expires_at


class WrongCodes:
    """Counts the link codes each signed-in person enters, in a moving window (``limits``).

    Every code counts, as it arrives and before it is looked up, so that a burst of guesses
    sent at once gets no more looked at than guesses sent one by one. A right code links the
    person, who then has no code to enter: only wrong ones add up.

    Args:
        storage: a ``limits`` storage URI: ``memory://``, or the ``redis://`` of
            ``STEWARD_REDIS_URL`` so that every replica counts together.
        limit: how many codes, per how long.
    """

    def __init__(self, storage: str = "memory://", limit: str = WRONG_CODE_LIMIT) -> None:
        options: dict[str, float | str | bool] = {}
        if not storage.startswith("memory"):
            options = {
                "key_prefix": "steward-link",
                "socket_connect_timeout": 1,
                "socket_timeout": 1,
            }
        self.item = parse(limit)
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage, **options))

    def attempt(self, person: tuple[str, str]) -> None:
        """Count one code of ``person``, or refuse it when the window is full.

        Raises:
            TooManyAttempts: the window is full; the code is not counted, nor looked at.
            LimitUnavailable: the counting store cannot be reached.
        """
        try:
            if self.limiter.hit(self.item, *person):
                return
            stats = self.limiter.get_window_stats(self.item, *person)
        except Exception:  # the storage's own errors: Redis down, a timeout
            raise LimitUnavailable from None
        raise TooManyAttempts(max(1, math.ceil(stats.reset_time - time.time())))


def link_me(
    session: Session,
    code: str,
    person: tuple[str, str],
    owner_id: int | None,
    wrong_codes: WrongCodes,
) -> models.Customer:
    """Link the signed-in ``person`` (stored issuer, subject) to the customer of ``code``.

    Args:
        session: the request's session; the caller's savepoint undoes everything on error.
        code: the code as the person typed it.
        person: the caller's stored (issuer, subject) pair.
        owner_id: the customer the caller is already linked to, if any.
        wrong_codes: where the codes entered are counted.

    Raises:
        InputError: the person is already linked; the code is wrong, used or expired (one
            message); the customer is linked to another sign-in.
        TooManyAttempts: too many codes lately (counted before the code is looked up).
    """
    if owner_id is not None:
        raise InputError("code", ALREADY_LINKED)
    if is_reserved(person):
        raise InputError("code", RESERVED)
    if not is_linkable(person):
        raise InputError("code", UNLINKABLE)
    wrong_codes.attempt(person)
    normalised = normalise(code)
    found = None
    if normalised is not None:
        found = session.scalars(
            select(models.LinkCode)
            .where(col(models.LinkCode.code_hash) == code_hash(normalised))
            .with_for_update()
        ).first()
    now = utcnow()
    customer = None if found is None else session.get(models.Customer, found.customer_id)
    if (
        found is None
        or found.used_at is not None
        or found.expires_at <= now
        or customer is None
        or customer.status != CustomerStatus.ACTIVE
    ):
        raise InputError("code", WRONG_CODE)
    if is_linked(customer):
        raise InputError("code", CUSTOMER_LINKED)
    customer.subject_issuer, customer.subject = person
    found.used_at = now
    touch(customer)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # the same person, linked by a concurrent request
        raise InputError("code", ALREADY_LINKED) from None
    record_usage(session, customer, UsageKind.LINKED)
    return customer


def unlink(session: Session, customer: models.Customer) -> models.Customer:
    """Undo a link: the customer's tokens are again those of its default pair only.

    Unlinking a customer that is not linked changes nothing.
    """
    if is_linked(customer):
        customer.subject_issuer, customer.subject = default_link(customer)
        touch(customer)
        session.flush()
    return customer


def register_me(
    session: Session,
    given: Mapping[str, Any],
    choices: Sequence[Choice],
    person: tuple[str, str],
) -> models.Customer:
    """Register the signed-in ``person`` as a new customer, with the consents they chose.

    Raises:
        InputError: bad details or choices, or the person is already a customer (also when a
            concurrent request registered them first).
    """
    customer = register_customer(session, given, person)
    record_choices(session, customer, choices, "input.consents")
    record_usage(session, customer, UsageKind.REGISTERED)
    return customer
