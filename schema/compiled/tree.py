"""The plan of a compiled read: a small typed tree, what `schema.compiled.plan` decides and
`schema.compiled.emit` turns into SQL.

Per object, its members in the selection's order: ``__typename``, a value (`Scalar`), a
field hidden by the policy (`Hidden`: JSON ``null``, counted), objects it leads to
(`Related`), each marked when the caller sees it on their own rows only (``me``) or when
erasure may have blanked it. Per page (`ConnectionPlan`): its window, filter, order and
members. Every value of the request the statement needs is a `Param`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import VariableValues  # public in graphql-core 3.3 (graphql.__all__)
from sqlalchemy import Integer
from sqlalchemy.types import TypeEngine

from auth.policy.catalog import Kind, Relation
from auth.policy.forms import Form, ValueKind
from auth.policy.row_rules import RowScope


class Decline(Exception):
    """The compiler does not serve this operation, for this caller: Strawberry will."""


class CatalogMismatch(Exception):
    """The catalog marks a field compiled that the compiler cannot serve (a programming error:
    the statement is not built, the request falls back, and the log says which field)."""


@dataclass(slots=True)
class Runtime:
    """What one request gives the statement's parameters."""

    variables: VariableValues | None
    rows: RowScope
    owner_id: int | None
    today: dt.date
    max_page_size: int
    arguments: dict[int, dict[str, Any]] = field(default_factory=dict)


Getter = Callable[[Runtime], Any]


@dataclass(frozen=True, slots=True, eq=False)
class Param:
    """A value of each request that the statement takes as a bind parameter.

    Attributes:
        name: what it is (``customer_id``, ``first``): the start of its name in the SQL.
        get: its value in a request; may raise `Decline` (a page size out of bounds).
        sql_type: its SQL type.
        processed: whether the type's bind processor converts the value (datetimes).
    """

    name: str
    get: Getter
    sql_type: TypeEngine[Any]
    processed: bool = False


# --- the tree -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Typename:
    """``__typename``: a constant string."""

    key: str
    name: str


@dataclass(frozen=True, slots=True)
class Hidden:
    """A field the caller may not read: JSON ``null``, one redaction per object."""

    key: str
    coordinate: str


@dataclass(frozen=True, slots=True)
class Scalar:
    """A readable leaf: its column, and its kind (how the column becomes JSON: the catalog's).

    ``owned``: readable on the caller's own rows only (else ``null``, counted); ``erasable``:
    erasure may have blanked it (counted as erased where it did); ``form``: disclosed in this
    form of a value of ``value_kind`` (counted as masked on every row), in SQL where the
    dialect can, else (a pseudonym) after the statement.
    """

    key: str
    coordinate: str
    kind: Kind
    column: str
    owned: bool = False
    erasable: bool = False
    form: Form | None = None
    value_kind: ValueKind | None = None


@dataclass(frozen=True, slots=True)
class Related:
    """A readable field leading to objects: a list, a single object or a connection."""

    key: str
    coordinate: str
    relation: Relation
    child: ObjectPlan | ConnectionPlan
    owned: bool = False


Member = Typename | Hidden | Scalar | Related


@dataclass(frozen=True, slots=True)
class ObjectPlan:
    """The JSON object of a row of ``type_name``: its members in the selection's order."""

    type_name: str
    members: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class Window:
    """A page's parameters: ``first``, the ``offset``, ``first`` + 1 and ``offset + first``."""

    first: Param
    offset: Param
    limit: Param
    end: Param


@dataclass(frozen=True, slots=True)
class Condition:
    """A filter's comparison: ``column = value`` (``column > value`` when ``after``)."""

    column: str
    after: bool
    value: Param


@dataclass(frozen=True, slots=True)
class TotalCount:
    key: str


@dataclass(frozen=True, slots=True)
class PageInfo:
    """``pageInfo``: ``(key, field name)`` pairs, ``__typename`` included."""

    key: str
    type_name: str
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Cursor:
    key: str


@dataclass(frozen=True, slots=True)
class Node:
    key: str
    object: ObjectPlan


@dataclass(frozen=True, slots=True)
class Edges:
    """``edges``: the members of each edge."""

    key: str
    edge: str
    members: tuple[Typename | Cursor | Node, ...]


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    """A page of ``type_name`` rows.

    Attributes:
        connection: the connection type's name (``CustomerConnection``).
        window: the page's parameters.
        conditions: the filter's comparisons (root connections).
        order: ``(column, descending)`` pairs, the last one unique.
        positions: whether the selection needs each row's position (a cursor, or
            ``pageInfo`` beyond ``hasPreviousPage``).
        members: the connection's members in the selection's order.
    """

    type_name: str
    connection: str
    window: Window
    conditions: tuple[Condition, ...]
    order: tuple[tuple[str, bool], ...]
    positions: bool
    members: tuple[Typename | TotalCount | PageInfo | Edges, ...]


@dataclass(frozen=True, slots=True)
class Constant:
    """A root field answered without the database (``__typename``, ``null``)."""

    key: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class HiddenNode:
    """``node`` of a type whose ids the caller may not read: ``null``, one redaction."""

    key: str
    coordinate: str


@dataclass(frozen=True, slots=True)
class Lookup:
    """One row by primary key (``customer``, ``order``, ``node``, ``me``)."""

    key: str
    type_name: str
    pk: Param
    object: ObjectPlan


@dataclass(frozen=True, slots=True)
class Listing:
    """A root connection (``customers``, ``orders``).

    ``emits_nodes``: its objects reach the response (``edges.node``), so it discloses their
    customers; ``revealed``: what its filter discloses of every row it matched.
    """

    key: str
    page: ConnectionPlan
    emits_nodes: bool
    revealed: frozenset[str]


Root = Constant | HiddenNode | Lookup | Listing


@dataclass(frozen=True, slots=True)
class Plan:
    """An operation's plan: its root fields in the response's order."""

    roots: tuple[Root, ...]


def owner_param() -> Param:
    """The caller's own customer id (``me``)."""
    return Param("owner_id", lambda rt: rt.owner_id, Integer())


PseudonymPaths = tuple[tuple[tuple[str, ...], ValueKind], ...]
"""Paths of response keys, from a root field's value, to the values due as pseudonyms."""


def pseudonym_paths(root: Root) -> PseudonymPaths:
    """Where ``root``'s JSON holds values the statement selects in clear that are due as
    pseudonyms (`schema.forms_sql.after_statement` replaces them)."""
    if isinstance(root, Lookup):
        return tuple(_object_paths(root.object, ()))
    if isinstance(root, Listing):
        return tuple(_page_paths(root.page, ()))
    return ()


def _object_paths(
    plan: ObjectPlan, at: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], ValueKind]]:
    for member in plan.members:
        if isinstance(member, Scalar) and member.form is Form.PSEUDONYM:
            if member.value_kind is None:
                raise CatalogMismatch(f"{member.coordinate}: a pseudonym of no kind of value")
            yield (*at, member.key), member.value_kind
        elif isinstance(member, Related):
            child = member.child
            if isinstance(child, ObjectPlan):
                yield from _object_paths(child, (*at, member.key))
            else:
                yield from _page_paths(child, (*at, member.key))


def _page_paths(
    page: ConnectionPlan, at: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], ValueKind]]:
    for member in page.members:
        if isinstance(member, Edges):
            for each in member.members:
                if isinstance(each, Node):
                    yield from _object_paths(each.object, (*at, member.key, each.key))
