"""The audit trail's write: one access record per request that discloses customer data.

A record says who asked (``sub`` and client), under which purpose and legal reference, in which
operation, about which customers, and which fields — never the values. It is written in the
request's own transaction, before the commit, or, for a request that only read, in a group
commit (`GroupCommit`) awaited before the response: durable before the response leaves.
Each record carries a key made before its write (`Access.key`, a unique column): a write
retried after a commit whose outcome is unknown finds the record instead of adding a second.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Integer,
    String,
    bindparam,
    cast,
    column,
    func,
    insert,
    literal_column,
    select,
    text,
    true,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session, sessionmaker

from store.database import in_thread
from store.kept import KeptConnections
from store.models import AccessRecord, AccessRecordCustomer, UTCDateTime, table_of, utcnow
from store.precompiled import Precompiled


@dataclass(frozen=True, slots=True)
class Access:
    """What one request disclosed: the content of an access record.

    Attributes:
        subject: the caller's ``sub``.
        client_id: the caller's OAuth client.
        purpose: the declared purpose's id, if any.
        legal_reference: the legal request's reference, under ``legal_order``.
        operation_name: the GraphQL operation's name as the client sent it.
        customer_ids: the customers whose data the response carries.
        fields: schema coordinates, e.g. ``Customer.email``.
        forms: of ``fields``, those disclosed in a form, and the form (SPEC section 13).
        recipient: the client id of the partner (a third party) that received the data, when
            the client is one: the record is then a disclosure to the customers it names.
        key: the record's key, made with the access (never copied by ``replace``): at most
            one record has it, however often its write is tried.
        order_ids: a partner with assigned access: the assigned orders of those customers
            that the access was for; ``None`` otherwise.
    """

    subject: str
    client_id: str
    purpose: str | None
    legal_reference: str | None
    operation_name: str | None
    customer_ids: tuple[int, ...]
    fields: tuple[str, ...]
    recipient: str | None = None
    forms: tuple[tuple[str, str], ...] = ()
    key: str = field(default_factory=lambda: secrets.token_hex(16), init=False)
    order_ids: tuple[int, ...] | None = None


def write(session: Session, access: Access, *, occurred_at: dt.datetime | None = None) -> int:
    """Insert the access record and its per-customer index rows; returns the record's id.

    ``occurred_at``: when the access happened, if not now (a history loaded as demo data).

    Statements compiled once (`Precompiled`), not the ORM's unit of work: nothing reads the
    record back in the request that writes it, and this runs on every request that discloses
    customer data. The index rows come from the record's customer ids, however many: on
    PostgreSQL in the record's own statement (`write_group`'s), on SQLite in a second one.
    """
    return _write(session, [access], occurred_at or utcnow())[0]


def write_group(session: Session, group: list[Access]) -> list[int]:
    """Insert the access records of ``group`` and their index rows; returns their ids, in
    the group's order.

    On PostgreSQL one statement writes them all (one round trip, however many): the records
    come as a JSON array of rows (``json_to_recordset``) into a data-modifying ``WITH``,
    which writes their index rows from each record's customer ids (`one_statement_groups`).
    Elsewhere each is written alone (SQLite has no round trip to save).
    """
    return _write(session, group, utcnow())


def _write(session: Session, group: list[Access], occurred_at: dt.datetime) -> list[int]:
    connection = session.connection()
    if not one_statement_groups(connection.dialect):
        return [_write_alone(connection, access, occurred_at) for access in group]
    at = _OCCURRED_AT.process_bind_param(occurred_at, connection.dialect)
    assert at is not None  # a time in, a time out
    # Serialized as SQLAlchemy's JSON type serializes its values: the text it would store.
    rows = json.dumps([_values(access, at.isoformat()) for access in group])
    result = _RECORDS_WITH_CUSTOMERS.execute(connection, {"records": rows})
    written: dict[str, int] = {row.request_key: row.id for row in result}
    return [written[access.key] for access in group]


def _write_alone(connection: Connection, access: Access, occurred_at: dt.datetime) -> int:
    """One record, then its index rows from a JSON array of its customer ids (SQLite)."""
    record_id: int = _RECORD.execute(connection, _values(access, occurred_at)).scalar_one()
    if access.customer_ids:
        ids = orjson.dumps(access.customer_ids).decode()
        _SQLITE_CUSTOMERS.execute(connection, {"record": record_id, "ids": ids})
    return record_id


def one_statement_groups(dialect: Dialect) -> bool:
    """Whether `write_group` writes a group in one statement, atomic on its own (and
    `write` a record and its index rows): on PostgreSQL."""
    return dialect.name == "postgresql"


def _values(access: Access, occurred_at: dt.datetime | str) -> dict[str, Any]:
    """The columns of ``access``'s record."""
    return {
        "occurred_at": occurred_at,
        "client_id": access.client_id[:255],
        "subject": access.subject[:255],
        "purpose": access.purpose,
        "legal_reference": access.legal_reference,
        "operation_name": None if access.operation_name is None else access.operation_name[:255],
        "recipient": access.recipient,
        "request_key": access.key,
        "customer_ids": list(access.customer_ids),
        "fields": list(access.fields),
        "order_ids": None if access.order_ids is None else list(access.order_ids),
        "forms": dict(access.forms),
    }


_ACCESS_RECORD = table_of(AccessRecord)
_COLUMNS = tuple(_values(Access("", "", None, None, None, (), ()), "").keys())
_OCCURRED_AT = UTCDateTime()
_RECORD_INSERT = (
    insert(_ACCESS_RECORD)
    .values({name: bindparam(name, type_=_ACCESS_RECORD.c[name].type) for name in _COLUMNS})
    .returning(_ACCESS_RECORD.c.id)
)
_RECORD = Precompiled(_RECORD_INSERT)
_SQLITE_CUSTOMERS = Precompiled(
    text(
        "INSERT INTO access_record_customer (access_record_id, customer_id) "
        "SELECT :record, value FROM json_each(:ids)"
    )
)


def _records_with_customers() -> Precompiled:
    """Records and their index rows in one statement, from a JSON array of rows
    (PostgreSQL); each record's id and key."""
    given = (
        func.json_to_recordset(cast(bindparam("records", type_=String), JSON))
        .table_valued(*(column(name, _ACCESS_RECORD.c[name].type) for name in _COLUMNS))
        .render_derived(name="given", with_types=True)
    )
    # A JSON null in a row is SQL's NULL; `write` stores JSON's null for no orders.
    no_orders = func.coalesce(given.c.order_ids, cast(literal_column("'null'"), JSON))
    chosen = [no_orders if name == "order_ids" else given.c[name] for name in _COLUMNS]
    record = (
        insert(_ACCESS_RECORD)
        .from_select(list(_COLUMNS), select(*chosen))
        .returning(_ACCESS_RECORD.c.id, _ACCESS_RECORD.c.request_key, _ACCESS_RECORD.c.customer_ids)
        .cte("record")
    )
    ids = func.json_array_elements_text(record.c.customer_ids).table_valued("value").alias("ids")
    rows = insert(table_of(AccessRecordCustomer)).from_select(
        ["access_record_id", "customer_id"],
        select(record.c.id, cast(ids.c.value, Integer)).select_from(record).join(ids, true()),
    )
    return Precompiled(select(record.c.request_key, record.c.id).add_cte(rows.cte("customers")))


_RECORDS_WITH_CUSTOMERS = _records_with_customers()


class GroupCommit:
    """Access records of requests that arrive together, written in one transaction (on
    PostgreSQL in one statement, `write_group`, which commits on its own).

    Requests answered outside a write transaction hand their records to the event loop
    (`write_soon`). While no group is being written, the first record starts one, written in
    a worker thread at once; the records that arrive meanwhile gather and are written
    together as the next group, as soon as that one committed. A request never waits for
    another's read (a group of one is written at once), and no request's thread waits for the
    group's: a hop to a worker thread per group, not per request. Each call returns only
    after the commit that made its own record durable, with that record's id.

    When a group's transaction fails, its records are looked up by key first: a commit whose
    reply was lost (the connection dropped after the database committed) may have written
    them, and those are not written again. The others are written again one transaction
    each, so that one bad record costs only its own request; an error is raised only to the
    request whose record failed, or whose record cannot be found nor written (it may be
    durable, but no request is answered as if it were unless it is known to be).

    Args:
        sessions: where the records are written.
        kept: the connections kept for the requests' reads (`store.kept.KeptConnections`),
            of which a group borrows one: as it is, for a group written in one statement
            (`one_statement_groups`), else set for a transaction; none: each group checks
            one out of the pool.

    Example:
        One per endpoint, used from the event loop::

            group = GroupCommit(sessions)
            record_id = await group.write_soon(access)  # durable now
    """

    def __init__(
        self, sessions: sessionmaker[Session], *, kept: KeptConnections | None = None
    ) -> None:
        self._sessions = sessions
        self._kept = kept
        self._gathering: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gathering] = (
            weakref.WeakKeyDictionary()
        )

    async def write_soon(self, access: Access) -> int:
        """``access`` joins the group this event loop is gathering; the record's id once the
        group's commit made it durable.

        Raises:
            the error of its record's write, when it failed or cannot be told to have
            succeeded.
        """
        loop = asyncio.get_running_loop()
        gathering = self._gathering.get(loop)
        if gathering is None:
            gathering = self._gathering[loop] = _Gathering()
        done: asyncio.Future[int] = loop.create_future()
        gathering.records.append((_Pending(access), done))
        if gathering.flusher is None:
            gathering.flusher = loop.create_task(self._flush(gathering))
        return await done

    async def _flush(self, gathering: _Gathering) -> None:
        """Write the gathered records, a group at a time, each in a worker thread, until none
        is left; then tell each waiting request how its record went."""
        try:
            while gathering.records:
                batch, gathering.records = gathering.records, []
                group = [pending for pending, _ in batch]
                try:
                    await in_thread(partial(self._commit, group))
                except BaseException as error:  # no thread ran it (the loop is shutting down)
                    for _, done in batch:
                        if not done.done():
                            if isinstance(error, Exception):
                                done.set_exception(error)
                            else:
                                done.cancel()
                    raise
                for pending, done in batch:
                    if done.done():  # the request stopped waiting
                        continue
                    if pending.record_id is not None:
                        done.set_result(pending.record_id)
                    else:  # `_commit` gives every record an id or an error
                        done.set_exception(pending.error or RuntimeError("record not written"))
        finally:
            gathering.flusher = None

    def _commit(self, group: list[_Pending]) -> None:
        try:
            with self._session() as session, session.begin():
                ids = write_group(session, [each.access for each in group])
        except Exception as error:
            self._recover(group, error)
            return
        for each, record_id in zip(group, ids, strict=True):
            each.record_id = record_id

    @contextmanager
    def _session(self) -> Iterator[Session]:
        if self._kept is None:
            with self._sessions() as session:
                yield session
            return
        # A group written in one statement needs no transaction around it: no BEGIN and
        # COMMIT round trips; the statement commits, durable, before it answers.
        kept = self._kept
        lend = kept.connection if one_statement_groups(kept.dialect) else kept.transaction
        with lend() as connection, self._sessions(bind=connection) as session:
            yield session

    def _recover(self, group: list[_Pending], error: Exception) -> None:
        """After a failed commit: what was written is found by key; the rest is retried alone,
        or, for a group of one, fails with ``error``."""
        try:
            durable = self._durable([each.access.key for each in group])
        except Exception:  # cannot tell what was written: no request may count on its record
            durable = {}
            retry = False
        else:
            retry = len(group) > 1
        for each in group:
            if each.access.key in durable:
                each.record_id = durable[each.access.key]
            elif retry:
                self._commit([each])
            else:
                each.error = error

    def _durable(self, keys: list[str]) -> dict[str, int]:
        """key → record id, of the keys that have a committed record."""
        found = select(_ACCESS_RECORD.c.id, _ACCESS_RECORD.c.request_key).where(
            _ACCESS_RECORD.c.request_key.in_(keys)
        )
        with self._sessions() as session:
            rows = session.execute(found).all()
        return {key: record_id for record_id, key in rows}


@dataclass(slots=True)
class _Gathering:
    """The records one event loop gathers for `GroupCommit.write_soon`, and the task that
    writes them (none while nothing is gathered)."""

    records: list[tuple[_Pending, asyncio.Future[int]]] = field(default_factory=list)
    flusher: asyncio.Task[None] | None = None


@dataclass(slots=True)
class _Pending:
    access: Access
    record_id: int | None = None
    error: Exception | None = None
