"""The words the catalog (`auth.policy.catalog`) is written in: rules, kinds, relations,
fields and data types, and the two helpers that declare a field (`scalar`, `relation`)."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import SQLModel

from auth.policy.forms import Form
from auth.policy.purposes import Purpose


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
    ADDRESS = "address"
    """The addresses' rule: the customers' rule on the row's ``customer_id`` and, under
    ``assigned`` access, only the shipping addresses of the orders assigned to the caller."""
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
