"""Compiled reads, step 1: an operation and a request's policy decisions → a small typed tree.

`plan` walks the operation once (fragments merged, ``@skip``/``@include`` decided, as
graphql-core would) and decides the policy for every field it meets: the tree says, per
object, which fields show their value, which show it on the caller's own rows only (``me``),
which are hidden (JSON ``null``, counted) and which erasure may have blanked (counted when it
did). It holds no SQL: `schema.compiled.emit` turns it into one statement. Every value of the
request the statement needs (ids, page windows, filters, the caller's own id, today) is a
`Param`, read from each request.

Anything outside the compiled subset, or anything that would be an error, raises `Decline`:
the Strawberry path then answers (it is the reference, and it reports errors).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableValues,  # public in graphql-core 3.3 (graphql.__all__)
    get_argument_values,
    get_directive_values,
    get_named_type,
    is_abstract_type,
)
from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.types import TypeEngine

from auth.policy.datatypes import DATA_TYPES
from auth.policy.roots import ROOTS
from auth.policy.row_rules import RowScope
from privacy.errors import InputError
from schema._internals import strawberry_field
from schema.compiled.fields import RELATIONS, SCALARS, Access, Decisions, Relation
from schema.errors import PageSizeExceeded
from schema.filters import CUSTOMER_FILTERS, ORDER_FILTERS, revealed, selected_paths
from schema.pagination import page_window
from schema.permissions import ERASABLE
from schema.queries import CUSTOMER_COLUMNS, ORDER_COLUMNS
from store.ids import InvalidGlobalId, from_global_id
from store.models import UTCDateTime

ROOT_FIELDS = frozenset({"customers", "customer", "orders", "order", "node", "me"})
"""The root fields the compiler serves (SPEC section 9)."""

LOOKUP_TYPES = frozenset({"Customer", "Order", "Address", "Consent", "UsageEvent"})
"""The types ``node(id:)`` is compiled for; the others (audit, legal) stay on Strawberry."""

OWNED_NEEDS_TARGET_ID = frozenset({"Order.shippingAddress"})
"""Relations that a caller reading their own rows only (``me``) gets compiled only when they
may read the target's ids."""

MAX_PAIRS = 50
"""PostgreSQL functions take at most 100 arguments: an object of more keys is declined."""


class Decline(Exception):
    """The compiler does not serve this operation, for this caller: Strawberry will."""


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
    """A readable leaf: how its column becomes JSON (`schema.compiled.fields.SCALARS`).

    ``owned``: readable on the caller's own rows only (else ``null``, counted); ``erasable``:
    erasure may have blanked it (counted as erased where it did).
    """

    key: str
    coordinate: str
    kind: str
    column: str
    owned: bool = False
    erasable: bool = False


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


# --- planning -------------------------------------------------------------------------------


def owner_param() -> Param:
    """The caller's own customer id (``me``)."""
    return Param("owner_id", lambda rt: rt.owner_id, Integer())


class Planner:
    """Plans one operation under one request's `Decisions`."""

    def __init__(
        self,
        schema: GraphQLSchema,
        decisions: Decisions,
        fragments: dict[str, Any],
        request: Runtime,
    ) -> None:
        self.schema = schema
        self.decisions = decisions
        self.fragments = fragments
        self.variables = request.variables
        self.request = request

    def plan(self, operation: OperationDefinitionNode) -> Plan:
        """The plan of ``operation`` (a query)."""
        query = self.schema.query_type
        if query is None:
            raise Decline("no query type")
        roots: list[Root] = []
        for key, nodes in self.collect(query, [operation.selection_set]).items():
            name = nodes[0].name.value
            if name == "__typename":
                roots.append(Constant(key, "Query"))
            elif name in ROOT_FIELDS:
                roots.append(self.root(key, name, query.fields[name], nodes))
            else:
                raise Decline(f"Query.{name}")
        return Plan(tuple(roots))

    def root(self, key: str, name: str, definition: GraphQLField, nodes: list[FieldNode]) -> Root:
        if any(scope not in self.decisions.scopes for scope in ROOTS[name].scopes):
            raise Decline("FORBIDDEN")
        if name in ("customers", "orders"):
            type_name = "Customer" if name == "customers" else "Order"
            return self.listing(key, type_name, definition, nodes)
        if name == "me":
            if not self.decisions.owner:
                return Constant(key)
            return self.lookup(key, "Customer", owner_param(), nodes)
        arguments = self.arguments(definition, nodes[0])
        global_id = str(arguments(self.request)["id"])
        if name in ("customer", "order"):
            type_name = name.capitalize()
            pk = Param(
                f"{name}_id", lambda rt: _pk_or_zero(arguments(rt)["id"], type_name), Integer()
            )
            return self.lookup(key, type_name, pk, nodes)
        return self.node(key, global_id, arguments, nodes)

    def node(
        self,
        key: str,
        global_id: str,
        arguments: Callable[[Runtime], dict[str, Any]],
        nodes: list[FieldNode],
    ) -> Root:
        try:
            type_name, _pk = from_global_id(global_id)
        except InvalidGlobalId:
            return Constant(key)
        data_type = DATA_TYPES.get(type_name)
        if data_type is None or data_type.node_scope is None:
            return Constant(key)
        if data_type.node_scope not in self.decisions.scopes:
            raise Decline("FORBIDDEN")
        if type_name not in LOOKUP_TYPES:
            raise Decline(f"node of {type_name}")
        if self.decisions.access(f"{type_name}.id") is not Access.VISIBLE:
            if self.decisions.owner:
                raise Decline("node, owner")
            return HiddenNode(key, f"{type_name}.id")
        pk = Param(
            f"{type_name.lower()}_id",
            lambda rt: _node_pk(arguments(rt)["id"], type_name),
            Integer(),
        )
        return self.lookup(key, type_name, pk, nodes)

    def lookup(self, key: str, type_name: str, pk: Param, nodes: list[FieldNode]) -> Lookup:
        return Lookup(key, type_name, pk, self.object(type_name, nodes))

    def listing(
        self, key: str, type_name: str, definition: GraphQLField, nodes: list[FieldNode]
    ) -> Listing:
        connection = _object_type(get_named_type(definition.type))
        arguments = self.arguments(definition, nodes[0])
        given = arguments(self.request)
        conditions = self.conditions(type_name, given.get("filter"), arguments)
        order = self.order_by(type_name, given.get("orderBy"))
        page = self.connection(type_name, connection, nodes, arguments, conditions, order)
        filters = CUSTOMER_FILTERS if type_name == "Customer" else ORDER_FILTERS
        named = [name for name, value in (given.get("filter") or {}).items() if value is not None]
        selected = selected_paths(nodes, self.fragments, self.variables)
        disclosed = revealed(connection.name, filters, named, selected)
        return Listing(key, page, self.emits_nodes(connection, nodes), disclosed)

    def emits_nodes(self, connection: GraphQLObjectType, nodes: list[FieldNode]) -> bool:
        """Whether a connection's selection puts objects into the response (``edges.node``)."""
        edges = _object_type(get_named_type(connection.fields["edges"].type))
        fields = self.collect(connection, _selection_sets(nodes))
        return any(
            field_nodes[0].name.value == "node"
            for selected in fields.values()
            if selected[0].name.value == "edges"
            for field_nodes in self.collect(edges, _selection_sets(selected)).values()
        )

    # --- objects ----------------------------------------------------------------------------

    def object(self, type_name: str, nodes: list[FieldNode]) -> ObjectPlan:
        """The plan of a row of ``type_name`` for the merged selections ``nodes``."""
        graphql_type = _object_type(self.schema.type_map[type_name])
        fields = self.collect(graphql_type, _selection_sets(nodes))
        if len(fields) > MAX_PAIRS:
            raise Decline("too many keys")
        members: list[Member] = []
        for key, field_nodes in fields.items():
            name = field_nodes[0].name.value
            if name == "__typename":
                members.append(Typename(key, type_name))
                continue
            coordinate = f"{type_name}.{name}"
            access = self.decisions.access(coordinate)
            if access is Access.HIDDEN:
                members.append(Hidden(key, coordinate))
                continue
            owned = access is Access.OWNED
            definition = graphql_type.fields[name]
            scalar = SCALARS.get(coordinate)
            if scalar is not None:
                erasable = bool(strawberry_field(definition).metadata.get(ERASABLE))
                members.append(Scalar(key, coordinate, *scalar, owned=owned, erasable=erasable))
                continue
            relation = RELATIONS.get(coordinate)
            if relation is None:
                raise Decline(coordinate)
            if (
                owned
                and coordinate in OWNED_NEEDS_TARGET_ID
                and not self.decisions.readable(f"{relation.target}.id")
            ):
                raise Decline(f"{coordinate}, owner")
            child = self.related(relation, definition, field_nodes)
            members.append(Related(key, coordinate, relation, child, owned=owned))
        return ObjectPlan(type_name, tuple(members))

    def related(
        self, relation: Relation, definition: GraphQLField, nodes: list[FieldNode]
    ) -> ObjectPlan | ConnectionPlan:
        if relation.kind != "connection":
            return self.object(relation.target, nodes)
        connection = _object_type(get_named_type(definition.type))
        arguments = self.arguments(definition, nodes[0])
        return self.connection(relation.target, connection, nodes, arguments, (), relation.order)

    # --- connections ------------------------------------------------------------------------

    def connection(
        self,
        type_name: str,
        connection: GraphQLObjectType,
        nodes: list[FieldNode],
        arguments: Callable[[Runtime], dict[str, Any]],
        conditions: tuple[Condition, ...],
        order: tuple[tuple[str, bool], ...],
    ) -> ConnectionPlan:
        members: list[Typename | TotalCount | PageInfo | Edges] = []
        positions = False
        for key, field_nodes in self.collect(connection, _selection_sets(nodes)).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                members.append(Typename(key, connection.name))
            elif name == "totalCount":
                members.append(TotalCount(key))
            elif name == "pageInfo":
                page_info = self.page_info(connection, key, field_nodes)
                positions |= any(
                    each in ("hasNextPage", "startCursor", "endCursor")
                    for _key, each in page_info.fields
                )
                members.append(page_info)
            elif name == "edges":
                edges = self.edges(type_name, connection, key, field_nodes)
                positions |= any(isinstance(each, Cursor) for each in edges.members)
                members.append(edges)
            else:
                raise Decline(f"{connection.name}.{name}")
        window = self.window(arguments)
        return ConnectionPlan(
            type_name, connection.name, window, conditions, order, positions, tuple(members)
        )

    def page_info(
        self, connection: GraphQLObjectType, key: str, nodes: list[FieldNode]
    ) -> PageInfo:
        page_info = _object_type(get_named_type(connection.fields["pageInfo"].type))
        fields: list[tuple[str, str]] = []
        for field_key, field_nodes in self.collect(page_info, _selection_sets(nodes)).items():
            name = field_nodes[0].name.value
            if name not in (
                "__typename",
                "hasPreviousPage",
                "hasNextPage",
                "startCursor",
                "endCursor",
            ):
                raise Decline(f"PageInfo.{name}")
            fields.append((field_key, name))
        return PageInfo(key, page_info.name, tuple(fields))

    def edges(
        self, type_name: str, connection: GraphQLObjectType, key: str, nodes: list[FieldNode]
    ) -> Edges:
        edge = _object_type(get_named_type(connection.fields["edges"].type))
        members: list[Typename | Cursor | Node] = []
        for edge_key, field_nodes in self.collect(edge, _selection_sets(nodes)).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                members.append(Typename(edge_key, edge.name))
            elif name == "cursor":
                members.append(Cursor(edge_key))
            elif name == "node":
                members.append(Node(edge_key, self.object(type_name, field_nodes)))
            else:
                raise Decline(f"{edge.name}.{name}")
        return Edges(key, edge.name, tuple(members))

    def window(self, arguments: Callable[[Runtime], dict[str, Any]]) -> Window:
        """The page's parameters, from ``first`` and ``after``."""

        def page(rt: Runtime) -> tuple[int, int]:
            given = arguments(rt)
            try:
                return page_window(rt.max_page_size, given["first"], given["after"])
            except (PageSizeExceeded, InputError):
                raise Decline("page") from None

        return Window(
            first=Param("first", lambda rt: page(rt)[1], Integer()),
            # BIGINT: an offset near 2**31 plus a page is past PostgreSQL's INTEGER.
            offset=Param("offset", lambda rt: page(rt)[0], BigInteger()),
            limit=Param("page_limit", lambda rt: page(rt)[1] + 1, Integer()),
            end=Param("page_end", lambda rt: sum(page(rt)), BigInteger()),
        )

    # --- arguments --------------------------------------------------------------------------

    def arguments(
        self, definition: GraphQLField, node: FieldNode
    ) -> Callable[[Runtime], dict[str, Any]]:
        """The field's argument values in a request, coerced as graphql-core does."""
        site = id(node)

        def values(rt: Runtime) -> dict[str, Any]:
            found = rt.arguments.get(site)
            if found is None:
                try:
                    found = get_argument_values(definition, node, rt.variables)
                except Exception:
                    raise Decline("arguments") from None
                rt.arguments[site] = found
            return found

        return values

    def conditions(
        self,
        type_name: str,
        given: dict[str, Any] | None,
        arguments: Callable[[Runtime], dict[str, Any]],
    ) -> tuple[Condition, ...]:
        if given is None:
            return ()
        declared = {
            each.argument: each
            for each in (CUSTOMER_FILTERS if type_name == "Customer" else ORDER_FILTERS)
        }
        conditions: list[Condition] = []
        for name, value in given.items():
            if value is None:
                continue
            each = declared[name]
            if self.decisions.access(each.coordinate) is not Access.VISIBLE:
                raise Decline("FORBIDDEN_FILTER")
            sql_type: TypeEngine[Any] = UTCDateTime() if each.after else String()
            if each.column == "customer_id":
                sql_type = Integer()

            def get(rt: Runtime, argument: str = each.argument, value: Any = each.value) -> Any:
                return value(arguments(rt)["filter"][argument])

            param = Param(each.column, get, sql_type, processed=True)
            conditions.append(Condition(each.column, each.after, param))
        return tuple(conditions)

    def order_by(
        self, type_name: str, given: dict[str, Any] | None
    ) -> tuple[tuple[str, bool], ...]:
        order: list[tuple[str, bool]] = []
        if given is not None:
            chosen: Any = given["field"]
            if not self.decisions.readable(f"{type_name}.{chosen.value}"):
                raise Decline("FORBIDDEN_FILTER")
            columns: dict[Any, Any] = CUSTOMER_COLUMNS if type_name == "Customer" else ORDER_COLUMNS
            order.append((columns[chosen].key, given["direction"].value == "DESC"))
        elif type_name == "Order":
            order.append(("placed_at", True))
        order.append(("id", type_name != "Customer"))
        return tuple(order)

    # --- selections -------------------------------------------------------------------------

    def collect(
        self, runtime: GraphQLObjectType, selection_sets: Sequence[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        """The fields for an object of ``runtime`` type by response key, as graphql-core merges
        them: fragments that apply, ``@skip``/``@include`` decided."""
        fields: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()

        def walk(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if not self.included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    fields.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    if condition is None or self.applies(condition.name.value, runtime):
                        walk(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name in visited:
                        continue
                    visited.add(name)
                    fragment = self.fragments.get(name)
                    if fragment is not None and self.applies(
                        fragment.type_condition.name.value, runtime
                    ):
                        walk(fragment.selection_set)

        for selection_set in selection_sets:
            walk(selection_set)
        return fields

    def included(self, node: Any) -> bool:
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip is not None and skip["if"] is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (include is not None and include["if"] is False)

    def applies(self, condition: str, runtime: GraphQLObjectType) -> bool:
        named = self.schema.get_type(condition)
        if named is runtime:
            return True
        return is_abstract_type(named) and self.schema.is_sub_type(named, runtime)


def _object_type(named: GraphQLNamedType | None) -> GraphQLObjectType:
    if not isinstance(named, GraphQLObjectType):
        raise Decline(f"not an object type: {named}")
    return named


def _selection_sets(nodes: Sequence[FieldNode]) -> list[SelectionSetNode]:
    return [node.selection_set for node in nodes if node.selection_set]


def _pk_or_zero(global_id: Any, type_name: str) -> int:
    """As `schema.queries`: the primary key, or 0 (matches nothing) for another type's id."""
    try:
        kind, pk = from_global_id(str(global_id))
    except InvalidGlobalId:
        return 0
    return pk if kind == type_name else 0


def _node_pk(global_id: Any, type_name: str) -> int:
    """The primary key of a ``node`` id; its type is part of the statement's cache key."""
    try:
        kind, pk = from_global_id(str(global_id))
    except InvalidGlobalId:
        raise Decline("node id") from None
    if kind != type_name:
        raise Decline("node id")
    return pk
