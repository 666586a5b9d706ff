"""The policy table as text: ``steward policy --markdown`` and the README (SPEC section 4)."""

from __future__ import annotations

from auth.policy.catalog import POLICY, Rule
from auth.policy.purposes import DECLARABLE
from auth.policy.row_rules import ROW_RULES


def markdown_table() -> str:
    """The table as Markdown, one row per coordinate, one column per declarable purpose, then
    the row rules (README)."""
    purposes = DECLARABLE
    lines = [
        "| field | scopes | " + " | ".join(p.letter for p in purposes) + " |",
        "|---|---|" + "---|" * len(purposes),
    ]
    for coordinate, rule in POLICY.items():
        marks = " | ".join(
            "✓" if rule.purposes is None or purpose in rule.purposes else "" for purpose in purposes
        )
        lines.append(f"| `{coordinate}` | {scope_text(rule)} | {marks} |")
    lines.append("")
    lines.extend(f"- **{name}**: {description}" for name, description in ROW_RULES)
    return "\n".join(lines)


def scope_text(rule: Rule) -> str:
    """The rule's scopes joined by ``+``, or ``none`` (any valid token)."""
    return " + ".join(rule.scopes) if rule.scopes else "none"
