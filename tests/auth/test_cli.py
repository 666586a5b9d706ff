"""``steward token``, ``steward clients add/list/remove`` and ``steward revoke``."""

from __future__ import annotations

import base64
import json

from joserfc import jwt
from sqlalchemy.orm import Session
from sqlmodel import select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.settings import Settings
from auth.tokens.errors import Cause, InvalidToken
from auth.tokens.issuer import issue_token
from auth.tokens.keys import load_or_create
from store.models import IssuedToken
from tests.support.auth import call, error_of

PUBLIC_URL = "http://127.0.0.1:8000"  # loopback: the token endpoint runs over plain http


def test_token_prints_only_a_token_the_api_accepts(
    steward: CliRunner, client: TestClient, settings: Settings
) -> None:
    # when
    result = steward.invoke(cli, ["token", "--scope", "customers:read purpose:billing"])
    # then
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    claims = jwt.decode(token, load_or_create(settings.key_file)).claims
    assert claims["sub"] == claims["client_id"] == "steward-cli"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["scope"] == "customers:read purpose:billing"
    assert call(client, token).status_code == 200


def test_token_options(steward: CliRunner, settings: Settings) -> None:
    args = ["token", "--scope", "me:read", "--sub", "cust-7", "--client-id", "app", "--ttl", "60"]
    result = steward.invoke(cli, args)
    claims = jwt.decode(result.stdout.strip(), load_or_create(settings.key_file)).claims
    assert (claims["sub"], claims["client_id"], claims["exp"] - claims["iat"]) == (
        "cust-7",
        "app",
        60,
    )


def test_token_with_unknown_scope_is_a_usage_error(steward: CliRunner) -> None:
    result = steward.invoke(cli, ["token", "--scope", "customers:read everything"])
    assert result.exit_code == 2
    assert "everything" in result.output
    assert result.stdout == ""


def test_clients_add_prints_one_json_object_whose_secret_gets_a_token(
    steward: CliRunner, settings: Settings
) -> None:
    # when a client is added
    result = steward.invoke(cli, ["clients", "add", "courier", "--scope", "orders:read"])
    # then the output is one JSON object with the credentials, which work at /oauth/token
    assert result.exit_code == 0, result.output
    credentials = json.loads(result.stdout)
    assert set(credentials) == {"client_id", "client_secret"}
    basic = base64.b64encode(f"{credentials['client_id']}:{credentials['client_secret']}".encode())
    loopback = settings.model_copy(update={"public_url": PUBLIC_URL})
    with TestClient(create_app(loopback), base_url=PUBLIC_URL) as web:
        response = web.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic.decode()}"},
        )
        assert response.status_code == 200, response.text
        assert call(web, response.json()["access_token"]).status_code == 200


def test_clients_add_refuses_unknown_scopes(steward: CliRunner) -> None:
    result = steward.invoke(cli, ["clients", "add", "x", "--scope", "orders:read orders:delete"])
    assert result.exit_code == 2
    assert "orders:delete" in result.output
    listed = steward.invoke(cli, ["clients", "list"])
    assert listed.stdout == ""


def test_clients_list_and_remove(
    steward: CliRunner, client: TestClient, settings: Settings
) -> None:
    # given two clients, and a token of the first
    first = json.loads(
        steward.invoke(cli, ["clients", "add", "a", "--scope", "orders:read"]).stdout
    )
    second = json.loads(
        steward.invoke(cli, ["clients", "add", "b", "--scope", "orders:read"]).stdout
    )
    issued = steward.invoke(
        cli, ["token", "--scope", "orders:read", "--client-id", first["client_id"]]
    )
    token = issued.stdout.strip()
    assert call(client, token).status_code == 200
    # when the first is removed
    removed = steward.invoke(cli, ["clients", "remove", first["client_id"]])
    # then only the second is listed, the secret is never shown, and the token is refused
    assert removed.exit_code == 0
    listed = steward.invoke(cli, ["clients", "list"]).stdout
    assert second["client_id"] in listed
    assert first["client_id"] not in listed
    assert second["client_secret"] not in listed
    assert error_of(call(client, token))[1] == str(InvalidToken(Cause.CLIENT_REMOVED))
    again = steward.invoke(cli, ["clients", "remove", first["client_id"]])
    assert again.exit_code == 1


def test_revoke_refuses_the_token_from_the_next_request(
    steward: CliRunner, client: TestClient, settings: Settings
) -> None:
    token = steward.invoke(cli, ["token", "--scope", "customers:read"]).stdout.strip()
    assert call(client, token).status_code == 200
    jti = jwt.decode(token, load_or_create(settings.key_file)).claims["jti"]
    result = steward.invoke(cli, ["revoke", jti])
    assert result.exit_code == 0
    assert result.stdout == f"revoked {jti}\n"
    assert error_of(call(client, token))[1] == str(InvalidToken(Cause.REVOKED))
    again = steward.invoke(cli, ["revoke", jti])
    assert again.exit_code == 0
    assert again.stdout == f"{jti} was already revoked\n"


def test_revoking_a_token_steward_never_issued_says_so_and_refuses_it_all_the_same(
    steward: CliRunner, client: TestClient, settings: Settings
) -> None:
    # given a token signed with the issuer's key but never issued through Steward's issuer
    token = issue_token(
        settings.tokens,
        load_or_create(settings.key_file),
        scope="customers:read",
        subject="s",
        client_id="c",
    )
    jti = jwt.decode(token, load_or_create(settings.key_file)).claims["jti"]
    # when its jti is revoked
    result = steward.invoke(cli, ["revoke", jti])
    # then the answer says it was not seen, and the token is refused all the same
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{jti} was not seen")
    assert error_of(call(client, token))[1] == str(InvalidToken(Cause.REVOKED))


def test_tokens_from_the_token_endpoint_and_the_cli_are_recorded_as_issued(
    steward: CliRunner, settings: Settings, session: Session
) -> None:
    # given a registered client, and a token from each way the built-in issuer signs
    created = json.loads(
        steward.invoke(cli, ["clients", "add", "app", "--scope", "orders:read"]).stdout
    )
    loopback = settings.model_copy(update={"public_url": PUBLIC_URL})
    with TestClient(create_app(loopback), base_url=PUBLIC_URL) as web:
        answer = web.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(created["client_id"], created["client_secret"]),
        )
    assert answer.status_code == 200, answer.text
    printed = json.loads(steward.invoke(cli, ["token", "--scope", "orders:read", "--json"]).stdout)
    # then both are in the ledger of issued tokens, with the client each was issued to
    keys = load_or_create(settings.key_file)
    endpoint_jti = jwt.decode(answer.json()["access_token"], keys).claims["jti"]
    recorded = {row.jti: row.client_id for row in session.scalars(select(IssuedToken))}
    assert recorded[endpoint_jti] == created["client_id"]
    assert recorded[printed["jti"]] == "steward-cli"
