"""Prometheus's access to ``/metrics`` as docs/deploy.md documents it: a registered client,
the client_credentials grant, and ``steward clients remove`` to cut it off."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.settings import Settings
from tests.support import ROOT

DEPLOY = ROOT / "docs" / "deploy.md"
PUBLIC_URL = "http://127.0.0.1:8000"  # OAuth over plain http only on loopback


def metrics_section() -> str:
    text = DEPLOY.read_text(encoding="utf-8")
    return text[text.index("## Metrics") :].split("\n## ", 1)[0]


def documented_command() -> list[str]:
    """The ``steward`` command the section gives, as arguments."""
    block = re.search(r"```sh\n(.*?)```", metrics_section(), re.S)
    assert block is not None
    (line,) = [line for line in block.group(1).splitlines() if line.startswith("steward ")]
    return shlex.split(line, comments=True)[1:]


def documented_oauth2() -> tuple[str, str]:
    """The token path and the scopes of the Prometheus configuration the section gives."""
    block = re.search(r"```yaml\n(.*?)```", metrics_section(), re.S)
    assert block is not None
    config = block.group(1)
    assert "oauth2:" in config
    token_url = re.search(r"token_url: (\S+)", config)
    scopes = re.search(r"scopes: \[([^\]]*)\]", config)
    assert token_url is not None
    assert scopes is not None
    path = "/" + token_url.group(1).split("://", 1)[1].split("/", 1)[1]
    return path, " ".join(scope.strip() for scope in scopes.group(1).split(","))


@pytest.fixture
def web(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"public_url": PUBLIC_URL}))
    with TestClient(app, base_url=PUBLIC_URL) as client:
        yield client


@pytest.fixture
def steward(settings: Settings) -> CliRunner:
    return CliRunner(
        env={
            "STEWARD_DATABASE_URL": settings.database_url,
            "STEWARD_KEY_FILE": str(settings.key_file),
            "STEWARD_PUBLIC_URL": PUBLIC_URL,
        }
    )


def test_prometheus_scrapes_as_documented_until_its_client_is_removed(
    web: TestClient, steward: CliRunner
) -> None:
    # given Prometheus's client, registered with the documented command
    added = steward.invoke(cli, documented_command())
    assert added.exit_code == 0, added.output
    registered = json.loads(added.stdout)
    path, scopes = documented_oauth2()

    def grant() -> tuple[int, dict[str, str]]:
        # what Prometheus's oauth2 configuration does: client_credentials at token_url
        response = web.post(
            path,
            data={"grant_type": "client_credentials", "scope": scopes},
            auth=(registered["client_id"], registered["client_secret"]),
        )
        return response.status_code, response.json()

    # when it gets a token and scrapes
    status, token = grant()
    assert status == 200, token
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert web.get("/metrics", headers=bearer).status_code == 200
    # and the client is removed, as the section says
    removed = steward.invoke(cli, ["clients", "remove", registered["client_id"]])
    assert removed.exit_code == 0, removed.output
    # then the token it holds is refused from the next scrape on, and it gets no new one
    assert web.get("/metrics", headers=bearer).status_code == 401
    status, refused = grant()
    assert (status, refused["error"]) == (401, "invalid_client")


def test_the_section_no_longer_documents_a_literal_client_id() -> None:
    assert "--client-id prometheus --ttl" not in metrics_section()
