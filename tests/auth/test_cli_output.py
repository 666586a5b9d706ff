"""What ``steward`` prints for a newcomer: flags shown as flags, a token with its ``jti`` and
expiry, and what ``db upgrade`` did."""

from __future__ import annotations

import json
from pathlib import Path

from joserfc import jwt
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli
from api.settings import Settings
from auth.tokens.keys import load_or_create

SCOPE = "customers:read customers:read:identity purpose:customer_support"


def test_help_shows_boolean_options_as_flags() -> None:
    # when
    demo = CliRunner().invoke(cli, ["demo-data", "--help"])
    policy = CliRunner().invoke(cli, ["policy", "--help"])
    token = CliRunner().invoke(cli, ["token", "--help"])
    # then
    assert demo.exit_code == policy.exit_code == token.exit_code == 0
    assert "--if-empty " in demo.output
    assert "--markdown " in policy.output
    assert "--json " in token.output
    assert "<bool>" not in demo.output + policy.output + token.output
    assert "BOOLEAN" not in demo.output + policy.output + token.output


def test_token_json_tells_the_id_and_expiry_of_a_token_the_api_accepts(
    settings: Settings, client: TestClient
) -> None:
    # given
    steward = CliRunner(
        env={
            "STEWARD_DATABASE_URL": settings.database_url,
            "STEWARD_KEY_FILE": str(settings.key_file),
            "STEWARD_PUBLIC_URL": settings.public_url,
        }
    )
    # when
    result = steward.invoke(cli, ["token", "--scope", SCOPE, "--json"])
    # then
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert set(printed) == {"access_token", "jti", "expires_at", "scope"}
    claims = jwt.decode(printed["access_token"], load_or_create(settings.key_file)).claims
    assert (printed["jti"], printed["expires_at"]) == (claims["jti"], claims["exp"])
    assert printed["scope"] == claims["scope"] == SCOPE
    used = client.post(
        "/graphql",
        json={"query": "{ customers(first: 1) { totalCount } }"},
        headers={
            "Authorization": f"Bearer {printed['access_token']}",
            "X-Purpose": "customer_support",
        },
    )
    assert used.status_code == 200, used.text


def test_db_upgrade_says_whether_it_created_or_found_the_database(tmp_path: Path) -> None:
    # given
    steward = CliRunner(env={"STEWARD_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"})
    # when
    created = steward.invoke(cli, ["db", "upgrade"])
    again = steward.invoke(cli, ["db", "upgrade"])
    # then
    assert created.exit_code == again.exit_code == 0
    assert created.output.startswith("database created at revision ")
    assert again.output.startswith("database is up to date (revision ")
