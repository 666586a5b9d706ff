"""Statements read on the event loop through the driver, on a connection kept for its thread.

A SQLite file in WAL mode is read on the event loop (`store.database.reads_on_loop`). For the
one statement every request runs before anything else — the token's standing — SQLAlchemy's
own work (a pool checkout, a connection, an execution context, a result, a reset on return)
costs several times what SQLite does. `LoopConnections` keeps one DBAPI connection per thread,
made by the engine (its connect events set WAL, foreign keys and the busy timeout) and then
detached from the pool, and runs a `Precompiled` statement on it. Each statement is its own
read transaction (the connection is in autocommit): it sees every commit before it.

Example:
    ::

        reads = LoopConnections(engine)
        row = reads.first(STATEMENT, {"jti": jti})
        reads.close()
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, exc
from sqlalchemy.pool import PoolProxiedConnection

from store.errors import unavailable
from store.precompiled import Precompiled

__all__ = ["LoopConnections"]


class LoopConnections:
    """One kept DBAPI connection of ``engine`` per thread that reads (the event loop's).

    Args:
        engine: a SQLite engine (`store.database.reads_on_loop`).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect
        self._local = threading.local()
        self._lock = threading.Lock()
        self._kept: list[PoolProxiedConnection] = []
        self._closed = False

    def first(self, statement: Precompiled, parameters: Mapping[str, Any]) -> Any:
        """``statement``'s first row, read on this thread's kept connection.

        Raises:
            DatabaseUnavailable: the database failed rather than the statement
                (`store.errors.unavailable`); the kept connection is dropped.
            sqlalchemy.exc.DBAPIError: the statement failed (a bug).
        """
        dbapi = self._dialect.loaded_dbapi
        connection = None
        try:
            connection = self._connection()
            return statement.first(connection.dbapi_connection, self._dialect, parameters)
        except (dbapi.Error, exc.DBAPIError) as error:
            if connection is not None:
                self._drop(connection)
            wrapped = (
                error
                if isinstance(error, exc.DBAPIError)
                else exc.DBAPIError.instance(None, None, error, dbapi.Error, True)
            )
            raise (unavailable(wrapped) or wrapped) from None

    def close(self) -> None:
        """Close every kept connection; none is made after this."""
        with self._lock:
            self._closed = True
            kept, self._kept = self._kept, []
        for connection in kept:
            connection.close()

    def _connection(self) -> PoolProxiedConnection:
        connection: PoolProxiedConnection | None = getattr(self._local, "connection", None)
        if connection is not None:
            return connection
        connection = self._engine.raw_connection()
        connection.detach()  # closed by `close`, never returned to the pool
        with self._lock:
            if self._closed:
                connection.close()
                raise RuntimeError("the loop's connections are closed")
            self._kept.append(connection)
        self._local.connection = connection
        return connection

    def _drop(self, connection: PoolProxiedConnection) -> None:
        self._local.connection = None
        with self._lock:
            if connection in self._kept:
                self._kept.remove(connection)
        connection.close()
