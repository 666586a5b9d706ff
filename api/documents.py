"""``steward documents``: trusted documents for any client (SPEC sections 8 and 12).

A first-party mobile app, like a partner, can be limited to the operations it ships: its
operations are registered under their SHA-256 (``allow``) and the client is marked to run
nothing else (``--trusted-documents-only``, or ``restrict``). The client id may be the
built-in issuer's or an external provider's (``client_id``, ``azp`` or ``cid``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from api.partners import trusted_file

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

documents_app = typer.Typer(
    help="Trusted documents of any client: allow, list, restrict.\n\n"
    "The operations a client may run by id (SHA-256 of their text), and whether it may run "
    "only them: a first-party mobile app, like a partner, can be held to what it ships.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

IDS_MAY_START_WITH_A_DASH = {"ignore_unknown_options": True}

_CLIENT_ID = typer.Argument(..., help="The client id (built-in, or an external provider's).")
_FILE = typer.Argument(
    ...,
    exists=True,
    dir_okay=False,
    readable=True,
    help="A .graphql file, or an Apollo persisted-query-manifest.json.",
)
_ONLY = typer.Option(
    False,
    "--trusted-documents-only",
    help="From now on the client runs only its registered documents.",
)


def _known(session: Session, client_id: str) -> bool:
    """Whether ``client_id`` is an active client of the built-in issuer or a partner."""
    from sqlmodel import col, select

    from store.models import OAuthClient, Partner

    for model in (OAuthClient, Partner):
        found = session.scalar(
            select(col(model.id)).where(
                col(model.client_id) == client_id, col(model.removed_at).is_(None)
            )
        )
        if found is not None:
            return True
    return False


@documents_app.command("allow", context_settings=IDS_MAY_START_WITH_A_DASH)
def documents_allow(client_id: str = _CLIENT_ID, file: Path = _FILE, only: bool = _ONLY) -> None:
    """Register FILE's operations as the client's trusted documents.

    Each operation of a .graphql file (or of an Apollo persisted-query manifest) is checked
    against the schema and registered under the SHA-256 of its text; one line per operation:
    sha256:<hex> and its name. With --trusted-documents-only the client then runs nothing else.
    """
    from api.settings import Settings
    from auth.partners import PartnerError
    from auth.trusted_documents import register, restrict
    from store.database import transaction_at

    settings = Settings()
    operations = trusted_file(file, settings)
    try:
        with transaction_at(settings.database_url) as session:
            if not _known(session, client_id):
                typer.echo(
                    f"note: {client_id} is no client of the built-in issuer nor a partner; "
                    "registered for an external provider's client of that id",
                    err=True,
                )
            registered = register(session, client_id, operations)
            if only:
                restrict(session, client_id, only=True)
    except PartnerError as error:
        raise typer.BadParameter(str(error), param_hint="CLIENT_ID") from None
    for document in registered:
        typer.echo(f"sha256:{document.sha256}\t{document.operation_name or ''}".rstrip())


@documents_app.command("list", context_settings=IDS_MAY_START_WITH_A_DASH)
def documents_list(client_id: str = _CLIENT_ID) -> None:
    """List a client's trusted documents.

    One line per document, tab-separated: sha256:<hex>, operation name, registration date;
    then, on standard error, whether the client runs only them.
    """
    from api.settings import Settings
    from auth.trusted_documents import documents, is_restricted
    from store.database import transaction_at

    with transaction_at(Settings().database_url) as session:
        rows = documents(session, client_id)
        only = is_restricted(session, client_id)
    for row in rows:
        typer.echo(f"sha256:{row.sha256}\t{row.operation_name or '-'}\t{row.created_at:%Y-%m-%d}")
    if not rows:
        typer.echo("no documents", err=True)
    typer.echo("trusted-documents-only" if only else "any-document", err=True)


@documents_app.command("restrict", context_settings=IDS_MAY_START_WITH_A_DASH)
def documents_restrict(
    client_id: str = _CLIENT_ID,
    off: bool = typer.Option(False, "--off", help="Let the client run any document again."),
) -> None:
    """Hold the client to its registered documents.

    From the next request on, any other document is refused with 403 DOCUMENT_NOT_TRUSTED;
    --off lets the client run any document again.
    """
    from api.settings import Settings
    from auth.partners import PartnerError
    from auth.trusted_documents import restrict
    from store.database import transaction_at

    try:
        with transaction_at(Settings().database_url) as session:
            restrict(session, client_id, only=not off)
    except PartnerError as error:
        raise typer.BadParameter(str(error), param_hint="CLIENT_ID") from None
    typer.echo(f"{client_id}: {'any-document' if off else 'trusted-documents-only'}")
