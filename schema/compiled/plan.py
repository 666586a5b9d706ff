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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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
    get_argument_values,
    get_directive_values,
    get_named_type,
    is_abstract_type,
)
from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.types import TypeEngine

from auth.policy.catalog import (
    DATA_TYPES,
    FIELDS,
    Cardinality,
    Field,
    Kind,
    Ownership,
    Relation,
    compiled,
)
from auth.policy.decision import Access, Decision
from auth.policy.forms import check
from auth.policy.roots import ROOTS
from privacy.errors import InputError
from schema.compiled.tree import (
    CatalogMismatch,
    Condition,
    ConnectionPlan,
    Constant,
    Cursor,
    Decline,
    Edges,
    Hidden,
    HiddenNode,
    Listing,
    Lookup,
    Member,
    Node,
    ObjectPlan,
    PageInfo,
    Param,
    Plan,
    Related,
    Root,
    Runtime,
    Scalar,
    TotalCount,
    Typename,
    Window,
    owner_param,
)
from schema.errors import PageSizeExceeded
from schema.filters import CUSTOMER_FILTERS, ORDER_FILTERS, revealed, selected_paths
from schema.pagination import page_window
from schema.queries import CUSTOMER_COLUMNS, ORDER_COLUMNS
from store.ids import InvalidGlobalId, from_global_id
from store.models import UTCDateTime

ROOT_FIELDS = frozenset({"customers", "customer", "orders", "order", "node", "me"})
"""The root fields the compiler serves (SPEC section 9)."""

OWNED_NEEDS_TARGET_ID = frozenset({"Order.shippingAddress"})
"""Relations that a caller reading their own rows only (``me``) gets compiled only when they
may read the target's ids."""

MAX_PAIRS = 50
"""PostgreSQL functions take at most 100 arguments: an object of more keys is declined."""

COMPILED_KINDS = frozenset(Kind) - {Kind.TEXT_LIST, Kind.ID_LIST, Kind.JSON, Kind.OBJECT}
"""The kinds of scalar the compiler writes as JSON (`schema.compiled._dialect`)."""


@dataclass(frozen=True, slots=True)
class Decisions:
    """What a plan depends on besides the document: the request's scopes, whether the caller is
    a customer reading their own data (``me``), and the policy's decision for each field
    (`auth.policy.decision.decide` for the request's plan)."""

    scopes: frozenset[str]
    owner: bool
    decide: Callable[[str], Decision]

    def access(self, coordinate: str) -> Access:
        """Visible, in a form, visible on the caller's own rows only, or hidden."""
        access = self.decide(coordinate).access
        if access is Access.FORM and self.owner:
            # The owner rule (clear on their own rows) over a form: Strawberry answers.
            raise Decline(f"{coordinate}: a form of its value, owner")
        return access

    def readable(self, coordinate: str) -> bool:
        """Whether the field's value is visible on every row."""
        return self.decide(coordinate).access is Access.VISIBLE


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
        if not data_type.compiled:
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
            if not compiled(coordinate):
                raise Decline(coordinate)
            owned = access is Access.OWNED
            found = FIELDS[coordinate]
            relation = found.relation
            if relation is None:
                scalar = _scalar(key, coordinate, found, owned=owned)
                form = self.decisions.decide(coordinate).form
                if form is not None:
                    value_kind = check(coordinate, form)
                    scalar = replace(scalar, form=form, value_kind=value_kind)
                members.append(scalar)
                continue
            if relation.child_key is None or relation.parent_key is None:
                raise CatalogMismatch(f"{coordinate}: a compiled relation without keys")
            if (
                owned
                and coordinate in OWNED_NEEDS_TARGET_ID
                and not self.decisions.readable(f"{relation.target}.id")
            ):
                raise Decline(f"{coordinate}, owner")
            child = self.related(relation, graphql_type.fields[name], field_nodes)
            members.append(Related(key, coordinate, relation, child, owned=owned))
        return ObjectPlan(type_name, tuple(members))

    def related(
        self, relation: Relation, definition: GraphQLField, nodes: list[FieldNode]
    ) -> ObjectPlan | ConnectionPlan:
        if relation.cardinality is not Cardinality.CONNECTION:
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


def _scalar(key: str, coordinate: str, found: Field, *, owned: bool) -> Scalar:
    """A compiled scalar field as the catalog describes it."""
    if found.kind not in COMPILED_KINDS or found.column is None:
        raise CatalogMismatch(f"{coordinate}: no compiled form of a {found.kind} field")
    type_name = coordinate.partition(".")[0]
    if found.erasable and DATA_TYPES[type_name].ownership is not Ownership.SELF:
        raise CatalogMismatch(f"{coordinate}: erasure blanks customers' fields only")
    return Scalar(key, coordinate, found.kind, found.column, owned=owned, erasable=found.erasable)


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
