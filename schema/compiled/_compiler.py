"""The compiler: a query operation and a request's policy shape → one SQL statement.

The statement has one column per root field (its JSON text), one per root field that loads
rows (the ids of the customers disclosed, for the access record) and one per redaction probe
(how many places a hidden value takes, summed over every object of its level). Field rules are
decided here, once per (document, operation, plan); row rules are the `RowScope` conditions the
loaders use, adapted to this statement's table aliases; every value from the request (ids,
arguments, the legal request, the caller's own id, today) is a bind parameter.

Anything outside the compiled subset, or anything that would be an error, raises `Decline`:
the Strawberry path then answers (it is the reference, and it reports errors).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLIncludeDirective,
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
from sqlalchemy import (
    CTE,
    Alias,
    BigInteger,
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    String,
    Subquery,
    Table,
    bindparam,
    case,
    func,
    literal,
    select,
)
from sqlalchemy.sql.selectable import AliasedReturnsRows
from sqlalchemy.sql.util import ClauseAdapter

from auth.policy.datatypes import DATA_TYPES
from auth.policy.fields import policy_key
from auth.policy.roots import ROOTS
from auth.policy.row_rules import RowScope
from privacy.errors import InputError
from schema._internals import strawberry_field
from schema.compiled._dialect import Expr, JsonDialect, constant, json_dialect
from schema.errors import PageSizeExceeded
from schema.filters import (
    CUSTOMER_FILTERS,
    ORDER_FILTERS,
    Filter,
    revealed,
    selected_paths,
)
from schema.pagination import page_window
from schema.permissions import ERASABLE
from schema.queries import CUSTOMER_COLUMNS, ORDER_COLUMNS
from schema.types import AGE_BANDS
from store import models
from store.ids import InvalidGlobalId, from_global_id
from store.models import CustomerStatus, UTCDateTime, table_of

Rowset = AliasedReturnsRows
"""Where a level's rows come from: a table's alias, or a page (a subquery or ``WITH`` query)."""

MAX_PAIRS = 50
"""PostgreSQL functions take at most 100 arguments: an object of more keys is declined."""

ROOT_FIELDS = frozenset({"customers", "customer", "orders", "order", "node", "me"})
"""The root fields the compiler serves (SPEC section 9)."""

LOOKUP_TYPES = frozenset({"Customer", "Order", "Address", "Consent", "UsageEvent"})
"""The types ``node(id:)`` is compiled for; the others (audit, legal) stay on Strawberry."""


SCALARS: dict[str, tuple[str, str]] = {
    "Customer.id": ("gid", "id"),
    "Customer.status": ("enum", "status"),
    "Customer.country": ("text", "country"),
    "Customer.preferredLanguage": ("text", "preferred_language"),
    "Customer.createdAt": ("datetime", "created_at"),
    "Customer.updatedAt": ("datetime", "updated_at"),
    "Customer.firstName": ("text", "first_name"),
    "Customer.lastName": ("text", "last_name"),
    "Customer.dateOfBirth": ("date", "date_of_birth"),
    "Customer.ageBand": ("age_band", "date_of_birth"),
    "Customer.email": ("text", "email"),
    "Customer.mobilePhone": ("text", "mobile_phone"),
    "Customer.landlinePhone": ("text", "landline_phone"),
    "Address.id": ("gid", "id"),
    "Address.label": ("enum", "label"),
    "Address.line1": ("text", "line1"),
    "Address.line2": ("text", "line2"),
    "Address.city": ("text", "city"),
    "Address.region": ("text", "region"),
    "Address.postalCode": ("text", "postal_code"),
    "Address.country": ("text", "country"),
    "Address.latitude": ("float", "latitude"),
    "Address.longitude": ("float", "longitude"),
    "Address.isDefault": ("bool", "is_default"),
    "Order.id": ("gid", "id"),
    "Order.number": ("text", "number"),
    "Order.status": ("enum", "status"),
    "Order.placedAt": ("datetime", "placed_at"),
    "Order.totalAmount": ("int_text", "total_amount"),
    "Order.currency": ("text", "currency"),
    "Order.paymentReference": ("text", "payment_reference"),
    "Order.paymentTrackingCode": ("text", "payment_tracking_code"),
    "OrderItem.sku": ("text", "sku"),
    "OrderItem.name": ("text", "name"),
    "OrderItem.quantity": ("int", "quantity"),
    "OrderItem.unitPrice": ("int_text", "unit_price"),
    "Consent.id": ("gid", "id"),
    "Consent.purpose": ("upper", "purpose"),
    "Consent.status": ("enum", "status"),
    "Consent.recordedAt": ("datetime", "recorded_at"),
    "Consent.source": ("enum", "source"),
    "Consent.policyVersion": ("text", "policy_version"),
    "Consent.recipient": ("text", "recipient"),
    "Consent.noticeVersion": ("text", "notice_version"),
    "Consent.language": ("text", "language"),
    "Consent.validUntil": ("datetime", "valid_until"),
    "UsageEvent.id": ("gid", "id"),
    "UsageEvent.occurredAt": ("datetime", "occurred_at"),
    "UsageEvent.kind": ("text", "kind"),
    "UsageEvent.detail": ("text", "detail"),
}
"""Every compiled scalar field: how its column becomes JSON. A field not here is declined."""


@dataclass(frozen=True, slots=True)
class Relation:
    """An object field of a data type: the rows it leads to, as the loaders select them."""

    target: str
    kind: str
    """``list``, ``single`` or ``connection``."""
    child_key: str
    """The target's column matched against the parent's ``parent_key``."""
    parent_key: str
    order: tuple[tuple[str, bool], ...] = ()
    """(column, descending) pairs."""


RELATIONS: dict[str, Relation] = {
    "Customer.addresses": Relation("Address", "list", "customer_id", "id", (("id", False),)),
    "Customer.consents": Relation("Consent", "list", "customer_id", "id", (("id", False),)),
    "Customer.usageEvents": Relation(
        "UsageEvent", "list", "customer_id", "id", (("occurred_at", False), ("id", False))
    ),
    "Customer.orders": Relation(
        "Order", "connection", "customer_id", "id", (("placed_at", True), ("id", True))
    ),
    "Order.items": Relation("OrderItem", "list", "order_id", "id", (("id", False),)),
    "Order.shippingAddress": Relation("Address", "single", "id", "shipping_address_id"),
    "Order.customer": Relation("Customer", "single", "id", "customer_id"),
}
"""Every compiled object field; ``Customer.accessLog`` (audit records) is not among them."""


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


@dataclass(frozen=True, slots=True)
class Bind:
    """A bind parameter of the statement and how a request gives its value."""

    get: Getter
    process: Callable[[Any], Any] | None = None


@dataclass(frozen=True, slots=True)
class Shape:
    """What the SQL depends on besides the document: the policy decisions of a request."""

    scopes: frozenset[str]
    visible: frozenset[str]
    owner: bool
    rows: RowScope
    """The request's row rules, their values replaced by bind parameters."""


@dataclass(frozen=True, slots=True)
class Root:
    """One root field of the response: a constant, or the statement's column ``index``."""

    key: str
    index: int | None = None
    constant: Any = None


@dataclass
class Output:
    """What the compiler produced, before the statement is compiled for the database."""

    roots: list[Root]
    columns: list[Expr]
    binds: dict[str, Bind]
    customers: list[int]
    """Columns holding comma-separated customer ids."""
    probes: list[tuple[int, str, str, int]]
    """(column, ``hidden`` or ``erased``, coordinate, multiplicity)."""
    fixed: Counter[str]
    """Places hidden whatever the rows (``node`` of a type whose id the caller may not read)."""
    revealed: set[str] = field(default_factory=set)
    """Coordinates disclosed beyond the selection: a filter's, of a connection that counts or
    positions what it matched (`schema.filters.revealed`)."""


@dataclass(frozen=True, slots=True)
class Level:
    """A level of objects in the response, and how to select its rows below a parent row."""

    type_name: str
    rows: Callable[[Rowset | None], Rows]
    parent: Level | None


@dataclass(frozen=True, slots=True)
class Rows:
    """The rows of a level below one parent row: their alias, selection and order."""

    alias: Rowset
    select: Select[Any]
    order: Sequence[Expr]
    position: Expr | None = None
    keys: Any = None
    """A page's keys and positions (``first`` + 1 of them when another page follows)."""


class Compiler:
    """Compiles one operation for one `Shape`; `compile` returns the `Output`."""

    def __init__(
        self,
        schema: GraphQLSchema,
        dialect: Any,
        shape: Shape,
        fragments: dict[str, Any],
        request: Runtime,
    ) -> None:
        self.schema = schema
        self.dialect = dialect
        self.json: JsonDialect = json_dialect(dialect.name)
        self.shape = shape
        self.fragments = fragments
        self.variables = request.variables
        self.request = request
        self._names = count()
        self.out = Output([], [], {}, [], [], Counter())

    # --- the operation ------------------------------------------------------------------------

    def compile(self, operation: OperationDefinitionNode) -> Output:
        """The statement's parts for ``operation`` (a query)."""
        query = self.schema.query_type
        assert query is not None
        for key, nodes in self.collect(query, [operation.selection_set]).items():
            name = nodes[0].name.value
            if name == "__typename":
                self.out.roots.append(Root(key, constant="Query"))
                continue
            if name not in ROOT_FIELDS:
                raise Decline(f"Query.{name}")
            self.out.roots.append(self.root(key, name, query.fields[name], nodes))
        return self.out

    def root(self, key: str, name: str, definition: GraphQLField, nodes: list[FieldNode]) -> Root:
        granted = self.shape.scopes
        if any(scope not in granted for scope in ROOTS[name].scopes):
            raise Decline("FORBIDDEN")
        target = get_named_type(definition.type)
        if name in ("customers", "orders"):
            assert isinstance(target, GraphQLObjectType)
            type_name = "Customer" if name == "customers" else "Order"
            json, ids = self.root_connection(type_name, target, definition, nodes)
            if self.emits_nodes(target, nodes):
                # Only the objects a response carries disclose their customers, not the rows
                # it counts (``totalCount``) or points at (cursors).
                self.out.customers.append(self.column(ids))
            return Root(key, self.column(self.json.result(json)))
        if name == "me":
            if not self.shape.owner:
                return Root(key)
            pk = self.bind(Bind(lambda rt: rt.owner_id), Integer)
            return self.lookup(key, "Customer", pk, nodes)
        arguments = self.arguments(definition, nodes[0])
        global_id = str(arguments(self.request)["id"])
        if name in ("customer", "order"):
            type_name = name.capitalize()
            pk = self.bind(Bind(lambda rt: _pk_or_zero(arguments(rt)["id"], type_name)), Integer)
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
            return Root(key)
        data_type = DATA_TYPES.get(type_name)
        if data_type is None or data_type.node_scope is None:
            return Root(key)
        if data_type.node_scope not in self.shape.scopes:
            raise Decline("FORBIDDEN")
        if type_name not in LOOKUP_TYPES:
            raise Decline(f"node of {type_name}")
        if self.access(f"{type_name}.id") != "visible":
            if self.shape.owner:
                raise Decline("node, owner")
            self.out.fixed[f"{type_name}.id"] += 1
            return Root(key)
        pk = self.bind(Bind(lambda rt: _node_pk(arguments(rt)["id"], type_name)), Integer)
        return self.lookup(key, type_name, pk, nodes)

    def lookup(self, key: str, type_name: str, pk: Expr, nodes: list[FieldNode]) -> Root:
        table = _table(type_name)

        def rows(_parent: Rowset | None) -> Rows:
            alias = self.alias(table)
            condition = alias.c.id == pk
            return Rows(alias, select().select_from(alias).where(condition, self.rule(alias)), ())

        level = Level(type_name, rows, None)
        found = rows(None)
        json = self.object(level, found.alias, nodes)
        owner = found.alias.c.id if type_name == "Customer" else found.alias.c.customer_id
        self.out.customers.append(self.column(found.select.add_columns(owner).scalar_subquery()))
        return Root(
            key, self.column(self.json.result(found.select.add_columns(json).scalar_subquery()))
        )

    def emits_nodes(self, connection: GraphQLObjectType, nodes: list[FieldNode]) -> bool:
        """Whether a connection's selection puts objects into the response (``edges.node``)."""
        edges = get_named_type(connection.fields["edges"].type)
        assert isinstance(edges, GraphQLObjectType)
        fields = self.collect(connection, [n.selection_set for n in nodes if n.selection_set])
        return any(
            field_nodes[0].name.value == "node"
            for selected in fields.values()
            if selected[0].name.value == "edges"
            for field_nodes in self.collect(
                edges, [n.selection_set for n in selected if n.selection_set]
            ).values()
        )

    def positions(self, connection: GraphQLObjectType, nodes: list[FieldNode]) -> bool:
        """Whether a connection's selection needs its rows' positions: a cursor, or
        ``pageInfo`` beyond ``hasPreviousPage`` (which the offset alone answers)."""
        for key_nodes in self.collect(
            connection, [n.selection_set for n in nodes if n.selection_set]
        ).values():
            name = key_nodes[0].name.value
            if name not in ("edges", "pageInfo"):
                continue
            inner = get_named_type(connection.fields[name].type)
            assert isinstance(inner, GraphQLObjectType)
            selected = self.collect(inner, [n.selection_set for n in key_nodes if n.selection_set])
            needed = {"cursor"} if name == "edges" else {"hasNextPage", "startCursor", "endCursor"}
            if any(field_nodes[0].name.value in needed for field_nodes in selected.values()):
                return True
        return False

    def root_connection(
        self,
        type_name: str,
        connection: GraphQLObjectType,
        definition: GraphQLField,
        nodes: list[FieldNode],
    ) -> tuple[Expr, Expr]:
        arguments = self.arguments(definition, nodes[0])
        given = arguments(self.request)
        table = _table(type_name)
        filters = self.filters(type_name, given.get("filter"), arguments)
        order = self.order_by(type_name, given.get("orderBy"))

        def where(alias: Rowset, _parent: Rowset | None) -> list[Expr]:
            return [self.rule(alias), *(condition(alias) for condition in filters)]

        def ordering(alias: Rowset) -> list[Expr]:
            return [expression(alias) for expression in order]

        window = self.window(arguments)
        positions = self.positions(connection, nodes)
        level_rows = self.page_rows(table, where, ordering, window, positions)
        json = self.connection(type_name, connection, nodes, level_rows, where, window, None, None)
        self.matched(type_name, connection, nodes, given.get("filter"), where)
        found = level_rows(None)
        owner = found.alias.c.id if type_name == "Customer" else found.alias.c.customer_id
        ids = found.select.add_columns(self.json.id_list(owner)).scalar_subquery()
        return json, ids

    def matched(
        self,
        type_name: str,
        connection: GraphQLObjectType,
        nodes: list[FieldNode],
        given: dict[str, Any] | None,
        where: Callable[[Rowset, Rowset | None], list[Expr]],
    ) -> None:
        """A filtered connection that counts or positions its rows discloses something of
        every customer its filter matched: a column names them all for the access record."""
        filters = CUSTOMER_FILTERS if type_name == "Customer" else ORDER_FILTERS
        named = [name for name, value in (given or {}).items() if value is not None]
        selected = selected_paths(nodes, self.fragments, self.variables)
        coordinates = revealed(connection.name, filters, named, selected)
        if not coordinates:
            return
        rows = self.alias(_table(type_name))
        owner = rows.c.id if type_name == "Customer" else rows.c.customer_id
        everyone = select(self.json.id_list(owner)).select_from(rows).where(*where(rows, None))
        self.out.customers.append(self.column(everyone.scalar_subquery()))
        self.out.revealed.update(coordinates)

    # --- objects ------------------------------------------------------------------------------

    def object(self, level: Level, alias: Rowset, nodes: list[FieldNode]) -> Expr:
        """The JSON object of a row of ``level`` for the merged selections ``nodes``."""
        type_name = level.type_name
        graphql_type = self.schema.type_map[type_name]
        assert isinstance(graphql_type, GraphQLObjectType)
        fields = self.collect(graphql_type, [n.selection_set for n in nodes if n.selection_set])
        if len(fields) > MAX_PAIRS:
            raise Decline("too many keys")
        pairs: list[tuple[str, Expr]] = []
        hidden: Counter[str] = Counter()
        for key, field_nodes in fields.items():
            name = field_nodes[0].name.value
            if name == "__typename":
                pairs.append((key, self.json.string(type_name)))
                continue
            coordinate = f"{type_name}.{name}"
            access = self.access(coordinate)
            if access == "hidden":
                hidden[coordinate] += 1
                pairs.append((key, self.json.null()))
                continue
            definition = graphql_type.fields[name]
            # Below a field the caller sees on its own rows only, only those rows have children.
            guard = access == "owned"
            value = self.value(level, alias, coordinate, definition, field_nodes, guard=guard)
            if access == "owned":
                if coordinate == "Order.shippingAddress" and self.access("Address.id") != "visible":
                    raise Decline("shipping address, owner")
                value = self.json.when(self.owned(type_name, alias), value)
                self.probe_count(
                    level,
                    lambda a: case((self.owned(type_name, a), 0), else_=1),
                    "hidden",
                    coordinate,
                )
            if strawberry_field(definition).metadata.get(ERASABLE):
                self.erased_probe(level, coordinate, access)
            pairs.append((key, value))
        for coordinate, times in hidden.items():
            self.probe_count(level, lambda _a: literal(1), "hidden", coordinate, times)
        return self.json.object(pairs)

    def value(
        self,
        level: Level,
        alias: Rowset,
        coordinate: str,
        definition: GraphQLField,
        nodes: list[FieldNode],
        *,
        guard: bool = False,
    ) -> Expr:
        scalar = SCALARS.get(coordinate)
        if scalar is not None:
            kind, column = scalar
            if kind == "gid":
                return self.json.global_id(level.type_name, alias.c.id)
            if kind == "age_band":
                return self.age_band(alias.c[column])
            return self.json.value(kind, alias.c[column])
        relation = RELATIONS.get(coordinate)
        if relation is None:
            raise Decline(coordinate)
        if relation.kind == "connection":
            connection = get_named_type(definition.type)
            assert isinstance(connection, GraphQLObjectType)
            return self.nested_connection(
                level, alias, relation, connection, definition, nodes, guard=guard
            )
        table = _table(relation.target)

        def rows(parent: Rowset | None) -> Rows:
            assert parent is not None
            child = self.alias(table)
            condition = child.c[relation.child_key] == parent.c[relation.parent_key]
            where = [condition] if relation.kind == "list" else [condition, self.rule(child)]
            if relation.kind == "list" and table is table_of(models.Address):
                where.append(ClauseAdapter(child).traverse(self.shape.rows.listed_addresses()))
            if guard:
                where.append(self.owned(level.type_name, parent))
            order = [
                child.c[name].desc() if desc else child.c[name] for name, desc in relation.order
            ]
            return Rows(child, select().select_from(child).where(*where).correlate(parent), order)

        child_level = Level(relation.target, rows, level)
        found = rows(alias)
        json = self.object(child_level, found.alias, nodes)
        if relation.kind == "list":
            return self.json.array(found.select, json, found.order)
        return self.json.optional(found.select.add_columns(json).scalar_subquery())

    def age_band(self, born: Expr) -> Expr:
        year = self.bind(Bind(lambda rt: rt.today.year), Integer)
        month_day = self.bind(Bind(lambda rt: rt.today.strftime("%m-%d")), String)
        age = self.json.age(born, year, month_day)
        band = case(
            *((age < limit, constant(text)) for limit, text in AGE_BANDS), else_=constant("65+")
        )
        return self.json.value("text", case((born.is_(None), None), else_=band))

    # --- connections --------------------------------------------------------------------------

    def nested_connection(
        self,
        level: Level,
        alias: Rowset,
        relation: Relation,
        connection: GraphQLObjectType,
        definition: GraphQLField,
        nodes: list[FieldNode],
        *,
        guard: bool,
    ) -> Expr:
        arguments = self.arguments(definition, nodes[0])
        table = _table(relation.target)

        def where(child: Rowset, parent: Rowset | None) -> list[Expr]:
            assert parent is not None
            link = child.c[relation.child_key] == parent.c[relation.parent_key]
            if guard:
                return [link, self.rule(child), self.owned(level.type_name, parent)]
            return [link, self.rule(child)]

        def ordering(child: Rowset) -> list[Expr]:
            return [
                child.c[name].desc() if desc else child.c[name] for name, desc in relation.order
            ]

        window = self.window(arguments)
        rows = self.page_rows(table, where, ordering, window, self.positions(connection, nodes))
        return self.connection(
            relation.target, connection, nodes, rows, where, window, level, alias
        )

    def window(self, arguments: Callable[[Runtime], dict[str, Any]]) -> dict[str, Expr]:
        """The page's binds: ``first``, ``offset``, ``limit`` (first + 1), ``end``."""

        def page(rt: Runtime) -> tuple[int, int]:
            given = arguments(rt)
            try:
                return page_window(rt.max_page_size, given["first"], given["after"])
            except (PageSizeExceeded, InputError):
                raise Decline("page") from None

        return {
            # BIGINT: an offset near 2**31 plus a page is past PostgreSQL's INTEGER.
            "first": self.bind(Bind(lambda rt: page(rt)[1]), Integer),
            "offset": self.bind(Bind(lambda rt: page(rt)[0]), BigInteger),
            "limit": self.bind(Bind(lambda rt: page(rt)[1] + 1), Integer),
            "end": self.bind(Bind(lambda rt: sum(page(rt))), BigInteger),
        }

    def page_rows(
        self,
        table: Table,
        where: Callable[[Rowset, Rowset | None], list[Expr]],
        ordering: Callable[[Rowset], list[Expr]],
        window: dict[str, Expr],
        positions: bool,
    ) -> Callable[[Rowset | None], Rows]:
        """The rows of a page, in one ordered and limited selection of the table's columns.

        With ``positions`` (the selection has cursors or ``hasNextPage``) each row also gets
        its position in the whole ordered set (a window function), and the page reads one row
        more than ``first`` to tell whether another page follows; without, it reads ``first``
        rows and no window is computed. A root page is one materialised ``WITH`` query,
        however many columns of the statement read it (its JSON, the customers it discloses,
        each redaction probe): the database pages once. A nested page depends on its parent.
        """
        root_pages: list[CTE] = []

        def rows(parent: Rowset | None) -> Rows:
            page: CTE | Subquery
            if parent is None and root_pages:
                page = root_pages[0]
            else:
                row = self.alias(table)
                order = ordering(row)
                columns: list[Any] = [row]
                if positions:
                    position = func.row_number().over(order_by=order) - 1
                    columns.append(position.label("position"))
                chosen = (
                    select(*columns)
                    .where(*where(row, parent))
                    .order_by(*order)
                    .limit(window["limit" if positions else "first"])
                    .offset(window["offset"])
                )
                if parent is None:
                    page = chosen.cte(self.name("k")).prefix_with("MATERIALIZED")
                    root_pages.append(page)
                else:
                    page = chosen.correlate(parent).subquery(self.name("k"))
            found = select().select_from(page)
            if positions:
                found = found.where(page.c.position < window["end"])
            if parent is not None:
                found = found.correlate(parent)
            if positions:
                return Rows(page, found, [page.c.position], page.c.position, page)
            return Rows(page, found, ordering(page), None, page)

        return rows

    def connection(
        self,
        type_name: str,
        connection: GraphQLObjectType,
        nodes: list[FieldNode],
        rows: Callable[[Rowset | None], Rows],
        where: Callable[[Rowset, Rowset | None], list[Expr]],
        window: dict[str, Expr],
        parent_level: Level | None,
        parent: Rowset | None,
    ) -> Expr:
        fields = self.collect(connection, [n.selection_set for n in nodes if n.selection_set])
        pairs: list[tuple[str, Expr]] = []
        table = _table(type_name)
        for key, field_nodes in fields.items():
            name = field_nodes[0].name.value
            if name == "__typename":
                pairs.append((key, self.json.string(connection.name)))
            elif name == "totalCount":
                counted = self.alias(table)
                total = select(func.count()).select_from(counted).where(*where(counted, parent))
                if parent is not None:
                    total = total.correlate(parent)
                pairs.append((key, self.json.value("int", total.scalar_subquery())))
            elif name == "pageInfo":
                page_info = get_named_type(connection.fields[name].type)
                assert isinstance(page_info, GraphQLObjectType)
                pairs.append((key, self.page_info(page_info, field_nodes, rows, window, parent)))
            elif name == "edges":
                edge = get_named_type(connection.fields[name].type)
                assert isinstance(edge, GraphQLObjectType)
                level = Level(type_name, rows, parent_level)
                found = rows(parent)
                json = self.edge(level, edge, field_nodes, found)
                pairs.append((key, self.json.array(found.select, json, found.order)))
            else:
                raise Decline(f"{connection.name}.{name}")
        return self.json.object(pairs)

    def edge(
        self, level: Level, edge: GraphQLObjectType, nodes: list[FieldNode], found: Rows
    ) -> Expr:
        pairs: list[tuple[str, Expr]] = []
        fields = self.collect(edge, [n.selection_set for n in nodes if n.selection_set])
        for key, field_nodes in fields.items():
            name = field_nodes[0].name.value
            if name == "__typename":
                pairs.append((key, self.json.string(edge.name)))
            elif name == "cursor":
                assert found.position is not None
                pairs.append((key, self.json.value("text", self.json.cursor(found.position))))
            elif name == "node":
                pairs.append((key, self.object(level, found.alias, field_nodes)))
            else:
                raise Decline(f"{edge.name}.{name}")
        return self.json.object(pairs)

    def page_info(
        self,
        page_info: GraphQLObjectType,
        nodes: list[FieldNode],
        rows: Callable[[Rowset | None], Rows],
        window: dict[str, Expr],
        parent: Rowset | None,
    ) -> Expr:
        pairs: list[tuple[str, Expr]] = []
        fields = self.collect(page_info, [n.selection_set for n in nodes if n.selection_set])
        for key, field_nodes in fields.items():
            name = field_nodes[0].name.value
            if name == "__typename":
                pairs.append((key, self.json.string(page_info.name)))
            elif name == "hasPreviousPage":
                pairs.append((key, self.json.boolean(window["offset"] > 0)))
            elif name == "hasNextPage":
                pairs.append((key, self.json.boolean(self.fetched(rows, parent) > window["first"])))
            elif name in ("startCursor", "endCursor"):
                found = rows(parent)
                assert found.position is not None
                edge = func.min if name == "startCursor" else func.max
                position = found.select.add_columns(edge(found.position)).scalar_subquery()
                pairs.append((key, self.json.value("text", self.json.cursor(position))))
            else:
                raise Decline(f"PageInfo.{name}")
        return self.json.object(pairs)

    def fetched(self, rows: Callable[[Rowset | None], Rows], parent: Rowset | None) -> Expr:
        """How many rows the page read: ``first`` + 1 when another page follows."""
        found = rows(parent)
        counted = select(func.count()).select_from(found.keys)
        if parent is not None:
            counted = counted.correlate(parent)
        return counted.scalar_subquery()

    # --- arguments ----------------------------------------------------------------------------

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

    def filters(
        self,
        type_name: str,
        given: dict[str, Any] | None,
        arguments: Callable[[Runtime], dict[str, Any]],
    ) -> list[Callable[[Rowset], Expr]]:
        if given is None:
            return []
        declared = {
            each.argument: each
            for each in (CUSTOMER_FILTERS if type_name == "Customer" else ORDER_FILTERS)
        }
        conditions: list[Callable[[Rowset], Expr]] = []
        for name, value in given.items():
            if value is None:
                continue
            each = declared[name]
            if self.access(each.coordinate) != "visible":
                raise Decline("FORBIDDEN_FILTER")
            sql_type: Any = UTCDateTime() if each.after else String()
            if each.column == "customer_id":
                sql_type = Integer()
            parameter = self.bind(
                Bind(_filter_getter(arguments, each), sql_type.bind_processor(self.dialect)),
                sql_type,
            )
            conditions.append(_comparison(each, parameter))
        return conditions

    def order_by(
        self, type_name: str, given: dict[str, Any] | None
    ) -> list[Callable[[Rowset], Expr]]:
        order: list[Callable[[Rowset], Expr]] = []
        if given is not None:
            chosen: Any = given["field"]
            if not self.readable(f"{type_name}.{chosen.value}"):
                raise Decline("FORBIDDEN_FILTER")
            columns: dict[Any, Any] = CUSTOMER_COLUMNS if type_name == "Customer" else ORDER_COLUMNS
            column = columns[chosen].key
            descending = given["direction"].value == "DESC"
            order.append(lambda a: a.c[column].desc() if descending else a.c[column].asc())
        elif type_name == "Order":
            order.append(lambda a: a.c.placed_at.desc())
        last = "asc" if type_name == "Customer" else "desc"
        order.append(lambda a: getattr(a.c.id, last)())
        return order

    # --- the policy -----------------------------------------------------------------------------

    def access(self, coordinate: str) -> str:
        """``visible``, ``owned`` (visible on the caller's own rows only) or ``hidden``."""
        key = policy_key(coordinate)
        if key is None:
            return "hidden"
        if key in self.shape.visible:
            return "visible"
        return "owned" if self.shape.owner else "hidden"

    def readable(self, coordinate: str) -> bool:
        key = policy_key(coordinate)
        return key is not None and key in self.shape.visible

    def rule(self, alias: Rowset) -> Expr:
        """The row rule of the alias's table, as `RowScope` gives it to the loaders."""
        assert isinstance(alias, Alias), "row rules apply to a table's rows, not to a page"
        rows = self.shape.rows
        table = alias.element
        if table is table_of(models.Order):
            condition = rows.orders()
        elif table is table_of(models.Customer):
            condition = rows.customer_rows()
        elif table is table_of(models.Address):
            condition = rows.addresses()
        else:
            return rows.customers(alias.c.customer_id)
        return ClauseAdapter(alias).traverse(condition)

    def owned(self, type_name: str, alias: Rowset) -> Expr:
        """Whether a row is the caller's own (``me``): its data is always visible to them."""
        owner = self.bind(Bind(lambda rt: rt.owner_id), Integer)
        if type_name == "Customer":
            return alias.c.id == owner
        if type_name == "OrderItem":
            order = self.alias(table_of(models.Order))
            owner_of = select(order.c.customer_id).where(order.c.id == alias.c.order_id)
            return owner_of.scalar_subquery() == owner
        return alias.c.customer_id == owner

    def erased_probe(self, level: Level, coordinate: str, access: str) -> None:
        column = alias_column(SCALARS[coordinate][1])

        def erased(alias: Rowset) -> Expr:
            condition = (alias.c.status == CustomerStatus.ERASED.value) & column(alias).is_(None)
            if access == "owned":
                condition = condition & self.owned("Customer", alias)
            return case((condition, 1), else_=0)

        self.probe_count(level, erased, "erased", coordinate)

    def probe_count(
        self,
        level: Level,
        value: Callable[[Rowset], Expr],
        counter: str,
        coordinate: str,
        times: int = 1,
    ) -> None:
        """Sum ``value`` over every object of ``level`` in the response, as a column."""

        def total(at: Level, parent: Rowset | None, inner: Callable[[Rowset], Expr]) -> Expr:
            found = at.rows(parent)
            summed = func.coalesce(func.sum(inner(found.alias)), 0)
            return found.select.add_columns(summed).scalar_subquery()

        chain: list[Level] = []
        at: Level | None = level
        while at is not None:
            chain.append(at)
            at = at.parent
        inner = value
        for step in chain[:-1]:
            inner = _summed(total, step, inner)
        column = self.column(total(chain[-1], None, inner))
        self.out.probes.append((column, counter, coordinate, times))

    # --- selections -------------------------------------------------------------------------------

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

    # --- plumbing -------------------------------------------------------------------------------

    def bind(self, bind: Bind, sql_type: Any) -> BindParameter[Any]:
        name = self.name("p")
        self.out.binds[name] = bind
        return bindparam(name, None, type_=sql_type)

    def column(self, expression: Expr) -> int:
        self.out.columns.append(expression)
        return len(self.out.columns) - 1

    def alias(self, table: Table) -> Alias:
        alias: Alias = table.alias(self.name("t"))  # type: ignore[assignment]
        return alias

    def name(self, prefix: str) -> str:
        return f"{prefix}{next(self._names)}"


def _summed(
    total: Callable[[Level, Rowset | None, Callable[[Rowset], Expr]], Expr],
    level: Level,
    inner: Callable[[Rowset], Expr],
) -> Callable[[Rowset], Expr]:
    return lambda parent: total(level, parent, inner)


def alias_column(name: str) -> Callable[[Rowset], ColumnElement[Any]]:
    """The column ``name`` of an alias."""
    return lambda alias: alias.c[name]


def _table(type_name: str) -> Table:
    return table_of(DATA_TYPES[type_name].model)


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


def _filter_getter(arguments: Callable[[Runtime], dict[str, Any]], each: Filter) -> Getter:
    """A filter's value in a request, as `schema.filters` declares it for both executors."""

    def get(rt: Runtime) -> Any:
        return each.value(arguments(rt)["filter"][each.argument])

    return get


def _comparison(each: Filter, parameter: Expr) -> Callable[[Rowset], Expr]:
    if each.after:
        return lambda alias: alias.c[each.column] > parameter
    return lambda alias: alias.c[each.column] == parameter


def parametrised(rows: RowScope, dialect: Any) -> tuple[RowScope, dict[str, Bind]]:
    """The row rules with their values (ids, names, times) as bind parameters.

    Returns the rules to compile and the binds that give each request's values. The purpose
    and the flags stay: the SQL depends on them (`rows_shape`).
    """
    replaced: dict[str, Any] = {}
    binds: dict[str, Bind] = {}
    for rule in dataclasses.fields(rows):
        value = getattr(rows, rule.name)
        if value is None or isinstance(value, bool | enum.Enum):
            continue
        name = f"row_{rule.name}"
        sql_type: Any = (
            Integer()
            if isinstance(value, int)
            else UTCDateTime()
            if isinstance(value, dt.datetime)
            else String()
        )
        replaced[rule.name] = bindparam(name, None, type_=sql_type)
        binds[name] = Bind(_row_value(rule.name), sql_type.bind_processor(dialect))
    return dataclasses.replace(rows, **replaced), binds


CLOCK = frozenset({"row_now", "row_assignments_since"})
"""The row rules' binds that the clock gives, not the request: no value of a request's."""


def _row_value(attribute: str) -> Getter:
    return lambda rt: getattr(rt.rows, attribute)


def rows_shape(rows: RowScope) -> tuple[Any, ...]:
    """What of the row rules the SQL depends on: the purpose and flags, not the ids."""
    return tuple(
        value if value is None or isinstance(value, bool | enum.Enum) else type(value)
        for value in (getattr(rows, rule.name) for rule in dataclasses.fields(rows))
    )
