"""The audit trail's write: one access record per request that discloses customer data.

A record says who asked (``sub`` and client), under which purpose and legal reference, in which
operation, about which customers, and which fields — never the values. It is written in the
request's own transaction, before the commit, so it is durable before the response leaves.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import orjson
from sqlalchemy import bindparam, insert, text
from sqlalchemy.orm import Session, sessionmaker
from sqlmodel import SQLModel

from store.models import AccessRecord, AccessRecordCustomer, table_of, utcnow
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
        recipient: the client id of the partner (a third party) that received the data, when
            the client is one: the record is then a disclosure to the customers it names.
    """

    subject: str
    client_id: str
    purpose: str | None
    legal_reference: str | None
    operation_name: str | None
    customer_ids: tuple[int, ...]
    fields: tuple[str, ...]
    recipient: str | None = None


def write(session: Session, access: Access) -> int:
    """Insert the access record and its per-customer index rows; returns the record's id.

    Two statements compiled once (`Precompiled`), not the ORM's unit of work: nothing reads
    the record back in the request that writes it, and this runs on every request that
    discloses customer data.
    """
    connection = session.connection()
    record_id: int = _RECORD.execute(
        connection,
        {
            "occurred_at": utcnow(),
            "client_id": access.client_id[:255],
            "subject": access.subject[:255],
            "purpose": access.purpose,
            "legal_reference": access.legal_reference,
            "operation_name": None
            if access.operation_name is None
            else access.operation_name[:255],
            "recipient": access.recipient,
            "customer_ids": list(access.customer_ids),
            "fields": list(access.fields),
        },
    ).scalar_one()
    if access.customer_ids:
        rows = _CUSTOMER_ROWS.get(connection.dialect.name)
        if rows is not None:  # one statement, however many customers
            ids = orjson.dumps(access.customer_ids).decode()
            rows.execute(connection, {"record": record_id, "ids": ids})
        else:
            _CUSTOMERS.execute(
                connection,
                [{"access_record_id": record_id, "customer_id": pk} for pk in access.customer_ids],
            )
    return record_id


def _insert(model: type[SQLModel], *columns: str, returning: bool = False) -> Precompiled:
    table = table_of(model)
    statement = insert(table).values(
        {name: bindparam(name, type_=table.c[name].type) for name in columns}
    )
    return Precompiled(statement.returning(table.c.id) if returning else statement)


_RECORD = _insert(
    AccessRecord,
    "occurred_at",
    "client_id",
    "subject",
    "purpose",
    "legal_reference",
    "operation_name",
    "recipient",
    "customer_ids",
    "fields",
    returning=True,
)
_CUSTOMERS = _insert(AccessRecordCustomer, "access_record_id", "customer_id")
_CUSTOMER_ROWS = {
    "sqlite": Precompiled(
        text(
            "INSERT INTO access_record_customer (access_record_id, customer_id) "
            "SELECT :record, value FROM json_each(:ids)"
        )
    ),
    "postgresql": Precompiled(
        text(
            "INSERT INTO access_record_customer (access_record_id, customer_id) "
            "SELECT :record, CAST(value AS INTEGER) "
            "FROM json_array_elements_text(CAST(:ids AS json))"
        )
    ),
}
"""The index rows of one record from a JSON array of customer ids, by dialect."""


class GroupCommit:
    """Access records of requests that arrive together, written in one transaction.

    The first request to arrive writes every record waiting at that moment, its own
    included, in one transaction; requests that arrive meanwhile wait, and the first of
    them writes the next group. Each call returns only after the commit that made its own
    record durable, with that record's id. When a group's transaction fails, its records
    are written again one transaction each, so that one bad record costs only its own
    request; an error is raised only to the request whose record failed.

    Args:
        sessions: where the records are written.

    Example:
        One per endpoint; called from the request's worker thread after its read::

            group = GroupCommit(sessions)
            record_id = group.write(access)  # durable now
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._condition = threading.Condition()
        self._waiting: list[_Pending] = []
        self._writing = False

    @property
    def waiting(self) -> int:
        """How many records wait for the group being written to commit."""
        with self._condition:
            return len(self._waiting)

    def write(self, access: Access) -> int:
        """Write ``access`` and return its record's id, once committed."""
        pending = _Pending(access)
        group: list[_Pending] = []
        with self._condition:
            self._waiting.append(pending)
            while self._writing and not pending.done:
                self._condition.wait()
            if not pending.done:  # this request leads the next group
                self._writing = True
                group, self._waiting = self._waiting, []
        if group:
            try:
                self._commit(group)
            finally:
                with self._condition:
                    self._writing = False
                    self._condition.notify_all()
        if pending.error is not None:
            raise pending.error
        assert pending.record_id is not None
        return pending.record_id

    def _commit(self, group: list[_Pending]) -> None:
        try:
            with self._sessions() as session, session.begin():
                ids = [write(session, each.access) for each in group]
        except Exception as error:
            if len(group) == 1:
                group[0].error = error
                group[0].done = True
                return
            for each in group:
                self._commit([each])
            return
        for each, record_id in zip(group, ids, strict=True):
            each.record_id = record_id
            each.done = True


@dataclass(slots=True)
class _Pending:
    access: Access
    record_id: int | None = None
    error: Exception | None = None
    done: bool = False
