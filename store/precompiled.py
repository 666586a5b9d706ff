"""Statements that every request runs, compiled once per dialect and run through the driver.

SQLAlchemy builds, keys and looks up a statement in its compiled cache on every execution;
for the few statements each request runs (the token's standing, the access record) that
bookkeeping costs more than the database does. A `Precompiled` statement keeps its SQL text,
its parameters' order and their type processors, and runs with
``Connection.exec_driver_sql``: the engine's events still see it.

Example:
    Declared once, at import::

        REVOKED = Precompiled(select(exists().where(RevokedToken.jti == bindparam("jti"))))
        row = REVOKED.execute(connection, {"jti": jti}).one()
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, CursorResult, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import Compiled

__all__ = ["Precompiled"]

Processor = Callable[[Any], Any] | None


class Precompiled:
    """A Core statement whose SQL text is compiled once per dialect.

    Every parameter must be a named `bindparam` given at execution; values go through their
    column types' bind processors (JSON, time zones) as SQLAlchemy would send them.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._lock = threading.Lock()
        self._by_dialect: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Processor]]] = {}

    def execute(
        self,
        connection: Connection,
        parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    ) -> CursorResult[Any]:
        """Run the statement: once, or once per mapping of a sequence (``executemany``)."""
        sql, names, processors = self._compiled(connection.dialect)
        if isinstance(parameters, Mapping):
            return connection.exec_driver_sql(sql, self._arguments(parameters, names, processors))
        many = [self._arguments(each, names, processors) for each in parameters]
        return connection.exec_driver_sql(sql, many)

    def first(self, dbapi_connection: Any, dialect: Dialect, parameters: Mapping[str, Any]) -> Any:
        """The statement's first row, run on a DBAPI connection of ``dialect`` outside any
        engine (`store.loop_reads.LoopConnections`): values as the driver gives them, no
        engine events.

        Raises:
            the driver's error, unwrapped.
        """
        sql, names, processors = self._compiled(dialect)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(sql, self._arguments(parameters, names, processors))
            return cursor.fetchone()
        finally:
            cursor.close()

    @staticmethod
    def _arguments(
        parameters: Mapping[str, Any],
        names: tuple[str, ...] | None,
        processors: dict[str, Processor],
    ) -> Any:
        processed = {
            name: value if (process := processors.get(name)) is None else process(value)
            for name, value in parameters.items()
        }
        if names is None:
            return processed
        return tuple(processed[name] for name in names)

    def _compiled(
        self, dialect: Dialect
    ) -> tuple[str, tuple[str, ...] | None, dict[str, Processor]]:
        found = self._by_dialect.get(dialect.name)
        if found is not None:
            return found
        compiled: Compiled = self._statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ()) if compiled.positional else None  # type: ignore[attr-defined]
        binds = compiled.binds  # type: ignore[attr-defined]
        processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in binds.items()
        }
        found = (compiled.string, names, processors)
        with self._lock:
            self._by_dialect[dialect.name] = found
        return found
