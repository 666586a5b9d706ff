"""Bulk imports: many customers with their addresses, orders, consents and usage events at once.

``steward demo-data`` writes its rows here (SPEC section 11: demo data writes through
``privacy/``). Each row is a mapping of column → value with its id given (`new_ids`). Every
row is validated and normalised with the validators of the single-row use cases (a
customer's details as `privacy.customers.customer_fields`, an address as
`privacy.addresses.address_fields`, an order's items as `privacy.orders.place_order`, a
consent's evidence as `privacy.consents.record_consent`), and a reference — a row's
customer, an order's shipping address (an address of the same customer), an item's order —
must name a row of the same batch. Only then is each table inserted, parents first, in one
statement of many rows. Columns without a validator (ids, times, a new field's column) go
through as given, but only the table's own columns. Bad input raises `InputError` naming
the row and its field (``customers.12.email``), and nothing is written.

Consents naming a partner (``recipient``) or conditional ones (``valid_until``) are recorded
one by one (`privacy.consents.record_consent`), which checks the partner.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Column, Table, func, insert, select, text
from sqlalchemy.orm import Session

from auth.policy.purposes import Purpose
from privacy import validation as v
from privacy.addresses import LINE, address_fields
from privacy.consents import NOTICE_VERSION, POLICY_VERSION
from privacy.customers import SUBJECT, customer_fields
from privacy.errors import InputError
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

Row = dict[str, Any]
_E = TypeVar("_E", bound=enum.StrEnum)

NUMBER = 32
KIND = 64
DETAIL = 500
ONE_BY_ONE = "is recorded one by one (record_consent), not imported"

_CUSTOMERS = table_of(Customer)
_ADDRESSES = table_of(Address)
_ORDERS = table_of(Order)
_ITEMS = table_of(OrderItem)
_CONSENTS = table_of(Consent)
_EVENTS = table_of(UsageEvent)
_COLUMNS = {
    table.name: frozenset(table.c.keys())
    for table in (_CUSTOMERS, _ADDRESSES, _ORDERS, _ITEMS, _CONSENTS, _EVENTS)
}


@dataclass
class Batch:
    """The rows of one import, per table (column → value, ids given)."""

    customers: list[Row] = field(default_factory=list)
    addresses: list[Row] = field(default_factory=list)
    orders: list[Row] = field(default_factory=list)
    order_items: list[Row] = field(default_factory=list)
    consents: list[Row] = field(default_factory=list)
    usage_events: list[Row] = field(default_factory=list)


def import_batch(session: Session, batch: Batch) -> Batch:
    """Validate every row of ``batch``, then insert them, in the caller's transaction.

    Returns:
        The rows as inserted: normalised, as the single-row use cases store them.

    Raises:
        InputError: a row is invalid (its field is named ``<table>.<index>.<field>``) or
            names a row outside the batch; nothing was written.
    """
    customers = [_customer(row, f"customers.{i}.") for i, row in enumerate(batch.customers)]
    countries = {row["id"]: row["country"] for row in customers}
    addresses = [
        _address(row, f"addresses.{i}.", countries) for i, row in enumerate(batch.addresses)
    ]
    owners = {row["id"]: row["customer_id"] for row in addresses}
    order_ids = frozenset(row.get("id") for row in batch.orders)
    items = [_item(row, f"orderItems.{i}.", order_ids) for i, row in enumerate(batch.order_items)]
    totals: dict[int, int] = {}
    for item in items:
        totals[item["order_id"]] = (
            totals.get(item["order_id"], 0) + item["quantity"] * item["unit_price"]
        )
    orders = [
        _order(row, f"orders.{i}.", countries, owners, totals) for i, row in enumerate(batch.orders)
    ]
    consents = [_consent(row, f"consents.{i}.", countries) for i, row in enumerate(batch.consents)]
    events = [
        _event(row, f"usageEvents.{i}.", countries) for i, row in enumerate(batch.usage_events)
    ]
    tables = (
        (_CUSTOMERS, customers),
        (_ADDRESSES, addresses),
        (_ORDERS, orders),
        (_ITEMS, items),
        (_CONSENTS, consents),
        (_EVENTS, events),
    )
    for table, rows in tables:
        if len({row["id"] for row in rows}) != len(rows):
            raise InputError(f"{table.name}.id", f"two rows of {table.name} have the same id")
    for table, rows in tables:
        if rows:
            session.execute(insert(table), rows)
    return Batch(customers, addresses, orders, items, consents, events)


def new_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` unused primary keys of ``table``, ascending, for the rows of a batch."""
    if count == 0:
        return []
    highest: int = session.scalar(select(func.max(table.c.id))) or 0
    if session.get_bind().dialect.name == "postgresql":
        sequence = session.scalar(select(func.pg_get_serial_sequence(table.name, "id")))
        if sequence is not None:
            # Draw from the sequence, so that later inserts relying on it never collide;
            # first move it past rows that someone inserted with explicit ids.
            last = session.scalar(
                text("SELECT pg_sequence_last_value(CAST(:s AS regclass))"), {"s": sequence}
            )
            if highest > (last or 0):
                session.execute(
                    text("SELECT setval(CAST(:s AS regclass), :v)"), {"s": sequence, "v": highest}
                )
            drawn = session.scalars(
                text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)"),
                {"s": sequence, "n": count},
            )
            return sorted(int(value) for value in drawn)
    return list(range(highest + 1, highest + 1 + count))


def existing(session: Session, column: Column[Any], values: Iterable[str]) -> set[str]:
    """Which of ``values`` the database already holds in ``column`` (a unique one: emails,
    order numbers), so that a batch can avoid them."""
    wanted = sorted(values)
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(session.scalars(select(column).where(column.in_(chunk))))
    return found


# --- One row each ------------------------------------------------------------------------------


def _customer(row: Row, prefix: str) -> Row:
    _columns(row, _CUSTOMERS, prefix)
    country = v.country(row.get("country") or "", field=f"{prefix}country")
    checked: Row = {
        **row,
        "country": country,
        "status": _member(CustomerStatus, row.get("status", "ACTIVE"), f"{prefix}status"),
        **customer_fields(row, country, prefix),
    }
    if row.get("subject") is not None:
        checked["subject"] = v.subject(row["subject"], field=f"{prefix}subject", max_length=SUBJECT)
    return checked


def _address(row: Row, prefix: str, countries: Mapping[int, str]) -> Row:
    _columns(row, _ADDRESSES, prefix)
    customer_id = _reference(row, "customer_id", countries, prefix)
    country = v.country(row.get("country") or countries[customer_id], field=f"{prefix}country")
    given = {key: value for key, value in row.items() if key != "country"}
    if given.get("label") is not None:
        given["label"] = AddressLabel(_member(AddressLabel, given["label"], f"{prefix}label"))
    return {**row, "country": country, **address_fields(given, country, prefix)}


def _item(row: Row, prefix: str, orders: frozenset[Any]) -> Row:
    _columns(row, _ITEMS, prefix)
    if row.get("order_id") not in orders:
        raise InputError(f"{prefix}orderId", f"{prefix}orderId names no order of the import")
    v.reject_card_data({f"{prefix}name": row.get("name")})
    return {
        **row,
        "sku": v.identifier(row.get("sku") or "", field=f"{prefix}sku"),
        "name": v.text(row.get("name") or "", field=f"{prefix}name", max_length=LINE),
        "quantity": v.positive_int(row.get("quantity", 0), field=f"{prefix}quantity"),
        "unit_price": v.non_negative_int(row.get("unit_price", -1), field=f"{prefix}unitPrice"),
    }


def _order(
    row: Row,
    prefix: str,
    countries: Mapping[int, str],
    owners: Mapping[int, int],
    totals: Mapping[int, int],
) -> Row:
    _columns(row, _ORDERS, prefix)
    customer_id = _reference(row, "customer_id", countries, prefix)
    total = totals.get(row["id"])
    if total is None:
        raise InputError(f"{prefix}items", f"{prefix}items must hold at least one item")
    if total > v.INT64_MAX or row.get("total_amount") != total:
        raise InputError(f"{prefix}totalAmount", f"{prefix}totalAmount is not its items' total")
    address = row.get("shipping_address_id")
    if address is not None and owners.get(address) != customer_id:
        raise InputError(f"{prefix}shippingAddressId", "no such address of this customer")
    checked: Row = {
        **row,
        "number": v.identifier(row.get("number") or "", field=f"{prefix}number", max_length=NUMBER),
        "status": _member(OrderStatus, row.get("status", "PENDING"), f"{prefix}status"),
        "currency": v.currency(row.get("currency") or "", field=f"{prefix}currency"),
    }
    for attribute, name in (
        ("payment_reference", "paymentReference"),
        ("payment_tracking_code", "paymentTrackingCode"),
    ):
        if row.get(attribute) is not None:
            checked[attribute] = v.identifier(row[attribute], field=f"{prefix}{name}")
    return checked


def _consent(row: Row, prefix: str, countries: Mapping[int, str]) -> Row:
    _columns(row, _CONSENTS, prefix)
    _reference(row, "customer_id", countries, prefix)
    for attribute in ("recipient", "valid_until"):
        if row.get(attribute) is not None:
            raise InputError(f"{prefix}{attribute}", f"a consent with a {attribute} {ONE_BY_ONE}")
    checked: Row = {
        **row,
        "purpose": _member(Purpose, row.get("purpose"), f"{prefix}purpose"),
        "status": _member(ConsentStatus, row.get("status"), f"{prefix}status"),
        "source": _member(ConsentSource, row.get("source"), f"{prefix}source"),
    }
    for attribute, name, length in (
        ("policy_version", "policyVersion", POLICY_VERSION),
        ("notice_version", "noticeVersion", NOTICE_VERSION),
    ):
        if row.get(attribute) is not None:
            checked[attribute] = v.text(row[attribute], field=f"{prefix}{name}", max_length=length)
    if row.get("language") is not None:
        checked["language"] = v.language(row["language"], field=f"{prefix}language")
    return checked


def _event(row: Row, prefix: str, countries: Mapping[int, str]) -> Row:
    _columns(row, _EVENTS, prefix)
    _reference(row, "customer_id", countries, prefix)
    checked: Row = {
        **row,
        "kind": v.identifier(row.get("kind") or "", field=f"{prefix}kind", max_length=KIND),
    }
    if row.get("detail") is not None:
        checked["detail"] = v.text(row["detail"], field=f"{prefix}detail", max_length=DETAIL)
    return checked


# --- Helpers -----------------------------------------------------------------------------------


def _columns(row: Row, table: Table, prefix: str) -> None:
    """Refuse a key that is not a column of ``table``, and a row without an integer id."""
    unknown = row.keys() - _COLUMNS[table.name]
    if unknown:
        key = min(unknown)
        raise InputError(f"{prefix}{key}", f"{prefix}{key} is not a column of {table.name}")
    if not isinstance(row.get("id"), int) or isinstance(row.get("id"), bool):
        raise InputError(f"{prefix}id", f"{prefix}id must be given (new_ids)")


def _reference(row: Row, key: str, rows: Mapping[int, Any], prefix: str) -> int:
    """The id ``row[key]`` names, which must be one of the batch's ``rows``."""
    pk = row.get(key)
    if not isinstance(pk, int) or pk not in rows:
        raise InputError(f"{prefix}{key}", f"{prefix}{key} names no row of the import")
    return pk


def _member(kind: type[_E], value: Any, name: str) -> str:
    """``value`` as the value of one of ``kind``'s members."""
    try:
        return kind(value).value
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InputError(name, f"{name} must be one of {allowed}") from None
