"""Database work in worker threads (`store.database.run_in_thread`): the deadline, a caller
that stopped waiting, and what goes with the work."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from store.database import Abandoned, abandoned, make_engine, run_in_thread
from store.errors import DatabaseUnavailable

REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("request")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url, pool_size=2)
    yield engine
    engine.dispose()


def _revoked(engine: Engine, jti: str) -> int:
    with engine.connect() as connection:
        found = connection.scalar(
            text("SELECT count(*) FROM revoked_token WHERE jti = :jti"), {"jti": jti}
        )
    return int(found or 0)


def test_work_whose_caller_stopped_waiting_commits_nothing(engine: Engine) -> None:
    # given work that writes in a transaction and is still at it when the deadline passes
    past_deadline = threading.Event()
    finished: list[BaseException | None] = []

    def write() -> None:
        try:
            with engine.begin() as connection:
                connection.execute(
                    text("INSERT INTO revoked_token (jti, revoked_at) VALUES ('late', :now)"),
                    {"now": "2026-12-06 00:00:00"},
                )
                past_deadline.wait(timeout=10)
                abandoned()  # just before the commit
        except BaseException as error:
            finished.append(error)
            raise
        finished.append(None)

    async def call() -> None:
        await run_in_thread(write, deadline=0.2)

    # when the caller waits no longer than its deadline
    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            asyncio.run(call())
    finally:
        past_deadline.set()
    assert raised.value.cause == "no answer within 0.2 s"
    for _ in range(100):
        if finished:
            break
        threading.Event().wait(0.05)
    # then the work stopped before its commit, and nothing of it was written
    assert len(finished) == 1
    assert isinstance(finished[0], Abandoned)
    assert _revoked(engine, "late") == 0


def test_work_whose_caller_waits_commits(engine: Engine) -> None:
    def write() -> str:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO revoked_token (jti, revoked_at) VALUES ('on-time', :now)"),
                {"now": "2026-12-06 00:00:00"},
            )
            abandoned()
        return threading.current_thread().name

    name = asyncio.run(run_in_thread(write, deadline=5))
    assert name != threading.current_thread().name  # a worker thread did it
    assert _revoked(engine, "on-time") == 1


def test_abandoned_outside_a_worker_thread_does_nothing() -> None:
    abandoned()


def test_the_callers_context_goes_with_the_work() -> None:
    async def call() -> str:
        REQUEST.set("request-1")
        return await run_in_thread(REQUEST.get, deadline=5)

    assert asyncio.run(call()) == "request-1"
