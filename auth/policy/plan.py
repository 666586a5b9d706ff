"""The per-request enforcement plan: the policy decided once for a token and a purpose."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any

from auth.policy.decision import (
    MISSING_SCOPE,
    NO_POLICY,
    PURPOSE_NOT_ALLOWED,
    Access,
    decisions,
    reason,
)
from auth.policy.purposes import Purpose

__all__ = [
    "ERASED",
    "MASKED",
    "MISSING_SCOPE",
    "NO_POLICY",
    "PURPOSE_NOT_ALLOWED",
    "Plan",
    "reason",
]

ERASED = "ERASED"
MASKED = "MASKED"
"""A value disclosed in a form (graduated disclosure, SPEC section 13), not as it is."""


@lru_cache(maxsize=1024)
def visible_keys(
    scopes: frozenset[str], purpose: Purpose | None, *, partner: bool
) -> frozenset[str]:
    """The policy entries (``Type.field``, ``Type.*``) whose fields ``scopes`` under ``purpose``
    read as they are."""
    return frozenset(
        decision.key
        for decision in decisions(scopes, purpose, partner=partner, owner=False).values()
        if decision.access is Access.VISIBLE and decision.key is not None
    )


class Plan:
    """What one request may read, and what it was refused.

    Built once per request from the token's scopes and the declared purpose; the schema's
    field guards consult it with one set lookup and count what they hide.

    Attributes:
        scopes: the token's scopes.
        purpose: the declared purpose, if any.
        owner_id: the customer the caller is (``me``), whose own data is always visible.
        partner: whether the caller is a partner (a third party: its own forms, SPEC 13).
        decisions: coordinate → its `Decision` (`auth.policy.decision.decide` reads it).
        visible: the policy entries whose fields the request reads as they are.
        hidden: coordinate → places hidden by the policy, or disclosed in a form (the
            field's decision tells which: a form is reported ``MASKED``).
        erased: coordinate → places where a readable value was removed by erasure.
    """

    __slots__ = (
        "_owner_id",
        "decisions",
        "erased",
        "hidden",
        "partner",
        "purpose",
        "scopes",
        "visible",
    )

    def __init__(
        self,
        scopes: frozenset[str],
        purpose: Purpose | None,
        *,
        owner_id: int | None = None,
        partner: bool = False,
    ) -> None:
        self.scopes = scopes
        self.purpose = purpose
        self.partner = partner
        self.owner_id = owner_id
        self.visible = visible_keys(scopes, purpose, partner=partner)
        self.hidden: Counter[str] = Counter()
        self.erased: Counter[str] = Counter()

    @property
    def owner_id(self) -> int | None:
        """The customer the caller is (``me``), whose own data is always visible."""
        return self._owner_id

    @owner_id.setter
    def owner_id(self, customer_id: int | None) -> None:
        # A request may link its caller to a customer (``linkMe``, ``registerMe``): decided
        # again, with the owner rule.
        self._owner_id = customer_id
        self.decisions = decisions(
            self.scopes, self.purpose, partner=self.partner, owner=customer_id is not None
        )

    def allows(self, coordinate: str) -> bool:
        """Whether the policy lets this request read ``coordinate`` (ownership aside)."""
        return coordinate in self.visible

    def redactions(self) -> list[dict[str, Any]]:
        """``extensions.redactions``: one entry per field and reason."""
        entries: list[dict[str, Any]] = []
        for coordinate, count in self.hidden.items():
            decision = self.decisions.get(coordinate)
            rule = None if decision is None else decision.needs
            if decision is not None and decision.form is not None and rule is not None:
                # What unlocks the full value: the rule's scopes, under a purpose without a form.
                unlocks = rule.unlocking_ids(partner=self.partner)
                entries.append(
                    {
                        "field": coordinate,
                        "reason": MASKED,
                        "form": decision.form.value,
                        "count": count,
                        "needs": {"scopes": list(rule.scopes), "purposes": unlocks},
                    }
                )
                continue
            needs = None
            if rule is not None:
                needs = {"scopes": list(rule.scopes), "purposes": rule.purpose_ids()}
            entries.append(
                {
                    "field": coordinate,
                    "reason": reason(rule, self.scopes),
                    "count": count,
                    "needs": needs,
                }
            )
        # Nothing unlocks an erased value: ``needs`` is null, as for NO_POLICY.
        entries.extend(
            {"field": coordinate, "reason": ERASED, "count": count, "needs": None}
            for coordinate, count in self.erased.items()
        )
        return entries
