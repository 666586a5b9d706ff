"""``steward partners``: third parties, and the documents they may run (SPEC section 8)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from api.settings import Settings
    from schema.documents import Documents

partners_app = typer.Typer(
    help="Partners: third parties such as couriers, installers, agencies.\n\n"
    "A partner is an OAuth client that sees only the customers who consented to sharing "
    "with it (and, with assigned access, only the orders assigned to it), and may be held "
    "to the documents registered for it.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_FILE = typer.Argument(
    ...,
    exists=True,
    dir_okay=False,
    readable=True,
    help="A .graphql file, or an Apollo persisted-query-manifest.json.",
)


@partners_app.command("add")
def partners_add(
    client_id: str = typer.Argument(..., help="The client id (built-in or external provider's)."),
    name: str = typer.Option(..., help="The partner's display name, shown to customers."),
    trusted_documents_only: bool = typer.Option(
        False, "--trusted-documents-only", help="Run only the documents registered with allow."
    ),
    issuer: str | None = typer.Option(
        None,
        help="Whose client it is: the external provider's iss (STEWARD_ISSUER); "
        "default: the built-in issuer.",
    ),
    access: str = typer.Option(
        "assigned",
        help="assigned: only the orders assigned to it (steward orders assign), their "
        "customers and shipping addresses; consented: every customer who consented.",
    ),
    until: str | None = typer.Option(
        None,
        help="When the registration ends: an ISO 8601 date (midnight UTC) or time with its "
        "offset; its tokens are refused from then on.",
    ),
) -> None:
    """Register a client as a partner.

    CLIENT_ID is a client of the built-in issuer or (--issuer) of the external provider; a
    token of another issuer with the same client id is not this partner. From the next
    request on, it sees only the customers whose third_party_sharing consent covers it
    (with --access assigned, the default: only the orders assigned to it, while the
    assignment is active), until --until if given; every value it receives is recorded as a
    disclosure. Adding an active partner again updates its name, flags, access and until.
    """
    from api.settings import Settings
    from auth.partners import PartnerError, add
    from store.database import transaction_at
    from store.models import PartnerAccess

    settings = Settings()
    stored = _issuer(settings, issuer)
    if access not in {kind.value for kind in PartnerAccess}:
        raise typer.BadParameter("assigned or consented", param_hint="--access")
    ends = None if until is None else parse_time(until, "--until")
    try:
        with transaction_at(settings.database_url) as session:
            add(
                session,
                client_id,
                name,
                issuer=stored,
                trusted_documents_only=trusted_documents_only,
                access=PartnerAccess(access),
                until=ends,
            )
    except PartnerError as error:
        raise typer.BadParameter(str(error)) from None
    only = " (trusted documents only)" if trusted_documents_only else ""
    typer.echo(f"partner {client_id} registered{only}, {access} access")


def parse_time(value: str, option: str) -> datetime:
    """An option's time: an ISO 8601 date (midnight UTC) or a time with its offset."""
    from datetime import UTC, date
    from datetime import datetime as parsed

    try:
        if len(value) == len("2027-01-31"):
            day = date.fromisoformat(value)
            return parsed(day.year, day.month, day.day, tzinfo=UTC)
        moment = parsed.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("an ISO 8601 date or time", param_hint=option) from None
    if moment.tzinfo is None:
        raise typer.BadParameter("a time needs its offset (Z, +03:30)", param_hint=option)
    return moment


def _issuer(settings: Settings, given: str | None) -> str:
    """How ``--issuer`` is stored: the built-in issuer's marker, or a trusted provider's
    ``iss``; an issuer Steward does not trust is refused (its tokens would never arrive)."""
    from store.models import BUILTIN_ISSUER

    issuers = settings.issuers
    if given is None or (issuers.builtin is not None and given == issuers.builtin):
        if issuers.builtin is None:
            raise typer.BadParameter("the built-in issuer is off; name one", param_hint="--issuer")
        return BUILTIN_ISSUER
    if given != issuers.external:
        trusted = ", ".join(i for i in (issuers.builtin, issuers.external) if i)
        raise typer.BadParameter(f"Steward trusts {trusted}", param_hint="--issuer")
    return given


@partners_app.command("list")
def partners_list() -> None:
    """List the active partners.

    One line per partner, tab-separated: client id, name, registration date, what it may
    run (any-document or trusted-documents-only), its access (assigned or consented) and
    when its registration ends (until ..., or "-"; "expired" once past).
    """
    from api.settings import Settings
    from auth.partners import list_partners
    from store.database import transaction_at
    from store.models import utcnow

    with transaction_at(Settings().database_url) as session:
        rows = list_partners(session)
    now = utcnow()
    for row in rows:
        runs = "trusted-documents-only" if row.trusted_documents_only else "any-document"
        ends = "-" if row.until is None else f"until {row.until.isoformat()}"
        if row.until is not None and row.until <= now:
            ends = "expired"
        typer.echo(
            f"{row.client_id}\t{row.name}\t{row.created_at:%Y-%m-%d}\t{runs}\t{row.access}\t{ends}"
        )
    if not rows:
        typer.echo("no partners", err=True)


@partners_app.command("remove")
def partners_remove(client_id: str = typer.Argument(..., help="The partner's client id.")) -> None:
    """Remove a partner.

    Its tokens are refused from the next request on, on every replica. An unknown or
    already removed partner is an error (exit 1).
    """
    from api.settings import Settings
    from auth.partners import remove
    from store.database import transaction_at

    with transaction_at(Settings().database_url) as session:
        removed = remove(session, client_id)
    if not removed:
        typer.echo(f"no active partner {client_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed partner {client_id}")


_SCOPE = typer.Option(
    None,
    "--scope",
    help="The scopes the partner's tokens carry (space-separated); by default the scopes of "
    "the built-in client CLIENT_ID. Needed for a client of an external identity provider.",
)
_STRICT = typer.Option(
    False,
    "--strict",
    help="Exit 1 on a document that selects a field the partner can never see (allow then "
    "registers nothing).",
)


@partners_app.command("allow")
def partners_allow(
    client_id: str = typer.Argument(..., help="The partner's client id."),
    file: Path = _FILE,
    scope: str | None = _SCOPE,
    strict: bool = _STRICT,
) -> None:
    """Register FILE's operations as trusted documents.

    Each operation of a .graphql file (or of an Apollo persisted-query manifest) is
    checked against the schema and registered for the partner under the SHA-256 of its
    text; one line per operation: sha256:<hex> and its name, then the partner's contract
    for them (see contract). The partner then sends {"documentId": "sha256:<hex>"} instead
    of the text. Nothing is registered when any operation is invalid (or, with --strict,
    selects a field the partner can never see); an unknown partner is an error (exit 2).
    """
    from graphql import parse

    from api.contracts import UNKNOWN_SCOPES, Terms, client_scopes, refuse
    from api.settings import Settings
    from auth.partners import NOT_A_PARTNER, PartnerError, find_active
    from auth.trusted_documents import allow, document_id
    from store.database import transaction_at
    from store.models import PartnerAccess

    settings = Settings()
    operations = trusted_file(file, settings)
    try:
        with transaction_at(settings.database_url) as session:
            partner = find_active(session, client_id)
            if partner is None:
                raise PartnerError(NOT_A_PARTNER)
            scopes = client_scopes(session, client_id, scope)
            if scopes is None and strict:
                raise typer.BadParameter(UNKNOWN_SCOPES, param_hint="--scope")
            terms = None
            if scopes is not None:
                terms = Terms(
                    client_id,
                    scopes,
                    [(document_id(body), name, parse(body)) for name, body in operations],
                    assigned=partner.access == PartnerAccess.ASSIGNED,
                )
                if strict and terms.never_visible():
                    refuse(terms, registering=True)
                    raise typer.Exit(1)
            registered = allow(session, client_id, operations)
    except PartnerError as error:
        raise typer.BadParameter(str(error), param_hint="CLIENT_ID") from None
    for document in registered:
        typer.echo(f"sha256:{document.sha256}\t{document.operation_name or ''}".rstrip())
    if terms is None:
        typer.echo(
            f"no contract: {UNKNOWN_SCOPES} (steward partners contract {client_id} --scope ...)",
            err=True,
        )
        return
    typer.echo("")
    typer.echo(terms.render())


def trusted_file(file: Path, settings: Settings) -> list[tuple[str | None, str]]:
    """The operations of a ``.graphql`` file or an Apollo manifest, each parsed and validated
    against the schema under the limits of ``/graphql``; exits with the reason otherwise."""
    from schema.errors import DocumentError
    from schema.trusted import trusted_operations

    try:
        source = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise typer.BadParameter("the file is not UTF-8 text", param_hint="FILE") from None
    try:
        return trusted_operations(source, _documents(settings))
    except DocumentError as error:
        typer.echo(f"{error.code}: {error.message}", err=True)
        typer.echo("nothing was registered", err=True)
        raise typer.Exit(1) from None


@partners_app.command("contract")
def partners_contract(
    client_id: str = typer.Argument(..., help="The partner's client id."),
    scope: str | None = _SCOPE,
    strict: bool = _STRICT,
) -> None:
    """Print the partner's contract.

    What the partner gets of each field of its registered documents, per purpose it may
    declare: visible, consent-dependent, assignment-dependent or hidden (and why), and the form
    of a value disclosed in one; derived from the policy.
    """
    from graphql import parse

    from api.contracts import UNKNOWN_SCOPES, Terms, client_scopes, refuse
    from api.settings import Settings
    from auth.partners import NOT_A_PARTNER, find_active
    from auth.trusted_documents import documents
    from store.database import transaction_at
    from store.models import PartnerAccess

    with transaction_at(Settings().database_url) as session:
        partner = find_active(session, client_id)
        if partner is None:
            raise typer.BadParameter(NOT_A_PARTNER, param_hint="CLIENT_ID")
        scopes = client_scopes(session, client_id, scope)
        if scopes is None:
            raise typer.BadParameter(UNKNOWN_SCOPES, param_hint="--scope")
        rows = documents(session, client_id)
        terms = Terms(
            client_id,
            scopes,
            [(row.sha256, row.operation_name, parse(row.body)) for row in rows],
            assigned=partner.access == PartnerAccess.ASSIGNED,
        )
    typer.echo(terms.render())
    if strict and terms.never_visible():
        refuse(terms, registering=False)
        raise typer.Exit(1)


@partners_app.command("documents")
def partners_documents(
    client_id: str = typer.Argument(..., help="The partner's client id."),
) -> None:
    """List a partner's trusted documents.

    One line per document, tab-separated: sha256:<hex>, operation name, registration date.
    An unknown or removed partner is an error (exit 2), as for allow.
    """
    from api.settings import Settings
    from auth.partners import NOT_A_PARTNER, find_active
    from auth.trusted_documents import documents
    from store.database import transaction_at

    with transaction_at(Settings().database_url) as session:
        if find_active(session, client_id) is None:
            raise typer.BadParameter(NOT_A_PARTNER, param_hint="CLIENT_ID")
        rows = documents(session, client_id)
    for row in rows:
        typer.echo(f"sha256:{row.sha256}\t{row.operation_name or '-'}\t{row.created_at:%Y-%m-%d}")
    if not rows:
        typer.echo("no documents", err=True)


def _documents(settings: Settings) -> Documents:
    """Parses and validates documents as ``/graphql`` does, under its limits."""
    from schema._internals import core_schema
    from schema.build import build_schema
    from schema.documents import Documents, Limits

    limits = Limits(
        depth=settings.max_depth,
        aliases=settings.max_aliases,
        tokens=settings.max_tokens,
        introspection=settings.introspection,
    )
    return Documents(core_schema(build_schema()), limits)
