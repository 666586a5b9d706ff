"""The CLI accepts every id it printed, never prints one beginning with ``-``, refuses a
customer token without a subject, and refuses ports and worker counts it cannot serve."""

from __future__ import annotations

import json
import secrets
import time

import pytest
from joserfc import jwt
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli
from api.settings import Settings
from auth.tokens import clients
from auth.tokens.issuer import issue_token
from auth.tokens.keys import load_or_create
from store import models
from tests.support.auth import call, error_of


@pytest.fixture
def dashes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random tokens whose first draw begins with ``-`` (one in 64 does, by chance)."""
    draw = secrets.token_urlsafe
    drawn: list[str] = []

    def token_urlsafe(nbytes: int) -> str:
        value = draw(nbytes)
        drawn.append(value)
        return "-" + value[1:] if len(drawn) == 1 else value

    monkeypatch.setattr(secrets, "token_urlsafe", token_urlsafe)


@pytest.mark.usefixtures("dashes_first")
def test_client_ids_and_secrets_never_begin_with_a_dash(steward: CliRunner) -> None:
    result = steward.invoke(cli, ["clients", "add", "courier", "--scope", "orders:read"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert not printed["client_id"].startswith("-")
    assert not printed["client_secret"].startswith("-")


@pytest.mark.usefixtures("dashes_first")
def test_token_ids_never_begin_with_a_dash(settings: Settings) -> None:
    keys = load_or_create(settings.key_file)
    token = issue_token(settings.tokens, keys, scope="orders:read", subject="s", client_id="c")
    assert not jwt.decode(token, keys).claims["jti"].startswith("-")


def _add_client(session: Session, client_id: str) -> None:
    with session.begin():
        session.add(
            models.OAuthClient(
                client_id=client_id,
                name="older",
                secret_hash=clients.hash_secret("secret"),
                scope="orders:read",
            )
        )


@pytest.mark.parametrize("separator", [[], ["--"]], ids=["as is", "after --"])
@pytest.mark.parametrize("client_id", ["-Xq3_ab", "--Xq3_ab"])
def test_clients_remove_accepts_an_id_beginning_with_a_dash(
    steward: CliRunner, session: Session, separator: list[str], client_id: str
) -> None:
    # given a client whose id begins with "-" (as ids could before)
    _add_client(session, client_id)
    # when it is removed by its id
    result = steward.invoke(cli, ["clients", "remove", *separator, client_id])
    # then it is
    assert result.exit_code == 0, result.output
    assert result.stdout == f"removed {client_id}\n"
    listed = steward.invoke(cli, ["clients", "list"])
    assert client_id not in listed.stdout


@pytest.mark.parametrize("separator", [[], ["--"]], ids=["as is", "after --"])
def test_revoke_accepts_a_jti_beginning_with_a_dash(
    steward: CliRunner, client: TestClient, settings: Settings, separator: list[str]
) -> None:
    # given a valid token whose jti begins with "-"
    keys = load_or_create(settings.key_file)
    now = int(time.time())
    claims = {
        "iss": settings.public_url,
        "aud": settings.audience,
        "sub": "staff-1",
        "client_id": "app",
        "scope": "orders:read",
        "jti": "-k2_Zq",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    key = keys.keys[0]
    token = jwt.encode({"typ": "at+jwt", "alg": "ES256", "kid": key.kid}, claims, key)
    assert call(client, token).status_code == 200
    # when it is revoked by its jti
    result = steward.invoke(cli, ["revoke", *separator, "-k2_Zq"])
    # then the next request is refused
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("-k2_Zq was not seen: the built-in issuer never signed it")
    response = call(client, token)
    assert response.status_code == 401
    assert error_of(response)[0] == "INVALID_TOKEN"


@pytest.mark.parametrize("scope", ["me:read", "me:write", "customers:read me:read"])
def test_token_with_a_customer_scope_needs_a_subject(steward: CliRunner, scope: str) -> None:
    result = steward.invoke(cli, ["token", "--scope", scope])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--sub" in result.output
    given = steward.invoke(cli, ["token", "--scope", scope, "--sub", "Q3VzdG9tZXI6MQ=="])
    assert given.exit_code == 0, given.output


def test_token_without_customer_scopes_keeps_its_default_subject(
    steward: CliRunner, settings: Settings
) -> None:
    result = steward.invoke(cli, ["token", "--scope", "orders:read"])
    claims = jwt.decode(result.stdout.strip(), load_or_create(settings.key_file)).claims
    assert claims["sub"] == "steward-cli"


@pytest.mark.parametrize(
    ("option", "value"),
    [("--port", "99999"), ("--port", "0"), ("--port", "-1"), ("--workers", "0")],
)
def test_serve_refuses_what_it_cannot_serve(steward: CliRunner, option: str, value: str) -> None:
    result = steward.invoke(cli, ["serve", option, value])
    assert result.exit_code == 2
    assert option in result.output
