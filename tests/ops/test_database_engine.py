"""The service's engine: a pool sized by configuration; prepared statements on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import OperationalError
from sqlmodel import col

from api.app import create_app
from api.settings import Settings
from store.database import IDLE_SINCE, PREPARE_THRESHOLD, make_engine
from store.models import Customer


def _engine(db_url: str, key_file: Path, **overrides: object) -> Engine:
    settings = Settings(
        _env_file=None,
        database_url=db_url,
        key_file=key_file,
        **overrides,  # type: ignore[arg-type]
    )
    engine: Engine = create_app(settings).state.engine
    return engine


def test_pool_size_comes_from_the_settings(db_url: str, key_file: Path) -> None:
    engine = _engine(db_url, key_file, database_pool_size=3)
    try:
        assert engine.pool.size() == 3  # type: ignore[attr-defined]
        assert engine.pool._max_overflow == 3  # type: ignore[attr-defined]
    finally:
        engine.dispose()


@pytest.mark.parametrize("size", [0, -1, "many"])
def test_a_bad_pool_size_is_refused(size: object) -> None:
    with pytest.raises(ValidationError, match="database_pool_size"):
        Settings(_env_file=None, database_pool_size=size)


def _prepared_after(engine: Engine, runs: int) -> int:
    """How many statements the server holds prepared after ``runs`` runs of one query."""
    statement = select(col(Customer.id)).where(col(Customer.email) == "nobody@example.org")
    with engine.connect() as connection:
        for _ in range(runs):
            connection.execute(statement).all()
        held = "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%FROM customer%'"
        return int(connection.scalar(text(held)) or 0)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_prepares_what_a_connection_runs_again(db_url: str, key_file: Path) -> None:
    engine = _engine(db_url, key_file)
    try:
        assert _prepared_after(engine, PREPARE_THRESHOLD) == 0
        assert _prepared_after(engine, PREPARE_THRESHOLD + 1) >= 1
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_prepared_statements_can_be_switched_off(db_url: str, key_file: Path) -> None:
    engine = _engine(db_url, key_file, database_prepared_statements=False)
    try:
        assert _prepared_after(engine, 10) == 0
    finally:
        engine.dispose()


def _pid(connection: Connection) -> int:
    return int(connection.scalar(text("SELECT pg_backend_pid()")) or 0)


@contextmanager
def _pool_with_a_dead_connection(db_url: str, idle_ping: float) -> Iterator[tuple[Engine, int]]:
    """An engine of one pooled connection whose server process was ended after its last use,
    and that process's id."""
    engine = make_engine(db_url, pool_size=1, idle_ping=idle_ping)
    admin = make_engine(db_url, pool_size=1)
    try:
        with engine.connect() as connection:
            dead = _pid(connection)
        with admin.connect() as connection:  # as a restart of the server would
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dead})
        time.sleep(0.1)
        yield engine, dead
    finally:
        engine.dispose()
        admin.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_connection_that_sat_idle_is_pinged_and_replaced_when_dead(db_url: str) -> None:
    with _pool_with_a_dead_connection(db_url, idle_ping=0.05) as (engine, dead):
        connection = engine.connect()  # the ping fails, a new connection serves
        with connection:
            assert _pid(connection) != dead
            assert connection.scalar(text("SELECT 1")) == 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_connection_just_returned_is_used_without_a_ping(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(db_url, pool_size=1, idle_ping=60)
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    try:
        for _ in range(3):
            with engine.connect() as connection:
                connection.scalar(text("SELECT 1"))
        assert pings == []
        # A connection that sat idle longer is pinged first (the last one, just returned: not).
        engine.pool._pool.queue[0].info[IDLE_SINCE] -= 61  # type: ignore[attr-defined]
        with engine.connect() as connection:
            connection.scalar(text("SELECT 1"))
        assert len(pings) == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_connection_that_died_while_in_use_fails_its_request_once(db_url: str) -> None:
    # Within the idle window a dead connection is not pinged: its statement fails as the
    # database being unavailable, and the pool replaces its connections for the next one.
    with _pool_with_a_dead_connection(db_url, idle_ping=60) as (engine, dead):
        with pytest.raises(OperationalError), engine.connect() as connection:
            connection.scalar(text("SELECT 1"))
        with engine.connect() as connection:
            assert _pid(connection) != dead
