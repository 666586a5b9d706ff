"""Engine and sessions; migrations through Alembic (the same scripts for SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Dialect, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
PREPARE_THRESHOLD = 1
"""psycopg prepares a statement when a connection runs it for the second time."""
READ_ONLY = "steward_read_only"
"""An execution option for a connection that only reads: on SQLite it takes no write lock
(each statement reads a snapshot of its own: for the one-statement reads that ask for it)."""


def make_engine(
    url: str, *, pool_size: int = 10, prepared: bool = True, write_lock: bool = True
) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout.

    The pool keeps ``pool_size`` connections and opens as many more under load. On
    PostgreSQL, with ``prepared``, psycopg prepares a statement the second time a connection
    runs it (server-side plans: Steward runs the same few statements on every request).

    With ``write_lock`` (the service's engines), SQLite transactions take the write lock when
    they begin; without it (a reader beside the service, such as a test), they defer it.

    SQL parameters are kept out of exception messages and logs (``hide_parameters``): they
    are customers' personal data.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size,
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin if write_lock else _sqlite_begin_deferred)
        return engine
    connect_args: dict[str, Any] = {}
    if make_url(url).get_dialect().driver == "psycopg":
        connect_args["prepare_threshold"] = PREPARE_THRESHOLD if prepared else None
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        hide_parameters=True,
        connect_args=connect_args,
    )


def one_statement_reads(connection: Connection) -> Connection:
    """``connection``, before its first statement, set for reads of one statement each: no
    write lock on SQLite (`READ_ONLY`), autocommit on PostgreSQL (no BEGIN and ROLLBACK round
    trips around the statement)."""
    return connection.execution_options(**one_statement_options(connection.dialect))


def one_statement_options(dialect: Dialect) -> dict[str, Any]:
    """The execution options of `one_statement_reads` (for ``Session.connection``)."""
    if dialect.name == "sqlite":
        return {READ_ONLY: True}
    return {"isolation_level": "AUTOCOMMIT"}


def reads_one_statement(connection: Connection) -> bool:
    """Whether ``connection`` was set by `one_statement_reads`: no transaction holds its
    statements together."""
    options = connection.get_execution_options()
    return bool(options.get(READ_ONLY)) or options.get("isolation_level") == "AUTOCOMMIT"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # SQLite has no base64; compiled reads build global ids and cursors with this one.
    dbapi_connection.create_function("steward_base64", 1, _base64, deterministic=True)


def _base64(text: str | None) -> str | None:
    return None if text is None else base64.b64encode(text.encode()).decode()


def _sqlite_begin_deferred(connection: Any) -> None:
    if not connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")


def _sqlite_begin(connection: Any) -> None:
    # Every request may write (the audit record, at least). A deferred transaction that read
    # first cannot take the write lock once another writer has committed ("database is
    # locked", and no busy timeout helps), so SQLite transactions take it up front.
    if not connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed at the end, or rolled back whole on error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(url: str) -> Config:
    """Alembic's configuration, built in code so the installed package carries it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> tuple[str | None, str | None]:
    """Create or migrate the database at ``url`` to the newest revision.

    Returns the revisions before and after: ``None`` before for a database just created.
    """
    before = revision(url)
    command.upgrade(alembic_config(url), "head")
    return before, revision(url)


def revision(url: str) -> str | None:
    """The migration the database at ``url`` is at; ``None`` for an empty database."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest migration."""
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head
