"""Hints for the query planner, where a database plans without statistics.

SQLite keeps no statistics unless ``ANALYZE`` runs, and then takes every equality on an
indexed column for a selective one: an order page under ``order_fulfillment`` read every order
in fulfillment through ``ix_customer_order_status`` and sorted them, instead of walking the
page's own order (``ix_customer_order_placed_at``) and stopping after 20. `likely` tells
it the condition holds for most rows (SQLite's ``likely()``, a no-op for the result); other
databases get the condition as it is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class likely(FunctionElement[bool]):  # noqa: N801  # SQL function naming, as sqlalchemy.func
    """A condition true for most rows: not worth an index on its own."""

    type = Boolean()
    inherit_cache = True
    name = "likely"

    def __init__(self, condition: ColumnElement[bool]) -> None:
        super().__init__(condition)


@compiles(likely)
def _plain(element: likely, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(likely, "sqlite")
def _sqlite(element: likely, compiler: SQLCompiler, **kw: Any) -> str:
    return f"likely({compiler.process(element.clauses, **kw)})"
