"""Realistic, reproducible demo data: Persian and Vietnamese customers of a solar retailer.

Half of the customers live in Iran (names in Persian script, IRR, ``fa-IR``), half in Viet
Nam (VND, ``vi-VN``). They come with addresses in real cities, orders in every status,
consent histories (never asked, granted, withdrawn, granted again) and usage events. The
same seed always yields the same rows: every random choice comes from one seeded
``random.Random`` and seeded Faker instances, and time is measured from a fixed
:data:`REFERENCE_NOW`, never from the clock.

Emails use the reserved ``example.*`` domains, so no real mailbox can ever be reached, and
no text holds anything resembling a payment card number.

Example:
    >>> with transaction(session_factory(engine)) as session:
    ...     if is_empty(session):
    ...         load_demo_data(session, customers=1000, seed=7)
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any, Final, NamedTuple, TypeVar

import phonenumbers
from faker import Faker
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from auth.policy.purposes import Purpose
from privacy.imports import Batch, existing, import_batch, new_ids
from store.ids import to_global_id
from store.models import (
    Address,
    AddressLabel,
    Consent,
    ConsentSource,
    ConsentStatus,
    Customer,
    CustomerStatus,
    Order,
    OrderItem,
    OrderStatus,
    UsageEvent,
    table_of,
)

__all__ = ["REFERENCE_NOW", "DemoSummary", "is_empty", "load_demo_data"]

REFERENCE_NOW: Final = datetime(2026, 11, 1, tzinfo=UTC)
"""The moment the demo data is generated "at"; all timestamps lie before it."""

_T = TypeVar("_T")


_CUSTOMERS: Final = table_of(Customer)
_ADDRESSES: Final = table_of(Address)
_ORDERS: Final = table_of(Order)
_ITEMS: Final = table_of(OrderItem)
_CONSENTS: Final = table_of(Consent)
_EVENTS: Final = table_of(UsageEvent)
_HISTORY: Final = timedelta(days=3 * 365)
_EMAIL_DOMAINS: Final = ("example.com", "example.net", "example.org")
_PERSIAN_DIGITS: Final = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_CONSENT_PURPOSES: Final = (Purpose.MARKETING.value, Purpose.ANALYTICS.value)
_POLICY_VERSIONS: Final = (
    (datetime(2023, 6, 1, tzinfo=UTC), "2023-06"),
    (datetime(2024, 1, 15, tzinfo=UTC), "2024-01"),
    (datetime(2025, 3, 1, tzinfo=UTC), "2025-03"),
    (datetime(2026, 2, 1, tzinfo=UTC), "2026-02"),
)


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """How many rows :func:`load_demo_data` inserted, per table."""

    customers: int
    addresses: int
    orders: int
    order_items: int
    consents: int
    usage_events: int


def is_empty(session: Session) -> bool:
    """Whether the database holds no customer at all (the cue to load demo data).

    Args:
        session: an open session.

    Returns:
        True when the ``customer`` table has no rows.
    """
    return session.scalar(select(_CUSTOMERS.c.id).limit(1)) is None


def load_demo_data(session: Session, *, customers: int = 200, seed: int = 1) -> DemoSummary:
    """Insert demo customers with their addresses, orders, consents and usage events.

    This generates the rows; `privacy.imports.import_batch` validates them with the single-row
    use cases' validators and writes them (SPEC section 11). Rows are added in the caller's
    transaction, which this function neither commits nor rolls back. Existing rows are left
    alone: new ids continue after the existing ones (from the sequences on PostgreSQL), so
    loading twice gives twice the customers.

    The same ``seed`` and ``customers`` on an equally filled database give identical rows.
    Every order status, and for both consent purposes each of "never asked", "granted",
    "withdrawn" and "granted again", occurs as soon as there are enough customers to hold
    them (five orders, four customers).

    Args:
        session: the session whose transaction receives the rows.
        customers: how many customers to create, about half in Iran and half in Viet Nam.
        seed: the seed of every random choice.

    Returns:
        The number of rows inserted per table.

    Raises:
        ValueError: ``customers`` is negative.
    """
    if customers < 0:
        raise ValueError("customers must not be negative")
    generator = _Generator(seed)
    data = generator.generate(customers)
    _assign_ids(session, data)
    _unique_emails(session, data.customers, seed)
    # Events mention order numbers, so they come once the numbers are final.
    data.events = generator.events(data.customers)
    for event, pk in zip(data.events, new_ids(session, _EVENTS, len(data.events)), strict=True):
        event.id = pk
    imported = import_batch(session, data.batch())
    return DemoSummary(
        *(
            len(rows)
            for rows in (
                imported.customers,
                imported.addresses,
                imported.orders,
                imported.order_items,
                imported.consents,
                imported.usage_events,
            )
        )
    )


# --- Reference data (api/data/demo.json) ---------------------------------------------------


class _City(NamedTuple):
    name: str
    region: str
    latitude: float
    longitude: float
    postal_prefix: str
    area_code: str
    weight: int
    localities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Market:
    country: str
    language: str
    currency: str
    faker_locale: str
    cities: tuple[_City, ...]
    mobile_prefixes: tuple[str, ...]
    postal_length: int
    minor_per_major: int


class _Product(NamedTuple):
    sku: str
    name_fa: str
    name_vi: str
    rials: tuple[int, int]
    dong: tuple[int, int]


def _market(country: str, entry: dict[str, Any]) -> _Market:
    cities = tuple(
        _City(**{**city, "localities": tuple(city["localities"])}) for city in entry["cities"]
    )
    return _Market(
        country=country,
        language=entry["language"],
        currency=entry["currency"],
        faker_locale=entry["faker_locale"],
        cities=cities,
        mobile_prefixes=tuple(entry["mobile_prefixes"]),
        postal_length=entry["postal_length"],
        minor_per_major=entry["minor_per_major"],
    )


_REFERENCE: Final[dict[str, Any]] = json.loads(
    resources.files("api").joinpath("data/demo.json").read_text(encoding="utf-8")
)
_IRAN: Final = _market("IR", _REFERENCE["markets"]["IR"])
_VIETNAM: Final = _market("VN", _REFERENCE["markets"]["VN"])
_MARKETS: Final = (_IRAN, _VIETNAM)

# Faker's fa_IR given names are the most popular names of 2012 births, and some of its
# entries are broken (two names run together): names are accepted only when listed in the
# data file, which also gives each one its usual Latin spelling for the email address.
_PERSIAN: Final[dict[str, Any]] = _REFERENCE["persian"]
_PERSIAN_GIVEN: Final[dict[str, str]] = _PERSIAN["given_names"]
_PERSIAN_CLASSIC_MALE: Final = tuple(_PERSIAN["classic_male"])
_PERSIAN_CLASSIC_FEMALE: Final = tuple(_PERSIAN["classic_female"])
_PERSIAN_SURNAMES: Final[dict[str, str]] = _PERSIAN["surnames"]
_PERSIAN_SURNAME_LIST: Final = tuple(_PERSIAN_SURNAMES)
_PERSIAN_STREETS: Final = tuple(_PERSIAN["streets"])
_PERSIAN_ALLEYS: Final = tuple(_PERSIAN["alleys"])
# Family names with their approximate share of the population.
_VIETNAMESE_FAMILY: Final = tuple(
    (name, int(weight)) for name, weight in _REFERENCE["vietnamese"]["family_names"]
)
_VIETNAMESE_MIDDLE_FEMALE: Final = tuple(_REFERENCE["vietnamese"]["middle_female"])
_VIETNAMESE_MIDDLE_MALE: Final = tuple(_REFERENCE["vietnamese"]["middle_male"])

_PRODUCTS: Final = {
    entry["sku"]: _Product(
        entry["sku"],
        entry["name_fa"],
        entry["name_vi"],
        tuple(entry["rials"]),
        tuple(entry["dong"]),
    )
    for entry in _REFERENCE["products"]
}
_PANEL_550 = _PRODUCTS["PV-MONO-550"]
_PANEL_450 = _PRODUCTS["PV-MONO-450"]
_INVERTER_HYBRID = _PRODUCTS["INV-HYB-5K"]
_INVERTER_GRID = _PRODUCTS["INV-GRID-10K"]
_BATTERY_5 = _PRODUCTS["BAT-LFP-5"]
_BATTERY_10 = _PRODUCTS["BAT-LFP-10"]
_METER = _PRODUCTS["MTR-SMART-1P"]
_MOUNTING = _PRODUCTS["MNT-ROOF-KIT"]
_CABLE = _PRODUCTS["CBL-DC-6-50M"]
_MONITOR = _PRODUCTS["MON-WIFI"]
_INSTALLATION = _PRODUCTS["SRV-INSTALL"]
_SURVEY = _PRODUCTS["SRV-SURVEY"]

_Basket = list[tuple[_Product, int]]


def _system(rng: random.Random) -> _Basket:
    panels = rng.randint(6, 16)
    basket: _Basket = [(rng.choice((_PANEL_550, _PANEL_450)), panels)]
    basket.append((rng.choice((_INVERTER_HYBRID, _INVERTER_GRID)), 1))
    if rng.random() < 0.4:
        basket.append((rng.choice((_BATTERY_5, _BATTERY_10)), rng.randint(1, 2)))
    else:
        basket.append((_MOUNTING, panels))
    return [*basket, (_INSTALLATION, 1)]


def _expansion(rng: random.Random) -> _Basket:
    panels = rng.randint(2, 8)
    basket: _Basket = [(rng.choice((_PANEL_550, _PANEL_450)), panels), (_MOUNTING, panels)]
    return [*basket, (_CABLE, 1)] if rng.random() < 0.5 else basket


def _storage(rng: random.Random) -> _Basket:
    basket: _Basket = [(rng.choice((_BATTERY_5, _BATTERY_10)), rng.randint(1, 2))]
    if rng.random() < 0.4:
        basket.append((_MONITOR, 1))
    return [*basket, (_INSTALLATION, 1)]


def _storage_kit(rng: random.Random) -> _Basket:
    basket: _Basket = [(rng.choice((_BATTERY_5, _BATTERY_10)), rng.randint(1, 2))]
    return [*basket, (_CABLE, 1)] if rng.random() < 0.5 else basket


def _meter(rng: random.Random) -> _Basket:
    return [(_METER, 1)] if rng.random() < 0.7 else [(_METER, 1), (_MONITOR, 1)]


def _meter_installed(rng: random.Random) -> _Basket:
    return [(_METER, 1), (_INSTALLATION, 1)]


def _accessories(rng: random.Random) -> _Basket:
    picked = rng.sample((_CABLE, _MONITOR, _MOUNTING), rng.randint(1, 3))
    return [(p, rng.randint(2, 6) if p is _MOUNTING else rng.randint(1, 2)) for p in picked]


def _survey(rng: random.Random) -> _Basket:
    return [(_SURVEY, 1)]


class _Kind(NamedTuple):
    basket: Callable[[random.Random], _Basket]
    weight: int
    installed: bool
    shipped: bool


_KINDS: Final = (
    _Kind(_system, 30, installed=True, shipped=False),
    _Kind(_expansion, 12, installed=False, shipped=True),
    _Kind(_storage, 10, installed=True, shipped=False),
    _Kind(_storage_kit, 5, installed=False, shipped=True),
    _Kind(_meter, 8, installed=False, shipped=True),
    _Kind(_meter_installed, 7, installed=True, shipped=False),
    _Kind(_accessories, 18, installed=False, shipped=True),
    _Kind(_survey, 10, installed=False, shipped=False),
)
_STATUS_WEIGHTS: Final = {
    OrderStatus.PENDING: 8,
    OrderStatus.PAID: 10,
    OrderStatus.SHIPPED: 12,
    OrderStatus.INSTALLED: 58,
    OrderStatus.CANCELLED: 12,
}
# How old (in days) an order in each status plausibly is.
_STATUS_AGE: Final = {
    OrderStatus.PENDING: (0, 10),
    OrderStatus.PAID: (1, 21),
    OrderStatus.SHIPPED: (3, 45),
    OrderStatus.INSTALLED: (10, _HISTORY.days),
    OrderStatus.CANCELLED: (0, _HISTORY.days),
}
_CONSENT_PATTERNS: Final = {
    Purpose.MARKETING.value: {"never": 30, "granted": 35, "withdrawn": 22, "regranted": 13},
    Purpose.ANALYTICS.value: {"never": 35, "granted": 40, "withdrawn": 17, "regranted": 8},
}
_PROFILE_CHANGES: Final = ("email", "mobile phone", "landline phone", "address", "language")
_SUPPORT_TOPICS: Final = (
    "installation scheduling", "inverter error code", "invoice question", "warranty claim",
    "net metering application", "battery performance", "delivery date",
)  # fmt: skip

# --- Generation -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Customer:
    market: _Market
    home: _City
    created_at: datetime
    first_name: str
    last_name: str
    date_of_birth: date | None
    email: str
    mobile_phone: str
    landline_phone: str | None
    id: int = 0
    updated_at: datetime | None = None
    addresses: list[_Address] = field(default_factory=list)
    orders: list[_Order] = field(default_factory=list)


@dataclass(slots=True)
class _Address:
    customer: _Customer
    label: str
    line1: str
    line2: str | None
    city: _City
    postal_code: str
    latitude: float
    longitude: float
    is_default: bool
    id: int = 0


@dataclass(slots=True)
class _Order:
    customer: _Customer
    status: str
    placed_at: datetime
    address: _Address
    basket: list[tuple[_Product, int, int]]
    payment_reference: str | None
    payment_tracking_code: str | None
    id: int = 0
    number: str = ""


@dataclass(slots=True)
class _Consent:
    customer: _Customer
    purpose: str
    status: str
    recorded_at: datetime
    source: str
    id: int = 0


@dataclass(slots=True)
class _Event:
    customer: _Customer
    occurred_at: datetime
    kind: str
    detail: str
    id: int = 0


@dataclass(slots=True)
class _Data:
    customers: list[_Customer]
    addresses: list[_Address]
    orders: list[_Order]
    consents: list[_Consent]
    events: list[_Event]
    item_ids: list[int] = field(default_factory=list)

    @property
    def item_count(self) -> int:
        return sum(len(order.basket) for order in self.orders)

    def batch(self) -> Batch:
        """Every table's rows, for `privacy.imports`."""
        items: list[dict[str, Any]] = []
        ids = iter(self.item_ids)
        for order in self.orders:
            for product, quantity, unit_price in order.basket:
                name = product.name_fa if order.customer.market is _IRAN else product.name_vi
                items.append(
                    {
                        "id": next(ids),
                        "order_id": order.id,
                        "sku": product.sku,
                        "name": name,
                        "quantity": quantity,
                        "unit_price": unit_price,
                    }
                )
        return Batch(
            customers=[_customer_row(c) for c in self.customers],
            addresses=[_address_row(a) for a in self.addresses],
            orders=[_order_row(o) for o in self.orders],
            order_items=items,
            consents=[_consent_row(c) for c in self.consents],
            usage_events=[_event_row(e) for e in self.events],
        )


class _Generator:
    """All random choices, in a fixed order, from one seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers: dict[str, Any] = {}
        for market in _MARKETS:
            fake = Faker(market.faker_locale)
            fake.seed_instance(seed)
            self.fakers[market.country] = fake
        self.emails: set[str] = set()
        self.payment_references: set[str] = set()

    def generate(self, count: int) -> _Data:
        rng = self.rng
        markets = [_IRAN] * ((count + 1) // 2) + [_VIETNAM] * (count // 2)
        rng.shuffle(markets)
        # Customers sign up at a growing rate; ids follow sign-up order, as in production.
        created = sorted(
            REFERENCE_NOW - _HISTORY + (_HISTORY - timedelta(days=1)) * rng.random() ** 0.8
            for _ in range(count)
        )
        customers = [
            self.customer(market, created_at.replace(microsecond=0))
            for market, created_at in zip(markets, created, strict=True)
        ]
        addresses = [a for c in customers for a in self.addresses(c)]
        orders = self.orders(customers)
        consents = self.consents(customers)
        return _Data(customers, addresses, orders, consents, events=[])

    def customer(self, market: _Market, created_at: datetime) -> _Customer:
        rng = self.rng
        female = rng.random() < 0.5
        birth: date | None = None
        if rng.random() >= 0.04:
            youngest = _years_before(REFERENCE_NOW.date(), 18)
            oldest = _years_before(REFERENCE_NOW.date(), 86) + timedelta(days=1)
            span = (youngest - oldest).days
            birth = youngest - timedelta(days=int(rng.triangular(0, span, 22 * 365)))
        if market is _IRAN:
            first, last, latin_first, latin_last = self.persian_name(female, birth)
        else:
            first, last, latin_first, latin_last = self.vietnamese_name(female)
        home = _weighted(rng, market.cities, [c.weight for c in market.cities])
        landline = None
        if rng.random() < 0.65:
            landline = self.phone(market, home.area_code, 10 - len(home.area_code), mobile=False)
        return _Customer(
            market=market,
            home=home,
            created_at=created_at,
            first_name=first,
            last_name=last,
            date_of_birth=birth,
            email=self.email(latin_first, latin_last, birth),
            mobile_phone=self.phone(market, rng.choice(market.mobile_prefixes), 7, mobile=True),
            landline_phone=landline,
        )

    def persian_name(self, female: bool, birth: date | None) -> tuple[str, str, str, str]:
        rng, fake = self.rng, self.fakers["IR"]
        older = birth.year < 1992 if birth else rng.random() < 0.6
        if older and rng.random() < 0.85:
            first = rng.choice(_PERSIAN_CLASSIC_FEMALE if female else _PERSIAN_CLASSIC_MALE)
        else:
            draw = fake.first_name_female if female else fake.first_name_male
            first = _accepted(lambda: _persian(draw()), _PERSIAN_GIVEN) or rng.choice(
                _PERSIAN_CLASSIC_FEMALE if female else _PERSIAN_CLASSIC_MALE
            )
        last = _accepted(lambda: _persian(fake.last_name()), _PERSIAN_SURNAMES) or rng.choice(
            _PERSIAN_SURNAME_LIST
        )
        return first, last, _PERSIAN_GIVEN[first].replace(" ", ""), _PERSIAN_SURNAMES[last]

    def vietnamese_name(self, female: bool) -> tuple[str, str, str, str]:
        rng, fake = self.rng, self.fakers["VN"]
        family = _weighted(rng, *zip(*_VIETNAMESE_FAMILY, strict=True))
        given = str(fake.first_name_female() if female else fake.first_name_male())
        middles = _VIETNAMESE_MIDDLE_FEMALE if female else _VIETNAMESE_MIDDLE_MALE
        middle = rng.choice([m for m in middles if m != given])
        return f"{middle} {given}", family, _latin(given), _latin(family)

    def email(self, first: str, last: str, birth: date | None) -> str:
        rng = self.rng
        year = f"{birth.year % 100:02d}" if birth else f"{rng.randint(10, 99)}"
        local = rng.choice(
            (
                f"{first}.{last}",
                f"{first}{last}",
                f"{first}.{last}{year}",
                f"{first[0]}{last}",
                f"{last}.{first}",
                f"{first}_{last}{rng.randint(1, 99)}",
            )
        )
        address = f"{local}@{rng.choice(_EMAIL_DOMAINS)}"
        while address in self.emails:
            address = f"{local}{rng.randint(1, 999)}@{rng.choice(_EMAIL_DOMAINS)}"
        self.emails.add(address)
        return address

    def phone(self, market: _Market, prefix: str, digits: int, *, mobile: bool) -> str:
        """A valid E.164 number: ``prefix`` followed by ``digits`` random digits."""
        rng = self.rng
        wanted = (
            phonenumbers.PhoneNumberType.MOBILE
            if mobile
            else phonenumbers.PhoneNumberType.FIXED_LINE
        )
        calling_code = phonenumbers.country_code_for_region(market.country)
        for _ in range(100):
            # Subscriber numbers rarely start with 0 or 1.
            rest = str(rng.randint(2, 9)) + "".join(rng.choices("0123456789", k=digits - 1))
            number = phonenumbers.parse(f"+{calling_code}{prefix}{rest}")
            if phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) == wanted:
                return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        raise RuntimeError(f"no valid phone number with prefix {prefix} in {market.country}")

    def addresses(self, customer: _Customer) -> list[_Address]:
        rng = self.rng
        market = customer.market
        count = _weighted(rng, (1, 2, 3), (55, 30, 15))
        first_label = AddressLabel.HOME if rng.random() < 0.85 else AddressLabel.INSTALLATION_SITE
        others = [label for label in AddressLabel if label != first_label]
        labels = [first_label, *rng.sample(others, count - 1)]
        default = 0 if count == 1 or rng.random() < 0.85 else rng.randrange(1, count)
        result = []
        for index, label in enumerate(labels):
            city = customer.home
            if index and rng.random() < 0.3:
                city = _weighted(rng, market.cities, [c.weight for c in market.cities])
            line1, line2 = self.street(market, city)
            result.append(
                _Address(
                    customer=customer,
                    label=label.value,
                    line1=line1,
                    line2=line2,
                    city=city,
                    postal_code=self.postal_code(market, city),
                    latitude=round(city.latitude + rng.uniform(-0.02, 0.02), 6),
                    longitude=round(city.longitude + rng.uniform(-0.02, 0.02), 6),
                    is_default=index == default,
                )
            )
        customer.addresses = result
        return result

    def street(self, market: _Market, city: _City) -> tuple[str, str | None]:
        rng = self.rng
        if market is _IRAN:
            return self.persian_street(city)
        street = str(self.fakers["VN"].street_name())
        prefix = "Phố" if city.area_code == "24" and rng.random() < 0.5 else "Đường"
        # Lanes are "ngõ" in the north and "hẻm" in the south.
        lane = "Ngõ" if city.area_code in ("24", "225") else "Hẻm"
        line1 = rng.choice(
            (
                f"Số {rng.randint(1, 300)} {prefix} {street}",
                f"{rng.randint(1, 300)}/{rng.randint(1, 60)} {prefix} {street}",
                f"Số {rng.randint(1, 80)} {lane} {rng.randint(2, 200)} {prefix} {street}",
            )
        )
        return line1, rng.choice(city.localities)

    def persian_street(self, city: _City) -> tuple[str, str | None]:
        rng = self.rng
        alley = rng.choice(
            (
                f"کوچه {rng.choice(_PERSIAN_ALLEYS)}",
                f"کوچه شهید {rng.choice(_PERSIAN_SURNAME_LIST)}",
                f"کوچه {rng.randint(1, 40)}",
            )
        )
        parts = [rng.choice(_PERSIAN_STREETS), alley, f"پلاک {rng.randint(1, 250)}"]
        if rng.random() < 0.5:
            parts.insert(0, rng.choice(city.localities))
        line2 = f"طبقه {rng.randint(1, 8)}، واحد {rng.randint(1, 24)}"
        return (
            "، ".join(parts).translate(_PERSIAN_DIGITS),
            line2.translate(_PERSIAN_DIGITS) if rng.random() < 0.6 else None,
        )

    def postal_code(self, market: _Market, city: _City) -> str:
        rng = self.rng
        if market is _VIETNAM:
            rest = market.postal_length - len(city.postal_prefix)
            return city.postal_prefix + "".join(rng.choices("0123456789", k=rest))
        # Iranian postal codes have no 0 or 2 in the first five digits, no 5 in the fifth,
        # no 2 in the last five, and do not start with four equal digits.
        while True:
            head = city.postal_prefix + "".join(
                rng.choices("13456789", k=4 - len(city.postal_prefix))
            )
            code = head + rng.choice("1346789") + "".join(rng.choices("013456789", k=5))
            if len(set(code[:4])) > 1:
                return code

    def orders(self, customers: Sequence[_Customer]) -> list[_Order]:
        rng = self.rng
        counts = [_weighted(rng, (0, 1, 2, 3, 4), (18, 37, 25, 12, 8)) for _ in customers]
        statuses: list[str] = [
            _weighted(rng, list(_STATUS_WEIGHTS), list(_STATUS_WEIGHTS.values())).value
            for _ in range(sum(counts))
        ]
        _cover(rng, statuses, [s.value for s in OrderStatus])
        pending = iter(statuses)
        result = []
        for customer, count in zip(customers, counts, strict=True):
            for _ in range(count):
                order = self.order(customer, OrderStatus(next(pending)))
                customer.orders.append(order)
                result.append(order)
        # Ids follow the order in which orders were placed, as in production.
        result.sort(key=lambda o: (o.placed_at, o.customer.created_at))
        return result

    def order(self, customer: _Customer, status: OrderStatus) -> _Order:
        rng = self.rng
        market = customer.market
        youngest, oldest = _STATUS_AGE[status]
        earliest = max(customer.created_at + timedelta(hours=1), REFERENCE_NOW - timedelta(oldest))
        latest = REFERENCE_NOW - timedelta(youngest)
        if earliest >= latest:
            earliest, latest = customer.created_at + timedelta(minutes=10), REFERENCE_NOW
        placed_at = _between(rng, earliest, latest)
        kinds = [
            k
            for k in _KINDS
            if (status != OrderStatus.INSTALLED or k.installed)
            and (status != OrderStatus.SHIPPED or k.shipped)
        ]
        kind = _weighted(rng, kinds, [k.weight for k in kinds])
        basket = []
        for product, quantity in kind.basket(rng):
            low, high = product.rials if market is _IRAN else product.dong
            # Shop prices are round: to 10,000 rials and 1,000 dong.
            step = 10_000 if market is _IRAN else 1_000
            price = rng.randint(low // step, high // step) * step * market.minor_per_major
            basket.append((product, quantity, price))
        sites = [a for a in customer.addresses if a.label == AddressLabel.INSTALLATION_SITE]
        address = next(a for a in customer.addresses if a.is_default)
        if kind.installed and sites:
            address = sites[0]
        elif rng.random() < 0.15:
            address = rng.choice(customer.addresses)
        paid = status != OrderStatus.PENDING and (
            status != OrderStatus.CANCELLED or rng.random() < 0.5
        )
        reference, tracking = self.payment(market) if paid else (None, None)
        return _Order(customer, status.value, placed_at, address, basket, reference, tracking)

    def payment(self, market: _Market) -> tuple[str, str]:
        """A bank payment number (at most 12 digits) and the gateway's tracking code."""
        rng = self.rng
        while True:
            if market is _IRAN:
                # Shetab gateways: a 12-digit retrieval reference and a 6-digit trace number.
                reference = str(rng.randint(10**11, 10**12 - 1))
                tracking = f"{rng.randint(0, 999_999):06d}"
            else:
                reference = str(rng.randint(10**9, 10**10 - 1))
                tracking = f"VNP{rng.randint(0, 99_999_999):08d}"
            if reference not in self.payment_references:
                self.payment_references.add(reference)
                return reference, tracking

    def consents(self, customers: Sequence[_Customer]) -> list[_Consent]:
        rng = self.rng
        result: list[_Consent] = []
        for purpose in _CONSENT_PURPOSES:
            weights = _CONSENT_PATTERNS[purpose]
            patterns = [_weighted(rng, list(weights), list(weights.values())) for _ in customers]
            _cover(rng, patterns, list(weights))
            for customer, pattern in zip(customers, patterns, strict=True):
                result.extend(self.consent_history(customer, purpose, pattern))
        # Ids follow time, so the latest record of a customer and purpose has the largest id.
        result.sort(key=lambda c: (c.recorded_at, c.customer.created_at, c.purpose))
        return result

    def consent_history(self, customer: _Customer, purpose: str, pattern: str) -> list[_Consent]:
        rng = self.rng
        statuses = {
            "never": [],
            "granted": [ConsentStatus.GRANTED],
            "withdrawn": [ConsentStatus.GRANTED, ConsentStatus.WITHDRAWN],
            "regranted": [ConsentStatus.GRANTED, ConsentStatus.WITHDRAWN, ConsentStatus.GRANTED],
        }[pattern]
        if not statuses:
            return []
        # Most people answer at sign-up; the rest later, by phone or on paper at installation.
        at_signup = rng.random() < 0.6
        if at_signup:
            first = customer.created_at + timedelta(seconds=rng.randint(30, 900))
            source = rng.choice((ConsentSource.WEB, ConsentSource.MOBILE))
        else:
            first = _between(rng, customer.created_at + timedelta(minutes=20), REFERENCE_NOW)
            source = _weighted(rng, list(ConsentSource), (30, 30, 20, 20))
        times = _increasing(rng, first, REFERENCE_NOW, len(statuses))
        history = []
        for status, recorded_at in zip(statuses, times, strict=True):
            history.append(_Consent(customer, purpose, status.value, recorded_at, source.value))
            source = _weighted(rng, list(ConsentSource), (45, 35, 15, 5))
        return history

    def events(self, customers: Sequence[_Customer]) -> list[_Event]:
        rng = self.rng
        result: list[_Event] = []
        for customer in customers:
            events = [self.event(customer) for _ in range(rng.randint(0, 8))]
            changes = [e.occurred_at for e in events if e.kind == "updated_profile"]
            customer.updated_at = max(changes, default=customer.created_at)
            result.extend(events)
        result.sort(key=lambda e: (e.occurred_at, e.customer.created_at))
        return result

    def event(self, customer: _Customer) -> _Event:
        rng = self.rng
        orders = [o for o in customer.orders if o.placed_at < REFERENCE_NOW]
        paid = [o for o in orders if o.payment_reference]
        kinds = ["login", "updated_profile", "contacted_support"]
        weights = [40, 15, 15]
        if orders:
            kinds.append("viewed_order")
            weights.append(20)
        if paid:
            kinds.append("downloaded_invoice")
            weights.append(10)
        kind = _weighted(rng, kinds, weights)
        start = customer.created_at
        if kind == "login":
            detail = f"via {rng.choice(('web', 'Android app', 'iOS app'))}"
        elif kind == "updated_profile":
            detail = f"changed {rng.choice(_PROFILE_CHANGES)}"
        elif kind == "contacted_support":
            detail = f"topic: {rng.choice(_SUPPORT_TOPICS)}"
        else:
            order = rng.choice(paid if kind == "downloaded_invoice" else orders)
            start = order.placed_at
            noun = "invoice for order" if kind == "downloaded_invoice" else "order"
            detail = f"{noun} {order.number}"
        return _Event(customer, _between(rng, start, REFERENCE_NOW), kind, detail)


# --- Ids, clashes with existing rows, rows ------------------------------------------------


def _assign_ids(session: Session, data: _Data) -> None:
    """Give every row but the usage events its primary key, and orders their numbers."""
    tables: list[tuple[Table, Sequence[_Customer | _Address | _Order | _Consent]]] = [
        (_CUSTOMERS, data.customers),
        (_ADDRESSES, data.addresses),
        (_ORDERS, data.orders),
        (_CONSENTS, data.consents),
    ]
    for table, records in tables:
        for record, pk in zip(records, new_ids(session, table, len(records)), strict=True):
            record.id = pk
    data.item_ids = new_ids(session, _ITEMS, data.item_count)
    numbers = {f"SO-{o.placed_at.year}-{o.id:06d}" for o in data.orders}
    taken = existing(session, _ORDERS.c.number, numbers)
    for order in data.orders:
        order.number = f"SO-{order.placed_at.year}-{order.id:06d}"
        suffix = 1
        while order.number in taken:
            suffix += 1
            order.number = f"SO-{order.placed_at.year}-{order.id:06d}-{suffix}"


def _unique_emails(session: Session, customers: Sequence[_Customer], seed: int) -> None:
    """Keep new emails distinct from those of customers already in the database."""
    # A separate generator, so that the rest of the data does not depend on what is there.
    rng = random.Random(f"emails-{seed}")
    taken = existing(session, _CUSTOMERS.c.email, (c.email for c in customers))
    for customer in customers:
        while customer.email in taken:
            local, _, domain = customer.email.partition("@")
            customer.email = f"{local}{rng.randint(0, 9)}@{domain}"
        taken.add(customer.email)


def _customer_row(c: _Customer) -> dict[str, Any]:
    return {
        "id": c.id,
        "subject": to_global_id("Customer", c.id),
        "status": CustomerStatus.ACTIVE.value,
        "country": c.market.country,
        "preferred_language": c.market.language,
        "created_at": c.created_at,
        "updated_at": c.updated_at or c.created_at,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "date_of_birth": c.date_of_birth,
        "email": c.email,
        "mobile_phone": c.mobile_phone,
        "landline_phone": c.landline_phone,
        "erased_at": None,
        "erasure_reason": None,
    }


def _address_row(a: _Address) -> dict[str, Any]:
    return {
        "id": a.id,
        "customer_id": a.customer.id,
        "label": a.label,
        "line1": a.line1,
        "line2": a.line2,
        "city": a.city.name,
        "region": a.city.region,
        "postal_code": a.postal_code,
        "country": a.customer.market.country,
        "latitude": a.latitude,
        "longitude": a.longitude,
        "is_default": a.is_default,
    }


def _order_row(o: _Order) -> dict[str, Any]:
    return {
        "id": o.id,
        "customer_id": o.customer.id,
        "number": o.number,
        "status": o.status,
        "placed_at": o.placed_at,
        "total_amount": sum(quantity * price for _, quantity, price in o.basket),
        "currency": o.customer.market.currency,
        "shipping_address_id": o.address.id,
        "payment_reference": o.payment_reference,
        "payment_tracking_code": o.payment_tracking_code,
        "left_fulfillment_at": _left_fulfillment(o),
    }


def _left_fulfillment(o: _Order) -> datetime | None:
    """When an installed or cancelled order left fulfillment: days after it was placed."""
    days = _FULFILLMENT_DAYS.get(OrderStatus(o.status))
    return None if days is None else min(o.placed_at + timedelta(days=days), REFERENCE_NOW)


_FULFILLMENT_DAYS: Final = {OrderStatus.INSTALLED: 6, OrderStatus.CANCELLED: 1}


def _consent_row(c: _Consent) -> dict[str, Any]:
    return {
        "id": c.id,
        "customer_id": c.customer.id,
        "purpose": c.purpose,
        "status": c.status,
        "recorded_at": c.recorded_at,
        "source": c.source,
        "policy_version": _policy_version(c.recorded_at),
        # An app shows the notice before the choice: its version and language are the evidence.
        "notice_version": _policy_version(c.recorded_at) if c.source in _APP_SOURCES else None,
        "language": c.customer.market.language if c.source in _APP_SOURCES else None,
    }


_APP_SOURCES = frozenset({ConsentSource.WEB.value, ConsentSource.MOBILE.value})


def _event_row(e: _Event) -> dict[str, Any]:
    return {
        "id": e.id,
        "customer_id": e.customer.id,
        "occurred_at": e.occurred_at,
        "kind": e.kind,
        "detail": e.detail,
    }


# --- Small helpers ----------------------------------------------------------------------------


def _weighted(rng: random.Random, population: Sequence[_T], weights: Sequence[float]) -> _T:
    return rng.choices(population, weights)[0]


def _cover(rng: random.Random, values: list[_T], required: Sequence[_T]) -> None:
    """Make each of ``required`` occur in ``values``, replacing values that occur twice."""
    for value in required:
        if value in values:
            continue
        counts = Counter(values)
        spare = [i for i, v in enumerate(values) if counts[v] > 1]
        if spare:
            values[rng.choice(spare)] = value


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A moment in [start, end], to the second."""
    seconds = max(0, int((end - start).total_seconds()))
    return start.replace(microsecond=0) + timedelta(seconds=rng.randint(0, seconds))


def _increasing(rng: random.Random, first: datetime, end: datetime, count: int) -> list[datetime]:
    """``count`` moments from ``first``, at least a minute apart, none after ``end``."""
    moments = [first]
    for remaining in range(count - 1, 0, -1):
        room = (end - moments[-1]).total_seconds() - 60 * remaining
        moments.append(moments[-1] + timedelta(seconds=60 + int(rng.random() * max(room, 0))))
    return moments


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _policy_version(moment: datetime) -> str:
    return [version for start, version in _POLICY_VERSIONS if start <= moment][-1]


def _persian(name: str) -> str:
    """Faker's spelling in Persian letters: Arabic yeh and kaf, and compounds joined."""
    name = name.replace("ي", "ی").replace("ك", "ک")
    return name.replace(" پور", "پور").replace(" زاده", "زاده")


def _accepted(draw: Callable[[], str], known: Iterable[str], tries: int = 20) -> str | None:
    """The first of ``tries`` draws that is in ``known``."""
    for _ in range(tries):
        value = draw()
        if value in known:
            return value
    return None


def _latin(name: str) -> str:
    """A Vietnamese name in lower-case ASCII letters: ``"Đặng"`` -> ``"dang"``."""
    name = name.replace("Đ", "D").replace("đ", "d")
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if c.isascii() and c.isalpha()).lower()
