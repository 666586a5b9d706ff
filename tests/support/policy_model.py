"""A model of Steward's policy for the tests: the response an operation must get.

The model reads the stored rows directly and the policy table (`auth.policy.POLICY`), and
computes, for a caller (scopes, purpose, legal request), what every field of an operation
must hold: the stored value, or ``null`` with a redaction and its reason. It re-implements
the row rules in Python on purpose: it is the independent answer the SQL is checked against.

Operations are trees of `Field` and `Fragment` (inline or named); `render` writes them as
GraphQL and `Model.expect` evaluates them.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth.policy import scopes as s
from auth.policy.catalog import DATA_TYPES, FIELDS, POLICY, Cardinality, Kind, Rule
from auth.policy.catalog import Field as CatalogField
from auth.policy.purposes import Purpose
from schema.types import age_band
from store import models
from store.ids import from_global_id, to_global_id
from store.models import CustomerStatus, OrderStatus, PartnerAccess

NO_POLICY = "NO_POLICY"
MISSING_SCOPE = "MISSING_SCOPE"
PURPOSE_NOT_ALLOWED = "PURPOSE_NOT_ALLOWED"
ERASED = "ERASED"
MASKED = "MASKED"

FORMS: dict[tuple[str, Purpose], tuple[str, bool]] = {
    ("Customer.mobilePhone", Purpose.BILLING): ("partial", False),
    ("Customer.dateOfBirth", Purpose.CUSTOMER_SUPPORT): ("generalised", False),
    ("Address.postalCode", Purpose.ANALYTICS): ("generalised", False),
    ("Customer.email", Purpose.MARKETING): ("pseudonym", True),
}
"""SPEC section 13's table, restated: (field, purpose) → (form, for partners only)."""

BULLET = "\u2022"
PSEUDONYM_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")

ERASABLE = frozenset(coordinate for coordinate, each in FIELDS.items() if each.erasable)
"""Personal values that erasure blanks: null on an erased customer is reported as ERASED."""

READ_SCOPES = (
    s.CUSTOMERS_READ,
    s.CUSTOMERS_READ_IDENTITY,
    s.CUSTOMERS_READ_CONTACT,
    s.ADDRESSES_READ,
    s.ORDERS_READ,
    s.ORDERS_READ_PAYMENT,
    s.CONSENTS_READ,
    s.USAGE_READ,
    s.AUDIT_READ,
    s.PRIVACY_ADMIN,
)
"""The scopes that reading data can need."""

FULFILLMENT = frozenset({OrderStatus.PAID.value, OrderStatus.SHIPPED.value})

NODE_SCOPES = {
    "Customer": s.CUSTOMERS_READ,
    "Order": s.ORDERS_READ,
    "Address": s.ADDRESSES_READ,
    "Consent": s.CONSENTS_READ,
    "UsageEvent": s.USAGE_READ,
    "AccessRecord": s.AUDIT_READ,
    "LegalRequest": s.PRIVACY_ADMIN,
}
"""What ``node(id:)`` needs per type (SPEC section 4: its type's read scope)."""


# --- Operations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A field selection: ``alias: name(arguments) { children }``."""

    name: str
    children: tuple[Selection, ...] = ()
    alias: str | None = None
    arguments: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> str:
        """The key of the field in the response."""
        return self.alias or self.name

    def argument(self, name: str, default: Any = None) -> Any:
        return dict(self.arguments).get(name, default)


@dataclass(frozen=True)
class Fragment:
    """``... on Type { children }`` (inline when ``name`` is None) or ``...Name``."""

    on: str | None
    children: tuple[Selection, ...]
    name: str | None = None


Selection = Field | Fragment


def render(selections: Sequence[Selection], *, operation: str = "query Probe") -> str:
    """The operation as GraphQL text, with its named fragments after it."""
    fragments: dict[str, str] = {}
    body = _render(selections, fragments)
    return f"{operation} {body}" + "".join(fragments.values())


def _render(selections: Sequence[Selection], fragments: dict[str, str]) -> str:
    parts: list[str] = []
    for selection in selections:
        if isinstance(selection, Field):
            text = f"{selection.alias}: {selection.name}" if selection.alias else selection.name
            if selection.arguments:
                text += "(" + ", ".join(f"{k}: {_literal(v)}" for k, v in selection.arguments) + ")"
            if selection.children:
                text += " " + _render(selection.children, fragments)
            parts.append(text)
        elif selection.name is None:
            on = f" on {selection.on}" if selection.on else ""
            parts.append(f"...{on} {_render(selection.children, fragments)}")
        else:
            body = _render(selection.children, fragments)
            fragments[selection.name] = f"\nfragment {selection.name} on {selection.on} {body}"
            parts.append(f"...{selection.name}")
    return "{ " + " ".join(parts) + " }"


def _literal(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    return json.dumps(value)


# --- Stored data ------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """Every stored row, read straight from the database."""

    customers: dict[int, models.Customer]
    addresses: dict[int, models.Address]
    orders: dict[int, models.Order]
    items: dict[int, models.OrderItem]
    consents: dict[int, models.Consent]
    usage_events: dict[int, models.UsageEvent]
    access_records: dict[int, models.AccessRecord]
    legal_requests: dict[int, models.LegalRequest]
    legal_customers: dict[int, set[int]]
    partners: dict[int, models.Partner] = field(default_factory=dict)
    assignments: dict[int, models.OrderAssignment] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> Snapshot:
        """Read everything afresh (outside any transaction the session held)."""
        session.rollback()

        def rows(model: Any) -> dict[int, Any]:
            return {row.id: row for row in session.scalars(select(model))}

        snapshot = cls(
            customers=rows(models.Customer),
            addresses=rows(models.Address),
            orders=rows(models.Order),
            items=rows(models.OrderItem),
            consents=rows(models.Consent),
            usage_events=rows(models.UsageEvent),
            access_records=rows(models.AccessRecord),
            legal_requests=rows(models.LegalRequest),
            legal_customers={},
            partners=rows(models.Partner),
            assignments=rows(models.OrderAssignment),
        )
        for link in session.scalars(select(models.LegalRequestCustomer)):
            snapshot.legal_customers.setdefault(link.legal_request_id, set()).add(link.customer_id)
        session.expunge_all()
        session.rollback()
        return snapshot


# --- The caller and the expected response ----------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who asks: the token's scopes, the declared purpose, the legal request it runs under,
    and the client id when the client is a registered partner (a third party)."""

    scopes: frozenset[str]
    purpose: Purpose | None
    legal_request_id: int | None = None
    partner: str | None = None

    @property
    def scope(self) -> str:
        """The token's ``scope`` claim, with the purpose's scope."""
        granted = set(self.scopes)
        if self.purpose is not None:
            granted.add(self.purpose.scope)
        return " ".join(sorted(granted))


@dataclass
class Expected:
    """What a response must hold."""

    data: dict[str, Any]
    errors: set[tuple[tuple[str | int, ...], str]]
    hidden: Counter[tuple[str, str]]
    reached: Counter[str] = field(default_factory=Counter)
    """Every coordinate the operation reached, visible or not."""
    forms: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    """Coordinate → the form it was disclosed in, and the purposes that unlock its value."""

    def redactions(self) -> list[dict[str, Any]]:
        """``extensions.redactions`` as SPEC sections 4 and 13 define it, in a canonical order."""
        entries: list[dict[str, Any]] = []
        for (coordinate, reason), count in self.hidden.items():
            rule = rule_of(coordinate)
            if reason == MASKED and rule is not None:
                form, unlocking = self.forms[coordinate]
                entries.append(
                    {
                        "field": coordinate,
                        "reason": reason,
                        "form": form,
                        "count": count,
                        "needs": {"scopes": list(rule.scopes), "purposes": unlocking},
                    }
                )
                continue
            needs: dict[str, Any] | None = None
            if rule is not None and reason != ERASED:
                needs = {"scopes": list(rule.scopes), "purposes": purpose_ids(rule)}
            entries.append({"field": coordinate, "reason": reason, "count": count, "needs": needs})
        return canonical(entries)


def canonical(redactions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Redactions in a fixed order, for comparison."""
    return sorted(redactions, key=lambda entry: (entry["field"], entry["reason"]))


def errors_of(body: dict[str, Any]) -> set[tuple[tuple[str | int, ...], str]]:
    """The (path, code) of every error of a response."""
    return {
        (tuple(error.get("path") or ()), error.get("extensions", {}).get("code", ""))
        for error in body.get("errors", [])
    }


def rule_of(coordinate: str) -> Rule | None:
    """The table's rule for a coordinate, through ``Type.*``; None when it has none."""
    return POLICY.get(coordinate) or POLICY.get(coordinate.partition(".")[0] + ".*")


def purpose_ids(rule: Rule) -> list[str] | None:
    """The rule's purposes as the table orders them (the `Purpose` enum's order)."""
    if rule.purposes is None:
        return None
    return [purpose.value for purpose in Purpose if purpose in rule.purposes]


def hidden_reason(coordinate: str, caller: Caller) -> str | None:
    """Why the policy hides ``coordinate`` from ``caller``; None when it may read it."""
    rule = rule_of(coordinate)
    if rule is None:
        return NO_POLICY
    if not set(rule.scopes) <= caller.scopes:
        return MISSING_SCOPE
    if rule.purposes is not None and caller.purpose not in rule.purposes:
        return PURPOSE_NOT_ALLOWED
    return None


def form_of(coordinate: str, caller: Caller) -> str | None:
    """The form ``caller`` gets ``coordinate`` in (SPEC section 13), if any."""
    rule = rule_of(coordinate)
    if rule is None or not set(rule.scopes) <= caller.scopes or caller.purpose is None:
        return None
    found = FORMS.get((coordinate, caller.purpose))
    if found is None or (found[1] and caller.partner is None):
        return None
    return found[0]


def unlocking(coordinate: str, caller: Caller) -> list[str]:
    """The purposes under which ``caller`` would read ``coordinate``'s value itself."""
    rule = rule_of(coordinate)
    assert rule is not None
    return [
        purpose.value
        for purpose in Purpose
        if (rule.purposes is None or purpose in rule.purposes)
        and form_of(coordinate, _as(caller, purpose)) is None
    ]


def _as(caller: Caller, purpose: Purpose) -> Caller:
    return Caller(caller.scopes, purpose, caller.legal_request_id, caller.partner)


class Pseudonym:
    """Expected where a pseudonym is due: any 22 characters of base64url but the clear value
    (the key is the server's; the tests of stability compare responses)."""

    def __init__(self, clear: str) -> None:
        self.clear = clear

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, str)
            and len(other) == 22
            and set(other) <= PSEUDONYM_ALPHABET
            and other != self.clear
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Pseudonym(<22 characters>)"


def in_form(form: str, coordinate: str, value: Any) -> Any:
    """``value`` (as the response carries it) in ``form``: the model's own statement of the
    forms of the v5 table."""
    if value is None:
        return None
    if form == "pseudonym":
        return Pseudonym(value)
    if form == "partial":  # phones
        return (
            BULLET * max(len(value) - 4, 0) + value[-4:] if len(value) > 4 else BULLET * len(value)
        )
    if coordinate == "Customer.dateOfBirth":
        return f"{value[:4]}-01-01"
    return value[:3]  # a postal code


def looks_formed(form: str, value: Any) -> bool:
    """Whether a response's ``value`` can be a value in ``form`` (never a clear one)."""
    if value is None:
        return True
    if form == "pseudonym":
        return isinstance(value, str) and Pseudonym("") == value
    if form == "partial":
        return isinstance(value, str) and (
            len(value) <= 4 or value[:-4] == BULLET * (len(value) - 4)
        )
    return isinstance(value, str) and (value.endswith("-01-01") or len(value) <= 3)


# --- Values ---------------------------------------------------------------------------------


def json_value(value: Any) -> Any:
    """A stored value as the response carries it."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _attribute(name: str) -> Callable[[Any], Any]:
    return lambda row: json_value(getattr(row, name))


def _id(type_name: str) -> Callable[[Any], Any]:
    return lambda row: to_global_id(type_name, row.id)


def _age_band(customer: models.Customer) -> str | None:
    if customer.date_of_birth is None:
        return None
    return age_band(customer.date_of_birth, dt.datetime.now(dt.UTC).date())


def _reader(type_name: str, field: CatalogField) -> Callable[[Any], Any]:
    """How the catalog's scalar ``field`` reads its stored value, as the response carries it."""
    if field.kind is Kind.ID_LIST:
        return lambda _row: None  # filled by the model (row rules, a join table)
    column = field.column
    if column is None:  # Disclosure.orders: the seeded disclosures name no orders
        return lambda _row: []
    match field.kind:
        case Kind.GID:
            return _id(type_name)
        case Kind.AGE_BAND:
            return _age_band
        case Kind.INT_TEXT:
            return lambda row: str(getattr(row, column))
        case Kind.UPPER:  # the enum Purpose
            return lambda row: getattr(row, column).upper()
    return _attribute(column)


SCALARS: dict[str, Callable[[Any], Any]] = {
    f"{type_name}.{each.name}": _reader(type_name, each)
    for type_name, data_type in DATA_TYPES.items()
    for each in data_type.fields
    if each.relation is None
}
"""How each scalar field of a data type reads its stored value (the catalog's columns)."""

OBJECTS = {
    f"{type_name}.{each.name}": each.relation.target
    + ("Connection" if each.relation.cardinality is Cardinality.CONNECTION else "")
    for type_name, data_type in DATA_TYPES.items()
    for each in data_type.fields
    if each.relation is not None
}
"""The object fields of data types and the type they lead to."""


# --- The model ---------------------------------------------------------------------------------


def _status(consent: models.Consent) -> str:
    """A consent record's status now: a GRANTED one past its ``valid_until`` is withdrawn."""
    until = consent.valid_until
    if until is not None and until <= dt.datetime.now(dt.UTC):
        return "WITHDRAWN"
    return str(consent.status)


class Model:
    """The response the policy demands for ``caller``, given the stored ``data``."""

    def __init__(self, data: Snapshot, caller: Caller) -> None:
        self.data = data
        self.caller = caller
        self.visible_customers = {
            pk for pk, customer in data.customers.items() if self._customer_exists(customer)
        }
        self.visible_orders = {
            pk
            for pk, order in data.orders.items()
            if order.customer_id in self.visible_customers
            and (caller.purpose is not Purpose.ORDER_FULFILLMENT or order.status in FULFILLMENT)
            and (not self.assigned_only or self._assigned(order))
        }
        if self.assigned_only:
            # the customers of those orders only; of addresses, those orders' shipping ones
            self.visible_customers &= {data.orders[pk].customer_id for pk in self.visible_orders}
        self.shipping = {data.orders[pk].shipping_address_id for pk in self.visible_orders}

    # Row rules (SPEC section 4), restated in Python.

    @property
    def assigned_only(self) -> bool:
        """The caller is a partner with assigned access, and the law does not rule (SPEC 13)."""
        partner = self.caller.partner
        return (
            partner is not None
            and self.caller.purpose is not Purpose.LEGAL_ORDER
            and any(
                p.client_id == partner and p.access == PartnerAccess.ASSIGNED
                for p in self.data.partners.values()
            )
        )

    def _assigned(self, order: models.Order) -> bool:
        """Whether an assignment of ``order`` to the caller is active now."""
        now = dt.datetime.now(dt.UTC)
        left = order.left_fulfillment_at
        if left is not None and left <= now - dt.timedelta(days=7):
            return False
        return any(
            a.order_id == order.id
            and a.partner == self.caller.partner
            and a.unassigned_at is None
            and (a.until is None or a.until > now)
            for a in self.data.assignments.values()
        )

    def address_exists(self, address: models.Address) -> bool:
        """Whether an address of a visible customer exists for the caller."""
        return not self.assigned_only or address.id in self.shipping

    def _customer_exists(self, customer: models.Customer) -> bool:
        if (
            self.caller.partner is not None
            and self.caller.purpose is not Purpose.LEGAL_ORDER
            and self.partner_consent(customer.id, self.caller.partner) != "GRANTED"  # type: ignore[arg-type]
        ):
            return False
        return self._purpose_admits(customer)

    def _purpose_admits(self, customer: models.Customer) -> bool:
        purpose = self.caller.purpose
        if purpose is not None and purpose.consent_required:
            return self.current_consent(customer.id, purpose) == "GRANTED"  # type: ignore[arg-type]
        if purpose is Purpose.ORDER_FULFILLMENT:
            return any(
                order.customer_id == customer.id and order.status in FULFILLMENT
                for order in self.data.orders.values()
            )
        if purpose is Purpose.LEGAL_ORDER:
            named = self.data.legal_customers.get(self.caller.legal_request_id or 0, set())
            return customer.id in named
        return True

    def current_consent(self, customer_id: int, purpose: Purpose) -> str | None:
        """The status of the customer's latest consent record for ``purpose``."""
        records = [
            c
            for c in self.data.consents.values()
            if c.customer_id == customer_id and c.purpose == purpose.value
        ]
        return _status(max(records, key=lambda c: c.id)) if records else None  # type: ignore[arg-type,return-value]

    def partner_consent(self, customer_id: int, partner: str) -> str | None:
        """The status of the customer's latest third_party_sharing record for ``partner`` or
        for every partner (recipient null)."""
        records = [
            c
            for c in self.data.consents.values()
            if c.customer_id == customer_id
            and c.purpose == Purpose.THIRD_PARTY_SHARING.value
            and c.recipient in (partner, None)
        ]
        return _status(max(records, key=lambda c: c.id)) if records else None  # type: ignore[arg-type,return-value]

    def customers_page(self, first: int) -> tuple[list[models.Customer], int]:
        rows = [self.data.customers[pk] for pk in sorted(self.visible_customers)]
        return rows[:first], len(rows)

    def orders_page(
        self, first: int, customer_id: int | None = None
    ) -> tuple[list[models.Order], int]:
        rows = sorted(
            (
                self.data.orders[pk]
                for pk in self.visible_orders
                if customer_id is None or self.data.orders[pk].customer_id == customer_id
            ),
            key=lambda order: (order.placed_at, order.id),
            reverse=True,
        )
        return rows[:first], len(rows)

    def audit_page(self, first: int) -> tuple[list[models.AccessRecord], int]:
        rows = sorted(
            self.data.access_records.values(),
            key=lambda record: (record.occurred_at, record.id),
            reverse=True,
        )
        return rows[:first], len(rows)

    def lookup(self, global_id: str) -> tuple[str, Any] | None:
        """``node(id:)``'s type and row, if the row exists for the caller."""
        type_name, pk = from_global_id(global_id)
        if type_name == "Customer":
            return (type_name, self.data.customers[pk]) if pk in self.visible_customers else None
        if type_name == "Order":
            return (type_name, self.data.orders[pk]) if pk in self.visible_orders else None
        tables: dict[str, dict[int, Any]] = {
            "Address": self.data.addresses,
            "Consent": self.data.consents,
            "UsageEvent": self.data.usage_events,
            "AccessRecord": self.data.access_records,
            "LegalRequest": self.data.legal_requests,
        }
        table = tables[type_name]
        row = table.get(pk)
        if row is None:
            return None
        owner = getattr(row, "customer_id", None)
        if owner is not None and owner not in self.visible_customers:
            return None
        if type_name == "Address" and not self.address_exists(row):
            return None
        return type_name, row

    # Evaluation.

    def expect(self, selections: Sequence[Selection]) -> Expected:
        """The response ``selections`` (a query) must get."""
        self.expected = Expected(data={}, errors=set(), hidden=Counter())
        for selection in flatten(selections, "Query"):
            self.expected.data[selection.key] = self._root(selection)
        return self.expected

    def _root(self, selection: Field) -> Any:
        name = selection.name
        first = selection.argument("first", 10)
        if name == "__typename":
            return "Query"
        needs = {
            "customers": s.CUSTOMERS_READ,
            "customer": s.CUSTOMERS_READ,
            "orders": s.ORDERS_READ,
            "order": s.ORDERS_READ,
            "auditLog": s.AUDIT_READ,
        }
        found: str | None = None
        if name == "node":
            found = self._node_type(selection.argument("id"))
            if found is None:
                return None
            scope = NODE_SCOPES[found]
        else:
            scope = needs[name]
        if scope not in self.caller.scopes:
            self.expected.errors.add(((selection.key,), "FORBIDDEN"))
            return None
        if name == "customers":
            return self._connection("Customer", *self.customers_page(first), selection)
        if name == "orders":
            return self._connection("Order", *self.orders_page(first), selection)
        if name == "auditLog":
            return self._connection("AccessRecord", *self.audit_page(first), selection)
        if name == "node" and hidden_reason(f"{found}.id", self.caller) is not None:
            # An object whose id the caller may not read does not exist for it; decided before
            # the lookup, so that the answer does not tell whether the row exists.
            self._hide(f"{found}.id")
            return None
        if name in ("customer", "order", "node"):
            found_row = self.lookup(selection.argument("id"))
            if found_row is None or (name != "node" and found_row[0] != name.capitalize()):
                return None
            type_name, row = found_row
            return self._object(type_name, row, selection.children)
        raise AssertionError(f"the model does not know Query.{name}")

    @staticmethod
    def _node_type(global_id: str) -> str | None:
        type_name, _ = from_global_id(global_id)
        return type_name if type_name in NODE_SCOPES else None

    def _connection(
        self, type_name: str, rows: list[Any], total: int, selection: Field
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for child in flatten(selection.children, f"{type_name}Connection"):
            if child.name == "totalCount":
                result[child.key] = total
            elif child.name == "edges":
                result[child.key] = [
                    {
                        edge.key: self._object(type_name, row, edge.children)
                        if edge.name == "node"
                        else f"{type_name}Edge"
                        for edge in flatten(child.children, f"{type_name}Edge")
                    }
                    for row in rows
                ]
            elif child.name == "__typename":
                result[child.key] = f"{type_name}Connection"
            else:
                raise AssertionError(f"the model does not know Connection.{child.name}")
        return result

    def _object(self, type_name: str, row: Any, selections: Sequence[Selection]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for selection in flatten(selections, type_name):
            result[selection.key] = self._field(type_name, row, selection)
        return result

    def _hide(self, coordinate: str, reason: str | None = None) -> None:
        self.expected.hidden[coordinate, reason or hidden_reason(coordinate, self.caller)] += 1  # type: ignore[index]

    def _field(self, type_name: str, row: Any, selection: Field) -> Any:
        if selection.name == "__typename":
            return type_name
        coordinate = f"{type_name}.{selection.name}"
        self.expected.reached[coordinate] += 1
        form = form_of(coordinate, self.caller)
        if form is not None:
            self.expected.hidden[coordinate, MASKED] += 1
            self.expected.forms[coordinate] = (form, unlocking(coordinate, self.caller))
            value = SCALARS[coordinate](row)
            if value is None and coordinate in ERASABLE and row.status == CustomerStatus.ERASED:
                self.expected.hidden[coordinate, ERASED] += 1
            return in_form(form, coordinate, value)
        if hidden_reason(coordinate, self.caller) is not None:
            self._hide(coordinate)
            return None
        if coordinate in OBJECTS:
            return self._related(coordinate, row, selection)
        if coordinate in ("LegalRequest.customerIds", "AccessRecord.customerIds"):
            # Lists of customer ids obey the row rules (SPEC section 7).
            named = (
                sorted(self.data.legal_customers.get(row.id, ()))
                if type_name == "LegalRequest"
                else row.customer_ids
            )
            return [to_global_id("Customer", pk) for pk in named if pk in self.visible_customers]
        if coordinate not in SCALARS:
            raise AssertionError(f"the model does not know how {coordinate} reads its value")
        value = SCALARS[coordinate](row)
        if value is None and coordinate in ERASABLE and row.status == CustomerStatus.ERASED:
            self.expected.hidden[coordinate, ERASED] += 1
        return value

    def _related(self, coordinate: str, row: Any, selection: Field) -> Any:
        target = OBJECTS[coordinate]
        data = self.data
        if coordinate == "Customer.orders":
            rows, total = self.orders_page(selection.argument("first", 10), row.id)
            return self._connection("Order", rows, total, selection)
        children: list[Any] | Any
        if coordinate == "Order.shippingAddress":
            address = data.addresses.get(row.shipping_address_id)
            if address is None or address.customer_id not in self.visible_customers:
                return None
            return self._object(target, address, selection.children)
        if coordinate == "Order.customer":
            if row.customer_id not in self.visible_customers:
                return None
            return self._object(target, data.customers[row.customer_id], selection.children)
        if coordinate == "Disclosure.recipient":
            partner = next(
                (p for p in data.partners.values() if p.client_id == row.recipient), None
            )
            return None if partner is None else self._object(target, partner, selection.children)
        if coordinate == "Order.items":
            children = sorted(
                (item for item in data.items.values() if item.order_id == row.id),
                key=lambda item: item.id,
            )
        elif coordinate == "Customer.addresses":
            children = sorted(
                (
                    a
                    for a in data.addresses.values()
                    if a.customer_id == row.id and self.address_exists(a)
                ),
                key=lambda a: a.id,
            )
        elif coordinate == "Customer.consents":
            children = sorted(
                (c for c in data.consents.values() if c.customer_id == row.id),
                key=lambda c: c.id,
            )
        elif coordinate == "Customer.usageEvents":
            children = sorted(
                (e for e in data.usage_events.values() if e.customer_id == row.id),
                key=lambda e: (e.occurred_at, e.id),
            )
        elif coordinate == "Customer.disclosures":
            children = sorted(
                (
                    r
                    for r in data.access_records.values()
                    if row.id in r.customer_ids and r.recipient is not None
                ),
                key=lambda r: (r.occurred_at, r.id),
                reverse=True,
            )
        else:  # Customer.accessLog
            children = sorted(
                (r for r in data.access_records.values() if row.id in r.customer_ids),
                key=lambda r: (r.occurred_at, r.id),
                reverse=True,
            )
        return [self._object(target, child, selection.children) for child in children]


IMPLEMENTS_NODE = frozenset(DATA_TYPES) - {"OrderItem", "Disclosure", "Partner"}


def flatten(selections: Sequence[Selection], type_name: str) -> list[Field]:
    """The fields that apply to an object of ``type_name``, fragments spread."""
    fields: list[Field] = []
    for selection in selections:
        if isinstance(selection, Field):
            fields.append(selection)
        elif selection.on in (None, type_name) or (
            selection.on == "Node" and type_name in IMPLEMENTS_NODE
        ):
            fields.extend(flatten(selection.children, type_name))
    return fields


def check(body: dict[str, Any], expected: Expected, *, case: str = "") -> None:
    """Assert a response is exactly what the model expects: data, errors, redactions."""
    data = body.get("data")
    assert data == expected.data, f"{case}: {_diff(data, expected.data)}"
    assert errors_of(body) == expected.errors, f"{case}: {body.get('errors')}"
    actual = canonical(body.get("extensions", {}).get("redactions", []))
    assert actual == expected.redactions(), case


def _diff(actual: Any, expected: Any, path: str = "") -> str:
    """The first place two JSON values differ, for a readable failure."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        for key in sorted(set(actual) | set(expected)):
            if actual.get(key, "<absent>") != expected.get(key, "<absent>"):
                return _diff(
                    actual.get(key, "<absent>"), expected.get(key, "<absent>"), f"{path}.{key}"
                )
    if isinstance(actual, list) and isinstance(expected, list) and len(actual) == len(expected):
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            if a != e:
                return _diff(a, e, f"{path}[{i}]")
    return f"at {path or '.'}: got {actual!r}, expected {expected!r}"


# --- A small fixed dataset ------------------------------------------------------------------

T0 = dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC)
OFFICER = "privacy-officer"
"""The subject that created the seeded legal request."""
LEGAL_REFERENCE = "LR-2025-0042"
COURIER = "courier-7"
"""A seeded partner: ava (all partners) and binh (this one) share their data with it."""
AGENCY = "agency-3"
"""A seeded partner: ava and chi (all partners) share their data with it."""


@dataclass(frozen=True)
class Seeded:
    """The global ids of the seeded rows, by name."""

    ids: dict[str, str]
    legal_reference: str
    legal_request_id: int

    def __getitem__(self, name: str) -> str:
        return self.ids[name]

    def pk(self, name: str) -> int:
        return from_global_id(self.ids[name])[1]


DISPATCH = "dispatch-9"
"""A partner with assigned access (SPEC section 13), added by `seed_assignments`."""
IDLE = "idle-9"
"""A partner with assigned access and no assignment, added by `seed_assignments`."""


def seed_assignments(session: Session, data: Seeded) -> None:
    """Add partners with assigned access to the seeded world, with its orders assigned.

    `DISPATCH` has ava's PAID order (active), binh's SHIPPED order (active, but binh shares
    with the courier only), chi's INSTALLED order (active: it left fulfillment two days ago)
    and chi's CANCELLED order (unassigned); ava shares with it until a time now past (expired:
    withdrawn), then again for good. `IDLE` has nothing assigned.
    """
    now = dt.datetime.now(dt.UTC)
    with session.begin():
        for client_id in (DISPATCH, IDLE):
            session.add(models.Partner(client_id=client_id, name=client_id))
        for name, unassigned in (
            ("ava_paid", None),
            ("binh_shipped", None),
            ("chi_installed", None),
            ("chi_cancelled", now),
        ):
            session.add(
                models.OrderAssignment(
                    order_id=data.pk(name),
                    partner=DISPATCH,
                    created_by="t",
                    unassigned_at=unassigned,
                )
            )
        installed = session.get(models.Order, data.pk("chi_installed"))
        assert installed is not None
        installed.left_fulfillment_at = now - dt.timedelta(days=2)
        for until in (now - dt.timedelta(days=1), None):
            session.add(
                models.Consent(
                    customer_id=data.pk("chi"),
                    purpose="third_party_sharing",
                    status="GRANTED",
                    recorded_at=_at(10),
                    source="PAPER",
                    recipient=DISPATCH,
                    valid_until=until,
                )
            )
        session.add(
            models.Consent(
                customer_id=data.pk("ava"),
                purpose="third_party_sharing",
                status="GRANTED",
                recorded_at=_at(10),
                source="PAPER",
                recipient=DISPATCH,
                valid_until=now - dt.timedelta(hours=1),
            )
        )
    session.expunge_all()


def _at(days: float) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


def seed(session: Session) -> Seeded:
    """Four customers that exercise every rule; each purpose sees a different subset.

    - ``ava`` (IR): consented to analytics and marketing; orders PAID and PENDING; two
      addresses; usage; an access record; named by the legal request.
    - ``binh`` (VN): marketing granted then withdrawn, analytics withdrawn then re-granted;
      a SHIPPED order; no landline.
    - ``chi`` (VN): never asked for consent; orders CANCELLED and INSTALLED; no address, no
      date of birth.
    - ``dara`` (IR): erased (blank personal fields, every consent withdrawn); an INSTALLED
      order kept for accounting; named by the legal request.

    Who exists: S, B, X all four; F ava and binh (orders PAID, SHIPPED only); A ava and binh;
    M ava; L ava and dara. Partners (`COURIER`, `AGENCY`) see, on top of that, the customers who
    share with them: the courier ava and binh, the agency ava and chi (under L: as L).
    """
    ids: dict[str, Any] = {}

    def add(name: str, row: Any) -> Any:
        session.add(row)
        session.flush()
        ids[name] = row
        return row

    with session.begin():
        ava = add(
            "ava",
            models.Customer(
                subject="ava-subject",
                country="IR",
                preferred_language="fa-IR",
                created_at=_at(0),
                updated_at=_at(1),
                first_name="آوا",
                last_name="کریمی",
                date_of_birth=dt.date(1990, 5, 17),
                email="ava.karimi@example.ir",
                mobile_phone="+989121234567",
                landline_phone="+982188776655",
            ),
        )
        binh = add(
            "binh",
            models.Customer(
                country="VN",
                preferred_language="vi-VN",
                created_at=_at(2),
                updated_at=_at(2),
                first_name="Bình",
                last_name="Nguyễn",
                date_of_birth=dt.date(2001, 11, 3),
                email="binh.nguyen@example.vn",
                mobile_phone="+84912345678",
            ),
        )
        chi = add(
            "chi",
            models.Customer(
                country="VN",
                preferred_language="vi-VN",
                created_at=_at(3),
                updated_at=_at(4),
                first_name="Chi",
                last_name="Trần",
                email="chi.tran@example.vn",
                mobile_phone="+84987654321",
                landline_phone="+842838123456",
            ),
        )
        dara = add(
            "dara",
            models.Customer(
                status=CustomerStatus.ERASED,
                country="IR",
                preferred_language="fa-IR",
                created_at=_at(1),
                updated_at=_at(9),
                erased_at=_at(9),
                erasure_reason="customer request",
            ),
        )
        home = add(
            "ava_home",
            models.Address(
                customer_id=ava.id,
                label="HOME",
                line1="خیابان ولیعصر، پلاک ۱۲",
                line2="واحد ۳",
                city="تهران",
                region="تهران",
                postal_code="1968913511",
                country="IR",
                latitude=35.7219,
                longitude=51.4097,
                is_default=True,
            ),
        )
        add(
            "ava_site",
            models.Address(
                customer_id=ava.id,
                label="INSTALLATION_SITE",
                line1="جاده کرج، کیلومتر ۸",
                city="کرج",
                region="البرز",
                postal_code="3149968111",
                country="IR",
            ),
        )
        binh_home = add(
            "binh_home",
            models.Address(
                customer_id=binh.id,
                label="HOME",
                line1="12 Lê Lợi",
                city="Hồ Chí Minh",
                postal_code="700000",
                country="VN",
                latitude=10.7769,
                longitude=106.7009,
                is_default=True,
            ),
        )
        orders = [
            ("ava_paid", ava, "PAID", 5, home.id, "PAY-881", "TRK-1", [("PV-450", 2, 120)]),
            ("ava_pending", ava, "PENDING", 6, None, None, None, [("INV-5K", 1, 900)]),
            (
                "binh_shipped",
                binh,
                "SHIPPED",
                4,
                binh_home.id,
                "PAY-772",
                "TRK-2",
                [("BAT-10", 1, 5)],
            ),
            ("chi_cancelled", chi, "CANCELLED", 3, None, "PAY-663", None, [("CBL-1", 3, 7)]),
            ("chi_installed", chi, "INSTALLED", 7, None, "PAY-664", "TRK-4", [("MTR-1", 1, 40)]),
            (
                "dara_installed",
                dara,
                "INSTALLED",
                2,
                None,
                "PAY-555",
                "TRK-5",
                [("PV-450", 4, 110)],
            ),
        ]
        for number, (name, customer, status, day, shipping, payment, tracking, lines) in enumerate(
            orders, start=1
        ):
            currency = "IRR" if customer.country == "IR" else "VND"
            order = add(
                name,
                models.Order(
                    customer_id=customer.id,
                    number=f"SO-2025-{number:04d}",
                    status=status,
                    placed_at=_at(day),
                    total_amount=sum(quantity * price for _, quantity, price in lines) * 1000,
                    currency=currency,
                    shipping_address_id=shipping,
                    payment_reference=payment,
                    payment_tracking_code=tracking,
                ),
            )
            for sku, quantity, price in lines:
                session.add(
                    models.OrderItem(
                        order_id=order.id,
                        sku=sku,
                        name=f"{sku} item",
                        quantity=quantity,
                        unit_price=price * 1000,
                    )
                )
            session.add(
                models.OrderItem(
                    order_id=order.id, sku="SVC-1", name="Installation", quantity=1, unit_price=0
                )
            )
        consents: list[tuple[Any, ...]] = [
            ("ava_analytics", ava, "analytics", "GRANTED", 1),
            ("ava_marketing", ava, "marketing", "GRANTED", 1),
            ("binh_marketing", binh, "marketing", "GRANTED", 2),
            ("binh_analytics", binh, "analytics", "WITHDRAWN", 2),
            ("binh_marketing_withdrawn", binh, "marketing", "WITHDRAWN", 3),
            ("binh_analytics_again", binh, "analytics", "GRANTED", 4),
            ("dara_analytics", dara, "analytics", "WITHDRAWN", 9),
            ("dara_marketing", dara, "marketing", "WITHDRAWN", 9),
            # Partners: ava shares with all of them, binh with the courier only, chi with
            # all but the courier (a later withdrawal for it), dara with none (erased).
            ("ava_sharing", ava, "third_party_sharing", "GRANTED", 1, None),
            ("binh_sharing_courier", binh, "third_party_sharing", "GRANTED", 2, COURIER),
            ("chi_sharing", chi, "third_party_sharing", "GRANTED", 3, None),
            ("chi_sharing_not_courier", chi, "third_party_sharing", "WITHDRAWN", 5, COURIER),
            ("dara_sharing", dara, "third_party_sharing", "WITHDRAWN", 9, None),
        ]
        for client_id, name in (
            (COURIER, "Tehran Express Couriers"),
            (AGENCY, "Mekong Marketing Agency"),
        ):
            session.add(
                models.Partner(client_id=client_id, name=name, access=PartnerAccess.CONSENTED)
            )
        for name, customer, purpose, status, day, *recipient in consents:
            assert isinstance(customer, models.Customer)
            assert customer.id is not None
            add(
                name,
                models.Consent(
                    customer_id=customer.id,
                    purpose=str(purpose),
                    status=str(status),
                    recorded_at=_at(int(str(day))),
                    source="WEB",
                    policy_version="2025-01",
                    recipient=str(recipient[0]) if recipient and recipient[0] else None,
                ),
            )
        for name, customer, day, kind in [
            ("ava_login", ava, 5, "login"),
            ("ava_tracking", ava, 6, "order_tracking"),
            ("binh_login", binh, 4, "login"),
            ("chi_login", chi, 3, "login"),
        ]:
            add(
                name,
                models.UsageEvent(
                    customer_id=customer.id, occurred_at=_at(day), kind=kind, detail=f"{kind} web"
                ),
            )
        record = add(
            "ava_read",
            models.AccessRecord(
                occurred_at=_at(8),
                client_id="crm",
                subject="agent-7",
                purpose="customer_support",
                operation_name="Lookup",
                customer_ids=[ava.id],
                fields=["Customer.email", "Customer.mobilePhone"],
            ),
        )
        session.add(models.AccessRecordCustomer(access_record_id=record.id, customer_id=ava.id))
        disclosed = add(
            "ava_disclosed",
            models.AccessRecord(
                occurred_at=_at(8.5),
                client_id=COURIER,
                subject=COURIER,
                purpose="order_fulfillment",
                operation_name="Deliveries",
                customer_ids=[ava.id],
                fields=["Address.line1", "Customer.firstName", "Query.orders"],
                recipient=COURIER,
            ),
        )
        session.add(models.AccessRecordCustomer(access_record_id=disclosed.id, customer_id=ava.id))
        legal = add(
            "legal",
            models.LegalRequest(
                reference=LEGAL_REFERENCE,
                authority="Tehran Public Prosecutor",
                order_document="DOC-1404-117",
                created_by=OFFICER,
                valid_from=T0,
                valid_until=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
            ),
        )
        for customer in (ava, dara):
            session.add(
                models.LegalRequestCustomer(legal_request_id=legal.id, customer_id=customer.id)
            )
        session.flush()
        type_names: dict[type, str] = {
            models.Customer: "Customer",
            models.Address: "Address",
            models.Order: "Order",
            models.Consent: "Consent",
            models.UsageEvent: "UsageEvent",
            models.AccessRecord: "AccessRecord",
            models.LegalRequest: "LegalRequest",
        }
        global_ids = {
            name: to_global_id(type_names[type(row)], row.id) for name, row in ids.items()
        }
        legal_id = legal.id
    session.expunge_all()
    return Seeded(global_ids, LEGAL_REFERENCE, legal_id)
