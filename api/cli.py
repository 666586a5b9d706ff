"""The ``steward`` command."""

from __future__ import annotations

import os
from typing import Any

import typer

from api.partners import partners_app
from api.settings import Settings

# Plain click help: Typer's rich help shows a flag as taking a value (``--if-empty <bool>``).
app = typer.Typer(
    help="Steward: a GraphQL API for personal data that obeys a privacy policy.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
db = typer.Typer(help="The database.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(db, name="db")
keys_app = typer.Typer(
    help="The built-in issuer's key file (STEWARD_KEY_FILE).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(keys_app, name="keys")

MAX_WORKERS = 256
IDS_MAY_START_WITH_A_DASH = {"ignore_unknown_options": True}
"""For commands that take an id: one that begins with ``-`` (older ids may) is still an id,
not an option; ``--`` before it works as well."""


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on (1-65535)."),
    workers: int = typer.Option(1, min=1, max=MAX_WORKERS, help="Worker processes."),
    graceful_timeout: int = typer.Option(
        30, min=0, help="On SIGTERM, seconds to let in-flight requests finish."
    ),
    log_format: str = typer.Option("json", help="json (one object per line) or text."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
) -> None:
    """Serve the API with uvicorn; several workers share their metrics."""
    import uvicorn

    from api.logs import logging_config
    from api.metrics import multiprocess_dir

    settings = Settings()
    if settings.dev_mode and host not in ("127.0.0.1", "::1", "localhost"):
        raise typer.BadParameter("development mode answers on loopback only", param_hint="--host")
    if "public_url" not in settings.model_fields_set:
        # Unset: the metadata and the built-in issuer's `iss` name the address served. The
        # workers read their settings from the environment, which they inherit.
        os.environ["STEWARD_PUBLIC_URL"] = served_url(host, port)
    if log_format not in ("json", "text"):
        raise typer.BadParameter("json or text", param_hint="--log-format")
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter("debug, info, warning or error", param_hint="--log-level")
    log_config = logging_config("json" if log_format == "json" else "text", log_level)
    if settings.builtin_issuer:
        _check_key_file(settings, log_config)
    with multiprocess_dir(workers):
        uvicorn.run(
            "api.app:serving_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
            proxy_headers=False,
            log_config=log_config,
            timeout_graceful_shutdown=graceful_timeout,
            http="api.reading:HttpProtocol",
        )


def served_url(host: str, port: int) -> str:
    """The base URL of ``steward serve --host host --port port``, as a client on it writes it.

    Example:
        >>> served_url("::1", 8001)
        'http://[::1]:8001'
    """
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (every interface: name the loopback one)
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _check_key_file(settings: Settings, log_config: dict[str, Any]) -> None:
    """Exit with one log line when the key file is unusable, before any worker starts.

    Every worker would fail the same way, and uvicorn would start them again and again.
    """
    import logging
    import logging.config

    from auth.tokens.keys import load_or_create

    try:
        load_or_create(settings.key_file)
    except (OSError, ValueError) as error:
        reason = (
            f"{settings.key_file}: {error.strerror}" if isinstance(error, OSError) else str(error)
        )
        logging.config.dictConfig(log_config)
        logging.getLogger("steward.serve").critical(
            "cannot serve: the key file (STEWARD_KEY_FILE) is unusable: %s", reason
        )
        raise typer.Exit(1) from None


@keys_app.command("create")
def keys_create() -> None:
    """Create the key file (one ES256 key, mode 0600) and print its key id; needs no database.

    An existing file is never replaced: the command exits 1 and names it.
    """
    from auth.tokens.keys import load_or_create

    path = Settings().key_file
    if path.exists():
        typer.echo(f"{path} exists; not replaced", err=True)
        raise typer.Exit(1)
    try:
        keys = load_or_create(path)
    except OSError as error:
        typer.echo(f"cannot create {path}: {error.strerror}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created {path} (key {keys.keys[0].kid})")


@db.command("upgrade")
def db_upgrade() -> None:
    """Create the database or migrate it to the newest schema."""
    from store.database import upgrade

    before, after = upgrade(Settings().database_url)
    if before is None:
        typer.echo(f"database created at revision {after}")
    elif before == after:
        typer.echo(f"database is up to date (revision {after})")
    else:
        typer.echo(f"database migrated from revision {before} to {after}")


@app.command("demo-data")
def demo_data(
    customers: int = typer.Option(200, min=1, max=100_000, help="How many customers."),
    seed: int = typer.Option(1, help="The same seed gives the same data."),
    if_empty: bool = typer.Option(False, "--if-empty", help="Only into an empty database."),
) -> None:
    """Load realistic Persian and Vietnamese demo customers, and two partners."""
    from api.demo import is_empty, load_demo_data
    from api.demo_partners import load_demo_partners
    from store.database import transaction_at

    with transaction_at(Settings().database_url) as session:
        if if_empty and not is_empty(session):
            typer.echo("the database already holds customers; no demo data loaded")
        else:
            typer.echo(load_demo_data(session, customers=customers, seed=seed))
            typer.echo(load_demo_partners(session, seed=seed))


@app.command()
def policy(
    markdown: bool = typer.Option(False, "--markdown", help="As a Markdown table."),
) -> None:
    """Print the policy matrix: each field's scopes and the purposes that may read it."""
    from auth.policy.fields import POLICY, markdown_table, scope_text
    from auth.policy.purposes import DECLARABLE, Purpose
    from auth.policy.rows import ROW_RULES

    if markdown:
        typer.echo(markdown_table())
        return
    letters = [purpose.letter for purpose in DECLARABLE]
    width = max(len(coordinate) for coordinate in POLICY)
    scope_width = max(len(scope_text(rule)) for rule in POLICY.values())
    typer.echo(f"{'field':<{width}}  {'scopes':<{scope_width}}  " + " ".join(letters))
    for coordinate, rule in POLICY.items():
        marks = " ".join(
            "x" if rule.purposes is None or purpose in rule.purposes else "."
            for purpose in DECLARABLE
        )
        typer.echo(f"{coordinate:<{width}}  {scope_text(rule):<{scope_width}}  {marks}")
    typer.echo("")
    for purpose in Purpose:
        consent = " (consent required)" if purpose.consent_required else ""
        typer.echo(f"{purpose.letter} {purpose.id}{consent}: {purpose.description}")
    typer.echo("")
    typer.echo("Row rules:")
    for name, description in ROW_RULES:
        typer.echo(f"  {name}: {description}")


def main() -> None:
    """Entry point of the ``steward`` console script."""
    app()


# --- The built-in issuer: tokens, clients and revocations (auth/issuer.py, auth/clients.py) ---

clients_app = typer.Typer(
    help="OAuth clients of the built-in issuer.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(clients_app, name="clients")
app.add_typer(partners_app, name="partners")


@app.command()
def token(
    scope: str = typer.Option(..., help='Space-separated scopes, e.g. "me:read me:write".'),
    sub: str | None = typer.Option(
        None, help="The subject; required with me:* scopes (the customer's). Default: steward-cli."
    ),
    client_id: str = typer.Option("steward-cli", help="The client the token is for."),
    ttl: int = typer.Option(3600, min=1, help="Lifetime in seconds."),
    as_json: bool = typer.Option(
        False, "--json", help='Print {"access_token", "jti", "expires_at", "scope"} instead.'
    ),
) -> None:
    """Print a signed access token from the built-in issuer, and nothing else."""
    import json

    from auth.policy.scopes import ME_READ, ME_WRITE
    from auth.tokens.clients import normalize_scope, record_issued
    from auth.tokens.issuer import issue
    from auth.tokens.keys import load_or_create
    from store.database import transaction_at

    settings = Settings()
    if not settings.builtin_issuer:
        raise typer.BadParameter("the built-in issuer is off (STEWARD_BUILTIN_ISSUER=false)")
    try:
        scope = normalize_scope(scope)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--scope") from None
    if sub is None and {ME_READ, ME_WRITE} & set(scope.split()):
        raise typer.BadParameter(
            "me:read and me:write act as a customer: give the customer's subject",
            param_hint="--sub",
        )
    subject = sub or "steward-cli"
    keys = load_or_create(settings.key_file)
    issued = issue(
        settings.tokens, keys, scope=scope, subject=subject, client_id=client_id, ttl=ttl
    )
    with transaction_at(settings.database_url) as session:
        record_issued(session, issued.jti, client_id, issued.expires_at)
    if not as_json:
        typer.echo(issued.access_token)
        return
    typer.echo(
        json.dumps(
            {
                "access_token": issued.access_token,
                "jti": issued.jti,
                "expires_at": issued.expires_at,
                "scope": issued.scope,
            }
        )
    )


@clients_app.command("add")
def clients_add(
    name: str = typer.Argument(..., help="What the client is, e.g. courier-app."),
    scope: str = typer.Option(..., help="Space-separated scopes the client may request."),
    partner: bool = typer.Option(
        False, "--partner", help="Register it as a partner (a third party) too, named NAME."
    ),
) -> None:
    """Register a client; prints {"client_id", "client_secret"} (the secret only here)."""
    import json

    from auth.tokens import partners
    from auth.tokens.clients import register
    from store.database import transaction_at

    try:
        with transaction_at(Settings().database_url) as session:
            client_id, secret = register(session, name, scope)
            if partner:
                partners.add(session, client_id, name)
    except partners.PartnerError as error:
        raise typer.BadParameter(str(error), param_hint="NAME") from None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--scope") from None
    typer.echo(json.dumps({"client_id": client_id, "client_secret": secret}))


@clients_app.command("list")
def clients_list() -> None:
    """List the active clients: id, name, registration date and scope."""
    from auth.tokens.clients import list_clients
    from store.database import transaction_at

    with transaction_at(Settings().database_url) as session:
        rows = list_clients(session)
    for row in rows:
        typer.echo(f"{row.client_id}\t{row.name}\t{row.created_at:%Y-%m-%d}\t{row.scope}")
    if not rows:
        typer.echo("no clients", err=True)


@clients_app.command("remove", context_settings=IDS_MAY_START_WITH_A_DASH)
def clients_remove(
    client_id: str = typer.Argument(..., help="The client's id."),
) -> None:
    """Remove a client: no new tokens, and its tokens are refused from the next request on."""
    from auth.tokens.clients import remove
    from store.database import transaction_at

    with transaction_at(Settings().database_url) as session:
        removed = remove(session, client_id)
    if not removed:
        typer.echo(f"no active client {client_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed {client_id}")


@app.command(context_settings=IDS_MAY_START_WITH_A_DASH)
def revoke(jti: str = typer.Argument(..., help="The token's jti claim.")) -> None:
    """Refuse the token with this jti from the next request on."""
    from auth.tokens.clients import Revocation
    from auth.tokens.clients import revoke as revoke_token
    from store.database import transaction_at

    with transaction_at(Settings().database_url) as session:
        revoked = revoke_token(session, jti)
    answers = {
        Revocation.REVOKED: f"revoked {jti}",
        Revocation.NOT_SEEN: (
            f"{jti} was not seen: the built-in issuer never signed it; recorded all the same, "
            "so a token with this id (an external provider's) is refused from the next request on"
        ),
        Revocation.ALREADY: f"{jti} was already revoked",
    }
    typer.echo(answers[revoked])
