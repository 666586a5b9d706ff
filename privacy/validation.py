"""Validation and normalisation of mutation input (SPEC section 2, "Data").

Every validator takes the GraphQL name of the field it checks (``field="input.mobilePhone"``)
and either returns the normalised value or raises :class:`InputError`. Messages name the
field and the rule, never the submitted value: it may be personal data, and error messages
end up in logs and in the hands of other callers.

Example:
    >>> phone("۰۹۱۲ ۳۴۵ ۶۷۸۹", field="mobilePhone", country="IR", kind="mobile")
    '+989123456789'
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Final, Literal

import email_validator
import phonenumbers
from phonenumbers import PhoneNumberType

from privacy.errors import CardDataRejected, InputError

MINOR_UNITS: Final[Mapping[str, int]] = MappingProxyType({"IRR": 2, "VND": 0, "USD": 2, "EUR": 2})
"""Supported currencies and their ISO 4217 minor-unit exponent."""

INT64_MAX: Final = 2**63 - 1

# Country codes phonenumbers knows that are not ISO 3166-1 assignments (Ascension, Tristan da
# Cunha are "exceptionally reserved"); XK (Kosovo) stays, it is in common use.
_NOT_ISO_3166: Final = frozenset({"AC", "TA"})
_SEPARATOR: Final = r"[ \u00a0\u202f\-\u2010-\u2015\u2212]"
# \d matches every Unicode decimal digit: Persian, Arabic-Indic, fullwidth, ...
_DIGIT_GROUPS: Final = re.compile(rf"\d+(?:{_SEPARATOR}{{1,3}}\d+)*")
_SEPARATORS: Final = re.compile(f"{_SEPARATOR}+")
_DIGIT: Final = re.compile(r"\d")
# Unicode categories Cc (controls) and Cs (surrogates); a multi-line text keeps \t and \n.
_CONTROLS: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_MULTILINE_CONTROLS: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_PHONE_CHARS: Final = re.compile(r"[\d\s+\-().\u200e\u200f]+")
_LANGUAGE: Final = re.compile(
    r"(?P<lang>[a-z]{2,3})(?:-(?P<script>[a-z]{4}))?(?:-(?P<region>[a-z]{2}|[0-9]{3}))?"
    r"(?P<rest>(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*"  # variants
    r"(?:-[a-wyz0-9](?:-[a-z0-9]{2,8})+)*(?:-x(?:-[a-z0-9]{1,8})+)?)",  # extensions, private
    re.IGNORECASE,
)
_POSTAL_DIGITS: Final = {"IR": 10, "VN": 6}
_POSTAL_OTHER: Final = re.compile(r"[A-Z0-9][A-Z0-9 -]{1,8}[A-Z0-9]")
_IDENTIFIER: Final = re.compile(r"[A-Za-z0-9._-]+")
_SUBJECT: Final = re.compile(r"[!-~](?:[ -~]*[!-~])?")
_PHONE_KINDS: Final = {
    "mobile": frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}),
    "landline": frozenset({PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}),
}


def _ascii_digits(s: str) -> str:
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in s)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def contains_card_number(s: str) -> bool:
    """Whether ``s`` contains a Luhn-valid number of 13 to 19 digits.

    Digits may be in any script (Persian and Arabic-Indic included) and grouped by spaces or
    dashes. Any run of consecutive groups counts, so a card number followed by its expiry
    or CVV (``"4111 1111 1111 1111 123"``) is still found.

    Example:
        >>> contains_card_number("Note 4111-1111-1111-1111 here")
        True
    """
    if len(_DIGIT.findall(s)) < 13:
        return False  # fewer digits than the shortest card number: most text, cheaply
    # Format characters (ZWNJ, direction marks) are common in Persian text and invisible.
    visible = "".join(c for c in s if unicodedata.category(c) != "Cf")
    for run in _DIGIT_GROUPS.finditer(visible):
        groups = [_ascii_digits(g) for g in _SEPARATORS.split(run.group())]
        for start in range(len(groups)):
            candidate = ""
            for group in groups[start:]:
                candidate += group
                if len(candidate) > 19:
                    break
                if len(candidate) >= 13 and _luhn_valid(candidate):
                    return True
    return False


def reject_card_data(fields: Mapping[str, str | None]) -> None:
    """Raise :class:`CardDataRejected` for the first free-text field holding card data.

    Call it on all free-text fields of an input before any other validation, so that card
    data wins over every other input error.

    Raises:
        CardDataRejected: naming the first offending field, in the mapping's order.
    """
    for field, value in fields.items():
        if value is not None and contains_card_number(value):
            raise CardDataRejected(field)


def text(
    value: str, *, field: str, max_length: int, min_length: int = 1, allow_newlines: bool = False
) -> str:
    """A free-text value: NFC, surrounding whitespace stripped, no card data or controls.

    Lengths count code points after normalisation. With ``allow_newlines``, line breaks
    (normalised to ``\\n``) and tabs are kept.

    Raises:
        CardDataRejected: the value contains a card number (checked first).
        InputError: control characters, or a length out of bounds.
    """
    if contains_card_number(value):
        raise CardDataRejected(field)
    value = unicodedata.normalize("NFC", value).strip()
    if allow_newlines:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    controls = _MULTILINE_CONTROLS if allow_newlines else _CONTROLS
    if controls.search(value):
        raise InputError(field, f"{field} must not contain control characters")
    if len(value) < min_length:
        if min_length == 1:
            raise InputError(field, f"{field} must not be empty")
        raise InputError(field, f"{field} must be at least {min_length} characters long")
    if len(value) > max_length:
        raise InputError(field, f"{field} must be at most {max_length} characters long")
    return value


def phone(
    value: str,
    *,
    field: str,
    country: str,
    kind: Literal["mobile", "landline"] | None = None,
) -> str:
    """A phone number in E.164, read in the customer's ``country`` when not international.

    Example:
        >>> phone("024 3825 1234", field="landlinePhone", country="VN", kind="landline")
        '+842438251234'

    Raises:
        InputError: not a valid number (of the ``kind`` asked for), or with an extension.
    """
    what = f"a valid {kind} phone number" if kind else "a valid phone number"
    invalid = InputError(
        field,
        f"{field} must be {what}, in international format (+...) "
        "or in the national format of the customer's country",
    )
    value = _ascii_digits(value.strip())
    # phonenumbers reads letters as a keypad (vanity numbers) and "ext" as an extension;
    # neither belongs in a customer's number.
    if len(value) > 40 or not _PHONE_CHARS.fullmatch(value):
        raise invalid
    try:
        number = phonenumbers.parse(value, country.upper())
    except phonenumbers.NumberParseException:
        raise invalid from None
    if not phonenumbers.is_valid_number(number):
        raise invalid
    if kind and phonenumbers.number_type(number) not in _PHONE_KINDS[kind]:
        raise invalid
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def email(value: str, *, field: str) -> str:
    """An email address in email-validator's normalised form (no DNS lookup).

    Raises:
        InputError: not a valid address.
    """
    try:
        result = email_validator.validate_email(value.strip(), check_deliverability=False)
    except email_validator.EmailNotValidError:
        # The library's message quotes parts of the address.
        raise InputError(field, f"{field} must be a valid email address") from None
    return result.normalized


def postal_code(value: str, *, field: str, country: str) -> str:
    """A postal code: IR exactly 10 digits, VN 6 digits, elsewhere 3-10 letters and digits.

    Digits in any script are stored as ASCII; for IR and VN spaces and dashes are dropped.

    Raises:
        InputError: not a postal code of that country.
    """
    value = _ascii_digits(unicodedata.normalize("NFC", value).strip()).upper()
    digits = _POSTAL_DIGITS.get(country.upper())
    if digits is not None:
        value = _SEPARATORS.sub("", value)
        if len(value) != digits or not value.isascii() or not value.isdigit():
            raise InputError(field, f"{field} must be exactly {digits} digits for this country")
        return value
    value = " ".join(value.split())
    if not _POSTAL_OTHER.fullmatch(value):
        raise InputError(
            field, f"{field} must be 3 to 10 letters or digits, optionally with spaces or dashes"
        )
    return value


def birth_date(value: date, *, field: str, today: date | None = None) -> date:
    """A date of birth: in the past, and at most 130 years ago.

    Raises:
        InputError: today or later, or more than 130 years ago.
    """
    today = today or datetime.now(UTC).date()
    try:
        earliest = today.replace(year=today.year - 130)
    except ValueError:  # 29 February
        earliest = today.replace(year=today.year - 130, day=28)
    if not earliest <= value < today:
        raise InputError(field, f"{field} must be in the past and at most 130 years ago")
    return value


def country(value: str, *, field: str) -> str:
    """An ISO 3166-1 alpha-2 country code, upper-cased.

    Raises:
        InputError: not a known country code.
    """
    value = value.strip().upper()
    if value not in phonenumbers.SUPPORTED_REGIONS or value in _NOT_ISO_3166:
        raise InputError(field, f"{field} must be an ISO 3166-1 alpha-2 country code")
    return value


def language(value: str, *, field: str) -> str:
    """A BCP 47 language tag such as ``fa``, ``fa-IR`` or ``zh-Hant-TW``, in canonical case.

    Example:
        >>> language("VI_vn", field="preferredLanguage")
        'vi-VN'

    Raises:
        InputError: not a language tag.
    """
    value = value.strip().replace("_", "-")
    match = _LANGUAGE.fullmatch(value) if len(value) <= 35 and value.isascii() else None
    if match is None:
        raise InputError(field, f"{field} must be a BCP 47 language tag such as 'fa-IR'")
    lang, script, region, rest = match.group("lang", "script", "region", "rest")
    parts = [lang.lower(), script.title() if script else "", region.upper() if region else ""]
    return "-".join(p for p in parts if p) + rest.lower()


def currency(value: str, *, field: str) -> str:
    """A supported ISO 4217 currency code (see :data:`MINOR_UNITS`), upper-cased.

    Raises:
        InputError: not a supported currency.
    """
    value = value.strip().upper()
    if value not in MINOR_UNITS:
        supported = ", ".join(MINOR_UNITS)
        raise InputError(field, f"{field} must be one of the supported currencies: {supported}")
    return value


def identifier(value: str, *, field: str, max_length: int = 64) -> str:
    """An identifier (payment reference, tracking code, SKU): ASCII letters, digits, ``._-``.

    Identifiers are not free text, so they are not searched for card numbers.

    Raises:
        InputError: other characters, empty, or longer than ``max_length``.
    """
    value = value.strip()
    if not 1 <= len(value) <= max_length or not _IDENTIFIER.fullmatch(value):
        raise InputError(
            field,
            f"{field} must be 1 to {max_length} ASCII letters, digits, dots, dashes or underscores",
        )
    return value


def is_subject(value: str, *, max_length: int = 255) -> bool:
    """Whether ``value`` is a sign-in's subject as providers make them (a token's ``sub``).

    OpenID Connect Core 1.0 section 2: at most 255 ASCII characters. Real ones hold more
    than an identifier's characters: ``auth0|64f1…``, ``google-oauth2|1043…``,
    ``samlp|corp|a@b.example``, Entra ID's base64url, Keycloak's UUIDs. Allowed: printable
    ASCII, inner spaces; no control characters, nothing else, nothing longer.
    """
    return len(value) <= max_length and _SUBJECT.fullmatch(value) is not None


def subject(value: str, *, field: str, max_length: int = 255) -> str:
    """A sign-in's subject given by staff (`is_subject`), without surrounding spaces.

    Raises:
        InputError: empty, longer than ``max_length``, or other than printable ASCII.
    """
    value = value.strip()
    if not is_subject(value, max_length=max_length):
        raise InputError(field, f"{field} must be 1 to {max_length} printable ASCII characters")
    return value


def _in_range(value: float, field: str, bound: float) -> float:
    if not math.isfinite(value) or not -bound <= value <= bound:
        raise InputError(field, f"{field} must be between {-bound:g} and {bound:g}")
    return float(value)


def latitude(value: float, *, field: str) -> float:
    """A latitude in degrees, -90 to 90."""
    return _in_range(value, field, 90)


def longitude(value: float, *, field: str) -> float:
    """A longitude in degrees, -180 to 180."""
    return _in_range(value, field, 180)


def _bounded_int(value: int | str, field: str, minimum: int) -> int:
    problem = InputError(field, f"{field} must be a whole number from {minimum} to {INT64_MAX}")
    if isinstance(value, bool):
        raise problem
    if isinstance(value, str):
        digits = _ascii_digits(value.strip())
        if not re.fullmatch(r"[+-]?[0-9]{1,20}", digits):
            raise problem
        value = int(digits)
    if not minimum <= value <= INT64_MAX:
        raise problem
    return value


def positive_int(value: int | str, *, field: str) -> int:
    """A whole number from 1 that fits a signed 64-bit integer (e.g. a quantity).

    Decimal strings are accepted, as for amounts in minor units (``"1250000"``).
    """
    return _bounded_int(value, field, 1)


def non_negative_int(value: int | str, *, field: str) -> int:
    """A whole number from 0 that fits a signed 64-bit integer (e.g. an amount)."""
    return _bounded_int(value, field, 0)
