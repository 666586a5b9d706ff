"""How each database builds JSON text: one small class per dialect, the compiler above them.

Both produce, for every value, exactly the JSON the Strawberry path serialises (datetimes as
Python's ``isoformat`` in UTC, dates as ISO, global ids and cursors in base64, booleans as
``true``/``false``, floats that read back as the same double), so that the database's text can
be spliced into the response unparsed.

- SQLite: every value is JSON *text*, built by concatenation (``json_quote`` escapes strings):
  nested lists and objects are embedded as they are, never parsed again.
- PostgreSQL: ``json_build_object`` and ``json_agg`` over ``json`` (not ``jsonb``: it keeps
  the keys in the order of the selection).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import reduce
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    Text,
    case,
    cast,
    extract,
    func,
    literal_column,
    null,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

Expr = ColumnElement[Any]

NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
"""A GraphQL name: the only text the compiler writes into SQL as a constant (keys, types)."""

UTC_SUFFIX = "+00:00"


class UnsafeText(ValueError):
    """Text the compiler would write into SQL as a constant that is not a GraphQL name or JSON
    punctuation: the statement is not built (values are always bind parameters)."""


def constant(text: str) -> Expr:
    """A SQL string constant made of a GraphQL name and JSON punctuation (never a value)."""
    if "'" in text or "\\" in text:
        raise UnsafeText("a quote or a backslash in a SQL constant")
    return literal_column(f"'{text}'", String)


def graphql_name(text: str) -> str:
    """``text``, checked to be a GraphQL name (a key or a type name of the response)."""
    if not NAME.match(text):
        raise UnsafeText("not a GraphQL name")
    return text


class JsonDialect:
    """How one database encodes values as JSON; subclasses per database."""

    name = ""

    def value(self, kind: str, column: Expr) -> Expr:
        """The JSON value of a column of ``kind`` (``text``, ``int``, ``int_text``, ...)."""
        return getattr(self, f"_{kind}")(column)  # type: ignore[no-any-return]

    def object(self, pairs: Sequence[tuple[str, Expr]]) -> Expr:
        """A JSON object with the keys in order."""
        raise NotImplementedError

    def array(self, select_json: Select[Any], json: Expr, order: Sequence[Expr]) -> Expr:
        """A JSON array of ``json`` over the rows of ``select_json`` in ``order`` (``[]``: none)."""
        raise NotImplementedError

    def optional(self, subquery: Expr) -> Expr:
        """A scalar subquery's JSON, or ``null`` when it finds no row."""
        raise NotImplementedError

    def null(self) -> Expr:
        """JSON ``null``."""
        raise NotImplementedError

    def string(self, text: str) -> Expr:
        """A constant JSON string (a type name)."""
        raise NotImplementedError

    def boolean(self, condition: Expr) -> Expr:
        """A JSON boolean from a SQL condition."""
        raise NotImplementedError

    def base64(self, text: Expr) -> Expr:
        """The base64 of a UTF-8 text (global ids, cursors)."""
        raise NotImplementedError

    def when(self, condition: Expr, value: Expr) -> Expr:
        """``value`` where ``condition`` holds, else JSON ``null``."""
        raise NotImplementedError

    def result(self, json: Expr) -> Expr:
        """The column a statement returns: JSON text, NULL for no value."""
        return json

    def id_list(self, column: Expr) -> Expr:
        """An aggregate: the ids of the rows, comma-separated (the audit's customers)."""
        raise NotImplementedError

    def age(self, born: Expr, year: Expr, month_day: Expr) -> Expr:
        """Whole years from ``born`` to the day given as its year and ``MM-DD``."""
        raise NotImplementedError

    def global_id(self, type_name: str, pk: Expr) -> Expr:
        """The global id of ``pk`` as JSON."""
        return self._text(self.base64(constant(f"{type_name}:").concat(cast(pk, Text))))

    def cursor(self, position: Expr) -> Expr:
        """The cursor of a connection's row at ``position`` (text, not yet JSON)."""
        return self.base64(constant("o:").concat(cast(position, Text)))

    def _text(self, column: Expr) -> Expr:
        raise NotImplementedError


class SQLiteJson(JsonDialect):
    """JSON as text, concatenated; ``steward_base64`` is registered on every connection."""

    name = "sqlite"

    def object(self, pairs: Sequence[tuple[str, Expr]]) -> Expr:
        if not pairs:
            return constant("{}")
        pieces: list[Expr] = []
        for index, (key, value) in enumerate(pairs):
            pieces.append(constant(("{" if index == 0 else ",") + f'"{graphql_name(key)}":'))
            pieces.append(value)
        pieces.append(constant("}"))
        return reduce(lambda left, right: left.concat(right), pieces)

    def array(self, select_json: Select[Any], json: Expr, order: Sequence[Expr]) -> Expr:
        rows = select_json.add_columns(json.label("j")).order_by(*order).subquery()
        joined = func.group_concat(rows.c.j, constant(","))
        return (
            select(constant("[").concat(func.coalesce(joined, constant(""))).concat(constant("]")))
            .select_from(rows)
            .scalar_subquery()
        )

    def optional(self, subquery: Expr) -> Expr:
        return func.coalesce(subquery, constant("null"))

    def null(self) -> Expr:
        return constant("null")

    def string(self, text: str) -> Expr:
        return constant(f'"{graphql_name(text)}"')

    def boolean(self, condition: Expr) -> Expr:
        return case((condition, constant("true")), else_=constant("false"))

    def base64(self, text: Expr) -> Expr:
        return func.steward_base64(text, type_=String)

    def when(self, condition: Expr, value: Expr) -> Expr:
        return case((condition, value), else_=constant("null"))

    def id_list(self, column: Expr) -> Expr:
        return func.group_concat(column, constant(","))

    def age(self, born: Expr, year: Expr, month_day: Expr) -> Expr:
        born_year = cast(func.substr(born, 1, 4), Integer)
        later = case((month_day < func.substr(born, 6, 5), 1), else_=0)
        return year - born_year - later

    def _text(self, column: Expr) -> Expr:
        return func.json_quote(column)

    _int = _text
    _enum = _text
    _date = _text

    def _int_text(self, column: Expr) -> Expr:
        return func.json_quote(cast(column, Text))

    def _upper(self, column: Expr) -> Expr:
        return func.json_quote(func.upper(column))

    def _bool(self, column: Expr) -> Expr:
        return case(
            (column.is_(None), constant("null")),
            (column != 0, constant("true")),
            else_=constant("false"),
        )

    def _float(self, column: Expr) -> Expr:
        # SQLite prints 15 significant digits; where that does not read back as the same
        # double, 17 do (the JSON value is then the same number as Python's shortest repr).
        short = func.printf(constant("%!.15g"), column)
        return case(
            (column.is_(None), constant("null")),
            (cast(short, Float) == column, short),
            else_=func.printf(constant("%!.17g"), column),
        )

    def _datetime(self, column: Expr) -> Expr:
        # SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff" (UTC); isoformat drops zero micros.
        time = case(
            (func.substr(column, 20).in_(["", ".000000"]), func.substr(column, 12, 8)),
            else_=func.substr(column, 12),
        )
        text = (
            constant('"')
            .concat(func.substr(column, 1, 10))
            .concat(constant("T"))
            .concat(time)
            .concat(constant(f'{UTC_SUFFIX}"'))
        )
        return case((column.is_(None), constant("null")), else_=text)


class PostgresJson(JsonDialect):
    """``json_build_object`` and ``json_agg``; values of their natural SQL types."""

    name = "postgresql"

    def object(self, pairs: Sequence[tuple[str, Expr]]) -> Expr:
        arguments: list[Expr] = []
        for key, value in pairs:
            arguments.extend((constant(graphql_name(key)), value))
        return func.json_build_object(*arguments)

    def array(self, select_json: Select[Any], json: Expr, order: Sequence[Expr]) -> Expr:
        aggregated = (
            func.json_agg(aggregate_order_by(json, *order)) if order else func.json_agg(json)
        )
        return select_json.add_columns(
            func.coalesce(aggregated, literal_column("'[]'::json"))
        ).scalar_subquery()

    def optional(self, subquery: Expr) -> Expr:
        return subquery

    def null(self) -> Expr:
        return null()

    def string(self, text: str) -> Expr:
        return constant(graphql_name(text))

    def boolean(self, condition: Expr) -> Expr:
        return condition

    def base64(self, text: Expr) -> Expr:
        return func.encode(func.convert_to(text, constant("UTF8")), constant("base64"))

    def when(self, condition: Expr, value: Expr) -> Expr:
        return case((condition, value), else_=null())

    def result(self, json: Expr) -> Expr:
        return cast(json, Text)

    def id_list(self, column: Expr) -> Expr:
        return func.string_agg(cast(column, Text), constant(","))

    def age(self, born: Expr, year: Expr, month_day: Expr) -> Expr:
        born_year = cast(extract("year", born), Integer)
        later = case((month_day < func.to_char(born, constant("MM-DD")), 1), else_=0)
        return year - born_year - later

    def _text(self, column: Expr) -> Expr:
        return column

    _int = _text
    _enum = _text
    _bool = _text
    _float = _text

    def _int_text(self, column: Expr) -> Expr:
        return cast(column, Text)

    def _upper(self, column: Expr) -> Expr:
        return func.upper(column)

    def _date(self, column: Expr) -> Expr:
        return func.to_char(column, constant("YYYY-MM-DD"))

    def _datetime(self, column: Expr) -> Expr:
        utc = column.op("AT TIME ZONE")(constant("UTC"))
        micros = cast(extract("microseconds", column), Integer) % 1_000_000
        fraction = case((micros != 0, func.to_char(utc, constant(".US"))), else_=constant(""))
        return (
            func.to_char(utc, constant('YYYY-MM-DD"T"HH24:MI:SS'))
            .concat(fraction)
            .concat(constant(UTC_SUFFIX))
        )


def json_dialect(name: str) -> JsonDialect:
    """The JSON builder for a SQLAlchemy dialect name."""
    if name == "sqlite":
        return SQLiteJson()
    if name == "postgresql":
        return PostgresJson()
    raise ValueError(f"no compiled reads for {name}")
