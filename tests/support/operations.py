"""GraphQL operations used by several test folders, and posting one to the app.

An operation used by one test module stays a constant of that module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

LOOKUP = "query Lookup($id: ID!) { customer(id: $id) { id email } }"
PROBE = "query Probe { customers(first: 1) { totalCount } }"
CREATE_CUSTOMER = """
mutation Create($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }
"""

Gql = Callable[..., Any]
"""The ``gql`` fixture: posts an operation with a token for ``scope``; returns the JSON."""


def post(
    client: TestClient,
    bearer: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    purpose: str | None = None,
    headers: dict[str, str] | None = None,
    status: int = 200,
) -> Any:
    """POST an operation with a ready token; returns the JSON body."""
    sent = {"Authorization": f"Bearer {bearer}", **(headers or {})}
    if purpose is not None:
        sent["X-Purpose"] = purpose
    response = client.post("/graphql", json={"query": query, "variables": variables}, headers=sent)
    assert response.status_code == status, response.text
    return response.json()


def probe(client: TestClient, token: str) -> int:
    """The status of `PROBE` under ``customer_support`` with ``token``."""
    response = client.post(
        "/graphql",
        json={"query": PROBE},
        headers={"Authorization": f"Bearer {token}", "X-Purpose": "customer_support"},
    )
    return response.status_code
