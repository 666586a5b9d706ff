"""``steward partners``: third parties, and the documents they may run (SPEC section 8)."""

from __future__ import annotations

from pathlib import Path

import typer

partners_app = typer.Typer(
    help="Partners: third parties such as couriers, installers, agencies.\n\n"
    "A partner is an OAuth client that sees only the customers who consented to sharing "
    "with it, and may be held to the documents registered for it.",
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
) -> None:
    """Register a client as a partner.

    CLIENT_ID is a client of the built-in issuer or of the external provider. From the
    next request on, it sees only the customers whose third_party_sharing consent covers
    it, and every value it receives is recorded as a disclosure. Adding an active partner
    again updates its name and --trusted-documents-only.
    """
    from api.settings import Settings
    from auth.tokens.partners import PartnerError, add
    from store.database import transaction_at

    try:
        with transaction_at(Settings().database_url) as session:
            add(session, client_id, name, trusted_documents_only=trusted_documents_only)
    except PartnerError as error:
        raise typer.BadParameter(str(error)) from None
    only = " (trusted documents only)" if trusted_documents_only else ""
    typer.echo(f"partner {client_id} registered{only}")


@partners_app.command("list")
def partners_list() -> None:
    """List the active partners.

    One line per partner, tab-separated: client id, name, registration date, and what it
    may run (any-document or trusted-documents-only).
    """
    from api.settings import Settings
    from auth.tokens.partners import list_partners
    from store.database import transaction_at

    with transaction_at(Settings().database_url) as session:
        rows = list_partners(session)
    for row in rows:
        runs = "trusted-documents-only" if row.trusted_documents_only else "any-document"
        typer.echo(f"{row.client_id}\t{row.name}\t{row.created_at:%Y-%m-%d}\t{runs}")
    if not rows:
        typer.echo("no partners", err=True)


@partners_app.command("remove")
def partners_remove(client_id: str = typer.Argument(..., help="The partner's client id.")) -> None:
    """Remove a partner.

    Its tokens are refused from the next request on, on every replica. An unknown or
    already removed partner is an error (exit 1).
    """
    from api.settings import Settings
    from auth.tokens.partners import remove
    from store.database import transaction_at

    with transaction_at(Settings().database_url) as session:
        removed = remove(session, client_id)
    if not removed:
        typer.echo(f"no active partner {client_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed partner {client_id}")


@partners_app.command("allow")
def partners_allow(
    client_id: str = typer.Argument(..., help="The partner's client id."),
    file: Path = _FILE,
) -> None:
    """Register FILE's operations as trusted documents.

    Each operation of a .graphql file (or of an Apollo persisted-query manifest) is
    checked against the schema and registered for the partner under the SHA-256 of its
    text; one line per operation: sha256:<hex> and its name. The partner then sends
    {"documentId": "sha256:<hex>"} instead of the text. Nothing is registered when any
    operation is invalid; an unknown partner is an error (exit 2).
    """
    from api.settings import Settings
    from auth.tokens.partners import PartnerError, allow
    from schema._internals import core_schema
    from schema.build import build_schema
    from schema.documents import Documents, Limits
    from schema.errors import DocumentError
    from schema.trusted import trusted_operations
    from store.database import transaction_at

    settings = Settings()
    try:
        source = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise typer.BadParameter("the file is not UTF-8 text", param_hint="FILE") from None
    limits = Limits(
        depth=settings.max_depth,
        aliases=settings.max_aliases,
        tokens=settings.max_tokens,
        introspection=settings.introspection,
    )
    try:
        operations = trusted_operations(source, Documents(core_schema(build_schema()), limits))
    except DocumentError as error:
        typer.echo(f"{error.code}: {error.message}", err=True)
        typer.echo("nothing was registered", err=True)
        raise typer.Exit(1) from None
    try:
        with transaction_at(settings.database_url) as session:
            registered = allow(session, client_id, operations)
    except PartnerError as error:
        raise typer.BadParameter(str(error), param_hint="CLIENT_ID") from None
    for document in registered:
        typer.echo(f"sha256:{document.sha256}\t{document.operation_name or ''}".rstrip())


@partners_app.command("documents")
def partners_documents(
    client_id: str = typer.Argument(..., help="The partner's client id."),
) -> None:
    """List a partner's trusted documents.

    One line per document, tab-separated: sha256:<hex>, operation name, registration date.
    An unknown or removed partner is an error (exit 2), as for allow.
    """
    from api.settings import Settings
    from auth.tokens.partners import PartnerError, documents
    from store.database import transaction_at

    try:
        with transaction_at(Settings().database_url) as session:
            rows = documents(session, client_id)
    except PartnerError as error:
        raise typer.BadParameter(str(error), param_hint="CLIENT_ID") from None
    for row in rows:
        typer.echo(f"sha256:{row.sha256}\t{row.operation_name or '-'}\t{row.created_at:%Y-%m-%d}")
    if not rows:
        typer.echo("no documents", err=True)
