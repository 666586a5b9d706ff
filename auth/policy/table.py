"""The policy table as text: ``steward policy --markdown`` and the README (SPEC section 4)."""

from __future__ import annotations

from auth.policy.catalog import POLICY, Rule
from auth.policy.purposes import DECLARABLE, Purpose
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
        marks = " | ".join(_cell(rule, purpose) for purpose in purposes)
        lines.append(f"| `{coordinate}` | {scope_text(rule)} | {marks} |")
    lines.append("")
    lines.extend(f"- **{name}**: {description}" for name, description in ROW_RULES)
    return "\n".join(lines)


def scope_text(rule: Rule) -> str:
    """The rule's scopes joined by ``+``, or ``none`` (any valid token)."""
    return " + ".join(rule.scopes) if rule.scopes else "none"


def _cell(rule: Rule, purpose: Purpose) -> str:
    readable = rule.purposes is None or purpose in rule.purposes
    form = form_text(rule, purpose)
    if form is None:
        return "✓" if readable else ""
    return f"✓, {form}" if readable else form


def form_text(rule: Rule, purpose: Purpose) -> str | None:
    """The forms ``rule`` discloses under ``purpose`` in words (``partial``, ``pseudonym for
    partners``), or ``None`` when it declares none there (SPEC section 13)."""
    staff = rule.forms.get(purpose)
    partner = rule.partner_forms.get(purpose)
    words = [] if staff is None else [staff.value]
    if partner is not None and partner is not staff:
        words.append(f"{partner.value} for partners")
    return ", ".join(words) or None
