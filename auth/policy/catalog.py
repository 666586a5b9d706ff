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

from collections.abc import Iterable, Iterator

from sqlmodel import SQLModel

from auth.policy import scopes as s
from auth.policy.forms import Form, check
from auth.policy.purposes import Purpose
from auth.policy.vocabulary import (
    EXPRESSIONS,
    Cardinality,
    DataType,
    Field,
    Kind,
    Ownership,
    Relation,
    RowRule,
    Rule,
    relation,
    rule,
    scalar,
)
from store import models

__all__ = [
    "BY_MODEL",
    "DATA_TYPES",
    "EXPRESSIONS",
    "FIELDS",
    "POLICY",
    "Cardinality",
    "DataType",
    "Field",
    "Form",
    "Kind",
    "Ownership",
    "Relation",
    "RowRule",
    "Rule",
    "compiled",
    "personal_columns",
    "policy_key",
    "relation",
    "relation_at",
    "rule",
    "rule_for",
    "scalar",
]

F, S, B, X, A, M, L = (
    Purpose.ORDER_FULFILLMENT,
    Purpose.CUSTOMER_SUPPORT,
    Purpose.BILLING,
    Purpose.FRAUD_INVESTIGATION,
    Purpose.ANALYTICS,
    Purpose.MARKETING,
    Purpose.LEGAL_ORDER,
)


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
                row_rule=True,
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
        RowRule.ADDRESS,
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
            scalar("validUntil", Kind.DATETIME),
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
            scalar("forms", Kind.JSON),
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
            Field("orders", Kind.TEXT_LIST, None),
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
