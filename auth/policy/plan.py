"""The per-request enforcement plan: the policy decided once for a token and a purpose."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any

from auth.policy.fields import POLICY, Rule, rule_for
from auth.policy.purposes import Purpose

NO_POLICY = "NO_POLICY"
MISSING_SCOPE = "MISSING_SCOPE"
PURPOSE_NOT_ALLOWED = "PURPOSE_NOT_ALLOWED"
ERASED = "ERASED"


@lru_cache(maxsize=1024)
def visible_fields(scopes: frozenset[str], purpose: Purpose | None) -> frozenset[str]:
    """Every coordinate of the policy that ``scopes`` under ``purpose`` may read."""
    return frozenset(
        coordinate for coordinate, rule in POLICY.items() if rule.allows(scopes, purpose)
    )


def reason(rule: Rule | None, scopes: frozenset[str]) -> str:
    """Why a field with ``rule`` is hidden from a caller holding ``scopes``."""
    if rule is None:
        return NO_POLICY
    if not all(scope in scopes for scope in rule.scopes):
        return MISSING_SCOPE
    return PURPOSE_NOT_ALLOWED


class Plan:
    """What one request may read, and what it was refused.

    Built once per request from the token's scopes and the declared purpose; the schema's
    field guards consult it with one set lookup and count what they hide.

    Attributes:
        scopes: the token's scopes.
        purpose: the declared purpose, if any.
        owner_id: the customer the caller is (``me``), whose own data is always visible.
        hidden: coordinate → places hidden by the policy.
        erased: coordinate → places where a readable value was removed by erasure.
    """

    __slots__ = ("erased", "hidden", "owner_id", "purpose", "scopes", "visible")

    def __init__(
        self,
        scopes: frozenset[str],
        purpose: Purpose | None,
        *,
        owner_id: int | None = None,
    ) -> None:
        self.scopes = scopes
        self.purpose = purpose
        self.owner_id = owner_id
        self.visible = visible_fields(scopes, purpose)
        self.hidden: Counter[str] = Counter()
        self.erased: Counter[str] = Counter()

    def allows(self, coordinate: str) -> bool:
        """Whether the policy lets this request read ``coordinate`` (ownership aside)."""
        return coordinate in self.visible

    def redactions(self) -> list[dict[str, Any]]:
        """``extensions.redactions``: one entry per field and reason."""
        entries: list[dict[str, Any]] = []
        for coordinate, count in self.hidden.items():
            rule = rule_for(coordinate)
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
