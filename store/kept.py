"""Connections of the pool kept checked out, and lent one request at a time.

Most requests read with statements that need no transaction of their own (the compiled
answer, a registered document, the caller's standing where it is not kept elsewhere), then
join a group of access records written in one transaction. A checkout from SQLAlchemy's pool
costs several times such a statement's own work: the checkout and checkin events, the switch
to autocommit and back (`store.database.one_statement_reads`), the reset on return.
`KeptConnections` keeps a few connections checked out, each set once (for reads of one
statement each, or as the pool gives them), and lends them, last returned first lent.

They stay connections of the pool: the pool's limits count them, its connect events set them
up, and a kept connection that sat unused longer than the pool's idle ping allows is pinged
before it is lent again (`store.database.IDLE_PING`). A connection that failed goes back to
the pool, which resets or discards it; one that lost its server drops every kept connection,
as the pool drops its own. `close` (at shutdown) gives them back; disposing of the engine
closes them.

Example:
    ::

        reads = KeptConnections(engine, keep=10, options=one_statement_options(engine.dialect))
        with reads.connection() as connection:
            connection.exec_driver_sql("SELECT 1").one()
        reads.close()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, event

from store.database import IDLE_PING, transaction_options

__all__ = ["KeptConnections"]


class KeptConnections:
    """At most ``keep`` connections of ``engine`` kept checked out, set with ``options``.

    A connection given back is rolled back, as the pool resets one, and kept while still
    connected.

    Args:
        engine: the service's engine.
        keep: how many to keep at most (0: every `connection` is a checkout of the pool).
        options: the execution options each is set with, once
            (`store.database.one_statement_options` for reads of one statement each).
        idle: seconds a kept connection may sit unused before it is pinged.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        keep: int,
        options: Mapping[str, Any] | None = None,
        idle: float = IDLE_PING,
    ) -> None:
        self._engine = engine
        self._options = dict(options or {})
        self._keep = keep
        self._idle = idle
        self._kept: list[tuple[Connection, float]] = []
        self._lock = threading.Lock()
        self._closed = False
        event.listen(engine, "engine_disposed", self._disposed)

    @property
    def dialect(self) -> Dialect:
        """The engine's dialect."""
        return self._engine.dialect

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection set with the options, for the block.

        Raises:
            what the pool's checkout raises (`store.errors.unavailable` tells a database
            that failed).
        """
        connection = self._take()
        try:
            yield connection
        except BaseException:
            if connection.invalidated:  # its server went away: so did the others'
                self._drop_all()
            connection.close()
            raise
        self._give_back(connection)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A kept connection set for a transaction, as the pool's connections are
        (`store.database.transaction_options`), for the block; set with the options again
        when given back. A request whose read needs a transaction after all borrows the same
        kind of connection as its read: one set of connections for both, not a second one
        beside it. Keeping none, it is a checkout of the pool as it gives them."""
        if not self._keep:
            with self._engine.connect() as plain:
                yield plain
            return
        with self.connection() as connection:
            connection.execution_options(**transaction_options(connection))
            yield connection
            if connection.in_transaction():
                connection.rollback()
            connection.execution_options(**self._options)

    def close(self) -> None:
        """Return every kept connection to the pool; none is kept after this."""
        with self._lock:
            self._closed = True
        self._drop_all()

    def _take(self) -> Connection:
        now = time.monotonic()
        with self._lock:
            kept = self._kept.pop() if self._kept else None
        if kept is not None:
            connection, since = kept
            if now - since <= self._idle or self._answers(connection):
                return connection
            self._drop_all()  # the server may have restarted: the pool pings its own
        connection = self._engine.connect()
        return connection.execution_options(**self._options) if self._options else connection

    def _answers(self, connection: Connection) -> bool:
        """Whether an idle kept connection answers a ping (one that does not is closed)."""
        dialect = self._engine.dialect
        dbapi_connection = connection.connection.dbapi_connection
        try:
            if dbapi_connection is None:
                raise dialect.loaded_dbapi.Error("the connection was closed")
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error:
            connection.invalidate()
            connection.close()
            return False
        return True

    def _give_back(self, connection: Connection) -> None:
        if not connection.invalidated:
            if connection.in_transaction():  # as the pool resets what it is given back
                connection.rollback()
            with self._lock:
                if not self._closed and len(self._kept) < self._keep:
                    self._kept.append((connection, time.monotonic()))
                    return
        connection.close()

    def _disposed(self, _engine: Engine) -> None:
        """The engine's pool was disposed of: what is kept was checked out of it, and nothing
        would close it when given back (a pool disposed of keeps what it is given back)."""
        with self._lock:
            kept, self._kept = self._kept, []
        for connection, _ in kept:
            connection.invalidate()
            connection.close()

    def _drop_all(self) -> None:
        with self._lock:
            kept, self._kept = self._kept, []
        for connection, _ in kept:
            connection.close()
