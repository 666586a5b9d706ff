"""The forms of graduated disclosure (SPEC section 13): less than the value, more than ``null``.

A field rule may disclose, under a purpose, a **form** of a value instead of the value. This
module defines the forms and computes them in Python (the Strawberry executor, and the compiled
executor where its database cannot); `schema.forms_sql` builds the same forms as SQL, and the
tests hold the two equal on both databases. Which field gets which form under which purpose is
policy, declared in the catalog; what kind of value a field holds is `FIELD_KINDS`.

The forms, exactly (``•`` is U+2022 BULLET; ``None`` stays ``None`` in every form):

- `Form.PARTIAL`
  - phone (stored in E.164) and payment reference: the last 4 characters, every character
    before them replaced by ``•``, so the length is kept: ``+84912341234`` →
    ``••••••••1234``. A value of 4 characters or fewer is all ``•`` (its "last 4" would be
    all of it).
  - email: the first character of the local part, ``•••`` (always three: the local part's
    length is not disclosed), ``@`` and the domain after the last ``@`` as stored:
    ``bita@example.com`` → ``b•••@example.com``. Without an ``@``: ``•••``.
- `Form.GENERALISED`
  - date (``dateOfBirth``): the first of January of its year, ``1987-06-15`` →
    ``1987-01-01``. GraphQL's ``Date`` stays a valid ``Date`` (a year alone would need
    another type, and every client parses the field as a date); the redaction entry with
    reason ``MASKED`` and form ``generalised`` tells the reader that only the year is real.
  - postal code: its first 3 characters (a code of 3 characters or fewer stays as it is).
  - coordinate (latitude, longitude): 2 decimals (about 1 km), rounded half away from zero
    as ``trunc(|x| × 100 + 0.5) / 100`` with the sign of ``x``, in double arithmetic, so
    that SQLite, PostgreSQL and Python give the very same double (``35.6892`` → ``35.69``).
    Defined for finite values up to 10¹⁵ in magnitude (coordinates are ±90/±180).
- `Form.PSEUDONYM`: HMAC-SHA-256 of the normalised value under the recipient's key
  (`PseudonymKeys.recipient`), its first 16 bytes in base64url without padding: 22
  characters, the same for one recipient every time, unlinkable across recipients.
  Normalised: emails NFC and lower-cased, phones E.164 (as stored; other spellings parsed),
  dates ISO 8601, other text NFC with surrounding space removed. No database computes it:
  SQLite has no HMAC, PostgreSQL only with the ``pgcrypto`` extension, and the key would
  travel to the server as a statement parameter; the compiled executor computes it from the
  statement's JSON (`schema.forms_sql.after_statement`).

Example:
    >>> disclose(Form.PARTIAL, ValueKind.PHONE, "+84912341234")
    '••••••••1234'
    >>> disclose(Form.PARTIAL, ValueKind.EMAIL, "bita@example.com")
    'b•••@example.com'
    >>> disclose(Form.GENERALISED, ValueKind.DATE, date(1987, 6, 15))
    datetime.date(1987, 1, 1)
    >>> disclose(Form.GENERALISED, ValueKind.COORDINATE, -35.6851)
    -35.69
    >>> key = PseudonymKeys(b"a master secret of at least 32 bytes").recipient("", "agency")
    >>> len(disclose(Form.PSEUDONYM, ValueKind.EMAIL, "Bita@Example.com", key=key))
    22
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import unicodedata
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Final

import phonenumbers

from auth.policy.principal import Issuers, Principal

__all__ = [
    "FIELD_KINDS",
    "MASK",
    "MASTER_BYTES",
    "SUPPORTED",
    "Form",
    "FormError",
    "PseudonymKeys",
    "ValueKind",
    "check",
    "disclose",
    "generalised_coordinate",
    "generalised_date",
    "generalised_postal_code",
    "normalised",
    "partial_email",
    "partial_last_four",
    "pseudonym",
    "recipient_key",
]


class Form(StrEnum):
    """A form a field rule may disclose instead of the value (its value is the name the
    ``policy`` query, the redactions and the disclosures show)."""

    PARTIAL = "partial"
    GENERALISED = "generalised"
    PSEUDONYM = "pseudonym"


class ValueKind(StrEnum):
    """What a field's value is, as far as its forms care."""

    PHONE = "phone"
    EMAIL = "email"
    REFERENCE = "reference"
    DATE = "date"
    POSTAL_CODE = "postal_code"
    COORDINATE = "coordinate"


SUPPORTED: Final[Mapping[Form, frozenset[ValueKind]]] = MappingProxyType(
    {
        Form.PARTIAL: frozenset({ValueKind.PHONE, ValueKind.EMAIL, ValueKind.REFERENCE}),
        Form.GENERALISED: frozenset({ValueKind.DATE, ValueKind.POSTAL_CODE, ValueKind.COORDINATE}),
        Form.PSEUDONYM: frozenset(
            {
                ValueKind.PHONE,
                ValueKind.EMAIL,
                ValueKind.REFERENCE,
                ValueKind.DATE,
                ValueKind.POSTAL_CODE,
            }
        ),
    }
)
"""The kinds of value each form is defined for (a coordinate has no pseudonym: one place has
many spellings as a double)."""

FIELD_KINDS: Final[Mapping[str, ValueKind]] = MappingProxyType(
    {
        "Customer.mobilePhone": ValueKind.PHONE,
        "Customer.landlinePhone": ValueKind.PHONE,
        "Customer.email": ValueKind.EMAIL,
        "Customer.dateOfBirth": ValueKind.DATE,
        "Address.postalCode": ValueKind.POSTAL_CODE,
        "Address.latitude": ValueKind.COORDINATE,
        "Address.longitude": ValueKind.COORDINATE,
        "Order.paymentReference": ValueKind.REFERENCE,
        "Order.paymentTrackingCode": ValueKind.REFERENCE,
    }
)
"""The fields that may be disclosed in a form, by GraphQL coordinate, and their kind of value.
A form declared for a field missing here (or for a kind `SUPPORTED` does not list) is an
error when the catalog is built (`check`)."""

MASK: Final = "•"
"""U+2022 BULLET: what stands for each hidden character."""

EMAIL_MASK: Final = MASK * 3
"""What stands for an email's local part after its first character (its length hidden)."""

KEPT: Final = 4
"""The characters a partial phone or payment reference keeps, at its end."""

POSTAL_PREFIX: Final = 3
"""The characters a generalised postal code keeps, at its start."""

PSEUDONYM_BYTES: Final = 16
"""The HMAC's bytes a pseudonym keeps: 128 bits, 22 characters of base64url."""

MASTER_BYTES: Final = 32
"""The shortest master secret of the pseudonym keys: 256 bits, if its bytes are random."""

COORDINATE_LIMIT: Final = 1e15
"""The largest magnitude a generalised coordinate is defined for (the databases count in
64-bit integers, and ``x × 100`` must stay exact enough to round)."""


class FormError(ValueError):
    """A form declared for a field or a kind of value it is not defined for."""


def check(field: str, form: Form) -> ValueKind:
    """The kind of ``field``'s value, after checking that ``form`` is defined for it.

    Raises:
        FormError: ``field`` has no kind in `FIELD_KINDS`, or ``form`` is not `SUPPORTED`
            for its kind.
    """
    kind = FIELD_KINDS.get(field)
    if kind is None:
        raise FormError(f"{field} has no kind of value: no form may be declared for it")
    if kind not in SUPPORTED[form]:
        raise FormError(f"{field} is a {kind}: the {form} form is not defined for it")
    return kind


def partial_last_four(value: str) -> str:
    """A phone number or payment reference with all but its last 4 characters as ``•``.

    Example:
        >>> partial_last_four("PAY-0042-7781")
        '•••••••••7781'
        >>> partial_last_four("1234")
        '••••'
    """
    if len(value) <= KEPT:
        return MASK * len(value)
    return MASK * (len(value) - KEPT) + value[-KEPT:]


def partial_email(value: str) -> str:
    """An email address as its local part's first character, ``•••``, ``@`` and the domain.

    Example:
        >>> partial_email("an.nguyen@example.vn")
        'a•••@example.vn'
        >>> partial_email("no-at-sign")
        '•••'
    """
    local, at, domain = value.rpartition("@")
    if not at:
        return EMAIL_MASK
    return f"{local[:1]}{EMAIL_MASK}@{domain}"


def generalised_date(value: date) -> date:
    """The first of January of ``value``'s year.

    Example:
        >>> generalised_date(date(1990, 12, 31))
        datetime.date(1990, 1, 1)
    """
    return date(value.year, 1, 1)


def generalised_postal_code(value: str) -> str:
    """A postal code's first 3 characters.

    Example:
        >>> generalised_postal_code("1983963113")
        '198'
    """
    return value[:POSTAL_PREFIX]


def generalised_coordinate(value: float) -> float:
    """A coordinate at 2 decimals, rounded half away from zero in double arithmetic.

    Example:
        >>> generalised_coordinate(10.776889), generalised_coordinate(-0.004)
        (10.78, 0.0)

    Raises:
        ValueError: not finite, or beyond `COORDINATE_LIMIT` in magnitude.
    """
    if not math.isfinite(value) or abs(value) > COORDINATE_LIMIT:
        raise ValueError("a generalised coordinate must be finite and at most 1e15")
    hundredths = int(abs(value) * 100 + 0.5)
    return (-hundredths if value < 0 else hundredths) / 100


def normalised(kind: ValueKind, value: str | date) -> str:
    """The text a pseudonym is computed from: one spelling per value.

    Example:
        >>> normalised(ValueKind.EMAIL, " Bita@Example.COM ")
        'bita@example.com'
        >>> normalised(ValueKind.PHONE, "+84 91 234 1234")
        '+84912341234'
    """
    if isinstance(value, date):
        return value.isoformat()
    text = unicodedata.normalize("NFC", value).strip()
    if kind is ValueKind.EMAIL:
        return text.lower()
    if kind is ValueKind.PHONE:
        return _e164(text)
    return text


def _e164(text: str) -> str:
    """``text`` in E.164 when it reads as an international number, else as it is."""
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return text
    if not phonenumbers.is_valid_number(number):
        return text
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def pseudonym(kind: ValueKind, value: str | date, key: bytes) -> str:
    """The pseudonym of ``value`` for the recipient whose key is ``key`` (22 characters).

    Raises:
        FormError: ``kind`` has no pseudonym.
    """
    if kind not in SUPPORTED[Form.PSEUDONYM]:
        raise FormError(f"a {kind} has no pseudonym")
    digest = hmac.new(key, normalised(kind, value).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:PSEUDONYM_BYTES]).rstrip(b"=").decode()


def disclose(
    form: Form, kind: ValueKind, value: str | date | float | None, *, key: bytes | None = None
) -> str | date | float | None:
    """``value`` in ``form``, for a value of ``kind``; ``None`` stays ``None``.

    A pseudonym without a key is ``None``: fail closed, the value is withheld rather than
    disclosed (no key is configured: see `PseudonymKeys`).

    Raises:
        FormError: ``form`` is not defined for ``kind``, or ``value`` is not of that kind.
    """
    if kind not in SUPPORTED[form]:
        raise FormError(f"the {form} form is not defined for a {kind}")
    if value is None:
        return None
    if form is Form.PSEUDONYM:
        if isinstance(value, float):
            raise FormError(f"a {kind} is text or a date, not a number")
        return None if key is None else pseudonym(kind, value, key)
    if kind is ValueKind.DATE and isinstance(value, date):
        return generalised_date(value)
    if kind is ValueKind.COORDINATE and isinstance(value, float | int):
        return generalised_coordinate(float(value))
    if isinstance(value, str):
        if kind is ValueKind.EMAIL:
            return partial_email(value)
        if kind is ValueKind.POSTAL_CODE:
            return generalised_postal_code(value)
        if kind in (ValueKind.PHONE, ValueKind.REFERENCE):
            return partial_last_four(value)
    raise FormError(f"a {type(value).__name__} is not a {kind}")


class PseudonymKeys:
    """The pseudonym keys of every recipient, derived from one master secret (HKDF, RFC 5869).

    The master comes from ``STEWARD_PSEUDONYM_KEY`` or the key file (``api.pseudonyms``).
    A recipient is a client as the policy knows it: its issuer *as stored* (`Issuers.stored`:
    ``""`` for the built-in issuer, so that changing ``PUBLIC_URL`` keeps the pseudonyms) and
    its client id. Another recipient's key, or the master, cannot be computed from one key.

    Args:
        master: the master secret, at least 32 bytes.

    Raises:
        ValueError: ``master`` is shorter than 32 bytes.
    """

    SALT: Final = b"steward pseudonym v1"
    """HKDF's salt: the keys of this derivation are no other use's keys."""

    def __init__(self, master: bytes) -> None:
        if len(master) < MASTER_BYTES:
            raise ValueError(f"a pseudonym master secret must be at least {MASTER_BYTES} bytes")
        self._prk = hmac.new(self.SALT, master, hashlib.sha256).digest()

    def recipient(self, issuer: str, client_id: str) -> bytes:
        """The 32-byte key of the client ``client_id`` of ``issuer`` (HKDF-Expand)."""
        info = _length_prefixed(issuer.encode()) + _length_prefixed(client_id.encode())
        return hmac.new(self._prk, info + b"\x01", hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "PseudonymKeys(<secret>)"


def _length_prefixed(data: bytes) -> bytes:
    """``data`` after its length, so that no two (issuer, client id) pairs share an info."""
    return len(data).to_bytes(4, "big") + data


def recipient_key(
    keys: PseudonymKeys | None, issuers: Issuers, principal: Principal
) -> bytes | None:
    """The pseudonym key of the caller's client, to compute once per request; ``None``
    without pseudonym keys (the pseudonyms are then withheld).

    The recipient is the client as a partner is known, the pair (issuer, client id): an
    external provider's client that shares a built-in partner's id gets other pseudonyms.
    """
    if keys is None:
        return None
    return keys.recipient(issuers.stored(principal.issuer), principal.client_id)
