"""Input validation and normalisation (SPEC section 2)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import date

import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from privacy import validation as v
from privacy.errors import CardDataRejected, InputError

CI = settings(max_examples=200, derandomize=True, deadline=None)

PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

TEST_CARDS = ["4111111111111111", "5555555555554444", "378282246310005", "6037997599999993"]


def luhn_complete(payload: str) -> str:
    """``payload`` followed by the check digit that makes it Luhn-valid."""
    for check in "0123456789":
        if v._luhn_valid(payload + check):
            return payload + check
    raise AssertionError("unreachable")


# -- errors -----------------------------------------------------------------------------


def test_input_error_carries_field_and_code() -> None:
    error = InputError("input.mobilePhone", "input.mobilePhone must be valid")

    assert error.field == "input.mobilePhone"
    assert error.code == "BAD_USER_INPUT"
    assert error.extensions == {"code": "BAD_USER_INPUT", "field": "input.mobilePhone"}
    assert str(error) == "input.mobilePhone must be valid"


def test_card_data_rejected_is_an_input_error_with_its_own_code() -> None:
    error = CardDataRejected("input.line1")

    assert isinstance(error, InputError)
    assert error.code == "CARD_DATA_REJECTED"
    assert error.extensions == {"code": "CARD_DATA_REJECTED", "field": "input.line1"}


# -- card numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "Note 4111111111111111 here",
        "4111 - 1111 - 1111 - 1111",
        "card 3782 822463 10005 exp 12/27",
        "4111 1111 1111 1111 123",  # followed by a CVV
        "۴۱۱۱ ۱۱۱۱ ۱۱۱۱ ۱۱۱۱",
        "٤١١١-١١١١-١١١١-١١١١",
        "کارت ۶۰۳۷۹۹۷۵۹۹۹۹۹۹۹۳ لطفا",
        "4111\u200c1111\u200e1111 1111",
        "４１１１１１１１１１１１１１１１",  # fullwidth
    ],
)
def test_card_numbers_are_found(value: str) -> None:
    assert v.contains_card_number(value)


@pytest.mark.parametrize("card", TEST_CARDS)
def test_test_cards_are_found_however_grouped(card: str) -> None:
    fours = [card[i : i + 4] for i in range(0, len(card), 4)]

    assert v.contains_card_number(card)
    assert v.contains_card_number(" ".join(fours))
    assert v.contains_card_number("-".join(fours))
    assert v.contains_card_number(card.translate(PERSIAN))


@pytest.mark.parametrize(
    "value",
    [
        "4111 1111 1111 1112",  # Luhn-invalid
        "411111111111",  # 12 digits
        "Call 0912 345 6789 or 021 8888 1234",
        "Plate 12, Unit 3, postal code 1234567890",
        "IR820540102680020817909002",  # an IBAN is one 24-digit number, not a card
        "خیابان ولیعصر، پلاک ۱۲، واحد ۳",
        "Số 12 Nguyễn Huệ, Quận 1",
    ],
)
def test_other_numbers_are_not_card_numbers(value: str) -> None:
    assert not v.contains_card_number(value)


def test_card_data_wins_over_length() -> None:
    with pytest.raises(CardDataRejected) as caught:
        v.text("x" * 500 + " 4111 1111 1111 1111", field="input.line1", max_length=200)

    assert caught.value.field == "input.line1"


def test_card_data_wins_over_control_characters() -> None:
    with pytest.raises(CardDataRejected):
        v.text("\x00 4111111111111111", field="note", max_length=200)


def test_reject_card_data_names_the_first_offending_field() -> None:
    fields = {"line1": "Valiasr St", "line2": None, "city": "4111111111111111", "region": "x"}

    with pytest.raises(CardDataRejected) as caught:
        v.reject_card_data(fields)

    assert caught.value.field == "city"


def test_reject_card_data_accepts_clean_fields() -> None:
    v.reject_card_data({"firstName": "Ali", "lastName": None})


# -- text -----------------------------------------------------------------------------------


def test_text_is_nfc_and_stripped() -> None:
    decomposed = "  Nguye\u0302\u0303n  "

    assert v.text(decomposed, field="lastName", max_length=100) == "Nguyễn"


def test_text_keeps_zwnj_in_persian() -> None:
    assert v.text("می\u200cخواهم", field="note", max_length=100) == "می\u200cخواهم"


@pytest.mark.parametrize("value", ["a\x00b", "a\nb", "a\tb", "a\x7fb", "a\x85b"])
def test_text_rejects_control_characters(value: str) -> None:
    with pytest.raises(InputError, match="control characters") as caught:
        v.text(value, field="firstName", max_length=100)

    assert caught.value.code == "BAD_USER_INPUT"


def test_text_keeps_line_breaks_when_allowed() -> None:
    value = v.text(
        "line one\r\nline two\rthree\tend", field="n", max_length=100, allow_newlines=True
    )

    assert value == "line one\nline two\nthree\tend"


@pytest.mark.parametrize("value", ["", "   ", "\u3000"])
def test_text_rejects_empty(value: str) -> None:
    with pytest.raises(InputError, match="must not be empty"):
        v.text(value, field="firstName", max_length=100)


def test_text_length_is_counted_after_nfc() -> None:
    assert v.text("e\u0301" * 5, field="f", max_length=5) == "é" * 5
    with pytest.raises(InputError, match="at most 4"):
        v.text("é" * 5, field="f", max_length=4)
    with pytest.raises(InputError, match="at least 2"):
        v.text("a", field="f", max_length=4, min_length=2)


def test_text_may_be_empty_when_min_length_is_zero() -> None:
    assert v.text("  ", field="f", max_length=4, min_length=0) == ""


# -- phones ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "country", "kind", "expected"),
    [
        ("0912 345 6789", "IR", "mobile", "+989123456789"),
        ("+98 912 345 6789", "IR", "mobile", "+989123456789"),
        ("۰۹۱۲۳۴۵۶۷۸۹", "IR", "mobile", "+989123456789"),
        ("٠٩٣٠١٢٣٤٥٦٧", "IR", "mobile", "+989301234567"),
        ("0990-123-4567", "IR", "mobile", "+989901234567"),
        ("\u200e+98 912 345 6789", "ir", "mobile", "+989123456789"),
        ("021 8888 1234", "IR", "landline", "+982188881234"),
        ("(031) 3222-1234", "IR", "landline", "+983132221234"),
        ("0912 345 678", "VN", "mobile", "+84912345678"),
        ("+84 98 123 4567", "VN", "mobile", "+84981234567"),
        ("032 123 4567", "VN", "mobile", "+84321234567"),
        ("024 3825 1234", "VN", "landline", "+842438251234"),
        ("028 3822 1234", "VN", "landline", "+842838221234"),
        ("+84 236 3822 123", "VN", "landline", "+842363822123"),
        ("+98 912 345 6789", "VN", "mobile", "+989123456789"),  # international wins
        ("(650) 253-0000", "US", "mobile", "+16502530000"),  # FIXED_LINE_OR_MOBILE
        ("(650) 253-0000", "US", "landline", "+16502530000"),
        ("0912 345 6789", "IR", None, "+989123456789"),
    ],
)
def test_phone_is_normalised_to_e164(
    value: str, country: str, kind: str | None, expected: str
) -> None:
    assert v.phone(value, field="mobilePhone", country=country, kind=kind) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "country", "kind"),
    [
        ("021 8888 1234", "IR", "mobile"),
        ("0912 345 6789", "IR", "landline"),
        ("024 3825 1234", "VN", "mobile"),
        ("0912 345 678", "VN", "landline"),
        ("0912 345 678", "IR", None),  # too short for Iran
        ("012 1234 5678", "VN", None),  # 11-digit mobile numbers ended in 2018
        ("0912 FLOWERS", "IR", None),  # keypad letters
        ("+98 912 345 6789 ext 12", "IR", None),
        ("tel:+98-912-345-6789", "IR", None),
        ("", "IR", None),
        ("1" * 60, "IR", None),
        ("0912 345 6789", "ZZ", None),  # national format without a known country
    ],
)
def test_phone_rejects(value: str, country: str, kind: str | None) -> None:
    with pytest.raises(InputError) as caught:
        v.phone(value, field="input.mobilePhone", country=country, kind=kind)  # type: ignore[arg-type]

    assert caught.value.field == "input.mobilePhone"
    assert caught.value.code == "BAD_USER_INPUT"


# -- other fields ---------------------------------------------------------------------------


def test_email_is_normalised() -> None:
    assert v.email("  Ali.Rezaei@Example.COM ", field="email") == "Ali.Rezaei@example.com"
    assert v.email("nguyễn@ví-dụ.vn", field="email") == "nguyễn@ví-dụ.vn"


@pytest.mark.parametrize(
    "value", ["bad@@example.com", "no-at-sign", "a@b.test", "Ali <a@b.ir>", ""]
)
def test_email_rejects(value: str) -> None:
    with pytest.raises(InputError, match="valid email address"):
        v.email(value, field="email")


@pytest.mark.parametrize(
    ("value", "country", "expected"),
    [
        ("1234567890", "IR", "1234567890"),
        ("12345-67890", "ir", "1234567890"),
        ("۱۲۳۴۵ ۶۷۸۹۰", "IR", "1234567890"),
        ("١٢٣٤٥٦٧٨٩٠", "IR", "1234567890"),
        ("700000", "VN", "700000"),
        ("۷۰۰ ۰۰۰", "VN", "700000"),
        ("sw1a  1aa", "GB", "SW1A 1AA"),
        ("12345-6789", "US", "12345-6789"),
    ],
)
def test_postal_code_is_normalised(value: str, country: str, expected: str) -> None:
    assert v.postal_code(value, field="postalCode", country=country) == expected


@pytest.mark.parametrize(
    ("value", "country"),
    [
        ("123456789", "IR"),
        ("12345678901", "IR"),
        ("12345A7890", "IR"),
        ("70000", "VN"),
        ("7000000", "VN"),
        ("12", "US"),
        ("12345678901", "GB"),
        ("-1234", "FR"),
        ("12#45", "FR"),
    ],
)
def test_postal_code_rejects(value: str, country: str) -> None:
    with pytest.raises(InputError):
        v.postal_code(value, field="postalCode", country=country)


TODAY = date(2025, 6, 15)


@pytest.mark.parametrize("born", [date(1990, 1, 1), date(2025, 6, 14), date(1895, 6, 15)])
def test_birth_date_accepts(born: date) -> None:
    assert v.birth_date(born, field="dateOfBirth", today=TODAY) == born


@pytest.mark.parametrize("born", [date(2025, 6, 15), date(2030, 1, 1), date(1895, 6, 14)])
def test_birth_date_rejects(born: date) -> None:
    with pytest.raises(InputError, match="in the past"):
        v.birth_date(born, field="dateOfBirth", today=TODAY)


def test_birth_date_on_29_february() -> None:
    assert v.birth_date(date(1894, 2, 28), field="d", today=date(2024, 2, 29)) == date(1894, 2, 28)
    assert v.birth_date(date(2000, 2, 29), field="d") == date(2000, 2, 29)


@pytest.mark.parametrize(("value", "expected"), [("ir", "IR"), (" VN ", "VN"), ("de", "DE")])
def test_country(value: str, expected: str) -> None:
    assert v.country(value, field="country") == expected


@pytest.mark.parametrize("value", ["XX", "IRN", "I", "", "AC", "001", "ایران"])
def test_country_rejects(value: str) -> None:
    with pytest.raises(InputError, match="ISO 3166-1"):
        v.country(value, field="country")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("fa", "fa"),
        ("FA-ir", "fa-IR"),
        ("vi_vn", "vi-VN"),
        ("en", "en"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("es-419", "es-419"),
        ("de-CH-1996", "de-CH-1996"),
        ("FA-ir-U-NU-latn", "fa-IR-u-nu-latn"),
    ],
)
def test_language(value: str, expected: str) -> None:
    assert v.language(value, field="preferredLanguage") == expected


@pytest.mark.parametrize("value", ["", "f", "farsi-ir", "fa-IRN", "fa--IR", "fa-" + "a" * 40, "فا"])
def test_language_rejects(value: str) -> None:
    with pytest.raises(InputError, match="language tag"):
        v.language(value, field="preferredLanguage")


def test_currency() -> None:
    assert v.currency("irr", field="currency") == "IRR"
    assert v.MINOR_UNITS == {"IRR": 2, "VND": 0, "USD": 2, "EUR": 2}
    with pytest.raises(InputError, match="IRR, VND, USD, EUR"):
        v.currency("GBP", field="currency")


def test_identifier_is_not_free_text() -> None:
    assert v.identifier("4111111111111111", field="paymentReference") == "4111111111111111"
    assert v.identifier(" TRK-2025_01.a ", field="paymentTrackingCode") == "TRK-2025_01.a"


@pytest.mark.parametrize("value", ["", "has space", "پرداخت", "a/b", "x" * 65])
def test_identifier_rejects(value: str) -> None:
    with pytest.raises(InputError):
        v.identifier(value, field="sku")


def test_coordinates() -> None:
    assert v.latitude(35.6892, field="latitude") == 35.6892
    assert v.longitude(-180, field="longitude") == -180.0
    for bad in (90.01, float("nan"), float("inf")):
        with pytest.raises(InputError):
            v.latitude(bad, field="latitude")
    with pytest.raises(InputError, match="between -180 and 180"):
        v.longitude(180.5, field="longitude")


def test_integers() -> None:
    assert v.positive_int(3, field="quantity") == 3
    assert v.non_negative_int(0, field="unitPrice") == 0
    assert v.non_negative_int(" 1250000 ", field="unitPrice") == 1_250_000
    assert v.non_negative_int("۱۲۵۰", field="unitPrice") == 1250
    assert v.non_negative_int(v.INT64_MAX, field="unitPrice") == 2**63 - 1
    for bad in (0, -1, True, "1.5", "1e3", "", 2**63):
        with pytest.raises(InputError):
            v.positive_int(bad, field="quantity")
    with pytest.raises(InputError):
        v.non_negative_int("-1", field="unitPrice")


# -- properties -----------------------------------------------------------------------------

no_digits = st.text(alphabet=st.characters(exclude_categories=("Nd", "Cc", "Cs")), max_size=30)


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid 13-19 digit number, grouped by spaces or dashes, in some script."""
    length = draw(st.integers(13, 19))
    digits = luhn_complete(draw(st.text("0123456789", min_size=length - 1, max_size=length - 1)))
    out = ""
    for i, digit in enumerate(digits):
        if i and draw(st.integers(0, 3)) == 0:
            out += draw(st.sampled_from([" ", "-", " - "]))
        out += digit
    return out.translate(draw(st.sampled_from([{}, PERSIAN, ARABIC_INDIC])))


@CI
@given(before=no_digits, card=card_numbers(), after=no_digits)
def test_any_embedded_card_number_is_rejected(before: str, card: str, after: str) -> None:
    value = f"{before} {card} {after}"

    assert v.contains_card_number(value)
    with pytest.raises(CardDataRejected):
        v.text(value, field="note", max_length=5)


@CI
@given(
    st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs")), max_size=200).filter(
        lambda s: sum(c.isdecimal() for c in s) < 13
    )
)
def test_text_without_long_numbers_passes_and_is_idempotent(value: str) -> None:
    assume(value.strip())

    once = v.text(value, field="note", max_length=1000)

    assert once == unicodedata.normalize("NFC", once) == once.strip()
    assert v.text(once, field="note", max_length=1000) == once


phone_numbers = st.builds(
    lambda region, kind, tail: (region, kind, tail),
    st.sampled_from(["IR", "VN", "US", "GB", "DE", "FR"]),
    st.sampled_from([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]),
    st.text("0123456789", min_size=4, max_size=4),
)


@CI
@given(phone_numbers, st.sampled_from([PERSIAN, ARABIC_INDIC]))
def test_e164_is_reparseable_and_digit_script_does_not_matter(
    number: tuple[str, int, str], script: dict[int, str]
) -> None:
    region, kind, tail = number
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None
    national = str(example.national_number)
    candidate = phonenumbers.parse(national[:-4] + tail, region)
    assume(phonenumbers.is_valid_number(candidate))
    written = phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.NATIONAL)

    e164 = v.phone(written, field="mobilePhone", country=region)

    assert e164.startswith("+")
    assert phonenumbers.is_valid_number(phonenumbers.parse(e164))
    assert v.phone(e164, field="mobilePhone", country="US") == e164
    assert v.phone(written.translate(script), field="mobilePhone", country=region) == e164


@CI
@given(st.text("0123456789", min_size=10, max_size=10), st.sampled_from([PERSIAN, ARABIC_INDIC]))
def test_postal_code_digit_script_does_not_matter(code: str, script: dict[int, str]) -> None:
    assert v.postal_code(code.translate(script), field="postalCode", country="IR") == code


VALIDATORS: list[Callable[[str], object]] = [
    lambda s: v.text(s, field="note", max_length=3),
    lambda s: v.phone(s, field="mobilePhone", country="IR", kind="mobile"),
    lambda s: v.email(s, field="email"),
    lambda s: v.postal_code(s, field="postalCode", country="IR"),
    lambda s: v.postal_code(s, field="postalCode", country="FR"),
    lambda s: v.country(s, field="country"),
    lambda s: v.language(s, field="preferredLanguage"),
    lambda s: v.currency(s, field="currency"),
    lambda s: v.identifier(s, field="sku", max_length=5),
    lambda s: v.positive_int(s, field="quantity"),
]


def failure(validate: Callable[[str], object], value: str) -> InputError | None:
    try:
        validate(value)
    except InputError as error:
        return error
    return None


@CI
@given(st.text(min_size=6), st.sampled_from(VALIDATORS))
def test_error_messages_never_contain_the_value(
    value: str, validate: Callable[[str], object]
) -> None:
    assume(len(value.strip()) >= 4)

    error = failure(validate, value)

    if error is not None:
        assert value.strip() not in error.message
        assert error.__cause__ is None
