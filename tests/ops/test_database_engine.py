"""The service's engine: a pool sized by configuration; prepared statements on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, select, text
from sqlmodel import col

from api.app import create_app
from api.settings import Settings
from store.database import PREPARE_THRESHOLD
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
