"""PostgreSQL for the tests: the server of ``STEWARD_TEST_POSTGRES_URL`` and fresh databases.

Without the variable, PostgreSQL tests skip; under CI they fail instead, so the PostgreSQL run
never skips there.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import URL, create_engine, make_url, text

from store.database import upgrade

POSTGRES_ENV = "STEWARD_TEST_POSTGRES_URL"


def postgres_server() -> URL:
    """The server's URL (with the psycopg driver); skips without one, fails in CI."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} must be set in CI: the PostgreSQL run may not skip")
        pytest.skip(f"{POSTGRES_ENV} is not set")
    base = make_url(url)
    if base.drivername == "postgresql":
        base = base.set(drivername="postgresql+psycopg")
    return base


@contextlib.contextmanager
def fresh_postgres_database(*, migrate: bool = True, prefix: str = "steward_test") -> Iterator[str]:
    """A new, empty PostgreSQL database (migrated unless told not to), dropped afterwards."""
    base = postgres_server()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
