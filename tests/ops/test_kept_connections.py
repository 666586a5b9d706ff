"""Connections kept checked out of the pool and lent one request at a time (`store.kept`)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from store.database import make_engine, one_statement_options, reads_one_statement
from store.kept import KeptConnections


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url, pool_size=2)
    yield engine
    engine.dispose()


def _reads(engine: Engine, keep: int = 2, idle: float = 60.0) -> KeptConnections:
    return KeptConnections(
        engine, keep=keep, options=one_statement_options(engine.dialect), idle=idle
    )


def _checked_out(engine: Engine) -> int:
    return int(engine.pool.checkedout())  # type: ignore[attr-defined]


def _backend(connection: Connection) -> object:
    """The driver connection under ``connection``: the same one, lent again, is kept."""
    return connection.connection.dbapi_connection


def test_a_connection_given_back_is_lent_again_and_stays_checked_out(engine: Engine) -> None:
    reads = _reads(engine)
    with reads.connection() as connection:
        first = _backend(connection)
        assert reads_one_statement(connection)
        assert connection.scalar(text("SELECT 1")) == 1
    # kept: still counted by the pool, and the next request gets the same one
    assert _checked_out(engine) == 1
    with reads.connection() as connection:
        assert _backend(connection) is first
    reads.close()
    assert _checked_out(engine) == 0


def test_at_most_keep_are_kept_and_the_last_given_back_is_lent_first(engine: Engine) -> None:
    reads = _reads(engine, keep=1)
    with reads.connection() as outer:
        with reads.connection() as inner:
            inner_backend = _backend(inner)
        outer_backend = _backend(outer)
        assert outer_backend is not inner_backend
    # only one kept (the first given back), the other returned to the pool
    assert _checked_out(engine) == 1
    with reads.connection() as connection:
        assert _backend(connection) is inner_backend
    reads.close()


def test_a_failed_block_returns_its_connection_to_the_pool(engine: Engine) -> None:
    reads = _reads(engine)
    lent: list[Connection] = []

    def fail() -> None:
        with reads.connection() as connection:
            lent.append(connection)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fail()
    assert lent[0].closed
    assert _checked_out(engine) == 0
    with reads.connection() as connection:
        assert connection.scalar(text("SELECT 1")) == 1
    reads.close()


def test_a_transaction_left_open_is_rolled_back_when_given_back(engine: Engine) -> None:
    # given a kept connection for writes, given back with its transaction still open
    writes = KeptConnections(engine, keep=1)
    with writes.connection() as connection:
        connection.begin()
        connection.execute(
            text("INSERT INTO revoked_token (jti, revoked_at) VALUES ('open', CURRENT_TIMESTAMP)")
        )
    # then nothing of it was committed, and the connection is kept, ready for the next
    assert _checked_out(engine) == 1
    with writes.connection() as connection:
        assert not connection.in_transaction()
        left = connection.scalar(text("SELECT count(*) FROM revoked_token WHERE jti = 'open'"))
        assert left == 0
    writes.close()
    assert _checked_out(engine) == 0


def test_nothing_is_kept_after_close(engine: Engine) -> None:
    reads = _reads(engine)
    with reads.connection():
        reads.close()
    assert _checked_out(engine) == 0


def test_reads_see_what_was_committed_after_the_connection_was_kept(engine: Engine) -> None:
    # given a kept connection set for reads of one statement each
    reads = _reads(engine)
    with reads.connection() as connection:
        before = connection.scalar(text("SELECT count(*) FROM revoked_token"))
    # when another connection commits
    with engine.begin() as other:
        other.execute(
            text("INSERT INTO revoked_token (jti, revoked_at) VALUES ('kept-1', CURRENT_TIMESTAMP)")
        )
    # then the kept connection's next read sees it: no snapshot outlives its statement
    with reads.connection() as connection:
        assert connection.scalar(text("SELECT count(*) FROM revoked_token")) == before + 1
    reads.close()


def _terminate(engine: Engine, connection: Connection) -> None:
    """End ``connection``'s server process, as a restart of the server would."""
    pid = connection.scalar(text("SELECT pg_backend_pid()"))
    admin = make_engine(engine.url.render_as_string(False), pool_size=1)
    try:
        with admin.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()
    time.sleep(0.1)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_kept_connection_that_sat_idle_is_pinged_and_replaced_when_dead(
    engine: Engine,
) -> None:
    # given a kept connection whose server process ended while it sat idle (a restart)
    reads = _reads(engine, idle=0.05)
    with reads.connection() as connection:
        dead = _backend(connection)
        _terminate(engine, connection)
    time.sleep(0.1)
    # then the next request is served by another connection, without an error
    with reads.connection() as connection:
        assert _backend(connection) is not dead
        assert connection.scalar(text("SELECT 1")) == 1
    reads.close()
    assert _checked_out(engine) == 0


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_kept_connection_that_died_in_use_fails_once_and_drops_the_others(
    engine: Engine,
) -> None:
    # given two kept connections, and the server process of the one lent next ended
    reads = _reads(engine)
    with reads.connection() as first:
        with reads.connection() as second:
            other = _backend(second)
        _terminate(engine, first)
        dead = _backend(first)
    assert _checked_out(engine) == 2
    # when it is used within the idle window (no ping): its statement fails
    lent: list[object] = []

    def use() -> None:
        with reads.connection() as connection:
            lent.append(_backend(connection))
            connection.scalar(text("SELECT 1"))

    with pytest.raises(OperationalError):
        use()
    assert lent == [dead]
    # then every kept connection went back to the pool, and the next request is served
    assert _checked_out(engine) == 0
    with reads.connection() as connection:
        assert _backend(connection) is not dead
        assert connection.scalar(text("SELECT 1")) == 1
    reads.close()
    assert other is not dead


def test_disposing_of_the_engine_closes_what_is_kept(engine: Engine) -> None:
    # given a kept connection (an app whose shutdown never ran, as in a test)
    reads = _reads(engine)
    with reads.connection() as connection:
        kept = connection.connection.dbapi_connection
    # when the engine is disposed of, then the driver connection is closed, not left to the
    # garbage collector (psycopg warns of an open connection deleted)
    engine.dispose()
    assert _closed(kept)
    with reads.connection() as connection:
        assert connection.scalar(text("SELECT 1")) == 1
    reads.close()


def _closed(dbapi_connection: object) -> bool:
    closed = getattr(dbapi_connection, "closed", None)
    if closed is not None:  # psycopg
        return bool(closed)
    try:  # sqlite3
        dbapi_connection.execute("SELECT 1")  # type: ignore[attr-defined]
    except sqlite3.ProgrammingError:  # "Cannot operate on a closed database."
        return True
    return False


def test_a_transaction_borrows_a_kept_connection_and_gives_it_back_for_reads(
    engine: Engine,
) -> None:
    # given a kept connection for reads of one statement each
    reads = _reads(engine)
    with reads.connection() as connection:
        kept = _backend(connection)
    # when a transaction borrows it and commits
    with reads.transaction() as connection, connection.begin():
        assert _backend(connection) is kept
        assert not reads_one_statement(connection)
        connection.execute(
            text("INSERT INTO revoked_token (jti, revoked_at) VALUES ('tx', CURRENT_TIMESTAMP)")
        )
    # then its write is committed, and the same connection reads one statement at a time again
    with reads.connection() as connection:
        assert _backend(connection) is kept
        assert reads_one_statement(connection)
        assert connection.scalar(text("SELECT count(*) FROM revoked_token WHERE jti = 'tx'")) == 1
    assert _checked_out(engine) == 1
    reads.close()


def test_a_failed_transaction_returns_its_connection_to_the_pool(engine: Engine) -> None:
    reads = _reads(engine)

    def fail() -> None:
        with reads.transaction() as connection, connection.begin():
            connection.execute(
                text("INSERT INTO revoked_token (jti, revoked_at) VALUES ('no', CURRENT_TIMESTAMP)")
            )
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fail()
    assert _checked_out(engine) == 0
    with reads.connection() as connection:
        assert connection.scalar(text("SELECT count(*) FROM revoked_token WHERE jti = 'no'")) == 0
    reads.close()
