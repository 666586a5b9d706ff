"""The forms of graduated disclosure as SQL, for the compiled executor (SPEC section 13).

`form_sql` turns a column expression into the expression of its form, for SQLite and
PostgreSQL, giving exactly what `auth.policy.forms` gives in Python (the tests hold them equal
on both databases for generated values). The result has the column's own type (a generalised
date is still a date), so the compiler encodes it as JSON as it encodes the column.

A pseudonym is not computed in SQL (`form_sql` answers ``None``): SQLite has no HMAC,
PostgreSQL only with the ``pgcrypto`` extension (which a deployment may not install), and the
recipient's key would travel to the server as a statement parameter. The compiler selects the
column's clear value as usual, and `after_statement` replaces it in the statement's JSON, in
the process, before the response leaves it (``null`` when there is no pseudonym key).

Example:
    >>> from sqlalchemy import column
    >>> from auth.policy.forms import Form, ValueKind
    >>> str(form_sql("postgresql", Form.GENERALISED, ValueKind.POSTAL_CODE, column("c")))
    'substr(c, :substr_1, :substr_2)'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Float,
    Integer,
    case,
    cast,
    extract,
    func,
    type_coerce,
)
from sqlalchemy import literal_column as sql

from auth.policy.forms import (
    EMAIL_MASK,
    KEPT,
    MASK,
    POSTAL_PREFIX,
    SUPPORTED,
    Form,
    ValueKind,
    disclose,
)

__all__ = ["after_statement", "form_sql"]

Expr = ColumnElement[Any]

_BULLET: Expr = sql(f"'{MASK}'")
_EMAIL_MASK: Expr = sql(f"'{EMAIL_MASK}'")
_AT: Expr = sql("'@'")
_EMPTY: Expr = sql("''")
_HALF = cast(sql("0.5"), Float)
_HUNDRED = cast(sql("100.0"), Float)


def form_sql(dialect: str, form: Form, kind: ValueKind, column: Expr) -> Expr | None:
    """The SQL expression of ``column`` (a value of ``kind``) in ``form``, on ``dialect``
    (a SQLAlchemy dialect name); ``None`` for a pseudonym, which `after_statement` computes.
    NULL stays NULL.

    Raises:
        ValueError: ``form`` is not defined for ``kind``, or ``dialect`` is neither SQLite nor
            PostgreSQL.
    """
    if dialect not in ("sqlite", "postgresql"):
        raise ValueError(f"no forms in SQL for {dialect}")
    if kind not in SUPPORTED[form]:
        raise ValueError(f"the {form} form is not defined for a {kind}")
    if form is Form.PSEUDONYM:
        return None
    if kind is ValueKind.EMAIL:
        return _partial_email(column)
    if kind is ValueKind.DATE:
        return _year(dialect, column)
    if kind is ValueKind.POSTAL_CODE:
        return func.substr(column, 1, POSTAL_PREFIX)
    if kind is ValueKind.COORDINATE:
        return _hundredths(dialect, column)
    return _last_four(dialect, column)


def _bullets(dialect: str, count: Expr) -> Expr:
    """``count`` bullets (none for zero)."""
    if dialect == "postgresql":
        return func.repeat(_BULLET, count)
    # SQLite has no repeat(): the hex of ``count`` zero bytes is ``count`` times "00".
    return func.replace(func.hex(func.zeroblob(count)), sql("'00'"), _BULLET)


def _last_four(dialect: str, column: Expr) -> Expr:
    length = func.length(column)
    return case(
        (column.is_(None), None),
        (length <= KEPT, _bullets(dialect, length)),
        else_=_bullets(dialect, length - KEPT).concat(func.substr(column, length - (KEPT - 1))),
    )


def _partial_email(column: Expr) -> Expr:
    # Up to and including the last "@": trimming, from the right, every character that is
    # not an "@" (both databases' rtrim take a set of characters).
    through_at = func.rtrim(column, func.replace(column, _AT, _EMPTY))
    length = func.length(through_at)
    first = func.substr(column, 1, case((length > 1, 1), else_=0))
    return case(
        (column.is_(None), None),
        (length == 0, _EMAIL_MASK),
        else_=first.concat(_EMAIL_MASK).concat(_AT).concat(func.substr(column, length + 1)),
    )


def _year(dialect: str, column: Expr) -> Expr:
    if dialect == "postgresql":
        return func.make_date(cast(extract("year", column), Integer), 1, 1, type_=Date)
    # SQLAlchemy stores a date as "YYYY-MM-DD" text on SQLite.
    return type_coerce(func.substr(column, 1, 4).concat(sql("'-01-01'")), Date)


def _hundredths(dialect: str, column: Expr) -> Expr:
    scaled = func.abs(column) * _HUNDRED + _HALF
    # Truncation toward zero: SQLite's CAST does it, PostgreSQL's CAST rounds, so trunc() first.
    whole = cast(scaled if dialect == "sqlite" else func.trunc(scaled), BigInteger)
    signed = case((column < 0, -whole), else_=whole)
    return case((column.is_(None), None), else_=cast(signed, Float) / _HUNDRED)


def after_statement(
    json: str | bytes,
    fields: Sequence[tuple[Sequence[str], ValueKind]],
    key: bytes | None,
) -> bytes:
    """The JSON text of a root field with the pseudonyms the statement could not compute.

    Each of ``fields`` is a path of response keys (aliases) from the root field's value down
    to a field due as a pseudonym, and the kind of its value; lists on the way are walked
    through, ``null`` and missing keys are left as they are. Each string there becomes its
    pseudonym under ``key``, the recipient's (`auth.policy.forms.recipient_key`), or ``null``
    without one (fail closed).

    Example:
        >>> text = '{"edges": [{"node": {"e": "A@x.vn"}}, {"node": null}]}'
        >>> after_statement(text, [(("edges", "node", "e"), ValueKind.EMAIL)], None)
        b'{"edges":[{"node":{"e":null}},{"node":null}]}'
    """
    value = orjson.loads(json)
    for path, kind in fields:
        value = _replace(value, tuple(path), partial(disclose, Form.PSEUDONYM, kind, key=key))
    return orjson.dumps(value)


def _replace(value: Any, path: tuple[str, ...], replace: Callable[[str], object]) -> Any:
    if isinstance(value, list):
        return [_replace(item, path, replace) for item in value]
    if not path:
        return replace(value) if isinstance(value, str) else value
    if isinstance(value, dict) and path[0] in value:
        value[path[0]] = _replace(value[path[0]], path[1:], replace)
    return value
