"""The access records of requests that arrive together share one transaction (group commit)."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from sqlmodel import col

from privacy.audit import Access, GroupCommit
from store.database import session_factory
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


def _run(engine: Engine, accesses: list[Access]) -> tuple[list[Any], Gated]:
    gated = Gated(session_factory(engine))
    group = GroupCommit(gated)  # type: ignore[arg-type]  # a sessionmaker's call
    results: list[Any] = [None] * len(accesses)

    def write(index: int) -> None:
        try:
            results[index] = group.write(accesses[index])
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(accesses))]
    threads[0].start()
    while gated.opened == 0:  # the first writer leads, and waits at the gate
        threading.Event().wait(0.001)
    for thread in threads[1:]:
        thread.start()
    while group.waiting < len(accesses) - 1:  # the others queue behind it
        threading.Event().wait(0.001)
    gated.gate.set()
    for thread in threads:
        thread.join(timeout=30)
    return results, gated


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
    results, gated = _run(engine, accesses)
    # then the seven were written together, in one more transaction
    assert gated.opened == 2
    # and each request got its own record, with its own customers, none lost or merged
    records = _records(engine)
    for i, access in enumerate(accesses):
        assert records[f"Op{i}"] == (results[i], sorted(access.customer_ids))
    assert len(set(results)) == 8


def test_a_record_that_fails_costs_only_its_own_request(engine: Engine, people: Any) -> None:
    # given five records arriving together, one of which cannot be written
    bad = replace(ACCESS, operation_name="Bad", subject=None)  # type: ignore[arg-type]
    accesses = [replace(ACCESS, operation_name=f"Op{i}") for i in range(4)]
    accesses.insert(2, bad)
    # when they are written as a group
    results, _ = _run(engine, accesses)
    # then only the bad one's request gets an error; the others are written, each once
    assert isinstance(results[2], Exception)
    records = _records(engine)
    assert "Bad" not in records
    for i in (0, 1, 3, 4):
        assert records[accesses[i].operation_name or ""][0] == results[i]
    assert len(records) == 4


def test_a_lone_request_is_written_at_once(engine: Engine) -> None:
    # given one request and nobody else
    group = GroupCommit(session_factory(engine))
    # when its record is written
    record_id = group.write(replace(ACCESS, operation_name="Alone"))
    # then it is there when the call returns
    assert _records(engine)["Alone"] == (record_id, [])
