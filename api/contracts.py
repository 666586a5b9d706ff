"""A client's view before it integrates: the contract of its documents, and its schema.

``steward partners contract`` and ``partners allow`` print a `Terms`; ``steward schema --client``
prints the SDL of what the client can ever unlock (`schema.view`). Both need the scopes the
client's tokens carry: those the built-in issuer registered for it, or those given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import typer
from graphql import DocumentNode
from sqlalchemy.orm import Session

from auth.policy.row_rules import ROW_RULES
from auth.policy.scopes import ALL_SCOPES
from auth.policy.view import declarable
from schema.view import Contract, contract

UNKNOWN_SCOPES = (
    "the client is not one of the built-in issuer's, so Steward does not know the scopes its "
    "tokens carry: give them with --scope"
)

LEGEND = (
    "access: visible = the value, on every row the client sees; consent-dependent = only for "
    "customers whose current consent allows it;",
    "        assignment-dependent = only for the orders assigned to it, their customers and "
    "shipping addresses; hidden = null and a redaction, for every row",
    "form: what is disclosed instead of the value (- = the value itself)",
)


def client_scopes(session: Session, client_id: str, given: str | None) -> frozenset[str] | None:
    """The scopes of ``client_id``'s tokens: ``given`` (checked), or those the built-in issuer
    registered for it; ``None`` when neither is known.

    Raises:
        typer.BadParameter: ``given`` names an unknown scope.
    """
    from auth.tokens.clients import find_active

    if given is not None:
        return given_scopes(given)
    client = find_active(session, client_id)
    return None if client is None else frozenset(client.scope.split())


def given_scopes(given: str) -> frozenset[str]:
    """The scopes given by ``--scope``.

    Raises:
        typer.BadParameter: one is unknown, or none is given.
    """
    from auth.tokens.clients import normalize_scope

    try:
        return frozenset(normalize_scope(given).split())
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--scope") from None


@dataclass
class Terms:
    """The contract of a client's documents, as the CLI prints it.

    Attributes:
        client_id: whose contract.
        scopes: the scopes its tokens carry.
        documents: ``(sha256, operation name, document)`` of each document.
        partner: whether the client is a partner (a third party: consent-dependent rows).
        assigned: whether the partner's access is ``assigned`` (assignment-dependent rows).
    """

    client_id: str
    scopes: frozenset[str]
    documents: list[tuple[str, str | None, DocumentNode]]
    partner: bool = True
    assigned: bool = False
    contracts: list[Contract] = field(init=False)

    def __post_init__(self) -> None:
        self.contracts = [
            contract(
                node,
                self.scopes,
                partner=self.client_id if self.partner else None,
                assigned=self.assigned,
            )
            for _, _, node in self.documents
        ]

    def never_visible(self) -> dict[str, dict[str, str]]:
        """Per document (``sha256:<hex> name``), the fields it selects that the client can never
        see → why."""
        found: dict[str, dict[str, str]] = {}
        for (sha256, name, _), terms in zip(self.documents, self.contracts, strict=True):
            never = terms.never_visible()
            if never:
                found[f"sha256:{sha256} {name or '(anonymous)'}"] = never
        return found

    def render(self) -> str:
        """The contract as text: a header, then one table per document."""
        purposes = declarable(self.scopes)
        applies = {p.id for p in purposes}
        applies |= {"consent"} if any(p.consent_required for p in purposes) else set()
        applies |= {"partner"} if self.partner else set()
        applies |= {"assigned"} if self.partner and self.assigned else set()
        kind = "assigned" if self.assigned else "consented"
        lines = [
            f"contract of {self.client_id}"
            + (f" (partner: a third party, {kind} access)" if self.partner else ""),
            f"scopes: {' '.join(s for s in ALL_SCOPES if s in self.scopes) or '(none)'}",
            "purposes it may declare: "
            + (", ".join(p.id for p in purposes) or "none (it holds no purpose: scope)"),
            "rows:",
            *(f"  {name}: {text}" for name, text in ROW_RULES if name in applies),
            *LEGEND,
        ]
        if not self.documents:
            lines.append("")
            lines.append("no documents registered")
        for (sha256, name, _), terms in zip(self.documents, self.contracts, strict=True):
            rows = [("field", "purpose", "access", "form", "why")]
            rows += [
                (
                    term.coordinate,
                    term.purpose.id if term.purpose is not None else "(none)",
                    term.decision.access.value,
                    term.decision.form or "-",
                    term.decision.why or "",
                )
                for term in terms.terms
            ]
            widths = [max(len(row[i]) for row in rows) for i in range(4)]
            lines.append("")
            lines.append(f"sha256:{sha256}  {name or '(anonymous)'}")
            lines.extend(
                "  "
                + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
                + ("  " + row[4] if row[4] else "")
                for row in rows
            )
            lines.extend(
                f"  never visible: {coordinate} ({why})"
                for coordinate, why in terms.never_visible().items()
            )
        return "\n".join(line.rstrip() for line in lines)


def refuse(terms: Terms, *, registering: bool) -> None:
    """Say on stderr which documents ``--strict`` refuses (and, registering, that nothing was
    registered)."""
    for document, never in terms.never_visible().items():
        fields = "; ".join(f"{coordinate} ({why})" for coordinate, why in never.items())
        typer.echo(
            f"refused: {document} selects fields {terms.client_id} can never see: {fields}",
            err=True,
        )
    if registering:
        typer.echo("nothing was registered", err=True)
