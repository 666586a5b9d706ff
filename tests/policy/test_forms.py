"""The forms of graduated disclosure in Python (`auth.policy.forms`, SPEC section 13)."""

from __future__ import annotations

import base64
import doctest
import math
import string
import unicodedata
from datetime import date

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from auth.policy import forms
from auth.policy.forms import (
    FIELD_KINDS,
    MASK,
    SUPPORTED,
    Form,
    FormError,
    PseudonymKeys,
    ValueKind,
    check,
    disclose,
    generalised_coordinate,
    partial_email,
    partial_last_four,
    pseudonym,
    recipient_key,
)
from auth.policy.principal import Issuers, Principal

MASTER = b"m" * 32
BASE64URL = frozenset(string.ascii_letters + string.digits + "-_")
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
e164 = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)


def test_the_examples_in_the_module_hold() -> None:
    assert doctest.testmod(forms, raise_on_error=True).attempted > 10


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("+84912341234", "••••••••1234"),
        ("+989121234567", "•••••••••4567"),
        ("PAY-0042-7781", "•••••••••7781"),
        ("12345", "•2345"),
        ("1234", "••••"),
        ("12", "••"),
        ("", ""),
    ],
)
def test_a_partial_phone_or_reference_keeps_the_last_four_and_the_length(
    value: str, shown: str
) -> None:
    assert partial_last_four(value) == shown
    assert disclose(Form.PARTIAL, ValueKind.PHONE, value) == shown
    assert disclose(Form.PARTIAL, ValueKind.REFERENCE, value) == shown


@given(st.one_of(e164, texts))
def test_a_partial_value_shows_nothing_but_its_last_four(value: str) -> None:
    shown = partial_last_four(value)
    assert len(shown) == len(value)
    hidden = len(value) - 4 if len(value) > 4 else len(value)
    assert shown[:hidden] == MASK * hidden
    assert shown[hidden:] == value[hidden:]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("bita@example.com", "b•••@example.com"),
        ("an.nguyen@example.vn", "a•••@example.vn"),
        ("x@y.ir", "x•••@y.ir"),
        ('"a@b"@example.com', '"•••@example.com'),
        ("@example.com", "•••@example.com"),
        ("a@", "a•••@"),
        ("no-at-sign", "•••"),
        ("", "•••"),
    ],
)
def test_a_partial_email_is_the_first_character_and_the_domain(value: str, shown: str) -> None:
    assert partial_email(value) == shown
    assert disclose(Form.PARTIAL, ValueKind.EMAIL, value) == shown


@given(st.emails())
def test_a_partial_email_hides_the_local_part_but_its_first_character(value: str) -> None:
    local, _, domain = value.rpartition("@")
    assert partial_email(value) == f"{local[0]}•••@{domain}"


@pytest.mark.parametrize(
    ("born", "shown"),
    [
        (date(1987, 6, 15), date(1987, 1, 1)),
        (date(2000, 1, 1), date(2000, 1, 1)),
        (date(1960, 2, 29), date(1960, 1, 1)),
    ],
)
def test_a_generalised_date_is_the_first_of_january_of_its_year(born: date, shown: date) -> None:
    assert disclose(Form.GENERALISED, ValueKind.DATE, born) == shown


@pytest.mark.parametrize(
    ("code", "shown"), [("1983963113", "198"), ("700000", "700"), ("SW1A 1AA", "SW1"), ("K1", "K1")]
)
def test_a_generalised_postal_code_is_its_first_three_characters(code: str, shown: str) -> None:
    assert disclose(Form.GENERALISED, ValueKind.POSTAL_CODE, code) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (35.6892, 35.69),
        (-35.6892, -35.69),
        (10.776889, 10.78),
        (106.700806, 106.7),
        (0.125, 0.13),
        (-0.125, -0.13),
        (2.675, 2.68),  # the double is 2.67499999…, but × 100 + 0.5 rounds to 268.0
        (1.005, 1.0),  # the double is 1.00499999…, and × 100 + 0.5 to 100.99999999999999
        (-0.004, 0.0),
        (-0.0, 0.0),
        (180.0, 180.0),
        (-90.0, -90.0),
    ],
)
def test_a_generalised_coordinate_has_two_decimals(value: float, shown: float) -> None:
    result = disclose(Form.GENERALISED, ValueKind.COORDINATE, value)
    assert repr(result) == repr(shown)


@given(st.floats(min_value=-1e9, max_value=1e9))
def test_a_generalised_coordinate_is_the_nearest_hundredth(value: float) -> None:
    result = generalised_coordinate(value)
    hundredths = round(result * 100)
    assert result == hundredths / 100
    assert abs(result - value) <= 0.005 + 1e-9 * max(1.0, abs(value))
    assert math.copysign(1, result) == 1 or result != 0  # never -0.0


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 1e16])
def test_a_coordinate_beyond_the_forms_domain_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        generalised_coordinate(value)


def test_a_pseudonym_is_22_characters_of_base64url() -> None:
    key = PseudonymKeys(MASTER).recipient("", "agency")
    value = pseudonym(ValueKind.EMAIL, "bita@example.com", key)
    assert len(value) == 22
    assert set(value) <= BASE64URL
    assert len(base64.urlsafe_b64decode(value + "==")) == 16


@given(st.emails(), st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
@settings(max_examples=50)
def test_a_pseudonym_is_stable_for_one_recipient_and_differs_across_two(
    email: str, one: str, other: str
) -> None:
    keys = PseudonymKeys(MASTER)
    first = pseudonym(ValueKind.EMAIL, email, keys.recipient("", one))
    assert first == pseudonym(ValueKind.EMAIL, email, PseudonymKeys(MASTER).recipient("", one))
    if one != other:
        assert first != pseudonym(ValueKind.EMAIL, email, keys.recipient("", other))


def test_a_recipient_is_an_issuer_and_a_client() -> None:
    keys = PseudonymKeys(MASTER)
    recipients = [("", "agency"), ("https://idp.example", "agency"), ("a", "bc"), ("ab", "c")]
    derived = {keys.recipient(issuer, client) for issuer, client in recipients}
    assert len(derived) == len(recipients)
    assert keys.recipient("", "agency") != PseudonymKeys(b"n" * 32).recipient("", "agency")


def test_recipient_keys_are_hkdf_sha256() -> None:
    # RFC 5869: extract with the salt, expand with the recipient as info, 32 bytes.
    info = b"\x00\x00\x00\x00" + b"\x00\x00\x00\x06agency"
    expected = HKDF(hashes.SHA256(), 32, PseudonymKeys.SALT, info).derive(MASTER)
    assert PseudonymKeys(MASTER).recipient("", "agency") == expected


@pytest.mark.parametrize(
    ("kind", "spellings"),
    [
        (ValueKind.EMAIL, ["Bita@Example.com", " bita@example.COM ", "bita@example.com"]),
        (
            ValueKind.EMAIL,
            [unicodedata.normalize("NFD", "ánh@example.vn"), "ÁNH@example.vn", "ánh@example.vn"],
        ),
        (ValueKind.PHONE, ["+84912341234", "+84 91 234 1234", " +84-912-341-234 "]),
        (ValueKind.DATE, [date(1987, 6, 15), "1987-06-15"]),
    ],
)
def test_one_value_spelt_differently_has_one_pseudonym(
    kind: ValueKind, spellings: list[str | date]
) -> None:
    key = PseudonymKeys(MASTER).recipient("", "agency")
    assert len({pseudonym(kind, spelling, key) for spelling in spellings}) == 1


def test_a_short_master_secret_is_refused_and_none_is_shown() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        PseudonymKeys(b"short")
    assert "m" * 32 not in repr(PseudonymKeys(MASTER))


def test_without_a_key_a_pseudonym_is_withheld() -> None:
    assert disclose(Form.PSEUDONYM, ValueKind.EMAIL, "bita@example.com") is None


@pytest.mark.parametrize("form", list(Form))
def test_none_stays_none_in_every_form(form: Form) -> None:
    for kind in SUPPORTED[form]:
        assert disclose(form, kind, None, key=b"k" * 32) is None


@pytest.mark.parametrize(
    ("form", "kind", "value"),
    [
        (Form.PARTIAL, ValueKind.DATE, date(1987, 6, 15)),
        (Form.GENERALISED, ValueKind.PHONE, "+84912341234"),
        (Form.PSEUDONYM, ValueKind.COORDINATE, 35.6892),
        (Form.GENERALISED, ValueKind.DATE, "1987-06-15"),
        (Form.GENERALISED, ValueKind.COORDINATE, "35.6892"),
        (Form.PARTIAL, ValueKind.PHONE, 84912341234.0),
    ],
)
def test_a_form_for_the_wrong_kind_of_value_is_refused(
    form: Form, kind: ValueKind, value: str | date | float
) -> None:
    with pytest.raises(FormError):
        disclose(form, kind, value, key=b"k" * 32)


def test_the_v5_table_declares_forms_every_field_supports() -> None:
    # SPEC section 13: mobilePhone partial, dateOfBirth and postalCode generalised, email
    # pseudonym (and the other examples: payment reference partial, coordinates generalised).
    declared = [
        ("Customer.mobilePhone", Form.PARTIAL),
        ("Customer.dateOfBirth", Form.GENERALISED),
        ("Address.postalCode", Form.GENERALISED),
        ("Customer.email", Form.PSEUDONYM),
        ("Customer.email", Form.PARTIAL),
        ("Order.paymentReference", Form.PARTIAL),
        ("Address.latitude", Form.GENERALISED),
    ]
    for field, form in declared:
        assert check(field, form) is FIELD_KINDS[field]


@pytest.mark.parametrize(
    ("field", "form", "message"),
    [
        ("Customer.firstName", Form.PARTIAL, "no kind of value"),
        ("Customer.dateOfBirth", Form.PARTIAL, "not defined"),
        ("Address.latitude", Form.PSEUDONYM, "not defined"),
    ],
)
def test_a_form_a_field_does_not_support_is_an_error(field: str, form: Form, message: str) -> None:
    with pytest.raises(FormError, match=message):
        check(field, form)


def test_a_request_computes_its_clients_key_once_from_the_issuer_as_stored() -> None:
    keys = PseudonymKeys(MASTER)

    def caller(issuer: str, client_id: str) -> Principal:
        return Principal("sub", client_id, frozenset(), issuer, "jti", 0, partner=True)

    issuers = Issuers(builtin="https://steward.example", external="https://idp.example")
    builtin = recipient_key(keys, issuers, caller("https://steward.example", "agency"))
    moved = Issuers(builtin="https://new.example", external="https://idp.example")
    # the built-in issuer's partner keeps its pseudonyms when PUBLIC_URL changes
    assert builtin == recipient_key(keys, moved, caller("https://new.example", "agency"))
    # an external provider's client with the same id is another recipient
    assert builtin != recipient_key(keys, issuers, caller("https://idp.example", "agency"))
    assert recipient_key(None, issuers, caller("https://idp.example", "agency")) is None
