"""Apps whose queries provably run on Strawberry alone: the reference of the differential tests.

``STEWARD_COMPILED_READS=false`` must leave the app without a compiler, and no statement that
builds JSON in the database (the compiler's ``json_build_object``/``json_agg`` on PostgreSQL,
``json_object``/``json_quote`` on SQLite) may run in it: a reference that quietly compiled its
reads would compare the compiler with itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Settings

JSON_BUILDING = re.compile(
    r"\b(json_build_object|json_agg|json_object|json_group_array|json_quote)\s*\(", re.IGNORECASE
)
"""The functions that build a response's JSON in the database (`schema.compiled`)."""


def builds_json(statement: str) -> bool:
    """Whether ``statement`` builds JSON in the database, as the compiler's statements do."""
    return JSON_BUILDING.search(statement) is not None


@contextmanager
def json_statements(engine: Engine) -> Iterator[list[str]]:
    """The JSON-building statements ``engine`` runs inside the block."""
    seen: list[str] = []

    def note(_connection: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if builds_json(statement):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def strawberry_only(settings: Settings) -> Starlette:
    """The app of ``settings`` with compiled reads off, checked to have no compiler.

    Raises:
        AssertionError: the app has a compiler all the same.
    """
    app = create_app(settings.model_copy(update={"compiled_reads": False}))
    if app.state.execution.compiled is not None:
        raise AssertionError("STEWARD_COMPILED_READS=false left the app a compiler")
    return app


@contextmanager
def no_compiled_statement(app: Starlette) -> Iterator[None]:
    """Fails, at the end of the block, when ``app`` ran a JSON-building statement in it."""
    with json_statements(app.state.engine) as seen:
        yield
    if seen:
        raise AssertionError(f"the Strawberry-only app ran compiled statements: {seen[:3]}")
