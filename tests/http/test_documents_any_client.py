"""Trusted documents for any client (SPEC section 12): a first-party app runs only its own.

``steward documents allow`` registers documents for any client id — the built-in issuer's or
an external provider's — and ``--trusted-documents-only`` (on ``documents allow``, ``clients
add`` or ``documents restrict``) limits the client to them, from the next request on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, print_ast
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli
from api.settings import Settings
from tests.support.auth import Provider, TokenFactory, app_client

SCOPE = "customers:read purpose:customer_support"
COUNT = "query Count { customers(first: 1) { totalCount } }"
OTHER = "query Other { customers(first: 2) { totalCount } }"


def document_id(text: str) -> str:
    """The id ``allow`` registers an operation under: the SHA-256 of its printed text."""
    return "sha256:" + hashlib.sha256(print_ast(parse(text)).encode()).hexdigest()


@pytest.fixture
def operations(tmp_path: Path) -> Path:
    path = tmp_path / "app.graphql"
    path.write_text(COUNT + "\n")
    return path


def run(steward: CliRunner, *args: str) -> Any:
    result = steward.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def ask(client: TestClient, bearer: str, body: dict[str, Any]) -> Any:
    return client.post(
        "/graphql",
        json=body,
        headers={"Authorization": f"Bearer {bearer}", "X-Purpose": "customer_support"},
    )


def test_a_builtin_client_limited_to_its_documents(
    client: TestClient, token: TokenFactory, steward: CliRunner, operations: Path
) -> None:
    # given a first-party app registered as trusted-documents-only, with its operations
    added = run(
        steward, "clients", "add", "mobile-app", "--scope", SCOPE, "--trusted-documents-only"
    )
    client_id = json.loads(added.stdout)["client_id"]
    allowed = run(steward, "documents", "allow", client_id, str(operations))
    assert allowed.stdout.split() == [document_id(COUNT), "Count"]
    bearer = token(SCOPE, client_id=client_id)
    # when it sends text / then it is refused; by id it runs
    refused = ask(client, bearer, {"query": COUNT})
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "DOCUMENT_NOT_TRUSTED"
    named = ask(client, bearer, {"documentId": document_id(COUNT)})
    assert named.status_code == 200, named.text
    assert named.json()["data"]["customers"]["totalCount"] == 0
    # and `documents list` shows the document and the restriction
    listed = run(steward, "documents", "list", client_id)
    assert listed.stdout.startswith(document_id(COUNT) + "\tCount\t")
    assert "trusted-documents-only" in listed.stderr
    # and other clients are not limited
    assert ask(client, token(SCOPE), {"query": COUNT}).status_code == 200


def test_restriction_holds_from_the_next_request_and_can_be_lifted(
    client: TestClient, token: TokenFactory, steward: CliRunner, operations: Path
) -> None:
    bearer = token(SCOPE, client_id="web-app")
    assert ask(client, bearer, {"query": OTHER}).status_code == 200
    run(steward, "documents", "allow", "web-app", str(operations))
    run(steward, "documents", "restrict", "web-app")
    assert ask(client, bearer, {"query": OTHER}).status_code == 403
    # a restricted client cannot name another client's document either
    run(steward, "documents", "allow", "someone-else", str(operations))
    other_file = operations.with_name("other.graphql")
    other_file.write_text(OTHER)
    run(steward, "documents", "allow", "someone-else", str(other_file))
    unknown = ask(client, bearer, {"documentId": document_id(OTHER)})
    assert unknown.status_code == 404
    run(steward, "documents", "restrict", "web-app", "--off")
    assert ask(client, bearer, {"query": OTHER}).status_code == 200


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def external(settings: Settings, provider: Provider) -> Iterator[TestClient]:
    with app_client(provider.settings(settings), http=provider.http()) as test_client:
        yield test_client


def test_an_external_providers_client_limited_to_its_documents(
    external: TestClient, provider: Provider, steward: CliRunner, operations: Path
) -> None:
    # given the provider's client id of a mobile app, limited to its documents
    allowed = run(
        steward, "documents", "allow", "mobile-native", str(operations), "--trusted-documents-only"
    )
    assert "no client of the built-in issuer nor a partner" in allowed.stderr
    bearer = provider.token(azp="mobile-native", scope=SCOPE)
    # then text is refused, its document runs, and another client of the provider is free
    assert ask(external, bearer, {"query": COUNT}).status_code == 403
    assert ask(external, bearer, {"documentId": document_id(COUNT)}).status_code == 200
    free = provider.token(azp="staff-console", scope=SCOPE)
    assert ask(external, free, {"query": COUNT}).status_code == 200


def test_bad_client_ids_and_files_register_nothing(steward: CliRunner, tmp_path: Path) -> None:
    broken = tmp_path / "broken.graphql"
    broken.write_text("query { nope }")
    result = steward.invoke(cli, ["documents", "allow", "app", str(broken)])
    assert result.exit_code == 1
    assert "nothing was registered" in result.stderr
    empty = steward.invoke(cli, ["documents", "restrict", ""])
    assert empty.exit_code == 2
    listed = run(steward, "documents", "list", "app")
    assert listed.stdout == ""
    assert "any-document" in listed.stderr
