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
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, CursorResult, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import Compiled

__all__ = ["Precompiled"]

Processor = Callable[[Any], Any]
Binder = Callable[[Mapping[str, Any]], Any]
"""Named parameters to what the driver takes: processed, and in order where positional."""


class Precompiled:
    """A Core statement whose SQL text is compiled once per dialect.

    Every parameter must be a named `bindparam` given at execution; values go through their
    column types' bind processors (JSON, time zones) as SQLAlchemy would send them.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._lock = threading.Lock()
        self._by_dialect: dict[str, tuple[str, Binder]] = {}

    def execute(
        self,
        connection: Connection,
        parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    ) -> CursorResult[Any]:
        """Run the statement: once, or once per mapping of a sequence (``executemany``)."""
        sql, bind = self._compiled(connection.dialect)
        if isinstance(parameters, Mapping):
            return connection.exec_driver_sql(sql, bind(parameters))
        return connection.exec_driver_sql(sql, [bind(each) for each in parameters])

    def first(self, dbapi_connection: Any, dialect: Dialect, parameters: Mapping[str, Any]) -> Any:
        """The statement's first row, run on a DBAPI connection of ``dialect`` outside any
        engine (`store.loop_reads.LoopConnections`): values as the driver gives them, no
        engine events.

        Raises:
            the driver's error, unwrapped.
        """
        sql, bind = self._compiled(dialect)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(sql, bind(parameters))
            return cursor.fetchone()
        finally:
            cursor.close()

    def _compiled(self, dialect: Dialect) -> tuple[str, Binder]:
        found = self._by_dialect.get(dialect.name)
        if found is not None:
            return found
        compiled: Compiled = self._statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ()) if compiled.positional else None  # type: ignore[attr-defined]
        binds = compiled.binds  # type: ignore[attr-defined]
        processors = {
            name: process
            for name, bind in binds.items()
            if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        found = (compiled.string, _binder(names, processors))
        with self._lock:
            self._by_dialect[dialect.name] = found
        return found


def _binder(names: tuple[str, ...] | None, processors: dict[str, Processor]) -> Binder:
    """What turns a statement's named parameters into the driver's: each value through its
    type's processor, if it has one; then, for a positional driver, in ``names`` order."""
    pick = None if names is None else _positional(names)
    active = tuple(processors.items())

    def bind(parameters: Mapping[str, Any]) -> Any:
        values = parameters
        if active:
            values = dict(parameters)
            for name, process in active:
                if name in values:
                    values[name] = process(values[name])
        return values if pick is None else pick(values)

    return bind


def _positional(names: tuple[str, ...]) -> Binder:
    """The values of ``names``, in order, as a tuple."""
    if len(names) > 1:
        return itemgetter(*names)  # a tuple of several
    only = names[0] if names else None

    def one_or_none(values: Mapping[str, Any]) -> tuple[Any, ...]:
        return () if only is None else (values[only],)

    return one_or_none
