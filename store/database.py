"""Engine and sessions; migrations through Alembic (the same scripts for SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import base64
import contextvars
import math
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Dialect, Engine, NullPool, create_engine, event, make_url, text
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import Session, sessionmaker

from store.errors import DatabaseUnavailable, unavailable

MIGRATIONS = Path(__file__).parent / "migrations"
PREPARE_THRESHOLD = 1
"""psycopg prepares a statement when a connection runs it for the second time."""
READ_ONLY = "steward_read_only"
"""An execution option for a connection that only reads: on SQLite it takes no write lock
(each statement reads a snapshot of its own: for the one-statement reads that ask for it)."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long Steward waits for the database (``api.settings`` builds it from the environment).

    Attributes:
        connect: seconds to open a connection (PostgreSQL's client counts whole seconds, at
            least 2).
        statement: seconds one statement may run (PostgreSQL's ``statement_timeout``); on
            SQLite, seconds to wait for the write lock (the busy timeout).
        pool: seconds to wait for a connection of the pool when all are in use.
    """

    connect: float = 5.0
    statement: float = 10.0
    pool: float = 5.0

    @property
    def deadline(self) -> float:
        """Seconds a request waits for its database work in all (`run_in_thread`).

        A connection to open and a statement to run: what a request whose database answers
        at all needs. It bounds what the driver alone cannot: a connection that was open when
        the network went silent.
        """
        return self.connect + self.statement


DEFAULT_TIMEOUTS = Timeouts()

IDLE_PING = 1.0
"""Seconds a pooled PostgreSQL connection may sit unused before its next checkout pings it."""


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    prepared: bool = True,
    write_lock: bool = True,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    pooled: bool = True,
    idle_ping: float = IDLE_PING,
) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout.

    The pool keeps ``pool_size`` connections and opens as many more under load. On
    PostgreSQL, with ``prepared``, psycopg prepares a statement the second time a connection
    runs it (server-side plans: Steward runs the same few statements on every request).

    With ``write_lock`` (the service's engines), SQLite transactions take the write lock when
    they begin; without it (a reader beside the service, such as a test), they defer it.

    SQL parameters are kept out of exception messages and logs (``hide_parameters``): they
    are customers' personal data.

    ``timeouts`` bound each wait: for a connection of the pool, for a new connection, for a
    statement (on SQLite, for the write lock). On PostgreSQL the kernel also gives up on a
    connection whose sent data goes unacknowledged for `Timeouts.deadline`
    (``tcp_user_timeout``): a network that went silent fails the connection rather than
    hang it.

    Without ``pooled`` (benchmarks only: what the pool is worth), every checkout opens a new
    connection. A PostgreSQL connection idle for more than ``idle_ping`` seconds is pinged
    before it is used again (`_ping_when_idle`).
    """
    pool: dict[str, Any] = (
        {"pool_size": pool_size, "max_overflow": pool_size, "pool_timeout": timeouts.pool}
        if pooled
        else {"poolclass": NullPool}
    )
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": timeouts.statement},
            hide_parameters=True,
            **pool,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin if write_lock else _sqlite_begin_deferred)
        return engine
    connect_args: dict[str, Any] = {
        "connect_timeout": max(2, math.ceil(timeouts.connect)),
        "tcp_user_timeout": math.ceil(timeouts.deadline * 1000),
    }
    if make_url(url).get_dialect().driver == "psycopg":
        connect_args["prepare_threshold"] = PREPARE_THRESHOLD if prepared else None
    engine = create_engine(url, hide_parameters=True, connect_args=connect_args, **pool)
    _ping_when_idle(engine, idle_ping)
    milliseconds = str(math.ceil(timeouts.statement * 1000))

    def statement_timeout(dbapi_connection: Any, _record: Any) -> None:
        # A session setting, not a startup parameter: poolers (PgBouncer) refuse `options`.
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT set_config('statement_timeout', %s, false)", (milliseconds,))
        cursor.close()
        dbapi_connection.commit()

    event.listen(engine, "connect", statement_timeout)
    return engine


def _ping_when_idle(engine: Engine, idle: float) -> None:
    """Ping a pooled connection at checkout when it sat unused for more than ``idle`` seconds.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: a round trip per request, which
    on a busy server costs more CPU than the request's own read. A connection returned less
    than ``idle`` seconds ago was just working; one idle longer may have outlived a restart
    of the server, and a failed ping replaces it and every connection pooled before it. A
    server that restarts under load fails the statements already on their way (a 503 for
    their requests, nothing half-written: their transactions never committed); SQLAlchemy
    then replaces the pool's connections the same way.
    """
    dialect = engine.dialect

    def returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[IDLE_SINCE] = time.monotonic()

    def taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(IDLE_SINCE, None)
        if since is None or time.monotonic() - since <= idle:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            raise InvalidatePoolError("an idle connection failed its ping") from error

    event.listen(engine, "checkin", returned)
    event.listen(engine, "checkout", taken)


IDLE_SINCE = "steward_idle_since"
"""The key of a pooled connection's ``info`` that holds when it was last returned."""


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


def transaction_options(connection: Connection) -> dict[str, Any]:
    """The execution options that set ``connection``, set by `one_statement_reads`, for a
    transaction again, as the pool's connections are: the write lock taken up front on
    SQLite, the engine's default isolation level on PostgreSQL."""
    if connection.dialect.name == "sqlite":
        return {READ_ONLY: False}
    return {"isolation_level": connection.default_isolation_level}


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


WORKER_THREADS = 40
"""The most database work running at once in worker threads, per process (as many as
anyio's default)."""
_WORKERS: Executor = ThreadPoolExecutor(
    max_workers=WORKER_THREADS, thread_name_prefix="steward-database"
)
_CALLER = threading.local()


class Abandoned(Exception):
    """The caller stopped waiting for a worker thread's work (`run_in_thread`): its
    transaction must not commit."""


def abandoned() -> None:
    """In work that `run_in_thread` runs, just before a commit: raise `Abandoned` when the
    caller stopped waiting (the deadline, or shutdown), so that nothing is committed that the
    caller was not told of."""
    stopped: list[bool] | None = getattr(_CALLER, "stopped", None)
    if stopped is not None and stopped[0]:
        raise Abandoned


async def in_thread(function: Callable[[], T]) -> T:
    """``function()`` in one of the worker threads, awaited; the caller's context variables
    go with it (as ``asyncio.to_thread``)."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_WORKERS, context.run, function)


async def run_in_thread(function: Callable[[], T], *, deadline: float) -> T:
    """``function()``, which uses the database, run in a worker thread and awaited at most
    ``deadline`` seconds.

    Past the deadline the caller stops waiting and the thread is left to fail on its own (its
    driver timeouts end it); a thread that reaches the end of a transaction after that rolls
    back (`abandoned`, called before the commit).

    Raises:
        DatabaseUnavailable: the deadline passed, or the database failed rather than the work
            (see `store.errors.unavailable`).
    """
    stopped = [False]

    def call() -> T:
        _CALLER.stopped = stopped
        try:
            return function()
        finally:
            _CALLER.stopped = None

    try:
        return await within(in_thread(call), deadline)
    except BaseException:
        stopped[0] = True
        raise


async def within(work: Awaitable[T], deadline: float) -> T:
    """``work``, which waits for the database, awaited at most ``deadline`` seconds.

    Raises:
        DatabaseUnavailable: the deadline passed, or the database failed rather than the work
            (see `store.errors.unavailable`).
    """
    try:
        async with asyncio.timeout(deadline):
            return await work
    except TimeoutError:
        raise DatabaseUnavailable(f"no answer within {deadline:g} s") from None
    except Exception as error:
        fault = unavailable(error)
        if fault is None:
            raise
        raise fault from None


def reads_on_loop(engine: Engine) -> bool:
    """Whether reads of ``engine``'s database may run on the event loop: a SQLite file in WAL
    mode is local and its readers never wait for a writer, so a read costs its own CPU and
    nothing more; a hop to a worker thread would cost more than the read (`run_here`). A
    server's database (PostgreSQL) is a round trip away: its work goes to a thread
    (`run_in_thread`)."""
    return engine.dialect.name == "sqlite"


def run_here(function: Callable[[], T]) -> T:
    """``function()``, a read of a database whose reads may run on the event loop
    (`reads_on_loop`), called in the calling thread.

    Raises:
        DatabaseUnavailable: the database failed rather than the work (`store.errors.unavailable`).
    """
    try:
        return function()
    except Exception as error:
        fault = unavailable(error)
        if fault is None:
            raise
        raise fault from None


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed at the end, or rolled back whole on error."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def transaction_at(url: str) -> Iterator[Session]:
    """A session on an engine of its own for ``url``, committed at the end (a CLI command's
    one transaction); the engine is closed whatever happens."""
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def refresh_statistics(session: Session) -> None:
    """After a bulk load: PostgreSQL's planner statistics now, in the load's transaction.

    Until autovacuum gets to a freshly loaded table, PostgreSQL plans from no statistics and
    can sort every order in fulfillment for a page of 20. SQLite keeps none unless asked and
    is left so: the row rules' plans do not depend on them there (`store.hints`).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE"))


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
