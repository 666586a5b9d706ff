"""The access records of requests that arrive together share one transaction (group commit)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlmodel import col

from privacy.audit import Access, GroupCommit, one_statement_groups, write_group
from privacy.audit import write as write_record
from store.database import one_statement_options, session_factory
from store.kept import KeptConnections
from store.models import AccessRecord, AccessRecordCustomer

ACCESS = Access(
    subject="staff-1",
    client_id="support-app",
    purpose="customer_support",
    legal_reference=None,
    operation_name="Page",
    customer_ids=(),
    fields=("Customer.email",),
)


class Gated:
    """Sessions whose first one opens only once the test lets it: the first writer holds
    its group open while the others arrive."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.gate = threading.Event()
        self.opened = 0
        self.lock = threading.Lock()

    def __call__(self) -> Session:
        with self.lock:
            self.opened += 1
            first = self.opened == 1
        if first:
            self.gate.wait(timeout=30)
        return self.sessions()


def _records(engine: Engine) -> dict[str, tuple[int | None, list[int]]]:
    """operation name → (record id, its customers' index rows)."""
    with session_factory(engine)() as session:
        records = session.execute(
            select(col(AccessRecord.id), col(AccessRecord.operation_name))
        ).all()
        index = session.execute(
            select(
                col(AccessRecordCustomer.access_record_id), col(AccessRecordCustomer.customer_id)
            )
        ).all()
    return {
        name: (pk, sorted(c for r, c in index if r == pk))
        for pk, name in records
        if name is not None
    }


async def _soon(group: GroupCommit, access: Access) -> Any:
    try:
        return await group.write_soon(access)
    except Exception as error:
        return error


def _run_soon(engine: Engine, accesses: list[Access]) -> tuple[list[Any], Gated]:
    """``write_soon`` from one event loop: the first record's group held at the gate while the
    others arrive."""
    gated = Gated(session_factory(engine))
    group = GroupCommit(gated)  # type: ignore[arg-type]  # a sessionmaker's call

    async def scenario() -> list[Any]:
        first = asyncio.create_task(_soon(group, accesses[0]))
        while gated.opened == 0:  # its group is being written, held at the gate
            await asyncio.sleep(0.001)
        others = [asyncio.create_task(_soon(group, access)) for access in accesses[1:]]
        await asyncio.sleep(0.01)  # they are gathered while the first group is written
        gated.gate.set()
        return list(await asyncio.gather(first, *others))

    return asyncio.run(scenario()), gated


def test_requests_that_arrive_together_share_one_transaction_and_keep_their_own_records(
    engine: Engine, people: Any
) -> None:
    # given eight requests' records, each naming its own customers
    customers = [person.pk for person in people]
    accesses = [
        replace(ACCESS, operation_name=f"Op{i}", customer_ids=tuple(customers[: i % 3]))
        for i in range(8)
    ]
    # when the first is being written while the other seven arrive
    results, gated = _run_soon(engine, accesses)
    # then the seven were written together, in one more transaction
    assert gated.opened == 2
    # and each request got its own record, with its own customers, none lost or merged
    records = _records(engine)
    for i, access in enumerate(accesses):
        assert records[f"Op{i}"] == (results[i], sorted(access.customer_ids))
    assert len(set(results)) == 8


def test_a_record_that_fails_costs_only_its_own_request(engine: Engine) -> None:
    # given five records arriving together, one of which cannot be written
    bad = replace(ACCESS, operation_name="Bad", subject=None)  # type: ignore[arg-type]
    accesses = [replace(ACCESS, operation_name=f"Op{i}") for i in range(4)]
    accesses.insert(2, bad)
    # when they are written as a group
    results, _ = _run_soon(engine, accesses)
    # then only the bad one's request gets an error; the others are written, each once
    assert isinstance(results[2], Exception)
    records = _records(engine)
    assert "Bad" not in records
    for i in (0, 1, 3, 4):
        assert records[accesses[i].operation_name or ""][0] == results[i]
    assert len(records) == 4


def test_a_value_too_long_for_its_column_is_never_cut_to_fit(engine: Engine) -> None:
    # given five records arriving together, one with a purpose longer than its column's 32
    accesses = [replace(ACCESS, operation_name=f"Op{i}") for i in range(4)]
    accesses.insert(2, replace(ACCESS, operation_name="Long", purpose="p" * 33))
    # when they are written as a group
    results, _ = _run_soon(engine, accesses)
    records = _records(engine)
    for i in (0, 1, 3, 4):
        assert records[accesses[i].operation_name or ""][0] == results[i]
    if engine.dialect.name == "postgresql":
        # then on PostgreSQL only its request gets an error (the group's statement failed,
        # and the others were written alone)
        assert isinstance(results[2], Exception)
        assert "Long" not in records
    else:
        # and SQLite, which bounds no string's length, keeps it whole
        assert records["Long"][0] == results[2]
        with session_factory(engine)() as session:
            kept = session.execute(
                select(col(AccessRecord.purpose)).where(col(AccessRecord.operation_name) == "Long")
            ).scalar_one()
        assert kept == "p" * 33


class Counted:
    """Sessions, counted: one per transaction the group commit opens."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.opened = 0

    def __call__(self) -> Session:
        self.opened += 1
        return self.sessions()


def test_a_lone_request_is_written_at_once_alone(engine: Engine) -> None:
    # given one request and nobody else
    sessions = Counted(session_factory(engine))
    group = GroupCommit(sessions)  # type: ignore[arg-type]  # a sessionmaker's call
    # when its record is written
    record_id = asyncio.run(group.write_soon(replace(ACCESS, operation_name="Alone")))
    # then it is there when the call returns, written in a transaction of its own
    assert _records(engine)["Alone"] == (record_id, [])
    assert sessions.opened == 1


def test_requests_one_after_another_each_get_a_transaction(engine: Engine) -> None:
    # given requests that arrive one after the other's record was written
    sessions = Counted(session_factory(engine))
    group = GroupCommit(sessions)  # type: ignore[arg-type]  # a sessionmaker's call

    async def one_by_one() -> list[int]:
        return [await group.write_soon(replace(ACCESS, operation_name=f"Op{i}")) for i in range(3)]

    # then none waits for a later one: each is written at once
    ids = asyncio.run(one_by_one())
    assert sessions.opened == 3
    assert [_records(engine)[f"Op{i}"][0] for i in range(3)] == ids


class LostReply:
    """Sessions whose commit loses its reply: the database has committed the transaction,
    then the call fails as a connection dropped before the reply arrived does (``times``
    commits in all); with ``then_unreachable`` every later statement fails too."""

    def __init__(
        self, sessions: sessionmaker[Session], *, times: int = 1, then_unreachable: bool = False
    ) -> None:
        self.sessions = sessions
        self.left = times
        self.then_unreachable = then_unreachable
        self.lost = 0

    def __call__(self) -> Session:
        session = self.sessions()
        event.listen(session, "after_commit", self._lose)
        event.listen(session, "do_orm_execute", self._refuse)
        return session

    def _lose(self, _session: Session) -> None:
        if self.left > 0:
            self.left -= 1
            self.lost += 1
            raise OperationalError("COMMIT", {}, ConnectionResetError("connection reset by peer"))

    def _refuse(self, _state: Any) -> None:
        if self.then_unreachable and self.lost:
            raise OperationalError("SELECT", {}, ConnectionRefusedError("connection refused"))


def _written(engine: Engine) -> list[str | None]:
    """The operation names of every access record, one per record."""
    with session_factory(engine)() as session:
        return list(session.scalars(select(col(AccessRecord.operation_name))))


def test_a_group_whose_commit_reply_was_lost_is_not_written_twice(
    engine: Engine, people: Any
) -> None:
    # given eight requests' records written as a group whose COMMIT reply is lost
    customers = [person.pk for person in people]
    accesses = [
        replace(ACCESS, operation_name=f"Op{i}", customer_ids=tuple(customers[: i % 3]))
        for i in range(8)
    ]
    lossy = LostReply(session_factory(engine))
    group = GroupCommit(lossy)  # type: ignore[arg-type]  # a sessionmaker's call

    async def together() -> list[int]:
        return list(await asyncio.gather(*(group.write_soon(a) for a in accesses)))

    # when they are written
    results = asyncio.run(together())
    # then the reply was lost once, and each request has exactly one record, its own
    assert lossy.lost == 1
    assert sorted(map(str, _written(engine))) == sorted(f"Op{i}" for i in range(8))
    records = _records(engine)
    for i, access in enumerate(accesses):
        assert records[f"Op{i}"] == (results[i], sorted(access.customer_ids))


def test_a_lone_record_whose_commit_reply_was_lost_is_found_not_rewritten(engine: Engine) -> None:
    # given one request whose COMMIT reply is lost
    group = GroupCommit(LostReply(session_factory(engine)))  # type: ignore[arg-type]
    # when its record is written, then the call returns the one record that was committed
    record_id = asyncio.run(group.write_soon(replace(ACCESS, operation_name="Alone")))
    assert _written(engine) == ["Alone"]
    assert _records(engine)["Alone"] == (record_id, [])


def test_a_record_whose_fate_is_unknown_is_never_reported_durable(engine: Engine) -> None:
    # given a request whose COMMIT reply is lost, and a database that cannot be asked after
    lossy = LostReply(session_factory(engine), then_unreachable=True)
    group = GroupCommit(lossy)  # type: ignore[arg-type]  # a sessionmaker's call
    # when its record is written, then the request gets an error (it cannot be answered 200)
    with pytest.raises(OperationalError):
        asyncio.run(group.write_soon(replace(ACCESS, operation_name="Unknown")))
    # and the record is there once, not twice
    assert _written(engine) == ["Unknown"]


def test_a_key_has_at_most_one_record(engine: Engine) -> None:
    # given a record already written
    access = replace(ACCESS, operation_name="Once")
    with session_factory(engine)() as session, session.begin():
        write_record(session, access)
    # when the same record (its key) is written again, then the database refuses it
    with pytest.raises(IntegrityError), session_factory(engine)() as session, session.begin():
        write_record(session, access)
    assert _written(engine) == ["Once"]


def test_each_event_loop_gathers_its_own_records(engine: Engine) -> None:
    # given one group commit written to from two event loops at once (two threads)
    group = GroupCommit(session_factory(engine))
    results: dict[str, list[Any]] = {}

    def loop(name: str) -> None:
        async def writes() -> list[Any]:
            accesses = [replace(ACCESS, operation_name=f"{name}{i}") for i in range(20)]
            return list(await asyncio.gather(*(_soon(group, a) for a in accesses)))

        results[name] = asyncio.run(writes())

    threads = [threading.Thread(target=loop, args=(name,)) for name in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then every request of both got its own durable record
    records = _records(engine)
    for name in ("A", "B"):
        assert [records[f"{name}{i}"][0] for i in range(20)] == results[name]
    assert len(records) == 40


def _stored(engine: Engine) -> dict[str, tuple[Any, ...]]:
    """operation name → what its record holds (but its id, key and time), and its customers'
    index rows."""
    with session_factory(engine)() as session:
        records = session.execute(select(AccessRecord)).scalars().all()
        index = session.execute(
            select(
                col(AccessRecordCustomer.access_record_id), col(AccessRecordCustomer.customer_id)
            )
        ).all()
        kept = (
            "client_id", "subject", "purpose", "legal_reference", "recipient",
            "customer_ids", "fields", "order_ids", "forms",
        )  # fmt: skip
        return {
            record.operation_name or "": (
                *(getattr(record, name) for name in kept),
                sorted(customer for pk, customer in index if pk == record.id),
            )
            for record in records
        }


def test_a_group_is_written_in_one_statement_as_each_record_would_be_alone(
    engine: Engine, people: Any
) -> None:
    # given records of every shape: customers or none, orders assigned or none, a recipient,
    # forms, a legal reference
    customers = tuple(person.pk for person in people)
    shapes = [
        replace(ACCESS, customer_ids=customers),
        replace(ACCESS, customer_ids=customers[:1], order_ids=(7, 9), recipient="courier"),
        replace(ACCESS, forms=(("Customer.email", "masked"),), legal_reference="LR-1"),
        replace(ACCESS, purpose=None, order_ids=()),
    ]
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    # when they are written as one group, and again each alone
    with session_factory(engine)() as session, session.begin():
        grouped = write_group(
            session, [replace(a, operation_name=f"Gr{i}") for i, a in enumerate(shapes)]
        )
        in_group = len(statements)
        alone = [
            write_record(session, replace(a, operation_name=f"Al{i}")) for i, a in enumerate(shapes)
        ]
    # then each record of the group holds what it would hold written alone, with its own id
    stored = _stored(engine)
    assert len(stored) == 2 * len(shapes)
    for i in range(len(shapes)):
        assert stored[f"Gr{i}"] == stored[f"Al{i}"]
    assert len(set(grouped) | set(alone)) == 2 * len(shapes)
    assert grouped == sorted(grouped)  # in the group's order
    with engine.connect() as connection:  # no orders: JSON's null, not SQL's NULL, as alone
        nulls = text("SELECT count(*) FROM access_record WHERE order_ids IS NULL")
        assert connection.execute(nulls).scalar_one() == 0
        # and the JSON columns' stored text too
        texts = text(
            "SELECT operation_name, CAST(customer_ids AS TEXT), CAST(fields AS TEXT),"
            " CAST(order_ids AS TEXT), CAST(forms AS TEXT) FROM access_record"
        )
        raw = {name: rest for name, *rest in connection.execute(texts)}
    for i in range(len(shapes)):
        assert raw[f"Gr{i}"] == raw[f"Al{i}"]
    # and on PostgreSQL the group took one statement
    if engine.dialect.name == "postgresql":
        assert in_group == 1


def test_a_group_on_kept_connections_is_durable_when_its_requests_are_answered(
    engine: Engine,
) -> None:
    # given a group commit on the connections kept for reads, as `Execution` sets it up
    reads = KeptConnections(engine, keep=2, options=one_statement_options(engine.dialect))
    group = GroupCommit(session_factory(engine), kept=reads)
    levels: list[Any] = []

    def level(connection: Any, *_args: Any) -> None:
        levels.append(connection.get_execution_options().get("isolation_level"))

    event.listen(engine, "before_cursor_execute", level)
    accesses = [replace(ACCESS, operation_name=f"Op{i}") for i in range(5)]

    async def together() -> list[int]:
        return list(await asyncio.gather(*(group.write_soon(a) for a in accesses)))

    # when requests arrive together
    try:
        ids = asyncio.run(together())
    finally:
        event.remove(engine, "before_cursor_execute", level)
        reads.close()
    # then each is answered with its own record, committed: another connection reads them
    assert {name: pk for name, (pk, _) in _records(engine).items()} == {
        f"Op{i}": pk for i, pk in enumerate(ids)
    }
    # and on PostgreSQL each group was one statement outside any transaction block (no BEGIN
    # and COMMIT round trips); on SQLite, statements in a transaction
    if one_statement_groups(engine.dialect):
        assert levels == ["AUTOCOMMIT"] * len(levels)
        assert len(levels) < len(accesses)
    else:
        assert "AUTOCOMMIT" not in levels
