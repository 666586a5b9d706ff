"""The one decision: what a request's plan shows of a field, and which rows of a table exist.

Both executors, the loaders, ``node``, mutation payloads and the ``privacy`` lookups ask these
two functions (SPEC section 11): `decide` for a field coordinate, `row_condition` for a table.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, FromClause, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.util import ClauseAdapter

from auth.policy.catalog import BY_MODEL, DATA_TYPES, FIELDS, RowRule, Rule, policy_key
from auth.policy.forms import Form
from auth.policy.purposes import Purpose
from auth.policy.row_rules import RowScope
from store.models import table_of

if TYPE_CHECKING:
    from auth.policy.plan import Plan

NO_POLICY = "NO_POLICY"
MISSING_SCOPE = "MISSING_SCOPE"
PURPOSE_NOT_ALLOWED = "PURPOSE_NOT_ALLOWED"


class Access(enum.Enum):
    """What a caller gets of a field."""

    VISIBLE = "visible"
    """The value."""
    FORM = "form"
    """A form of the value (graduated disclosure)."""
    OWNED = "owned"
    """The value on the caller's own rows (``me``); hidden on any other."""
    HIDDEN = "hidden"
    """``null``, counted in ``extensions.redactions``."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The decision for one field coordinate.

    Attributes:
        access: what the caller gets.
        key: the policy entry that governs the field (``Type.field`` or ``Type.*``), ``None``
            when the catalog has no such field.
        form: the form disclosed (`Access.FORM`).
        reason: why the value is hidden (wherever it is: `Access.OWNED` and `Access.HIDDEN`).
        needs: what unlocks the value (the field's rule), ``None`` for ``NO_POLICY``.
    """

    access: Access
    key: str | None
    form: Form | None = None
    reason: str | None = None
    needs: Rule | None = None


UNKNOWN = Decision(Access.HIDDEN, None, reason=NO_POLICY)
"""The decision for a field the catalog does not have: hidden from everyone."""


def reason(found: Rule | None, scopes: frozenset[str]) -> str:
    """Why a field with ``found`` as its rule is hidden from a caller holding ``scopes``."""
    if found is None:
        return NO_POLICY
    if not found.granted(scopes):
        return MISSING_SCOPE
    return PURPOSE_NOT_ALLOWED


def _decision(
    key: str,
    found: Rule,
    scopes: frozenset[str],
    purpose: Purpose | None,
    *,
    partner: bool,
    owner: bool,
) -> Decision:
    if found.granted(scopes):
        form = found.form(purpose, partner=partner)
        if form is not None:
            return Decision(Access.FORM, key, form=form, needs=found)
        if found.purposes is None or purpose in found.purposes:
            return Decision(Access.VISIBLE, key)
    access = Access.OWNED if owner else Access.HIDDEN
    return Decision(access, key, reason=reason(found, scopes), needs=found)


@lru_cache(maxsize=1024)
def decisions(
    scopes: frozenset[str], purpose: Purpose | None, *, partner: bool, owner: bool
) -> Mapping[str, Decision]:
    """The decision for every field of the catalog, for a caller holding ``scopes`` under
    ``purpose``; ``partner``: the caller is a partner; ``owner``: it is a customer (``me``)."""
    table: dict[str, Decision] = {}
    for coordinate, each in FIELDS.items():
        key = policy_key(coordinate)
        type_name = coordinate.partition(".")[0]
        found = each.rule or DATA_TYPES[type_name].rule
        if key is None or found is None:
            table[coordinate] = UNKNOWN
            continue
        table[coordinate] = _decision(key, found, scopes, purpose, partner=partner, owner=owner)
    return MappingProxyType(table)


def decide(plan: Plan, coordinate: str) -> Decision:
    """What ``plan``'s request gets of ``Type.field``."""
    return plan.decisions.get(coordinate, UNKNOWN)


def row_condition(
    rows: RowScope, type_name: str, table_or_alias: FromClause | None = None
) -> ColumnElement[bool] | None:
    """The condition a row of ``type_name`` meets to exist for the request, on its table or on
    an alias of it (``table_or_alias``); ``None`` when its rows obey no row rule of their own."""
    data_type = DATA_TYPES[type_name]
    table = table_of(data_type.model)
    source = table if table_or_alias is None else table_or_alias
    match data_type.row_rule:
        case RowRule.NONE:
            return None
        case RowRule.BY_CUSTOMER:
            return rows.customers(source.c.customer_id)
        case RowRule.CUSTOMER:
            condition = rows.customer_rows()
        case RowRule.ORDER:
            condition = rows.orders()
        case RowRule.ADDRESS:
            condition = rows.addresses()
    if source is table:
        return condition
    adapted: ColumnElement[bool] = ClauseAdapter(source).traverse(condition)
    return adapted


def row_conditions(
    rows: RowScope, type_name: str, table_or_alias: FromClause | None = None
) -> list[ColumnElement[bool]]:
    """`row_condition` as the conditions, none or one, of a ``WHERE`` clause."""
    condition = row_condition(rows, type_name, table_or_alias)
    return [] if condition is None else [condition]


def exists_for(session: Session, rows: RowScope, row: Any) -> bool:
    """Whether ``row`` (just written by a mutation) exists for the caller.

    A mutation's payload obeys the same rules as a read: a customer created under
    ``marketing`` without consent, or an order that left fulfillment, is not returned.
    """
    data_type = BY_MODEL.get(type(row))
    if data_type is None or not rows.restricted:
        return True
    condition = row_condition(rows, data_type.name)
    if condition is None:
        return True
    table = table_of(data_type.model)
    found = session.scalar(select(table.c.id).where(table.c.id == row.id, condition))
    return found is not None
