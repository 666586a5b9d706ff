"""``steward partners``: third parties, and the documents they may run (SPEC section 8)."""

from __future__ import annotations

from pathlib import Path

import typer

from api.settings import Settings

partners_app = typer.Typer(
    help="Partners: OAuth clients that are third parties (couriers, installers, agencies).",
    no_args_is_help=True,
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
) -> None:
    """Register a client of an issuer as a partner: it sees only customers who consented to
    it. A token of another issuer with the same client id is not this partner."""
    from auth.tokens.partners import PartnerError, add
    from store.database import transaction_at

    settings = Settings()
    stored = _issuer(settings, issuer)
    try:
        with transaction_at(settings.database_url) as session:
            add(
                session,
                client_id,
                name,
                issuer=stored,
                trusted_documents_only=trusted_documents_only,
            )
    except PartnerError as error:
        raise typer.BadParameter(str(error)) from None
    only = " (trusted documents only)" if trusted_documents_only else ""
    typer.echo(f"partner {client_id} registered{only}")


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
    """List the active partners: client id, name, registration date, what they may run."""
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
    """Remove a partner: its tokens are refused from the next request on, on every replica."""
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
    """Register each operation of FILE as a trusted document; prints `sha256:<hex> name`."""
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
    """List a partner's trusted documents: `sha256:<hex>`, operation name, registration date."""
    from auth.tokens.partners import documents
    from store.database import transaction_at

    with transaction_at(Settings().database_url) as session:
        rows = documents(session, client_id)
    for row in rows:
        typer.echo(f"sha256:{row.sha256}\t{row.operation_name or '-'}\t{row.created_at:%Y-%m-%d}")
    if not rows:
        typer.echo("no documents", err=True)
