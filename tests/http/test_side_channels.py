"""No caller learns which documents another caller ran (SPEC section 7, v5).

The token's standing (revoked, partner removed) and the trusted-documents rule are checked
before anything that depends on the document cache, and the cache keeps each caller's
documents apart: a refusal, and the time it takes, are the same whether or not someone else
sent the same text before.
"""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli
from api.settings import Settings
from auth.tokens import clients
from auth.tokens.keys import load_or_create
from schema.build import build_schema
from schema.documents import Document, Documents, Limits
from store.database import transaction
from tests.support.auth import TokenFactory

STAFF = "customers:read orders:read purpose:customer_support"
LOOKUP = '{ customers(filter: {email: "%s"}) { totalCount } }'
AGENCY = "agency-side"


def post(client: TestClient, token: str, query: str, purpose: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if purpose is not None:
        headers["X-Purpose"] = purpose
    return client.post("/graphql", json={"query": query}, headers=headers)


def answer(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["errors"][0]["extensions"]["code"]


def test_a_revoked_token_is_refused_alike_whether_or_not_another_caller_ran_the_text(
    client: TestClient, token: TokenFactory, settings: Settings
) -> None:
    # given a revoked token
    revoked = token(STAFF, sub="leaver", client_id="console")
    keys = load_or_create(settings.key_file)
    with transaction(client.app.state.sessions) as session:  # type: ignore[attr-defined]
        assert clients.revoke(session, jwt.decode(revoked, keys).claims["jti"])
    # and a lookup another member of staff ran
    ran, fresh = LOOKUP % "ran@example.com", LOOKUP % "fresh@example.com"
    assert post(client, token(STAFF), ran, "customer_support").status_code == 200
    # when the revoked token sends it, and a text nobody ran, without a purpose
    # then both are refused for the token, alike
    assert answer(post(client, revoked, ran)) == answer(post(client, revoked, fresh))
    assert answer(post(client, revoked, ran)) == (401, "INVALID_TOKEN")


def test_a_trusted_documents_only_partner_is_refused_alike_whether_or_not_the_text_ran(
    client: TestClient, token: TokenFactory, steward: CliRunner
) -> None:
    # given a partner that may run only its registered documents
    result = steward.invoke(
        cli, ["partners", "add", AGENCY, "--name", "Agency", "--trusted-documents-only"]
    )
    assert result.exit_code == 0, result.output
    agency = token(STAFF, client_id=AGENCY)
    # and a lookup a member of staff ran
    ran, fresh = LOOKUP % "ran@example.com", LOOKUP % "fresh@example.com"
    assert post(client, token(STAFF), ran, "customer_support").status_code == 200
    # when the partner sends that text, and one nobody ran, without a purpose
    # then both are refused as untrusted documents, alike
    assert answer(post(client, agency, ran)) == answer(post(client, agency, fresh))
    assert answer(post(client, agency, ran)) == (403, "DOCUMENT_NOT_TRUSTED")


def test_the_document_cache_keeps_each_callers_documents_apart() -> None:
    schema = build_schema()._schema
    documents = Documents(schema, Limits(depth=10, aliases=10, tokens=1000, introspection=True))
    text = LOOKUP % "someone@example.com"
    # given a text one caller sent (parsed once, then a hit: the same object)
    first = documents.get(text, "caller-a")
    assert isinstance(first, Document)
    assert documents.get(text, "caller-a") is first
    # when another caller sends the same text
    other = documents.get(text, "caller-b")
    # then it is parsed and validated for that caller: no hit on the first caller's entry
    assert isinstance(other, Document)
    assert other is not first
