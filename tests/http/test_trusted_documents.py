"""Trusted documents (SPEC section 8): registered under their SHA-256, named by requests.

``steward partners allow`` takes a ``.graphql`` file (each operation its own document: the
operation and the fragments it uses, printed) or an Apollo persisted-query manifest; requests
name a document by ``documentId: "sha256:<hex>"`` or ``extensions.persistedQuery.sha256Hash``,
with or without its text, over POST and GET.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, print_ast
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli
from store import models
from tests.support.auth import TokenFactory

COURIER = "courier-td"
AGENCY = "agency-td"
SCOPE = "customers:read orders:read customers:write purpose:customer_support"

FILE = """
query Deliveries($first: Int = 5) {
  orders(first: $first) { totalCount edges { node { ...Parcel } } }
}

mutation Rename($id: ID!) {
  updateCustomer(id: $id, input: {preferredLanguage: "en"}) { id }
}

fragment Parcel on Order { number status ...Owner }
fragment Owner on Order { customer { id } }
fragment Unused on Customer { id }

query Count { customers(first: 1) { totalCount } }
"""
DELIVERIES = print_ast(
    parse(
        "query Deliveries($first: Int = 5) {"
        " orders(first: $first) { totalCount edges { node { ...Parcel } } } }"
        " fragment Owner on Order { customer { id } }"
        " fragment Parcel on Order { number status ...Owner }"
    )
)
COUNT = "query Count { customers(first: 1) { totalCount } }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def registered(steward: CliRunner, tmp_path: Path) -> dict[str, str]:
    """The courier (any document) and the agency (trusted documents only), with the file's
    operations registered for the agency; operation name → id."""
    steward.invoke(cli, ["partners", "add", COURIER, "--name", "Courier"])
    steward.invoke(cli, ["partners", "add", AGENCY, "--name", "Agency", "--trusted-documents-only"])
    path = tmp_path / "operations.graphql"
    path.write_text(FILE)
    result = steward.invoke(cli, ["partners", "allow", AGENCY, str(path)])
    assert result.exit_code == 0, result.output
    return {line.split("\t")[1]: line.split("\t")[0] for line in result.stdout.strip().splitlines()}


def documents(session: Session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(models.TrustedDocument)) or 0


def send(
    client: TestClient,
    token: str,
    body: dict[str, Any],
    *,
    method: str = "POST",
    accept: str = "application/json",
) -> Any:
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Purpose": "customer_support",
        "Accept": accept,
    }
    if method == "GET":
        params = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in body.items()}
        return client.get("/graphql", params=params, headers=headers)
    return client.post("/graphql", json=body, headers=headers)


# --- Registration ---------------------------------------------------------------------------


def test_each_operation_is_registered_with_the_fragments_it_uses(
    registered: dict[str, str], steward: CliRunner, session: Session
) -> None:
    # then every operation got the SHA-256 of its own printed text
    assert registered == {
        "Deliveries": f"sha256:{sha(DELIVERIES)}",
        "Rename": registered["Rename"],
        "Count": f"sha256:{sha(print_ast(parse(COUNT)))}",
    }
    session.rollback()
    stored = {d.operation_name: d.body for d in session.scalars(select(models.TrustedDocument))}
    assert stored["Deliveries"] == DELIVERIES
    assert "Unused" not in stored["Deliveries"]
    assert "fragment" not in stored["Count"]
    # and `partners documents` lists them
    listed = steward.invoke(cli, ["partners", "documents", AGENCY]).stdout.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [
        [registered[name], name] for name in ("Deliveries", "Rename", "Count")
    ]


def test_the_same_document_twice_is_one_entry(
    registered: dict[str, str], steward: CliRunner, session: Session, tmp_path: Path
) -> None:
    before = documents(session)
    path = tmp_path / "again.graphql"
    path.write_text(FILE + "\n" + COUNT)  # Count twice in one file, and again after the first
    result = steward.invoke(cli, ["partners", "allow", AGENCY, str(path)])
    assert result.exit_code == 0, result.output
    assert documents(session) == before == 3


@pytest.mark.parametrize(
    "text",
    ["query { orders(first: 1) { nope } }", "query { orders(", "fragment F on Order { id }"],
    ids=["invalid", "unparsable", "no-operation"],
)
def test_a_document_that_does_not_parse_or_validate_stores_nothing(
    registered: dict[str, str], steward: CliRunner, session: Session, tmp_path: Path, text: str
) -> None:
    before = documents(session)
    path = tmp_path / "bad.graphql"
    path.write_text(COUNT.replace("Count", "Fine") + "\n" + text)
    result = steward.invoke(cli, ["partners", "allow", AGENCY, str(path)])
    assert result.exit_code == 1
    assert "GRAPHQL_" in result.stderr
    assert documents(session) == before


def test_an_apollo_manifest_is_registered_when_its_ids_are_the_hashes(
    registered: dict[str, str], steward: CliRunner, session: Session, tmp_path: Path
) -> None:
    body = "query Orders { orders(first: 2) { totalCount } }"
    manifest = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [{"id": sha(body), "name": "Orders", "type": "query", "body": body}],
    }
    path = tmp_path / "persisted-query-manifest.json"
    path.write_text(json.dumps(manifest))
    result = steward.invoke(cli, ["partners", "allow", COURIER, str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"sha256:{sha(body)}\tOrders"
    # a wrong id is refused, and nothing more is stored
    before = documents(session)
    manifest["operations"][0]["id"] = sha(body + " ")  # type: ignore[index]
    path.write_text(json.dumps(manifest))
    refused = steward.invoke(cli, ["partners", "allow", COURIER, str(path)])
    assert refused.exit_code == 1
    assert "SHA-256" in refused.stderr
    assert documents(session) == before


def test_documents_are_for_registered_partners_only(
    steward: CliRunner, tmp_path: Path, session: Session
) -> None:
    path = tmp_path / "ops.graphql"
    path.write_text(COUNT)
    result = steward.invoke(cli, ["partners", "allow", "nobody", str(path)])
    assert result.exit_code != 0
    assert documents(session) == 0


# --- Requests -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_request_may_name_a_document_instead_of_sending_it(
    client: TestClient, token: TokenFactory, registered: dict[str, str], method: str
) -> None:
    staff = token(SCOPE)
    count = registered["Count"]
    # by documentId, by Apollo's extension, and with its text
    bodies: list[dict[str, Any]] = [
        {"documentId": count},
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": count[7:]}}},
        {"documentId": count, "query": print_ast(parse(COUNT))},
    ]
    for body in bodies:
        response = send(client, staff, body, method=method)
        assert response.status_code == 200, response.text
        assert response.json()["data"] == {"customers": {"totalCount": 0}}
    # with variables, for an operation that uses fragments
    response = send(
        client,
        staff,
        {"documentId": registered["Deliveries"], "variables": {"first": 1}},
        method=method,
    )
    assert response.json()["data"]["orders"] == {"totalCount": 0, "edges": []}


def test_get_with_a_document_id_is_a_cacheable_url_and_no_graphiql(
    client: TestClient, token: TokenFactory, registered: dict[str, str]
) -> None:
    response = send(
        client, token(SCOPE), {"documentId": registered["Count"]}, method="GET", accept="text/html"
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"customers": {"totalCount": 0}}


def test_a_mutation_named_over_get_is_refused(
    client: TestClient, token: TokenFactory, registered: dict[str, str]
) -> None:
    response = send(
        client,
        token(SCOPE),
        {"documentId": registered["Rename"], "variables": {"id": "Q3VzdG9tZXI6MQ=="}},
        method="GET",
    )
    assert response.status_code == 405
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_an_unknown_document_is_not_found_for_everyone(
    client: TestClient, token: TokenFactory, registered: dict[str, str], method: str
) -> None:
    unknown = f"sha256:{sha('query { __typename }')}"
    for caller in (token(SCOPE), token(SCOPE, client_id=COURIER), token(SCOPE, client_id=AGENCY)):
        response = send(client, caller, {"documentId": unknown}, method=method)
        assert response.status_code == 404
        assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_text_that_does_not_hash_to_the_id_is_refused(
    client: TestClient, token: TokenFactory, registered: dict[str, str], method: str
) -> None:
    response = send(
        client,
        token(SCOPE),
        {
            "documentId": registered["Count"],
            "query": "query Count { customers(first: 2) { totalCount } }",
        },
        method=method,
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "DOCUMENT_ID_MISMATCH"


@pytest.mark.parametrize(
    "body",
    [
        {"documentId": "md5:abc"},
        {"documentId": "sha256:xyz"},
        {"extensions": {"persistedQuery": {"sha256Hash": 42}}},
        {
            "documentId": f"sha256:{'a' * 64}",
            "extensions": {"persistedQuery": {"sha256Hash": "b" * 64}},
        },
    ],
    ids=["other-hash", "not-hex", "not-a-string", "disagree"],
)
def test_malformed_document_ids_are_bad_requests(
    client: TestClient, token: TokenFactory, body: dict[str, Any]
) -> None:
    response = send(client, token(SCOPE), body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_trusted_documents_only_partner_runs_nothing_else(
    client: TestClient, token: TokenFactory, registered: dict[str, str], method: str
) -> None:
    agency = token(SCOPE, client_id=AGENCY)
    # its own document runs
    assert (
        send(client, agency, {"documentId": registered["Count"]}, method=method).status_code == 200
    )
    # a text of its own, even the very text of a registered document, does not
    for body in [{"query": COUNT}, {"query": print_ast(parse(COUNT))}]:
        response = send(client, agency, body, method=method)
        assert response.status_code == 403
        assert response.json()["errors"][0]["extensions"]["code"] == "DOCUMENT_NOT_TRUSTED"


def test_a_trusted_documents_only_partner_runs_only_its_own_documents(
    client: TestClient,
    token: TokenFactory,
    registered: dict[str, str],
    steward: CliRunner,
    tmp_path: Path,
) -> None:
    # given a document the courier registered
    path = tmp_path / "courier.graphql"
    path.write_text("query Mine { orders(first: 1) { totalCount } }")
    [line] = steward.invoke(cli, ["partners", "allow", COURIER, str(path)]).stdout.splitlines()
    courier_document = line.split("\t")[0]
    # then the courier and staff may run it, the trusted-documents-only agency may not
    for caller in (token(SCOPE, client_id=COURIER), token(SCOPE)):
        assert send(client, caller, {"documentId": courier_document}).status_code == 200
    refused = send(client, token(SCOPE, client_id=AGENCY), {"documentId": courier_document})
    assert refused.status_code == 404
