"""Compiled reads, step 2: a `Plan` → the parts of one SQL statement (SQLAlchemy Core).

The statement has one column per root field (its JSON text), one per root field that loads
rows (the ids of the customers disclosed, for the access record) and one per redaction probe
(how many places a hidden value takes, summed over every object of its level). Row rules are
the `RowScope` conditions the loaders use, adapted to this statement's table aliases. JSON is
built through the dialect seam (`schema.compiled._dialect`). Aliases say what they are:
a table's name and a number (``customer1``), a page of it (``customer_order_page2``), a value
of the request (``req_first3``), of its row rules (``row_only_customer_id``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    CTE,
    Alias,
    BindParameter,
    Dialect,
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

from auth.policy.catalog import DATA_TYPES, Cardinality, Kind, Ownership, Relation
from auth.policy.decision import row_condition
from auth.policy.row_rules import RowScope
from schema.compiled._dialect import Expr, JsonDialect, constant, json_dialect
from schema.compiled.tree import (
    CatalogMismatch,
    Condition,
    ConnectionPlan,
    Constant,
    Cursor,
    Decline,
    Edges,
    Getter,
    Hidden,
    HiddenNode,
    Listing,
    Lookup,
    Node,
    ObjectPlan,
    PageInfo,
    Param,
    Plan,
    Related,
    Scalar,
    TotalCount,
    Typename,
    Window,
    owner_param,
)
from schema.forms_sql import form_sql
from schema.types import AGE_BANDS
from store.models import CustomerStatus, table_of

Rowset = AliasedReturnsRows
"""Where a level's rows come from: a table's alias, or a page (a subquery or ``WITH`` query)."""


@dataclass(frozen=True, slots=True)
class Bind:
    """A bind parameter of the statement and how a request gives its value."""

    get: Getter
    process: Callable[[Any], Any] | None = None


@dataclass(frozen=True, slots=True)
class RootColumn:
    """One root field of the response: a constant, or the statement's column ``index``."""

    key: str
    index: int | None = None
    constant: Any = None


@dataclass
class Output:
    """What the emitter produced, before the statement is compiled for the database."""

    roots: list[RootColumn] = field(default_factory=list)
    columns: list[Expr] = field(default_factory=list)
    binds: dict[str, Bind] = field(default_factory=dict)
    customers: list[int] = field(default_factory=list)
    """Columns holding comma-separated customer ids."""
    probes: list[tuple[int, str, str, int]] = field(default_factory=list)
    """(column, ``hidden`` or ``erased``, coordinate, multiplicity)."""
    fixed: Counter[str] = field(default_factory=Counter)
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


Where = Callable[[Rowset, Rowset | None], list[Expr]]
RowsOf = Callable[[Rowset | None], Rows]


class Emitter:
    """Emits one `Plan` for one database and one request's (parametrised) row rules."""

    def __init__(self, dialect: Dialect, rows: RowScope) -> None:
        self.dialect = dialect
        self.json: JsonDialect = json_dialect(dialect.name)
        self.rows = rows
        self.out = Output()
        self._numbers: Counter[str] = Counter()
        self._params: dict[int, BindParameter[Any]] = {}
        self._owner = owner_param()

    def emit(self, plan: Plan) -> Output:
        """The statement's parts for ``plan``."""
        for root in plan.roots:
            if isinstance(root, Constant):
                self.out.roots.append(RootColumn(root.key, constant=root.value))
            elif isinstance(root, HiddenNode):
                self.out.fixed[root.coordinate] += 1
                self.out.roots.append(RootColumn(root.key))
            elif isinstance(root, Lookup):
                self.out.roots.append(self.lookup(root))
            else:
                self.out.roots.append(self.listing(root))
        return self.out

    def lookup(self, root: Lookup) -> RootColumn:
        table = _table(root.type_name)
        pk = self.param(root.pk)

        def rows(_parent: Rowset | None) -> Rows:
            alias = self.alias(table)
            where = [alias.c.id == pk, *self.rule(root.type_name, alias)]
            return Rows(alias, select().select_from(alias).where(*where), ())

        found = rows(None)
        json = self.object(Level(root.type_name, rows, None), found.alias, root.object)
        owner = _owner_column(root.type_name, found.alias)
        self.out.customers.append(self.column(found.select.add_columns(owner).scalar_subquery()))
        value = self.json.result(found.select.add_columns(json).scalar_subquery())
        return RootColumn(root.key, self.column(value))

    def listing(self, root: Listing) -> RootColumn:
        page = root.page
        type_name = page.type_name
        table = _table(type_name)
        conditions = [self.condition(each) for each in page.conditions]

        def where(alias: Rowset, _parent: Rowset | None) -> list[Expr]:
            return [*self.rule(type_name, alias), *(condition(alias) for condition in conditions)]

        window = self.window(page.window)
        rows = self.page_rows(table, where, _ordering(page.order), window, page.positions)
        json = self.connection(page, rows, where, window, None, None)
        if root.revealed:
            # A filtered connection that counts or positions its rows discloses something of
            # every customer its filter matched: a column names them all for the access record.
            matched = self.alias(table)
            owners = self.json.id_list(_owner_column(type_name, matched))
            everyone = select(owners).select_from(matched).where(*where(matched, None))
            self.out.customers.append(self.column(everyone.scalar_subquery()))
            self.out.revealed.update(root.revealed)
        if root.emits_nodes:
            # Only the objects a response carries disclose their customers, not the rows it
            # counts (``totalCount``) or points at (cursors).
            found = rows(None)
            ids = self.json.id_list(_owner_column(type_name, found.alias))
            self.out.customers.append(self.column(found.select.add_columns(ids).scalar_subquery()))
        return RootColumn(root.key, self.column(self.json.result(json)))

    # --- objects ----------------------------------------------------------------------------

    def object(self, level: Level, alias: Rowset, plan: ObjectPlan) -> Expr:
        """The JSON object of a row of ``level``."""
        type_name = level.type_name
        pairs: list[tuple[str, Expr]] = []
        hidden: Counter[str] = Counter()
        for member in plan.members:
            if isinstance(member, Typename):
                pairs.append((member.key, self.json.string(member.name)))
                continue
            if isinstance(member, Hidden):
                hidden[member.coordinate] += 1
                pairs.append((member.key, self.json.null()))
                continue
            if isinstance(member, Scalar):
                value = self.scalar(type_name, alias, member)
            else:
                value = self.related(level, alias, member)
            if member.owned:
                value = self.json.when(self.owned(type_name, alias), value)
                self.probe_count(
                    level,
                    lambda row: case((self.owned(type_name, row), 0), else_=1),
                    "hidden",
                    member.coordinate,
                )
            if isinstance(member, Scalar) and member.erasable:
                self.erased_probe(level, member)
            if isinstance(member, Scalar) and member.form is not None:
                # A form counts on every object, whether or not a value is stored (MASKED).
                hidden[member.coordinate] += 1
            pairs.append((member.key, value))
        for coordinate, times in hidden.items():
            self.probe_count(level, lambda _row: literal(1), "hidden", coordinate, times)
        return self.json.object(pairs)

    def scalar(self, type_name: str, alias: Rowset, member: Scalar) -> Expr:
        if member.kind is Kind.GID:
            return self.json.global_id(type_name, alias.c.id)
        if member.kind is Kind.AGE_BAND:
            return self.age_band(alias.c[member.column])
        column: Expr = alias.c[member.column]
        if member.form is not None and member.value_kind is not None:
            formed = form_sql(self.dialect.name, member.form, member.value_kind, column)
            # A pseudonym has no SQL (None): the clear value, replaced after the statement.
            if formed is not None:
                column = formed
        return self.json.value(member.kind, column)

    def related(self, level: Level, alias: Rowset, member: Related) -> Expr:
        relation, child = member.relation, member.child
        if isinstance(child, ConnectionPlan):
            return self.nested_connection(level, alias, relation, child, guard=member.owned)
        table = _table(relation.target)

        def rows(parent: Rowset | None) -> Rows:
            above = _parent_of(parent, member.coordinate)
            row = self.alias(table)
            where = [_link(relation, row, above)]
            if relation.row_rule:
                where.extend(self.rule(relation.target, row))
            # Below a field the caller sees on its own rows only, only those rows have children.
            if member.owned:
                where.append(self.owned(level.type_name, above))
            chosen = select().select_from(row).where(*where).correlate(above)
            return Rows(row, chosen, _ordering(relation.order)(row))

        found = rows(alias)
        json = self.object(Level(relation.target, rows, level), found.alias, child)
        if relation.cardinality is Cardinality.LIST:
            return self.json.array(found.select, json, found.order)
        return self.json.optional(found.select.add_columns(json).scalar_subquery())

    def age_band(self, born: Expr) -> Expr:
        year = self.bind("today_year", lambda rt: rt.today.year, Integer())
        month_day = self.bind("today_month_day", lambda rt: rt.today.strftime("%m-%d"), String())
        age = self.json.age(born, year, month_day)
        band = case(
            *((age < limit, constant(text)) for limit, text in AGE_BANDS), else_=constant("65+")
        )
        return self.json.value("text", case((born.is_(None), None), else_=band))

    # --- connections ------------------------------------------------------------------------

    def nested_connection(
        self, level: Level, alias: Rowset, relation: Relation, page: ConnectionPlan, *, guard: bool
    ) -> Expr:
        table = _table(relation.target)

        def where(child: Rowset, parent: Rowset | None) -> list[Expr]:
            above = _parent_of(parent, relation.target)
            conditions = [_link(relation, child, above)]
            if relation.row_rule:
                conditions.extend(self.rule(relation.target, child))
            if guard:
                conditions.append(self.owned(level.type_name, above))
            return conditions

        window = self.window(page.window)
        rows = self.page_rows(table, where, _ordering(page.order), window, page.positions)
        return self.connection(page, rows, where, window, level, alias)

    def window(self, window: Window) -> dict[str, Expr]:
        """The page's binds: ``first``, ``offset``, ``limit`` (first + 1), ``end``."""
        return {
            "first": self.param(window.first),
            "offset": self.param(window.offset),
            "limit": self.param(window.limit),
            "end": self.param(window.end),
        }

    def page_rows(
        self,
        table: Table,
        where: Where,
        ordering: Callable[[Rowset], list[Expr]],
        window: dict[str, Expr],
        positions: bool,
    ) -> RowsOf:
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
                name = self.name(f"{table.name}_page")
                if parent is None:
                    page = chosen.cte(name).prefix_with("MATERIALIZED")
                    root_pages.append(page)
                else:
                    page = chosen.correlate(parent).subquery(name)
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
        page: ConnectionPlan,
        rows: RowsOf,
        where: Where,
        window: dict[str, Expr],
        parent_level: Level | None,
        parent: Rowset | None,
    ) -> Expr:
        pairs: list[tuple[str, Expr]] = []
        for member in page.members:
            if isinstance(member, Typename):
                pairs.append((member.key, self.json.string(member.name)))
            elif isinstance(member, TotalCount):
                counted = self.alias(_table(page.type_name))
                total = select(func.count()).select_from(counted).where(*where(counted, parent))
                if parent is not None:
                    total = total.correlate(parent)
                pairs.append((member.key, self.json.value("int", total.scalar_subquery())))
            elif isinstance(member, PageInfo):
                pairs.append((member.key, self.page_info(member, rows, window, parent)))
            else:
                level = Level(page.type_name, rows, parent_level)
                found = rows(parent)
                json = self.edge(level, member, found)
                pairs.append((member.key, self.json.array(found.select, json, found.order)))
        return self.json.object(pairs)

    def edge(self, level: Level, edges: Edges, found: Rows) -> Expr:
        pairs: list[tuple[str, Expr]] = []
        for member in edges.members:
            if isinstance(member, Typename):
                pairs.append((member.key, self.json.string(member.name)))
            elif isinstance(member, Cursor):
                position = _position(found)
                pairs.append((member.key, self.json.value("text", self.json.cursor(position))))
            elif isinstance(member, Node):
                pairs.append((member.key, self.object(level, found.alias, member.object)))
        return self.json.object(pairs)

    def page_info(
        self, page_info: PageInfo, rows: RowsOf, window: dict[str, Expr], parent: Rowset | None
    ) -> Expr:
        pairs: list[tuple[str, Expr]] = []
        for key, name in page_info.fields:
            if name == "__typename":
                pairs.append((key, self.json.string(page_info.type_name)))
            elif name == "hasPreviousPage":
                pairs.append((key, self.json.boolean(window["offset"] > 0)))
            elif name == "hasNextPage":
                pairs.append((key, self.json.boolean(self.fetched(rows, parent) > window["first"])))
            else:
                found = rows(parent)
                edge = func.min if name == "startCursor" else func.max
                position = found.select.add_columns(edge(_position(found))).scalar_subquery()
                pairs.append((key, self.json.value("text", self.json.cursor(position))))
        return self.json.object(pairs)

    def fetched(self, rows: RowsOf, parent: Rowset | None) -> Expr:
        """How many rows the page read: ``first`` + 1 when another page follows."""
        found = rows(parent)
        counted = select(func.count()).select_from(found.keys)
        if parent is not None:
            counted = counted.correlate(parent)
        return counted.scalar_subquery()

    def condition(self, each: Condition) -> Callable[[Rowset], Expr]:
        value = self.param(each.value)
        if each.after:
            return lambda alias: alias.c[each.column] > value
        return lambda alias: alias.c[each.column] == value

    # --- the policy's conditions -------------------------------------------------------------

    def rule(self, type_name: str, alias: Rowset) -> list[Expr]:
        """The row rule of the type's rows on ``alias`` (`auth.policy.decision.row_condition`),
        none or one condition."""
        if not isinstance(alias, Alias):
            raise Decline(f"a row rule of {type_name} over a page")
        condition = row_condition(self.rows, type_name, alias)
        return [] if condition is None else [condition]

    def owned(self, type_name: str, alias: Rowset) -> Expr:
        """Whether a row is the caller's own (``me``): its data is always visible to them."""
        owner = self.param(self._owner)
        ownership = DATA_TYPES[type_name].ownership
        if ownership is Ownership.ORDER:
            order = self.alias(_table("Order"))
            owner_of = select(order.c.customer_id).where(order.c.id == alias.c.order_id)
            return owner_of.scalar_subquery() == owner
        return _owner_column(type_name, alias) == owner

    def erased_probe(self, level: Level, member: Scalar) -> None:
        def erased(alias: Rowset) -> Expr:
            blank = alias.c[member.column].is_(None)
            condition = (alias.c.status == CustomerStatus.ERASED.value) & blank
            if member.owned:
                condition = condition & self.owned(level.type_name, alias)
            return case((condition, 1), else_=0)

        self.probe_count(level, erased, "erased", member.coordinate)

    def probe_count(
        self,
        level: Level,
        value: Callable[[Rowset], Expr],
        counter: str,
        coordinate: str,
        times: int = 1,
    ) -> None:
        """Sum ``value`` over every object of ``level`` in the response, as a column."""
        chain: list[Level] = []
        at: Level | None = level
        while at is not None:
            chain.append(at)
            at = at.parent
        inner = value
        for step in chain[:-1]:
            inner = _summed(step, inner)
        column = self.column(_total(chain[-1], None, inner))
        self.out.probes.append((column, counter, coordinate, times))

    # --- plumbing ---------------------------------------------------------------------------

    def param(self, param: Param) -> BindParameter[Any]:
        """The bind parameter of ``param`` (one per `Param`, however often it is used)."""
        found = self._params.get(id(param))
        if found is None:
            process = param.sql_type.bind_processor(self.dialect) if param.processed else None
            found = self.bind(param.name, param.get, param.sql_type, process)
            self._params[id(param)] = found
        return found

    def bind(
        self,
        name: str,
        get: Getter,
        sql_type: Any,
        process: Callable[[Any], Any] | None = None,
    ) -> BindParameter[Any]:
        unique = self.name(f"req_{name}")
        self.out.binds[unique] = Bind(get, process)
        return bindparam(unique, None, type_=sql_type)

    def column(self, expression: Expr) -> int:
        self.out.columns.append(expression)
        return len(self.out.columns) - 1

    def alias(self, table: Table) -> Alias:
        alias: Alias = table.alias(self.name(table.name))  # type: ignore[assignment]
        return alias

    def name(self, prefix: str) -> str:
        """``prefix1``, ``prefix2``…: readable names, unique within the statement, never like
        SQLAlchemy's own anonymous ones (``consent_1``, ``status_1``) that the row rules use."""
        self._numbers[prefix] += 1
        return f"{prefix}{self._numbers[prefix]}"


def _total(at: Level, parent: Rowset | None, inner: Callable[[Rowset], Expr]) -> Expr:
    found = at.rows(parent)
    summed = func.coalesce(func.sum(inner(found.alias)), 0)
    return found.select.add_columns(summed).scalar_subquery()


def _summed(level: Level, inner: Callable[[Rowset], Expr]) -> Callable[[Rowset], Expr]:
    return lambda parent: _total(level, parent, inner)


def _ordering(order: tuple[tuple[str, bool], ...]) -> Callable[[Rowset], list[Expr]]:
    def ordered(alias: Rowset) -> list[Expr]:
        return [
            alias.c[column].desc() if descending else alias.c[column].asc()
            for column, descending in order
        ]

    return ordered


def _position(found: Rows) -> Expr:
    if found.position is None:
        raise Decline("a cursor of a page read without positions")
    return found.position


def _parent_of(parent: Rowset | None, what: str) -> Rowset:
    if parent is None:
        raise Decline(f"{what} without its parent row")
    return parent


def _owner_column(type_name: str, alias: Rowset) -> Expr:
    """The column naming the customer a row of ``type_name`` belongs to."""
    ownership = DATA_TYPES[type_name].ownership
    if ownership is Ownership.SELF:
        return alias.c.id
    if ownership is Ownership.COLUMN:
        return alias.c.customer_id
    raise CatalogMismatch(f"rows of {type_name} name no customer of their own")


def _link(relation: Relation, child: Rowset, parent: Rowset) -> Expr:
    """The condition tying a related row to its parent row."""
    if relation.child_key is None or relation.parent_key is None:
        raise CatalogMismatch(f"a relation to {relation.target} without keys")
    return child.c[relation.child_key] == parent.c[relation.parent_key]


def _table(type_name: str) -> Table:
    return table_of(DATA_TYPES[type_name].model)
