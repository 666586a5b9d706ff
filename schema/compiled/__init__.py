"""Compiled reads (SPEC section 9): a query answered by one SQL statement that builds its JSON.

`CompiledReads.answer` serves a query whose root fields are among ``customers``, ``customer``,
``orders``, ``order``, ``node`` and ``me``: the operation and the request's policy shape are
planned (`schema.compiled.plan`) and emitted as SQL (`schema.compiled.emit`) once, kept on the
document (`Document.keep`: within the document cache's byte bound, never longer than the
document), and run as one statement in the request's transaction. The database's JSON text
goes into the response as it comes (`orjson.Fragment`); the statement also returns the
customers it disclosed (for the access record) and how many places each hidden value took (for
``extensions.redactions``). Everything the compiler declines, or fails to compile, returns
``None``: the Strawberry path answers instead.

Example:
    One per endpoint, for its engine's dialect::

        reads = CompiledReads(schema, engine.dialect, max_page_size=100)
        answer = reads.answer(session, scope, document, operation, variables)
        if answer is None:
            ...  # execute with Strawberry
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
import sys
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableValues,
    get_variable_values,
)
from sqlalchemy import Dialect, Integer, String, bindparam, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from auth.policy.catalog import policy_key
from auth.policy.decision import UNKNOWN, Access, Decision, decide
from auth.policy.request import RequestScope
from auth.policy.row_rules import RowScope
from auth.policy.scopes import ALL_SCOPES
from schema.compiled.emit import Bind, Emitter, RootColumn
from schema.compiled.plan import ROOT_FIELDS, Decisions, Planner
from schema.compiled.tree import (
    CatalogMismatch,
    Decline,
    Getter,
    PseudonymPaths,
    Runtime,
    pseudonym_paths,
)
from schema.documents import Document
from schema.forms_sql import after_statement
from store.database import reads_one_statement
from store.errors import unavailable
from store.ids import InvalidGlobalId, from_global_id
from store.models import UTCDateTime

__all__ = ["Answer", "CompiledReads"]

log = logging.getLogger("steward.compiled")

STATEMENT_BYTES = 16 * 1024
"""What a kept statement counts in the document cache's bound beside its SQL text: its plan
(roots, binds, constants); an upper estimate for the documents the token limit allows."""
SERVED = ROOT_FIELDS | {"__typename"}

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

DECLINED = "declined"
FAILED = "failed"
REPEATS = 2
"""How many different parameter values a statement must fail with before it is given up."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A compiled read's result.

    Attributes:
        data: the response's ``data``: each root field's JSON text as an `orjson.Fragment`.
        customers: the customers whose data the response discloses (the access record's).
        hidden: coordinate → places hidden by the policy.
        erased: coordinate → places where a readable value was removed by erasure.
        revealed: coordinates disclosed beyond the selection (a filter's, of a connection that
            counts what it matched), for the access record.
    """

    data: dict[str, Any]
    customers: frozenset[int]
    hidden: Counter[str]
    erased: Counter[str]
    revealed: frozenset[str] = frozenset()


@dataclass(slots=True)
class Statement:
    """One compiled statement, as the database driver runs it."""

    sql: str
    names: tuple[str, ...] | None
    """The parameters' order for a positional driver (SQLite); ``None`` for named ones."""
    constants: dict[str, Any]
    binds: dict[str, Bind]
    roots: list[RootColumn]
    customers: list[int]
    probes: list[tuple[int, str, str, int]]
    fixed: Counter[str]
    revealed: frozenset[str] = frozenset()
    """Coordinates disclosed beyond the selection (`Answer.revealed`)."""
    pseudonyms: dict[str, PseudonymPaths] = field(default_factory=dict)
    """Root field → where its JSON holds values due as pseudonyms, computed after the
    statement with the request's recipient key (`schema.forms_sql.after_statement`)."""
    name: str = "(anonymous)"
    """The operation's name, for the log."""
    proven: bool = False
    """Whether it has run once: until then it runs in a savepoint, so that a failure falls back."""
    failures: set[int] = field(default_factory=set)
    """The parameter values it failed with before it was proven (their hashes)."""
    failed: bool = False
    """Whether it failed with `REPEATS` different values: Strawberry answers this document and
    shape from then on."""


class CompiledReads:
    """The compiled read path of one endpoint, for one database: statements kept on their
    documents."""

    def __init__(
        self,
        schema: GraphQLSchema,
        dialect: Dialect,
        *,
        max_page_size: int,
        observe: Callable[[str], None] | None = None,
        enforce: bool = True,
    ) -> None:
        """Args:
        schema: the executable schema (the Strawberry path's), for types and coercion.
        dialect: the engine's dialect (SQLite or PostgreSQL).
        max_page_size: the largest ``first`` a connection accepts.
        observe: called with ``declined`` or ``failed`` once per document and policy shape
            that falls back (``/metrics``).
        enforce: apply the policy. ``False`` is for benchmarks only (no setting reaches it):
            every field and row is allowed, so that what enforcement costs can be measured
            against the same compiler.
        """
        self._schema = schema
        self._dialect = dialect
        self._max_page_size = max_page_size
        self._observe = observe
        self._enforce = enforce

    def answer(
        self,
        session: Session,
        scope: RequestScope,
        document: Document,
        operation: OperationDefinitionNode,
        variables: dict[str, Any] | None,
    ) -> Answer | None:
        """The compiled answer to ``operation``, or ``None`` when Strawberry must answer."""
        if operation.operation is not OperationType.QUERY:
            return None
        if not document.root_fields(operation) <= SERVED:
            return None
        coerced: VariableValues | None = None
        if operation.variable_definitions:
            values = get_variable_values(
                self._schema, operation.variable_definitions, variables or {}, max_errors=1
            )
            if isinstance(values, list):
                return None
            coerced = values
        request = Runtime(
            variables=coerced,
            rows=scope.rows,
            owner_id=scope.owner_id,
            today=dt.datetime.now(dt.UTC).date(),
            max_page_size=self._max_page_size,
        )
        key = (
            id(operation),
            scope.principal.scopes,
            scope.owner_id is not None,
            scope.plan.partner,
            rows_shape(scope.rows),
            None if coerced is None else _signature(coerced.coerced),
        )
        statement = self._statement(key, scope, document, operation, request)
        if isinstance(statement, str) or statement.failed:
            return None
        try:
            parameters = self._parameters(statement, request)
        except Decline:
            return None
        return self._run(session, statement, parameters, scope.pseudonym_key)

    def _statement(
        self,
        key: tuple[Any, ...],
        scope: RequestScope,
        document: Document,
        operation: OperationDefinitionNode,
        request: Runtime,
    ) -> Statement | str:
        cached = document.derived.get(key)
        if isinstance(cached, Statement | str):
            return cached
        name = operation.name.value if operation.name else "(anonymous)"
        try:
            compiled: Statement | str = self._compile(scope, document, operation, request)
        except Decline as decline:
            log.info("compiled reads: %s runs on Strawberry (%s)", name, decline)
            compiled = DECLINED
        except CatalogMismatch as mismatch:
            log.error(
                "compiled reads: %s: the catalog and the compiler disagree: %s", name, mismatch
            )
            compiled = FAILED
        except Exception:
            log.exception("compiled reads: %s failed to compile; it runs on Strawberry", name)
            compiled = FAILED
        if isinstance(compiled, str) and self._observe is not None:
            self._observe(compiled)
        size = sys.getsizeof(compiled)
        if isinstance(compiled, Statement):
            compiled.name = name
            size = sys.getsizeof(compiled.sql) + STATEMENT_BYTES
        document.keep(key, compiled, size)
        return compiled

    def _compile(
        self,
        scope: RequestScope,
        document: Document,
        operation: OperationDefinitionNode,
        request: Runtime,
    ) -> Statement:
        owner = scope.owner_id is not None
        if self._enforce:
            rows, row_binds = parametrised(scope.rows, self._dialect)
            plan = scope.plan
            decisions = Decisions(
                scope.principal.scopes, owner, lambda coordinate: decide(plan, coordinate)
            )
        else:  # benchmarks only: every field and row allowed
            rows, row_binds = parametrised(RowScope(), self._dialect)
            decisions = Decisions(frozenset(ALL_SCOPES), owner, _everything_visible)
        planner = Planner(self._schema, decisions, document.fragments, request)
        tree = planner.plan(operation)
        output = Emitter(self._dialect, rows).emit(tree)
        pseudonyms = {root.key: paths for root in tree.roots if (paths := pseudonym_paths(root))}
        binds = {**row_binds, **output.binds}
        if not output.columns:
            return Statement("", None, {}, {}, output.roots, [], [], output.fixed)
        statement = select(*(column.label(f"c{i}") for i, column in enumerate(output.columns)))
        compiled = statement.compile(
            dialect=self._dialect, compile_kwargs={"render_postcompile": True}
        )
        names = tuple(compiled.positiontup or ()) if compiled.positional else None
        constants = {name: value for name, value in compiled.params.items() if name not in binds}
        return Statement(
            compiled.string,
            names,
            constants,
            binds,
            output.roots,
            output.customers,
            output.probes,
            output.fixed,
            frozenset(output.revealed),
            pseudonyms,
        )

    @staticmethod
    def _parameters(statement: Statement, request: Runtime) -> dict[str, Any]:
        values = dict(statement.constants)
        for name, bind in statement.binds.items():
            value = bind.get(request)
            if bind.process is not None:
                try:
                    value = bind.process(value)
                except (TypeError, ValueError):
                    raise Decline("parameter") from None
            if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
                raise Decline("out of range")
            values[name] = value
        return values

    def _run(
        self,
        session: Session,
        statement: Statement,
        parameters: dict[str, Any],
        pseudonym_key: bytes | None,
    ) -> Answer | None:
        row: Any = ()
        if statement.sql:
            arguments: Any = parameters
            if statement.names is not None:
                arguments = tuple(parameters[name] for name in statement.names)
            connection = session.connection()
            if statement.proven:
                row = connection.exec_driver_sql(statement.sql, arguments).one()
            else:
                # A failure must not end the transaction the Strawberry path then answers in;
                # reads of one statement each have no transaction to keep.
                alone = reads_one_statement(connection)
                try:
                    # Unless alone (autocommit), a savepoint of the connection's own: the
                    # session's would begin lazily, after the statement, and a failure would
                    # abort the whole transaction.
                    with nullcontext() if alone else connection.begin_nested():
                        row = connection.exec_driver_sql(statement.sql, arguments).one()
                except DBAPIError as error:
                    self._failed(statement, parameters, error)
                    return None
                statement.proven = True
        data: dict[str, Any] = {}
        for root in statement.roots:
            if root.index is None:
                data[root.key] = root.constant
            else:
                text = row[root.index]
                paths = statement.pseudonyms.get(root.key)
                if text is not None and paths:
                    text = after_statement(text, paths, pseudonym_key)
                data[root.key] = None if text is None else orjson.Fragment(text)
        customers: set[int] = set()
        for index in statement.customers:
            value = row[index]
            if isinstance(value, int):
                customers.add(value)
            elif value:
                customers.update(int(pk) for pk in str(value).split(","))
        hidden: Counter[str] = Counter(statement.fixed)
        erased: Counter[str] = Counter()
        for index, counter, coordinate, times in statement.probes:
            places = int(row[index]) * times
            if places:
                (hidden if counter == "hidden" else erased)[coordinate] += places
        return Answer(data, frozenset(customers), hidden, erased, statement.revealed)

    def _failed(self, statement: Statement, parameters: dict[str, Any], error: DBAPIError) -> None:
        """Note a failed first run; Strawberry answers the request.

        A transient fault (a statement timeout, a cancel, a lost connection: what
        `store.errors.unavailable` calls the database being unavailable) says nothing about
        the statement, nor does a failure with one
        request's values, which another request (or an attacker, on purpose) may never send
        again: the statement is given up only once it has failed with `REPEATS` different
        values, logged once then, without a traceback (the database's message may quote a
        value).
        """
        if unavailable(error) is not None:
            log.info("compiled reads: %s was interrupted; Strawberry answers", statement.name)
            return
        fingerprint = hash(
            tuple(
                sorted(
                    (name, repr(value)) for name, value in parameters.items() if name not in CLOCK
                )
            )
        )
        if fingerprint in statement.failures:
            return
        statement.failures.add(fingerprint)
        if len(statement.failures) < REPEATS:
            log.info("compiled reads: %s failed with one request's values", statement.name)
            return
        statement.failed = True
        log.warning(
            "compiled reads: %s failed with %d different values (%s); it runs on Strawberry",
            statement.name,
            REPEATS,
            type(error.orig).__name__,
        )
        if self._observe is not None:
            self._observe(FAILED)


def _everything_visible(coordinate: str) -> Decision:
    """The decision with the policy off (benchmarks only): every field of the catalog visible."""
    key = policy_key(coordinate)
    return UNKNOWN if key is None else Decision(Access.VISIBLE, key)


def _signature(value: Any) -> Any:
    """What of the variables' values the SQL depends on: which are set, the booleans
    (``@skip``/``@include``), the enums (``orderBy``), the type a global id names (``node``)."""
    if value is None or isinstance(value, bool | enum.Enum):
        return value
    if isinstance(value, dict):
        return tuple((key, _signature(item)) for key, item in value.items())
    if isinstance(value, list):
        return tuple(_signature(item) for item in value)
    if isinstance(value, str):
        try:
            return from_global_id(value)[0]
        except InvalidGlobalId:
            return ""
    return type(value)


def parametrised(rows: RowScope, dialect: Dialect) -> tuple[RowScope, dict[str, Bind]]:
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
