"""A caller's view of the policy: what its scopes can ever unlock, and how, field by field.

`steward partners contract` and `steward schema --client` (SPEC section 10, v5) show a client,
before it integrates, what it will get: per field and per purpose it may declare, whether the
value is visible, for which customers (the row rules), in which form, or why it is hidden. The
per-caller schema keeps the types and fields it can ever unlock. Everything here is derived
from the field rules, the root rules, the purposes and the row rules; it states no rule of its
own.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from auth.policy import scopes as s
from auth.policy.catalog import DATA_TYPES, POLICY, Ownership, Rule, policy_key, rule_for
from auth.policy.plan import MISSING_SCOPE, NO_POLICY, reason
from auth.policy.purposes import DECLARABLE, Purpose
from auth.policy.roots import INTROSPECTION, ROOTS, needs_purpose
from auth.policy.row_rules import RowScope


class Access(enum.StrEnum):
    """How a field reaches a caller under one purpose."""

    VISIBLE = "visible"
    """The value, for every row the caller sees."""
    CONSENT = "consent-dependent"
    """The value, for the customers whose current consent allows it (consent-based purposes,
    and a partner's ``third_party_sharing`` consent)."""
    ASSIGNMENT = "assignment-dependent"
    """The value, for the orders assigned to a partner with ``assigned`` access while the
    assignment is active, their customers and their shipping addresses (SPEC section 13):
    which rows it sees depends on its active assignments."""
    HIDDEN = "hidden"
    """``null`` and a redaction, for every row."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What a caller gets of one field under one purpose (or none).

    Attributes:
        access: how the field reaches it.
        form: the form it is disclosed in instead of the value (SPEC section 13: ``partial``,
            ``generalised``, ``pseudonym``); ``None``: the value itself.
        why: for a hidden field, what keeps it hidden, in words.
    """

    access: Access
    form: str | None = None
    why: str | None = None

    @property
    def hidden(self) -> bool:
        """Whether the caller never gets the value under this purpose."""
        return self.access is Access.HIDDEN


def declarable(scopes: frozenset[str]) -> tuple[Purpose, ...]:
    """The purposes a caller holding ``scopes`` may declare, in the policy table's order."""
    return tuple(purpose for purpose in DECLARABLE if purpose.scope in scopes)


def field_decision(
    coordinate: str,
    scopes: frozenset[str],
    purpose: Purpose | None,
    *,
    partner: str | None,
    assigned: bool = False,
) -> Decision:
    """What a caller holding ``scopes`` gets of a data type's field under ``purpose``.

    Args:
        coordinate: ``Type.field``.
        scopes: the scopes its tokens carry.
        purpose: the purpose it declares, if any.
        partner: its client id when it is a partner (a third party), else ``None``.
        assigned: the partner's access is ``assigned`` (it sees the rows of its active
            assignments only).

    The caller is taken as staff or a partner, not as the customer: a customer's own rows
    (``me``) are visible to them whatever the field rule says.
    """
    rule = rule_for(coordinate)
    form = None
    if rule is not None and rule.granted(scopes):
        form = rule.form(purpose, partner=partner is not None)
    if rule is None or (form is None and not rule.allows(scopes, purpose)):
        return _hidden(rule, scopes, purpose)
    rows = RowScope(purpose=purpose, partner=partner, assigned=assigned)
    consent = (purpose is not None and purpose.consent_required) or rows.shares_with_partner
    access = Access.CONSENT if consent else Access.VISIBLE
    if rows.assigned_only:
        access = Access.ASSIGNMENT
    return Decision(access, form=None if form is None else form.value)


def _hidden(rule: Rule | None, scopes: frozenset[str], purpose: Purpose | None) -> Decision:
    why = reason(rule, scopes)
    if rule is None or why == NO_POLICY:
        return Decision(Access.HIDDEN, why="no policy entry: hidden from everyone")
    if why == MISSING_SCOPE:
        missing = tuple(scope for scope in rule.scopes if scope not in scopes)
        return Decision(Access.HIDDEN, why=f"missing scope {' + '.join(missing)}")
    allowed = [p for p in DECLARABLE if rule.purposes is None or p in rule.purposes]
    names = ", ".join(p.id for p in allowed)
    held = [p.id for p in allowed if p.scope in scopes]
    if purpose is None:
        text = f"needs a purpose: {names}"
    elif held:
        text = f"purpose not allowed: declare {', '.join(held)}"
    else:
        text = f"purpose not declarable: needs {names}, holds none of them"
    return Decision(Access.HIDDEN, why=text)


def root_decision(name: str, scopes: frozenset[str], purpose: Purpose | None) -> Decision:
    """What a caller holding ``scopes`` gets of a root field (query or mutation).

    A refused root field is an error at its path (``FORBIDDEN``), not ``null``: hidden here.
    ``node`` is allowed when the caller holds some data type's node scope: each id is checked
    against its own type's.
    """
    if name in INTROSPECTION:
        return Decision(Access.VISIBLE)
    rule = ROOTS.get(name)
    if rule is None:
        return Decision(Access.HIDDEN, why="no root rule: refused to everyone")
    if rule.by_type:
        needed = sorted({t.node_scope for t in DATA_TYPES.values() if t.node_scope is not None})
        if not any(scope in scopes for scope in needed):
            return Decision(Access.HIDDEN, why=f"missing scope (one of) {', '.join(needed)}")
    missing = tuple(scope for scope in rule.scopes if scope not in scopes)
    if missing:
        return Decision(Access.HIDDEN, why=f"missing scope {' + '.join(missing)}")
    if rule.purpose and purpose is None:
        return Decision(Access.HIDDEN, why="needs a purpose (X-Purpose); the client holds none")
    return Decision(Access.VISIBLE)


def contexts(scopes: frozenset[str], root_fields: Iterable[str]) -> tuple[Purpose | None, ...]:
    """The purposes an operation selecting ``root_fields`` may run under for this caller:
    each declarable one it holds, and none when the operation needs none."""
    held: tuple[Purpose | None, ...] = declarable(scopes)
    return held if needs_purpose(root_fields) else (None, *held)


@lru_cache(maxsize=256)
def unlockable(scopes: frozenset[str]) -> frozenset[str]:
    """The policy's entries (``Type.field`` or ``Type.*``) a caller holding ``scopes`` can ever
    read: under some purpose it may declare, or without one; and, with ``me:read`` or
    ``me:write``, every field of the rows a customer owns (the owner rule)."""
    under = (None, *declarable(scopes))
    owner = s.ME_READ in scopes or s.ME_WRITE in scopes
    return frozenset(
        key
        for key, rule in POLICY.items()
        if any(_discloses(rule, scopes, purpose) for purpose in under)
        or (owner and DATA_TYPES[key.partition(".")[0]].ownership is not Ownership.NOBODY)
    )


def _discloses(rule: Rule, scopes: frozenset[str], purpose: Purpose | None) -> bool:
    """Whether a caller holding ``scopes`` gets the value, or a form of it, under ``purpose``
    (as staff or as a partner)."""
    if rule.allows(scopes, purpose):
        return True
    forms = (rule.form(purpose, partner=False), rule.form(purpose, partner=True))
    return rule.granted(scopes) and any(form is not None for form in forms)


def may_unlock(coordinate: str, scopes: frozenset[str]) -> bool:
    """Whether a caller holding ``scopes`` can ever read the data type's field ``coordinate``."""
    key = policy_key(coordinate)
    return key is not None and key in unlockable(scopes)


def may_run(name: str, scopes: frozenset[str]) -> bool:
    """Whether a caller holding ``scopes`` can ever run the root field ``name``."""
    purposes = (None, *declarable(scopes))
    return any(not root_decision(name, scopes, purpose).hidden for purpose in purposes)


def may_find(type_name: str, scopes: frozenset[str]) -> bool:
    """Whether ``node(id:)`` can ever return an object of ``type_name`` to this caller."""
    data_type = DATA_TYPES.get(type_name)
    return (
        data_type is not None
        and data_type.node_scope is not None
        and data_type.node_scope in scopes
        and may_unlock(f"{type_name}.id", scopes)
    )
