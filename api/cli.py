"""The ``steward`` command.

Each command imports what it needs when it runs: the settings, the store and the schema
take seconds to import, and ``steward --help`` (or a typo) should answer at once.
"""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING, Any

import typer

from api.customers import customers_app
from api.documents import documents_app
from api.orders import orders_app
from api.partners import partners_app
from auth.policy.scopes import ALL_SCOPES

if TYPE_CHECKING:
    from api.settings import Settings

# Plain click help: Typer's rich help shows a flag as taking a value (``--if-empty <bool>``).
app = typer.Typer(
    help="Steward: a GraphQL API for personal data that obeys a privacy policy.\n\n"
    "Every command reads its settings from STEWARD_* environment variables and from .env "
    "in the working directory (STEWARD_DATABASE_URL, STEWARD_KEY_FILE, STEWARD_PUBLIC_URL, "
    "...; see the README's configuration table). 'steward COMMAND --help' tells more.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
db = typer.Typer(
    help="The database (STEWARD_DATABASE_URL): create it or migrate it.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(db, name="db")
keys_app = typer.Typer(
    help="The built-in issuer's key file (STEWARD_KEY_FILE): create it.\n\n"
    "The key file signs the built-in issuer's tokens; every replica serves with the same one.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(keys_app, name="keys")

MAX_WORKERS = 256
KNOWN_SCOPES = f"Known scopes: {', '.join(ALL_SCOPES)}."
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
    log_format: str | None = typer.Option(
        None,
        help="json (one object per line, for log collectors) or text (for a terminal). "
        "Default: text in development mode (STEWARD_DEV_MODE), json otherwise.",
    ),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
) -> None:
    """Serve the API with uvicorn.

    Serves /graphql (and GraphiQL in a browser), the OAuth endpoints of the built-in
    issuer, /healthz, /readyz and /metrics. Several workers share one port and their
    metrics. Logs go to standard error: JSON lines, or text for a terminal, which is the
    default in development mode (STEWARD_DEV_MODE=true, as `make run` sets). On SIGTERM,
    requests in flight may finish for --graceful-timeout seconds.
    """
    import uvicorn

    from api.logs import logging_config
    from api.metrics import multiprocess_dir
    from api.settings import Settings

    settings = Settings()
    if settings.dev_mode and host not in ("127.0.0.1", "::1", "localhost"):
        raise typer.BadParameter("development mode answers on loopback only", param_hint="--host")
    public_url = settings.public_url
    if "public_url" not in settings.model_fields_set:
        # Unset: the metadata and the built-in issuer's `iss` name the address served. The
        # workers read their settings from the environment, which they inherit.
        public_url = os.environ["STEWARD_PUBLIC_URL"] = served_url(host, port)
    if log_format is None:
        log_format = "text" if settings.dev_mode else "json"
    if log_format not in ("json", "text"):
        raise typer.BadParameter("json or text", param_hint="--log-format")
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter("debug, info, warning or error", param_hint="--log-level")
    log_config = logging_config("json" if log_format == "json" else "text", log_level)
    if settings.builtin_issuer:
        _check_key_file(settings, log_config)
    if settings.dev_mode and settings.graphiql:
        _announce_graphiql(settings, served_url(host, port))
    if settings.dev_mode:
        typer.echo(export_line(served_url(host, port), public_url))
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
            http="api.request_bounds:HttpProtocol",
        )


def _announce_graphiql(settings: Settings, base: str) -> None:
    """Print the one line with GraphiQL's URL, which carries the run's development secret
    (`api.devsecret`); the workers inherit the secret through the environment."""
    from api.devsecret import ENVIRONMENT, DevSecret, new_secret

    given = settings.dev_token_secret.get_secret_value() if settings.dev_token_secret else ""
    secret = given or new_secret()
    os.environ[ENVIRONMENT] = secret
    typer.echo(f"GraphiQL: {DevSecret(secret).url(base)}")


def served_url(host: str, port: int) -> str:
    """The base URL of ``steward serve --host host --port port``, as a client on it writes it.

    Example:
        >>> served_url("::1", 8001)
        'http://[::1]:8001'
    """
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (every interface: name the loopback one)
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def export_line(base: str, public_url: str) -> str:
    """The line ``steward serve`` prints in development mode, to paste into another shell.

    ``BASE`` is where the README's commands send their requests; ``STEWARD_PUBLIC_URL`` makes
    the tokens that ``steward token`` signs there name the issuer this server trusts.

    Example:
        >>> export_line("http://127.0.0.1:18080", "http://127.0.0.1:18080")
        'export BASE=http://127.0.0.1:18080 STEWARD_PUBLIC_URL=http://127.0.0.1:18080'
    """
    return f"export BASE={shlex.quote(base)} STEWARD_PUBLIC_URL={shlex.quote(public_url)}"


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
    """Create the key file and print its key id.

    The file (STEWARD_KEY_FILE) holds one ES256 key, mode 0600, and is made without any
    database. An existing file is never replaced: the command exits 1 and names it.
    """
    from api.settings import Settings
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
    """Create the database or migrate it to the newest schema.

    Runs the migrations (Alembic) that STEWARD_DATABASE_URL lacks and says what it did:
    created, migrated from one revision to another, or already up to date. Safe to run on
    every deploy.
    """
    from api.settings import Settings
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
    """Load demo customers and two partners.

    Realistic Persian and Vietnamese customers with addresses, orders, consents and usage,
    and two partners (a courier with its assigned orders, and a marketing agency) with their
    consents and disclosures. The same --seed gives the same data. With --if-empty, a database that
    already holds customers is left as it is (what `make run` does).
    """
    from api.demo import is_empty, load_demo_data
    from api.demo_partners import load_demo_partners
    from api.settings import Settings
    from store.database import refresh_statistics, transaction_at

    with transaction_at(Settings().database_url) as session:
        if if_empty and not is_empty(session):
            typer.echo("the database already holds customers; no demo data loaded")
        else:
            rows = load_demo_data(session, customers=customers, seed=seed)
            partners = load_demo_partners(session, seed=seed)
            typer.echo(
                f"demo data loaded: {rows.customers} customers, {rows.addresses} addresses, "
                f"{rows.orders} orders with {rows.order_items} items, {rows.consents} consents, "
                f"{rows.usage_events} usage events"
            )
            typer.echo(
                f"demo partners: {partners.partners} registered, "
                f"{partners.sharing_consents} sharing consents, "
                f"{partners.disclosures} disclosures, "
                f"{partners.assignments} active assignments"
            )
            refresh_statistics(session)


@app.command()
def policy(
    markdown: bool = typer.Option(False, "--markdown", help="As a Markdown table."),
) -> None:
    """Print the policy matrix.

    Each sensitive field with the scopes it needs and the purposes (by letter) that may
    read it (x; ~: a form of it only), then the forms disclosed instead of values, the
    purposes and the row rules. The matrix is the policy Steward enforces, read from
    auth/policy, not a copy of it.
    """
    from auth.policy.catalog import POLICY
    from auth.policy.purposes import DECLARABLE, Purpose
    from auth.policy.row_rules import ROW_RULES
    from auth.policy.table import form_text, markdown_table, scope_text

    if markdown:
        typer.echo(markdown_table())
        return
    letters = [purpose.letter for purpose in DECLARABLE]
    width = max(len(coordinate) for coordinate in POLICY)
    scope_width = max(len(scope_text(rule)) for rule in POLICY.values())
    typer.echo(f"{'field':<{width}}  {'scopes':<{scope_width}}  " + " ".join(letters))
    for coordinate, rule in POLICY.items():
        marks = " ".join(
            "x"
            if rule.purposes is None or purpose in rule.purposes
            else "~"
            if form_text(rule, purpose)
            else "."
            for purpose in DECLARABLE
        )
        typer.echo(f"{coordinate:<{width}}  {scope_text(rule):<{scope_width}}  {marks}")
    typer.echo("")
    typer.echo("Forms (disclosed instead of the value):")
    for coordinate, rule in POLICY.items():
        for purpose in DECLARABLE:
            form = form_text(rule, purpose)
            if form is not None:
                typer.echo(f"  {coordinate} under {purpose.id}: {form}")
    typer.echo("")
    for purpose in Purpose:
        consent = " (consent required)" if purpose.consent_required else ""
        typer.echo(f"{purpose.letter} {purpose.id}{consent}: {purpose.description}")
    typer.echo("")
    typer.echo("Row rules:")
    for name, description in ROW_RULES:
        typer.echo(f"  {name}: {description}")


@app.command("schema")
def schema_sdl(
    client: str | None = typer.Option(
        None,
        "--client",
        help="Only what this client can ever unlock: the types and fields some purpose its "
        "scopes allow reaches (its introspection shows the same).",
    ),
    scope: str | None = typer.Option(
        None,
        "--scope",
        help="The scopes to show the view of (space-separated); by default those the built-in "
        "issuer registered for --client.",
    ),
) -> None:
    """Print the schema in SDL.

    The whole of it, or (--client) the view of one client: only the types and fields that
    some purpose its scopes allow can ever unlock, as its introspection shows them.
    """
    from api.contracts import UNKNOWN_SCOPES, client_scopes, given_scopes
    from api.settings import Settings
    from schema.build import sdl
    from schema.view import client_sdl
    from store.database import transaction_at

    if client is None:
        typer.echo(sdl() if scope is None else client_sdl(given_scopes(scope)), nl=False)
        return
    with transaction_at(Settings().database_url) as session:
        scopes = client_scopes(session, client, scope)
    if scopes is None:
        raise typer.BadParameter(UNKNOWN_SCOPES, param_hint="--client")
    typer.echo(client_sdl(scopes), nl=False)


def main() -> None:
    """Entry point of the ``steward`` console script."""
    app()


# --- The built-in issuer: tokens, clients and revocations (auth/issuer.py, auth/clients.py) ---

clients_app = typer.Typer(
    help="OAuth clients of the built-in issuer: add, list, remove.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(clients_app, name="clients")
app.add_typer(partners_app, name="partners")
app.add_typer(orders_app, name="orders")
app.add_typer(documents_app, name="documents")
app.add_typer(customers_app, name="customers")


@app.command()
def token(
    scope: str = typer.Option(
        ..., help=f'Space-separated scopes, e.g. "me:read me:write". {KNOWN_SCOPES}'
    ),
    sub: str | None = typer.Option(
        None, help="The subject; required with me:* scopes (the customer's). Default: steward-cli."
    ),
    client_id: str = typer.Option("steward-cli", help="The client the token is for."),
    ttl: int = typer.Option(3600, min=1, help="Lifetime in seconds."),
    as_json: bool = typer.Option(
        False, "--json", help='Print {"access_token", "jti", "expires_at", "scope"} instead.'
    ),
) -> None:
    """Print an access token from the built-in issuer.

    The token is signed with the keys of STEWARD_KEY_FILE and names STEWARD_PUBLIC_URL as
    its issuer; only the token is printed (or, with --json, its jti and expiry too), so
    that TOKEN=$(steward token ...) works. A purpose scope (purpose:customer_support, ...)
    lets the caller declare that purpose in X-Purpose. An unknown scope is refused with
    the closest known ones.
    """
    import json

    from api.settings import Settings
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
        raise _bad_scope(error) from None
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
    scope: str = typer.Option(
        ..., help=f"Space-separated scopes the client may request. {KNOWN_SCOPES}"
    ),
    partner: bool = typer.Option(
        False, "--partner", help="Register it as a partner (a third party) too, named NAME."
    ),
    trusted_documents_only: bool = typer.Option(
        False,
        "--trusted-documents-only",
        help="It runs only the documents registered with `steward documents allow`.",
    ),
) -> None:
    """Register an OAuth client of the built-in issuer.

    Prints {"client_id", "client_secret"}: the secret is shown here only and stored
    hashed. The client gets tokens at /oauth/token (client_credentials) for any of the
    scopes given here. With --partner it is registered as a partner (a third party) too.
    """
    import json

    from api.settings import Settings
    from auth import partners, trusted_documents
    from auth.tokens.clients import register
    from store.database import transaction_at

    try:
        with transaction_at(Settings().database_url) as session:
            client_id, secret = register(session, name, scope)
            if partner:
                partners.add(session, client_id, name)
            if trusted_documents_only:
                trusted_documents.restrict(session, client_id, only=True)
    except partners.PartnerError as error:
        raise typer.BadParameter(str(error), param_hint="NAME") from None
    except ValueError as error:
        raise _bad_scope(error) from None
    typer.echo(json.dumps({"client_id": client_id, "client_secret": secret}))


def _bad_scope(error: ValueError) -> typer.BadParameter:
    """The usage error for a refused ``--scope``: the closest known scopes are named in it;
    where none is close, ``--help`` lists them all."""
    from auth.tokens.clients import UnknownScopeError

    message = str(error)
    if isinstance(error, UnknownScopeError) and not all(error.closest.values()):
        message = f"{message}; --help lists the known scopes"
    return typer.BadParameter(message, param_hint="--scope")


@clients_app.command("list")
def clients_list() -> None:
    """List the active clients.

    One line per client, tab-separated: client id, name, registration date, scopes.
    """
    from api.settings import Settings
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
    """Remove a client.

    It gets no new tokens, and the tokens it holds are refused from the next request on,
    on every replica. An unknown or already removed client is an error (exit 1).
    """
    from api.settings import Settings
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
    """Revoke a token by its jti.

    The token is refused from the next request on, on every replica. A jti the built-in
    issuer never signed (an external provider's) is recorded all the same.
    """
    from api.settings import Settings
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
