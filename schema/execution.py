"""Which executor answers an operation, and what it leaves behind: one place for both.

`Execution.answer` answers one operation a caller may run: introspection from the caller's
view of the schema; a query the compiler serves (`schema.compiled`) with one statement;
anything else with Strawberry in one transaction. Whichever answered, the access record is
written before the response (durable when it returns): a read's joins a group commit, a
transaction's is written in it through `Auditor.record`; and the reads that are usage events
(`privacy.usage.RECORDED_READS`) are recorded in the same transaction as their answer.

Example:
    One per endpoint; ``prepare`` reads what the request needs (the token's standing, the
    document) on the execution's first connection::

        execution = Execution(schema, sessions, Options(), issuers, compiled)
        result, redactions = await execution.answer(
            prepare, declared, variables, operation_name, deadline=15.0
        )
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Set
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from graphql import ExecutionResult, GraphQLSchema, OperationDefinitionNode, execute_sync
from sqlalchemy.orm import Session, sessionmaker

from auth.policy.forms import PseudonymKeys
from auth.policy.principal import Issuers, Principal
from auth.policy.request import Declared, RequestScope, open_scope
from auth.policy.row_rules import ASSIGNMENT_DAYS
from privacy.assignments import disclosed_orders
from privacy.audit import GroupCommit
from privacy.usage import RECORDED_READS, record_reads
from schema.audit import Auditor
from schema.compiled import Answer, CompiledReads
from schema.context import Context, Options
from schema.documents import Document, is_mutation
from schema.view import client_schema, introspect, reads_schema
from store.database import (
    abandoned,
    one_statement_options,
    reads_on_loop,
    run_here,
    run_in_thread,
    within,
)
from store.errors import unavailable
from store.kept import KeptConnections

T = TypeVar("T")

ROOM = 9000
"""Evaluation-stack slots `in_roomy_frame` claims: 72 KiB, in a 128 KiB frame chunk."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request ready to run.

    Attributes:
        principal: the caller, its token's standing checked.
        document: the parsed and validated document.
        operation: the operation of ``document`` to run.
        explores: introspection shows the whole schema rather than what the caller's scopes
            unlock (the development token page's client: GraphiQL's docs explain every need).
    """

    principal: Principal
    document: Document
    operation: OperationDefinitionNode
    explores: bool = False


Prepare = Callable[[Session], Prepared]
"""Reads what a request needs before it runs, on the execution's first connection."""


@dataclass(frozen=True, slots=True)
class _Disclosed:
    """What an answer disclosed, whichever executor gave it (the access record's content)."""

    scope: RequestScope
    customers: Set[int]
    fields: Set[str]
    orders: tuple[int, ...] | None
    """The assigned orders it was for (`privacy.assignments.disclosed_orders`)."""


@dataclass(frozen=True, slots=True)
class _Read:
    """What the reads of a request gave: its answer without a transaction, if it has one.

    Attributes:
        result: the answer (``None``: the request needs a transaction of its own).
        disclosed: what the answer disclosed (``None`` with a result: introspection, which
            needs no record).
    """

    prepared: Prepared
    root_fields: set[str]
    result: ExecutionResult | None = None
    disclosed: _Disclosed | None = None


class Execution:
    """Answers operations: chooses the executor, writes the access record, records usage.

    Args:
        schema: the executable schema.
        sessions: the database's sessions; access records are group-committed through them.
        options: what the schema's resolvers are configured with.
        issuers: which issuers customers are linked under.
        compiled: the compiled read path, or ``None``: everything runs with Strawberry
            (``STEWARD_COMPILED_READS=false``).
        roomy_frame: execution runs in a frame with a large evaluation stack
            (`in_roomy_frame`); off only to measure what it is worth.
        assignment_days: how long a partner with ``assigned`` access keeps an assignment after
            its order left fulfillment (``PARTNER_ASSIGNMENT_DAYS``).
        pseudonym_keys: every recipient's pseudonym key (none: pseudonyms are withheld).
        kept_reads: how many connections are kept checked out for the requests
            (`store.kept.KeptConnections`; 0: each checks one out of the pool): set for reads
            of one statement each, and for a transaction while one lasts (the request's own,
            or a group of access records').
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        sessions: sessionmaker[Session],
        options: Options,
        issuers: Issuers,
        compiled: CompiledReads | None = None,
        *,
        roomy_frame: bool = True,
        assignment_days: int = ASSIGNMENT_DAYS,
        pseudonym_keys: PseudonymKeys | None = None,
        kept_reads: int = 0,
    ) -> None:
        self.schema = schema
        self.sessions = sessions
        self.options = options
        self.issuers = issuers
        self.compiled = compiled
        engine = sessions.kw["bind"]
        self.reads = KeptConnections(
            engine, keep=kept_reads, options=one_statement_options(engine.dialect)
        )
        self.auditor = Auditor(schema, GroupCommit(sessions, kept=self.reads))
        self._frame = in_roomy_frame if roomy_frame else _called
        self.assignment_days = assignment_days
        self.pseudonym_keys = pseudonym_keys
        self.reads_on_loop = reads_on_loop(engine)

    def close(self) -> None:
        """Return the kept connections to the pool (at shutdown)."""
        self.reads.close()

    async def answer(
        self,
        prepare: Prepare,
        declared: Declared,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        *,
        deadline: float,
    ) -> tuple[ExecutionResult, list[dict[str, Any]]]:
        """Answer one request, awaited at most ``deadline`` seconds for the database: the
        result and its redactions.

        One connection, set for reads of one statement each, serves ``prepare`` and — for a
        query the compiler serves without a usage event to write — the caller's own row and
        the answer: on the event loop where reads may run there (`store.database.reads_on_loop`:
        SQLite; a request refused while it is prepared never leaves the loop), else in a
        worker thread. Its access record then joins the group the loop gathers
        (`GroupCommit.write_soon`): one worker thread writes a group, and no request's thread
        waits for another's. Anything else runs in a transaction of its own, in a worker
        thread (the read's own, where the read had one).

        The deadline bounds the request's database work in all: the read, then the record or
        the transaction, wait for what is left of it.

        Raises:
            DatabaseUnavailable: the deadline passed, or the database failed.
        """
        clock = asyncio.get_running_loop()
        until = clock.time() + deadline
        if self.reads_on_loop:
            read = run_here(
                partial(self._frame, self._read, prepare, declared, variables, operation_name)
            )
        else:
            answered = await run_in_thread(
                partial(self._frame, self._answer, prepare, declared, variables, operation_name),
                deadline=deadline,
            )
            if not isinstance(answered, _Read):
                return answered
            read = answered
        if read.result is not None:
            if read.disclosed is None:
                return read.result, []
            disclosed = read.disclosed
            access = self.auditor.access(
                disclosed.scope,
                disclosed.customers,
                read.prepared.document,
                read.prepared.operation,
                read.root_fields,
                disclosed.fields,
                orders=disclosed.orders,
            )
            if access is not None:  # durable when this returns
                await within(self.auditor.group.write_soon(access), until - clock.time())
            return read.result, disclosed.scope.plan.redactions()
        rest = partial(
            self._frame,
            self._in_transaction,
            read.prepared,
            read.root_fields,
            declared,
            variables,
            operation_name,
        )
        return await run_in_thread(rest, deadline=until - clock.time())

    def _answer(
        self,
        prepare: Prepare,
        declared: Declared,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> _Read | tuple[ExecutionResult, list[dict[str, Any]]]:
        """In a worker thread: `_read`, and where it answered nothing, the transaction that
        answers, in the same thread."""
        read = self._read(prepare, declared, variables, operation_name)
        if read.result is not None:
            return read
        return self._in_transaction(
            read.prepared, read.root_fields, declared, variables, operation_name
        )

    def _read(
        self,
        prepare: Prepare,
        declared: Declared,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> _Read:
        """``prepare``, then what one connection set for reads of one statement each can
        answer: introspection, or a query the compiler serves without a usage event."""
        with self.reads.connection() as connection, self.sessions(bind=connection) as session:
            prepared = prepare(session)
            root_fields = prepared.document.root_fields(prepared.operation)
            if reads_schema(root_fields):  # refuses introspection mixed with data
                # What this caller can ever unlock (`schema.view`): no data, no record.
                view = (
                    self.schema if prepared.explores else client_schema(prepared.principal.scopes)
                )
                result = introspect(view, prepared.document.node, operation_name, variables)
                return _Read(prepared, root_fields, result)
            if self._reads_only(prepared, root_fields):
                # The caller's customer came with its token's standing.
                scope = self._scope(session, prepared, declared, linked=True)
                answer = self._compiled(session, scope, prepared, variables)
                if answer is not None:
                    return _Read(prepared, root_fields, *_compiled_result(session, scope, answer))
        return _Read(prepared, root_fields)

    def _reads_only(self, prepared: Prepared, root_fields: set[str]) -> bool:
        """Whether the request may be answered without a transaction of its own: a query,
        compiled reads on, and none of its reads a usage event."""
        return (
            self.compiled is not None
            and not is_mutation(prepared.operation)
            and not root_fields & RECORDED_READS
        )

    def _in_transaction(
        self,
        prepared: Prepared,
        root_fields: set[str],
        declared: Declared,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> tuple[ExecutionResult, list[dict[str, Any]]]:
        """Answer in one transaction: mutations, what the compiler declines, reads that are
        usage events, and everything with compiled reads off. On a connection of those kept
        for reads, set for a transaction while it lasts."""
        with (
            self.reads.transaction() as connection,
            self.sessions(bind=connection) as session,
            session.begin(),
        ):
            scope = self._scope(session, prepared, declared)
            answer = None
            if self.compiled is not None and root_fields & RECORDED_READS:  # others were tried
                answer = self._compiled(session, scope, prepared, variables)
            if answer is not None:
                result, disclosed = _compiled_result(session, scope, answer)
            else:
                result, disclosed = self._strawberry(
                    session, scope, prepared, declared, variables, operation_name
                )
            # In the request's transaction, before its commit: durable before the response.
            self._record(prepared, root_fields, disclosed, session)
            record_reads(session, scope, root_fields)
            redactions = scope.plan.redactions()
            # The caller stopped waiting (the deadline, or shutdown): nothing is committed.
            abandoned()
        return result, redactions

    def _scope(
        self, session: Session, prepared: Prepared, declared: Declared, *, linked: bool = False
    ) -> RequestScope:
        return open_scope(
            session,
            prepared.principal,
            declared,
            self.issuers,
            assignment_days=self.assignment_days,
            keys=self.pseudonym_keys,
            linked=linked,
        )

    def _compiled(
        self,
        session: Session,
        scope: RequestScope,
        prepared: Prepared,
        variables: dict[str, Any] | None,
    ) -> Answer | None:
        if self.compiled is None:
            return None
        return self.compiled.answer(
            session, scope, prepared.document, prepared.operation, variables
        )

    def _strawberry(
        self,
        session: Session,
        scope: RequestScope,
        prepared: Prepared,
        declared: Declared,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> tuple[ExecutionResult, _Disclosed]:
        context = Context.open(session, scope, self.options, declared.languages)
        result = execute_sync(
            self.schema,
            prepared.document.node,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
            hide_suggestions=True,
        )
        if not isinstance(result, ExecutionResult):  # the schema has no asynchronous resolver
            raise TypeError("execution did not complete synchronously")
        for error in result.errors or ():
            # The database failed under a resolver: the whole request is 503, not a field
            # error per row, and it is rolled back.
            fault = unavailable(error.original_error) if error.original_error else None
            if fault is not None:
                raise fault
        customers = context.customers_read
        orders = disclosed_orders(session, scope.rows, customers)
        return result, _Disclosed(context.scope, customers, context.fields_read, orders)

    def _record(
        self,
        prepared: Prepared,
        root_fields: set[str],
        disclosed: _Disclosed,
        into: Session,
    ) -> None:
        """Write the access record in the request's transaction, if the request needs one
        (`Auditor.access`)."""
        self.auditor.record(
            disclosed.scope,
            disclosed.customers,
            prepared.document,
            prepared.operation,
            root_fields,
            disclosed.fields,
            into,
            orders=disclosed.orders,
        )


def _compiled_result(
    session: Session, scope: RequestScope, answer: Answer
) -> tuple[ExecutionResult, _Disclosed]:
    """A compiled answer as a result; what it hid and erased counted in the request's plan;
    the assigned orders it was for read in its ``session``."""
    scope.plan.hidden.update(answer.hidden)
    scope.plan.erased.update(answer.erased)
    orders = disclosed_orders(session, scope.rows, answer.customers)
    disclosed = _Disclosed(scope, answer.customers, answer.revealed, orders)
    return ExecutionResult(answer.data), disclosed


def in_roomy_frame(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``, called from a frame that reserves room for the calls it makes.

    CPython (3.11 and later) keeps a thread's Python frames in chunks of 16 KiB and frees a
    chunk as soon as the stack shrinks out of it. GraphQL execution recurses field by field,
    back and forth across such a boundary, and a worker thread then maps and unmaps a chunk
    hundreds of times per request. This function's code claims a large evaluation stack
    (`ROOM` slots), so the interpreter allocates it a chunk with space to spare: the whole
    execution runs inside it, one allocation per request. ``make bench`` measures the gain.
    """
    return function(*args)


in_roomy_frame.__code__ = in_roomy_frame.__code__.replace(co_stacksize=ROOM)


def _called(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` from an ordinary frame (``roomy_frame`` off)."""
    return function(*args)
