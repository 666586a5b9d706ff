"""The catalog: every data type and every field of it, with its rule, written once (SPEC 11).

Per data type: its table, the scope ``node(id:)`` needs, how its rows belong to a customer
(ownership), which row rule its rows obey, and its default rule (``Type.*``). Per field: its
GraphQL name, where its value comes from (a column, or an expression over one such as
``ageBand``), its kind, whether erasure blanks it, whether the compiler serves it, the
relation it follows (object fields) and its rule: scopes, purposes, and the form disclosed per
purpose (for staff, and separately for partners; SPEC section 13).

Everything that lists fields derives from it: the policy table (`POLICY`, as text in
`auth.policy.table`), the decisions (`auth.policy.decision`), the compiler, the loaders,
export, erasure, ``policy``, ``steward policy`` and the README table. Building
the schema fails when a Strawberry type and the catalog disagree. Adding a field:
``docs/adding-a-field.md``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import SQLModel

from auth.policy import scopes as s
from auth.policy.forms import Form, check
from auth.policy.purposes import Purpose
from store import models

F, S, B, X, A, M, L = (
    Purpose.ORDER_FULFILLMENT,
    Purpose.CUSTOMER_SUPPORT,
    Purpose.BILLING,
    Purpose.FRAUD_INVESTIGATION,
    Purpose.ANALYTICS,
    Purpose.MARKETING,
    Purpose.LEGAL_ORDER,
)


@dataclass(frozen=True, slots=True)
class Rule:
    """What reading one field needs.

    Attributes:
        scopes: every one of these scopes.
        purposes: one of these declared purposes; ``None`` means any purpose, or none (P).
        forms: purpose → the form staff callers get under it instead of the value.
        partner_forms: purpose → the form partners get under it instead of the value.
    """

    scopes: tuple[str, ...]
    purposes: frozenset[Purpose] | None
    forms: Mapping[Purpose, Form] = field(default_factory=dict, hash=False)
    partner_forms: Mapping[Purpose, Form] = field(default_factory=dict, hash=False)

    def allows(self, granted: frozenset[str], purpose: Purpose | None) -> bool:
        """Whether a caller with ``granted`` scopes under ``purpose`` may read the field."""
        return self.granted(granted) and (self.purposes is None or purpose in self.purposes)

    def granted(self, granted: frozenset[str]) -> bool:
        """Whether ``granted`` holds every scope the rule needs."""
        return all(scope in granted for scope in self.scopes)

    def form(self, purpose: Purpose | None, *, partner: bool) -> Form | None:
        """The form disclosed under ``purpose`` (a partner's own, else staff's), if any."""
        if purpose is None:
            return None
        if partner and purpose in self.partner_forms:
            return self.partner_forms[purpose]
        return self.forms.get(purpose)

    def purpose_ids(self) -> list[str] | None:
        """The purposes' ids in the table's order, or ``None`` for P."""
        if self.purposes is None:
            return None
        return [purpose.id for purpose in Purpose if purpose in self.purposes]

    def unlocking_ids(self, *, partner: bool) -> list[str]:
        """The ids of the purposes under which the caller (a partner or not) reads the value
        itself, not a form of it: what unlocks a masked value."""
        return [
            purpose.id
            for purpose in Purpose
            if (self.purposes is None or purpose in self.purposes)
            and self.form(purpose, partner=partner) is None
        ]


def rule(
    scopes: Iterable[str],
    *purposes: Purpose,
    forms: Mapping[Purpose, Form] | None = None,
    partners: Mapping[Purpose, Form] | None = None,
) -> Rule:
    """A rule needing every one of ``scopes`` and one of ``purposes`` (none given: P); under
    the purposes of ``forms`` it discloses that form (to partners, ``partners``'s first)."""
    chosen = frozenset(purposes) if purposes else None
    return Rule(tuple(scopes), chosen, dict(forms or {}), dict(partners or {}))


class Kind(enum.StrEnum):
    """How a field's value is read and written out (the compiler's JSON, the export)."""

    GID = "gid"
    """The row's global id, from its ``id``."""
    ENUM = "enum"
    TEXT = "text"
    UPPER = "upper"
    """A lower-case stored value shown as a GraphQL enum (upper case)."""
    DATETIME = "datetime"
    DATE = "date"
    AGE_BAND = "age_band"
    """An expression: the age band of a date of birth, today."""
    FLOAT = "float"
    BOOL = "bool"
    INT = "int"
    INT_TEXT = "int_text"
    """An integer (money in minor units) written as a string."""
    TEXT_LIST = "text_list"
    ID_LIST = "id_list"
    """Global ids of customers, from a link table."""
    JSON = "json"
    """A JSON object, as stored."""
    OBJECT = "object"
    """An object field: see its relation."""


EXPRESSIONS = frozenset({Kind.AGE_BAND})
"""Kinds computed from their column rather than stored in it."""


class Ownership(enum.Enum):
    """How a row belongs to a customer (the owner rule: a customer always reads their own)."""

    SELF = "self"
    """The row is the customer."""
    COLUMN = "column"
    """The row's ``customer_id``."""
    ORDER = "order"
    """The customer of the row's order (``order_id``)."""
    NAMED = "named"
    """One of the customers the row names (``customer_ids``)."""
    NOBODY = "nobody"
    """No customer owns it."""


class RowRule(enum.Enum):
    """Which row rule (`auth.policy.row_rules.RowScope`) a type's rows obey."""

    CUSTOMER = "customer"
    """The row is a customer: the customers' rule."""
    BY_CUSTOMER = "by_customer"
    """The customers' rule, on the row's ``customer_id``."""
    ORDER = "order"
    """The orders' rule."""
    NONE = "none"
    """None of its own: reached only through a row that obeys one (an order's items), or
    naming customers that are checked one by one (access records, legal requests)."""


class Cardinality(enum.StrEnum):
    """How many rows an object field leads to."""

    LIST = "list"
    SINGLE = "single"
    CONNECTION = "connection"


@dataclass(frozen=True, slots=True)
class Relation:
    """Where an object field leads.

    Attributes:
        target: the data type of the rows it leads to.
        cardinality: a list, one row, or a page (connection).
        child_key: the target's column matched against the parent's ``parent_key``; ``None``
            for a relation through a link table (loaded by its own loader, never compiled).
        parent_key: the parent's column.
        order: the default order, as (column, descending) pairs.
        row_rule: whether the target's row rule applies to the rows (a list of a visible
            parent's own rows needs none; a lookup by key does).
    """

    target: str
    cardinality: Cardinality
    child_key: str | None
    parent_key: str | None
    order: tuple[tuple[str, bool], ...] = ()
    row_rule: bool = False


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a data type.

    Attributes:
        name: the GraphQL name.
        kind: how its value is read.
        column: the column it reads (``None``: an object field, or a link table's ids).
        rule: its own rule; ``None`` when the type's default rule (``Type.*``) governs it.
        erasable: a personal value that erasure blanks (reported as ``ERASED``).
        compiled: whether the compiler serves it (of a type the compiler serves).
        relation: where an object field leads.
    """

    name: str
    kind: Kind
    column: str | None
    rule: Rule | None = None
    erasable: bool = False
    compiled: bool = True
    relation: Relation | None = None

    @property
    def stored(self) -> bool:
        """Whether its value is a column's, as stored (export writes these)."""
        return self.column is not None and self.kind not in EXPRESSIONS


@dataclass(frozen=True, slots=True)
class DataType:
    """A GraphQL type that carries customer data.

    Attributes:
        name: the GraphQL type's name.
        model: the table its values are rows of.
        node_scope: the scope ``node(id:)`` needs for it; ``None`` when it has no global id.
        ownership: how its rows belong to a customer.
        row_rule: which row rule its rows obey.
        rule: the default rule of its fields (``Type.*``), if any.
        fields: its fields, in the policy table's order.
        compiled: whether the compiler serves its rows.
    """

    name: str
    model: type[SQLModel]
    node_scope: str | None
    ownership: Ownership
    row_rule: RowRule = RowRule.NONE
    rule: Rule | None = None
    fields: tuple[Field, ...] = ()
    compiled: bool = False

    def owned_by(self, row: Any, customer_id: int, order_owner: Mapping[int, int]) -> bool:
        """Whether ``row`` belongs to ``customer_id``; ``order_owner`` maps order → customer."""
        match self.ownership:
            case Ownership.SELF:
                return bool(row.id == customer_id)
            case Ownership.COLUMN:
                return bool(row.customer_id == customer_id)
            case Ownership.ORDER:
                return order_owner.get(row.order_id) == customer_id
            case Ownership.NAMED:
                return customer_id in row.customer_ids
            case Ownership.NOBODY:
                return False


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def scalar(
    name: str,
    kind: Kind,
    governed: Rule | None = None,
    *,
    column: str | None = None,
    erasable: bool = False,
) -> Field:
    """A scalar field reading ``column`` (by default the snake-case of ``name``)."""
    return Field(name, kind, column or _snake(name), governed, erasable=erasable)


def relation(
    name: str,
    target: str,
    cardinality: Cardinality,
    keys: tuple[str, str] | None,
    governed: Rule | None = None,
    *,
    order: tuple[tuple[str, bool], ...] = (),
    row_rule: bool = False,
    compiled: bool = True,
) -> Field:
    """An object field; ``keys`` are (the target's column, the parent's column)."""
    child_key, parent_key = keys if keys is not None else (None, None)
    found = Relation(target, cardinality, child_key, parent_key, order, row_rule)
    return Field(name, Kind.OBJECT, None, governed, compiled=compiled, relation=found)


ID_ORDER = (("id", False),)
NEWEST_FIRST = (("occurred_at", True), ("id", True))

CUSTOMER_BASIC = rule([s.CUSTOMERS_READ])
NAME = rule([s.CUSTOMERS_READ_IDENTITY], F, S, B, X, M, L)
ADDRESS_BASIC = rule([s.ADDRESSES_READ])
ADDRESS_EXACT = rule([s.ADDRESSES_READ], F, S, B, X, L)
ORDER_BASIC = rule([s.ORDERS_READ])
USAGE = rule([s.USAGE_READ], S, X, A, L)
AUDIT = rule([s.AUDIT_READ])

_TYPES = (
    DataType(
        "Customer",
        models.Customer,
        s.CUSTOMERS_READ,
        Ownership.SELF,
        RowRule.CUSTOMER,
        compiled=True,
        fields=(
            scalar("id", Kind.GID, CUSTOMER_BASIC),
            scalar("status", Kind.ENUM, CUSTOMER_BASIC),
            scalar("country", Kind.TEXT, CUSTOMER_BASIC),
            scalar("preferredLanguage", Kind.TEXT, CUSTOMER_BASIC),
            scalar("createdAt", Kind.DATETIME, CUSTOMER_BASIC),
            scalar("updatedAt", Kind.DATETIME, CUSTOMER_BASIC),
            scalar("firstName", Kind.TEXT, NAME, erasable=True),
            scalar("lastName", Kind.TEXT, NAME, erasable=True),
            scalar(
                "dateOfBirth",
                Kind.DATE,
                rule([s.CUSTOMERS_READ_IDENTITY], X, L, forms={S: Form.GENERALISED}),
                erasable=True,
            ),
            scalar(
                "ageBand",
                Kind.AGE_BAND,
                rule([s.CUSTOMERS_READ_IDENTITY], A, M, X, L),
                column="date_of_birth",
                erasable=True,
            ),
            scalar(
                "email",
                Kind.TEXT,
                rule([s.CUSTOMERS_READ_CONTACT], S, B, X, M, L, partners={M: Form.PSEUDONYM}),
                erasable=True,
            ),
            scalar(
                "mobilePhone",
                Kind.TEXT,
                rule([s.CUSTOMERS_READ_CONTACT], F, S, X, M, L, forms={B: Form.PARTIAL}),
                erasable=True,
            ),
            scalar(
                "landlinePhone",
                Kind.TEXT,
                rule([s.CUSTOMERS_READ_CONTACT], F, S, X, L),
                erasable=True,
            ),
            relation(
                "addresses",
                "Address",
                Cardinality.LIST,
                ("customer_id", "id"),
                ADDRESS_BASIC,
                order=ID_ORDER,
            ),
            relation(
                "orders",
                "Order",
                Cardinality.CONNECTION,
                ("customer_id", "id"),
                ORDER_BASIC,
                order=(("placed_at", True), ("id", True)),
                row_rule=True,
            ),
            relation(
                "consents",
                "Consent",
                Cardinality.LIST,
                ("customer_id", "id"),
                rule([s.CONSENTS_READ]),
                order=ID_ORDER,
            ),
            relation(
                "usageEvents",
                "UsageEvent",
                Cardinality.LIST,
                ("customer_id", "id"),
                USAGE,
                order=(("occurred_at", False), ("id", False)),
            ),
            # Through the access records' link table, newest first: not compiled.
            relation(
                "accessLog",
                "AccessRecord",
                Cardinality.LIST,
                None,
                AUDIT,
                order=NEWEST_FIRST,
                compiled=False,
            ),
            relation(
                "disclosures",
                "Disclosure",
                Cardinality.LIST,
                None,
                AUDIT,
                order=NEWEST_FIRST,
                compiled=False,
            ),
        ),
    ),
    DataType(
        "Address",
        models.Address,
        s.ADDRESSES_READ,
        Ownership.COLUMN,
        RowRule.BY_CUSTOMER,
        compiled=True,
        fields=(
            scalar("id", Kind.GID, ADDRESS_BASIC),
            scalar("label", Kind.ENUM, ADDRESS_BASIC),
            scalar("city", Kind.TEXT, ADDRESS_BASIC),
            scalar("region", Kind.TEXT, ADDRESS_BASIC),
            scalar("country", Kind.TEXT, ADDRESS_BASIC),
            scalar("isDefault", Kind.BOOL, ADDRESS_BASIC),
            scalar("line1", Kind.TEXT, ADDRESS_EXACT),
            scalar("line2", Kind.TEXT, ADDRESS_EXACT),
            scalar(
                "postalCode",
                Kind.TEXT,
                rule([s.ADDRESSES_READ], F, S, B, X, L, forms={A: Form.GENERALISED}),
            ),
            scalar("latitude", Kind.FLOAT, ADDRESS_EXACT),
            scalar("longitude", Kind.FLOAT, ADDRESS_EXACT),
        ),
    ),
    DataType(
        "Order",
        models.Order,
        s.ORDERS_READ,
        Ownership.COLUMN,
        RowRule.ORDER,
        compiled=True,
        fields=(
            scalar("id", Kind.GID, ORDER_BASIC),
            scalar("number", Kind.TEXT, ORDER_BASIC),
            scalar("status", Kind.ENUM, ORDER_BASIC),
            scalar("placedAt", Kind.DATETIME, ORDER_BASIC),
            scalar("totalAmount", Kind.INT_TEXT, ORDER_BASIC),
            scalar("currency", Kind.TEXT, ORDER_BASIC),
            relation(
                "items",
                "OrderItem",
                Cardinality.LIST,
                ("order_id", "id"),
                ORDER_BASIC,
                order=ID_ORDER,
            ),
            relation(
                "shippingAddress",
                "Address",
                Cardinality.SINGLE,
                ("id", "shipping_address_id"),
                rule([s.ORDERS_READ, s.ADDRESSES_READ]),
                row_rule=True,
            ),
            scalar("paymentReference", Kind.TEXT, rule([s.ORDERS_READ_PAYMENT], S, B, X, L)),
            scalar("paymentTrackingCode", Kind.TEXT, rule([s.ORDERS_READ_PAYMENT], S, B, X, L)),
            relation(
                "customer",
                "Customer",
                Cardinality.SINGLE,
                ("id", "customer_id"),
                CUSTOMER_BASIC,
                row_rule=True,
            ),
        ),
    ),
    DataType(
        "OrderItem",
        models.OrderItem,
        None,
        Ownership.ORDER,
        rule=ORDER_BASIC,
        compiled=True,
        fields=(
            scalar("sku", Kind.TEXT),
            scalar("name", Kind.TEXT),
            scalar("quantity", Kind.INT),
            scalar("unitPrice", Kind.INT_TEXT),
        ),
    ),
    DataType(
        "Consent",
        models.Consent,
        s.CONSENTS_READ,
        Ownership.COLUMN,
        RowRule.BY_CUSTOMER,
        rule([s.CONSENTS_READ]),
        compiled=True,
        fields=(
            scalar("id", Kind.GID),
            scalar("purpose", Kind.UPPER),
            scalar("status", Kind.ENUM),
            scalar("recordedAt", Kind.DATETIME),
            scalar("source", Kind.ENUM),
            scalar("policyVersion", Kind.TEXT),
            scalar("recipient", Kind.TEXT),
            scalar("noticeVersion", Kind.TEXT),
            scalar("language", Kind.TEXT),
        ),
    ),
    DataType(
        "UsageEvent",
        models.UsageEvent,
        s.USAGE_READ,
        Ownership.COLUMN,
        RowRule.BY_CUSTOMER,
        USAGE,
        compiled=True,
        fields=(
            scalar("id", Kind.GID),
            scalar("occurredAt", Kind.DATETIME),
            scalar("kind", Kind.TEXT),
            scalar("detail", Kind.TEXT),
        ),
    ),
    DataType(
        "AccessRecord",
        models.AccessRecord,
        s.AUDIT_READ,
        Ownership.NAMED,
        rule=AUDIT,
        fields=(
            scalar("id", Kind.GID),
            scalar("occurredAt", Kind.DATETIME),
            scalar("clientId", Kind.TEXT),
            scalar("subject", Kind.TEXT),
            scalar("purpose", Kind.TEXT),
            scalar("legalReference", Kind.TEXT),
            scalar("operationName", Kind.TEXT),
            scalar("recipient", Kind.TEXT),
            Field("customerIds", Kind.ID_LIST, None),
            scalar("fields", Kind.TEXT_LIST),
        ),
    ),
    DataType(
        "LegalRequest",
        models.LegalRequest,
        s.PRIVACY_ADMIN,
        Ownership.NOBODY,
        rule=rule([s.PRIVACY_ADMIN]),
        fields=(
            scalar("id", Kind.GID),
            scalar("reference", Kind.TEXT),
            scalar("authority", Kind.TEXT),
            scalar("orderDocument", Kind.TEXT),
            Field("customerIds", Kind.ID_LIST, None),
            scalar("createdBy", Kind.TEXT),
            scalar("validFrom", Kind.DATETIME),
            scalar("validUntil", Kind.DATETIME),
        ),
    ),
    # What partners received about a customer: the access records that name a partner.
    DataType(
        "Disclosure",
        models.AccessRecord,
        None,
        Ownership.NAMED,
        rule=AUDIT,
        fields=(
            relation("recipient", "Partner", Cardinality.SINGLE, ("client_id", "recipient")),
            scalar("purpose", Kind.TEXT),
            scalar("at", Kind.DATETIME, column="occurred_at"),
            scalar("fields", Kind.TEXT_LIST),
            scalar("forms", Kind.JSON),
        ),
    ),
    # Who received data is no customer's data: whoever may read a disclosure reads its
    # recipient (a customer reads their own disclosures through ``me``, by the owner rule).
    DataType(
        "Partner",
        models.Partner,
        None,
        Ownership.NOBODY,
        rule=rule([]),
        fields=(scalar("clientId", Kind.TEXT), scalar("name", Kind.TEXT)),
    ),
)


def _check(types: Iterable[DataType]) -> None:
    """Refuse a catalog that names a field twice, leaves one without a rule, relates to a
    type it does not declare (fail closed), or declares a form its field's kind of value has
    none of (`auth.policy.forms.check`)."""
    names = {data_type.name for data_type in types}
    for data_type in types:
        seen: set[str] = set()
        for each in data_type.fields:
            coordinate = f"{data_type.name}.{each.name}"
            if each.name in seen:
                raise ValueError(f"the catalog names {coordinate} twice")
            seen.add(each.name)
            governing = each.rule or data_type.rule
            if governing is None:
                raise ValueError(f"the catalog gives {coordinate} no rule")
            for form in (*governing.forms.values(), *governing.partner_forms.values()):
                check(coordinate, form)
            if (each.kind is Kind.OBJECT) != (each.relation is not None):
                raise ValueError(f"{coordinate}: an object field, and only one, has a relation")
            if each.relation is not None and each.relation.target not in names:
                raise ValueError(
                    f"{coordinate} leads to {each.relation.target}, not in the catalog"
                )


_check(_TYPES)

DATA_TYPES: dict[str, DataType] = {data_type.name: data_type for data_type in _TYPES}
"""GraphQL type name → its data type."""

FIELDS: dict[str, Field] = {
    f"{data_type.name}.{each.name}": each for data_type in _TYPES for each in data_type.fields
}
"""Schema coordinate (``Type.field``) → its field."""


def field_of(coordinate: str) -> Field | None:
    """The catalog's field at ``Type.field``, or ``None``."""
    return FIELDS.get(coordinate)


def relation_at(coordinate: str) -> Relation:
    """The relation of the object field at ``Type.field``.

    Raises:
        KeyError: the catalog has no object field there.
    """
    found = FIELDS.get(coordinate)
    if found is None or found.relation is None:
        raise KeyError(f"{coordinate} is no object field of the catalog")
    return found.relation


def compiled(coordinate: str) -> bool:
    """Whether the compiler serves ``Type.field`` (one it does not serve falls back)."""
    found = FIELDS.get(coordinate)
    type_name = coordinate.partition(".")[0]
    return found is not None and found.compiled and DATA_TYPES[type_name].compiled


def policy_key(coordinate: str) -> str | None:
    """The entry that governs ``Type.field``: itself, or ``Type.*``; ``None`` when the catalog
    has no such field."""
    found = FIELDS.get(coordinate)
    if found is None:
        return None
    return coordinate if found.rule is not None else coordinate.partition(".")[0] + ".*"


def _entries() -> Iterator[tuple[str, Rule]]:
    """The policy table's entries in reading order: from ``Customer``, each type's default
    rule then its fields, an object field followed by its target type's entries the first
    time it leads there; then the types no field leads to."""
    visited: set[str] = set()

    def visit(data_type: DataType) -> Iterator[tuple[str, Rule]]:
        visited.add(data_type.name)
        if data_type.rule is not None:
            yield f"{data_type.name}.*", data_type.rule
        for each in data_type.fields:
            if each.rule is not None:
                yield f"{data_type.name}.{each.name}", each.rule
            target = each.relation.target if each.relation is not None else None
            if target is not None and target not in visited:
                yield from visit(DATA_TYPES[target])

    for data_type in _TYPES:
        if data_type.name not in visited:
            yield from visit(data_type)


POLICY: dict[str, Rule] = dict(_entries())
"""Schema coordinate (``Type.field``, or ``Type.*`` for a type's default) → rule, in the
table's reading order."""


def rule_for(coordinate: str) -> Rule | None:
    """The rule for ``Type.field``, or ``None`` when the catalog has none (hidden: NO_POLICY)."""
    key = policy_key(coordinate)
    return None if key is None else POLICY[key]


def personal_columns(type_name: str) -> tuple[str, ...]:
    """The columns of ``type_name`` that erasure blanks, in the catalog's order."""
    columns = (
        each.column
        for each in DATA_TYPES[type_name].fields
        if each.erasable and each.column is not None
    )
    return tuple(dict.fromkeys(columns))


BY_MODEL: dict[type[SQLModel], DataType] = {}
"""Table → the data type of its rows (the first declared: ``AccessRecord``, not ``Disclosure``)."""
for _data_type in _TYPES:
    BY_MODEL.setdefault(_data_type.model, _data_type)
