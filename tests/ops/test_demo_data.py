"""Demo data: valid, varied, reproducible, and safe to load into a database that has rows."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import astuple
from datetime import datetime, timedelta

import phonenumbers
import pytest
from email_validator import validate_email
from sqlalchemy import Engine, String, func, select, text
from sqlalchemy.orm import Session
from sqlmodel import SQLModel, col

from api.demo import REFERENCE_NOW, DemoSummary, is_empty, load_demo_data
from store.database import make_engine, session_factory, transaction, upgrade
from store.ids import to_global_id
from store.models import (
    Address,
    AddressLabel,
    Consent,
    ConsentSource,
    ConsentStatus,
    Customer,
    Order,
    OrderItem,
    OrderStatus,
    UsageEvent,
)
from tests.support.postgres import fresh_postgres_database, postgres_server

# One worker runs this module: its module-scoped servers start once (pytest-xdist's loadgroup).
pytestmark = pytest.mark.xdist_group("demo-data")

DEMO_TABLES = ("customer", "address", "customer_order", "order_item", "consent", "usage_event")
CUSTOMERS = 200
PURPOSES = ("marketing", "analytics")
# Rough bounding boxes of the two countries.
BOUNDS = {"IR": ((25.0, 40.0), (44.0, 63.5)), "VN": ((8.0, 23.5), (102.0, 110.0))}
MARKET = {"IR": ("fa-IR", "IRR"), "VN": ("vi-VN", "VND")}
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

# The check Iranian web forms commonly apply on top of "10 digits".
IRANIAN_POSTAL_CODE = re.compile(r"(?!(\d)\1{3})[13-9]{4}[1346-9][013-9]{5}")
# Any digits (Persian ones too) grouped by spaces or dashes, as SPEC section 2 describes.
DIGIT_RUN = re.compile(r"\d+(?:[\s\-\u2010-\u2015\u2212]{1,3}\d+)*")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def looks_like_card(value: str) -> bool:
    """Any 13-19 digit stretch of a digit run that passes Luhn (stricter than the API)."""
    visible = "".join(c for c in value if unicodedata.category(c) != "Cf")
    for run in DIGIT_RUN.finditer(visible):
        digits = "".join(str(unicodedata.decimal(c)) for c in run.group() if c.isdecimal())
        for length in range(13, 20):
            for start in range(len(digits) - length + 1):
                if luhn_valid(digits[start : start + length]):
                    return True
    return False


@pytest.fixture(scope="module", params=BACKENDS)
def new_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], Engine]]:
    """A factory of fresh, migrated, empty databases on one backend; all removed afterwards."""
    if request.param == "postgres":
        postgres_server()  # skips (fails in CI) before any database is made

    with ExitStack() as stack:

        def create() -> Engine:
            if request.param == "postgres":
                url = stack.enter_context(fresh_postgres_database(prefix="steward_demo"))
            else:
                url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'steward.db'}"
                upgrade(url)
            engine = make_engine(url)
            stack.callback(engine.dispose)
            return engine

        yield create


def load(engine: Engine, *, customers: int, seed: int) -> DemoSummary:
    with transaction(session_factory(engine)) as session:
        return load_demo_data(session, customers=customers, seed=seed)


@pytest.fixture(scope="module")
def loaded(new_database: Callable[[], Engine]) -> tuple[Engine, DemoSummary]:
    engine = new_database()
    return engine, load(engine, customers=CUSTOMERS, seed=1)


@pytest.fixture
def demo_session(loaded: tuple[Engine, DemoSummary]) -> Iterator[Session]:
    with session_factory(loaded[0])() as session:
        yield session


def dump(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as connection:
        return {
            name: [
                tuple(row)
                for row in connection.execute(
                    select(SQLModel.metadata.tables[name]).order_by(text("id"))
                )
            ]
            for name in DEMO_TABLES
        }


def test_the_card_number_check_of_these_tests_works() -> None:
    assert looks_like_card("پلاک ۴۱۱۱ ۱۱۱۱ ۱۱۱۱ ۱۱۱۱")
    assert looks_like_card("x 4111-1111-1111-1111 y")
    assert not looks_like_card("SO-2026-000123, +989121234567, 385045934213")


def test_loading_leaves_the_transaction_to_the_caller(new_database: Callable[[], Engine]) -> None:
    engine = new_database()
    with session_factory(engine)() as session:
        assert is_empty(session)

        summary = load_demo_data(session, customers=10, seed=3)

        assert summary.customers == 10
        assert not is_empty(session)
        session.rollback()
        assert is_empty(session)


def test_summary_counts_the_inserted_rows(
    demo_session: Session, loaded: tuple[Engine, DemoSummary]
) -> None:
    counts = [
        demo_session.scalar(select(func.count()).select_from(SQLModel.metadata.tables[name]))
        for name in DEMO_TABLES
    ]

    assert counts == list(astuple(loaded[1]))
    assert loaded[1].customers == CUSTOMERS
    assert all(counts)


def test_same_seed_gives_identical_rows_other_seed_different(
    new_database: Callable[[], Engine],
) -> None:
    first, again, other = new_database(), new_database(), new_database()

    load(first, customers=60, seed=5)
    load(again, customers=60, seed=5)
    load(other, customers=60, seed=6)

    assert dump(first) == dump(again)
    assert dump(first)["customer"] != dump(other)["customer"]
    assert dump(first)["customer_order"] != dump(other)["customer_order"]


def test_customers_are_half_iranian_half_vietnamese_named_in_their_script(
    demo_session: Session,
) -> None:
    customers = demo_session.scalars(select(Customer)).all()

    by_country = Counter(c.country for c in customers)
    assert by_country == {"IR": CUSTOMERS // 2, "VN": CUSTOMERS // 2}
    for c in customers:
        assert (c.preferred_language, c.status) == (MARKET[c.country][0], "ACTIVE")
        assert c.first_name
        assert c.last_name
        name = c.first_name + c.last_name
        if c.country == "IR":
            assert all("\u0600" <= ch <= "\u06ff" or ch in " \u200c" for ch in name), name
        else:
            assert all(unicodedata.name(ch).startswith("LATIN") or ch == " " for ch in name)
    assert any(not (c.first_name or "").isascii() for c in customers if c.country == "VN")


def test_phones_are_valid_e164_of_the_right_kind(demo_session: Session) -> None:
    customers = demo_session.scalars(select(Customer)).all()

    for c in customers:
        numbers = [(c.mobile_phone, phonenumbers.PhoneNumberType.MOBILE)]
        if c.landline_phone is not None:
            numbers.append((c.landline_phone, phonenumbers.PhoneNumberType.FIXED_LINE))
        for value, kind in numbers:
            assert value is not None
            number = phonenumbers.parse(value)
            assert phonenumbers.is_valid_number(number), value
            assert phonenumbers.number_type(number) == kind, value
            assert phonenumbers.region_code_for_number(number) == c.country
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            assert e164 == value
    landlines = Counter(c.landline_phone is None for c in customers)
    assert landlines[True]
    assert landlines[False]


def test_emails_are_valid_ascii_and_distinct(demo_session: Session) -> None:
    emails = demo_session.scalars(select(col(Customer.email))).all()

    assert len(set(emails)) == len(emails)
    for email in emails:
        assert email is not None
        assert email.isascii()
        assert validate_email(email, check_deliverability=False).normalized == email
        assert email.rsplit("@", 1)[1] in ("example.com", "example.net", "example.org")


def test_dates_are_plausible_and_timezone_aware(demo_session: Session) -> None:
    customers = demo_session.scalars(select(Customer)).all()

    today = REFERENCE_NOW.date()
    for c in customers:
        assert c.created_at.tzinfo is not None
        assert c.updated_at.tzinfo is not None
        assert REFERENCE_NOW - timedelta(days=3 * 366) <= c.created_at < REFERENCE_NOW
        assert c.created_at <= c.updated_at <= REFERENCE_NOW
        if c.date_of_birth is not None:
            age = today.year - c.date_of_birth.year
            age -= (today.month, today.day) < (c.date_of_birth.month, c.date_of_birth.day)
            assert 18 <= age <= 85
    assert any(c.date_of_birth is None for c in customers)
    assert sum(c.date_of_birth is not None for c in customers) > CUSTOMERS * 0.8
    spread = max(c.created_at for c in customers) - min(c.created_at for c in customers)
    assert spread > timedelta(days=2 * 365)


def test_addresses_are_local_and_each_customer_has_one_default(demo_session: Session) -> None:
    countries: dict[int | None, str] = dict(
        demo_session.execute(select(col(Customer.id), col(Customer.country))).all()
    )
    addresses = demo_session.scalars(select(Address)).all()

    per_customer: defaultdict[int, list[Address]] = defaultdict(list)
    for a in addresses:
        per_customer[a.customer_id].append(a)
        assert a.country == countries[a.customer_id]
        assert a.label in {label.value for label in AddressLabel}
        assert a.line1
        assert a.city
        assert a.region
        digits = 10 if a.country == "IR" else 6
        assert a.postal_code is not None
        assert re.fullmatch(rf"[0-9]{{{digits}}}", a.postal_code), a.postal_code
        if a.country == "IR":
            assert IRANIAN_POSTAL_CODE.fullmatch(a.postal_code), a.postal_code
        (lat_min, lat_max), (lon_min, lon_max) = BOUNDS[a.country]
        assert a.latitude is not None
        assert lat_min <= a.latitude <= lat_max
        assert a.longitude is not None
        assert lon_min <= a.longitude <= lon_max
    assert set(per_customer) == set(countries)
    for own in per_customer.values():
        assert 1 <= len(own) <= 3
        assert sum(a.is_default for a in own) == 1
        assert len({a.label for a in own}) == len(own)
    assert {a.label for a in addresses} == {label.value for label in AddressLabel}


def test_orders_cover_every_status_and_add_up(demo_session: Session) -> None:
    customers = {c.id: c for c in demo_session.scalars(select(Customer))}
    owners: dict[int | None, int] = dict(
        demo_session.execute(select(col(Address.id), col(Address.customer_id))).all()
    )
    items: defaultdict[int | None, list[OrderItem]] = defaultdict(list)
    for item in demo_session.scalars(select(OrderItem)):
        items[item.order_id].append(item)
    orders = demo_session.scalars(select(Order)).all()

    assert {o.status for o in orders} == {status.value for status in OrderStatus}
    assert len({o.number for o in orders}) == len(orders)
    per_customer = Counter(o.customer_id for o in orders)
    assert max(per_customer.values()) <= 4
    assert len(per_customer) < len(customers)  # some customers never ordered
    for o in orders:
        customer = customers[o.customer_id]
        assert 1 <= len(items[o.id]) <= 4
        assert all(i.quantity >= 1 and i.unit_price > 0 and i.sku and i.name for i in items[o.id])
        assert o.total_amount == sum(i.quantity * i.unit_price for i in items[o.id])
        assert o.currency == MARKET[customer.country][1]
        assert o.shipping_address_id is not None
        assert owners[o.shipping_address_id] == o.customer_id
        assert customer.created_at < o.placed_at < REFERENCE_NOW
        assert re.fullmatch(r"SO-20[0-9]{2}-[0-9]{6,}(-[0-9]+)?", o.number)
        if o.status == OrderStatus.PENDING:
            assert o.payment_reference is None
            assert o.payment_tracking_code is None
        elif o.status != OrderStatus.CANCELLED:
            assert o.payment_reference
            assert o.payment_tracking_code
        if o.payment_reference is not None:
            assert re.fullmatch(r"[0-9]{6,12}", o.payment_reference)
            assert o.payment_tracking_code
            assert len(o.payment_tracking_code) <= 12
    cancelled = [o for o in orders if o.status == OrderStatus.CANCELLED]
    assert {o.payment_reference is None for o in cancelled} == {True, False}


def _history(session: Session) -> dict[tuple[int | None, str], list[Consent]]:
    history: defaultdict[tuple[int | None, str], list[Consent]] = defaultdict(list)
    for consent in session.scalars(select(Consent).order_by(col(Consent.id))):
        history[consent.customer_id, consent.purpose].append(consent)
    return history


def test_consents_mix_never_asked_granted_withdrawn_and_granted_again(
    demo_session: Session,
) -> None:
    customer_ids = demo_session.scalars(select(col(Customer.id))).all()
    history = _history(demo_session)

    patterns = {
        (): "never",
        ("GRANTED",): "granted",
        ("GRANTED", "WITHDRAWN"): "withdrawn",
        ("GRANTED", "WITHDRAWN", "GRANTED"): "regranted",
    }
    for purpose in PURPOSES:
        seen = Counter(
            patterns[tuple(c.status for c in history.get((customer_id, purpose), []))]
            for customer_id in customer_ids
        )
        assert set(seen) == {"never", "granted", "withdrawn", "regranted"}, purpose
    assert {purpose for _, purpose in history} == set(PURPOSES)


def test_consent_ledger_runs_forward_from_sign_up(demo_session: Session) -> None:
    created: dict[int | None, datetime] = dict(
        demo_session.execute(select(col(Customer.id), col(Customer.created_at))).all()
    )

    for (customer_id, _), records in _history(demo_session).items():
        times = [c.recorded_at for c in records]
        assert created[customer_id] < times[0]
        assert times == sorted(times)
        assert len(set(times)) == len(times)
        assert times[-1] <= REFERENCE_NOW
        for c in records:
            assert c.status in {s.value for s in ConsentStatus}
            assert c.source in {s.value for s in ConsentSource}
            assert c.policy_version
            assert re.fullmatch(r"20[0-9]{2}-[0-9]{2}", c.policy_version)


def test_usage_events_are_short_and_after_sign_up(demo_session: Session) -> None:
    created: dict[int | None, datetime] = dict(
        demo_session.execute(select(col(Customer.id), col(Customer.created_at))).all()
    )
    events = demo_session.scalars(select(UsageEvent)).all()

    per_customer = Counter(e.customer_id for e in events)
    assert max(per_customer.values()) <= 8
    assert len(per_customer) < len(created)
    kinds = {"login", "viewed_order", "updated_profile", "downloaded_invoice", "contacted_support"}
    assert {e.kind for e in events} == kinds
    for e in events:
        assert created[e.customer_id] <= e.occurred_at <= REFERENCE_NOW
        assert e.detail
        assert len(e.detail) <= 80


def test_no_text_holds_a_card_number(demo_session: Session) -> None:
    for name in DEMO_TABLES:
        table = SQLModel.metadata.tables[name]
        columns = [c for c in table.columns if isinstance(getattr(c.type, "impl", c.type), String)]
        assert columns
        for row in demo_session.execute(select(*columns)):
            for column, value in zip(columns, row, strict=True):
                assert value is None or not looks_like_card(value), (name, column.name, value)


def test_subjects_are_the_customers_global_ids(demo_session: Session) -> None:
    for customer in demo_session.scalars(select(Customer)):
        assert customer.id is not None
        assert customer.subject == to_global_id("Customer", customer.id)


def test_loading_into_a_database_with_rows_adds_without_collisions(
    new_database: Callable[[], Engine],
) -> None:
    engine = new_database()
    first = load(engine, customers=30, seed=1)
    with transaction(session_factory(engine)) as session:
        session.add(Customer(country="IR", preferred_language="fa-IR", first_name="مینا"))

    second = load(engine, customers=30, seed=1)
    with transaction(session_factory(engine)) as session:
        # Later ordinary inserts must not trip over the ids the demo data took.
        session.add(Customer(country="VN", preferred_language="vi-VN", first_name="Lan"))

    with session_factory(engine)() as session:
        customers = session.scalars(select(Customer).order_by(col(Customer.id))).all()
        numbers = session.scalars(select(col(Order.number))).all()
        assert len(customers) == first.customers + second.customers + 2
        assert len(numbers) == first.orders + second.orders == len(set(numbers))
        demo = [c for c in customers if c.subject is not None]
        assert all(c.subject == to_global_id("Customer", c.id or 0) for c in demo)
        emails = [c.email for c in demo]
        assert len(set(emails)) == len(emails)
        consents = session.scalar(select(func.count()).select_from(Consent))
        assert consents == first.consents + second.consents


def test_zero_customers_is_a_no_op_and_negative_is_refused(
    new_database: Callable[[], Engine],
) -> None:
    engine = new_database()

    assert load(engine, customers=0, seed=1) == DemoSummary(0, 0, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="negative"):
        load(engine, customers=-1, seed=1)
