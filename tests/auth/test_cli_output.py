"""What ``steward`` prints for a newcomer: flags shown as flags, a token with its ``jti`` and
expiry, and what ``db upgrade`` did."""

from __future__ import annotations

import json
import re
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


def test_demo_data_says_what_it_loaded_in_words(tmp_path: Path) -> None:
    # given a new database
    steward = CliRunner(env={"STEWARD_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"})
    assert steward.invoke(cli, ["db", "upgrade"]).exit_code == 0
    # when demo data is loaded, as make run does, and then again
    loaded = steward.invoke(cli, ["demo-data", "--customers", "8", "--if-empty"])
    again = steward.invoke(cli, ["demo-data", "--customers", "8", "--if-empty"])
    # then it says what it loaded in two plain lines, not in Python's notation
    assert loaded.exit_code == again.exit_code == 0, loaded.output
    first, second = loaded.stdout.splitlines()
    assert re.fullmatch(
        r"demo data loaded: 8 customers, \d+ addresses, \d+ orders with \d+ items, "
        r"\d+ consents, \d+ usage events",
        first,
    )
    assert re.fullmatch(
        r"demo partners: 2 registered, \d+ sharing consents, \d+ disclosures, "
        r"\d+ active assignments",
        second,
    )
    assert again.stdout == "the database already holds customers; no demo data loaded\n"
