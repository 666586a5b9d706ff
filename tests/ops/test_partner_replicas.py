"""Two replicas on one PostgreSQL database: a partner's consent withdrawal and a partner's
removal hold on the other replica from its very next request (SPEC section 8).

As in ``test_ops_replicas``: replica B serves the partner first (warming its verified-token
cache), the change goes through replica A or the CLI, and B's next request is checked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.replicas import Replicas, data_of, two_replicas
from tests.support.servers import (
    Server,
    graphql,
)

# One worker runs this module: its module-scoped servers start once (pytest-xdist's loadgroup).
pytestmark = pytest.mark.xdist_group("partner-replicas")

STAFF = "customers:read customers:write consents:read consents:write purpose:customer_support"
PARTNER = "customers:read customers:read:identity purpose:customer_support"

CREATE = """
mutation Create($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }
"""
SHARE = """
mutation Share($id: ID!, $granted: Boolean!, $recipient: String) {
  recordConsent(customerId: $id, purpose: THIRD_PARTY_SHARING, granted: $granted, source: WEB,
                recipient: $recipient) { status recipient }
}
"""
LIST = "query Mine { customers(first: 100) { totalCount edges { node { id } } } }"
LOOKUP = "query One($id: ID!) { customer(id: $id) { id firstName } }"


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    with two_replicas(tmp_path_factory.mktemp("partner-replicas")) as running_pair:
        yield running_pair


def _customer(replicas: Replicas, staff: str) -> str:
    customer = {
        "country": "IR",
        "preferredLanguage": "fa-IR",
        "firstName": "Sara",
        "email": f"sara.{uuid.uuid4().hex[:8]}@example.ir",
    }
    data = data_of(
        graphql(replicas.a.url, staff, CREATE, {"input": customer}, purpose="customer_support")
    )
    return str(data["createCustomer"]["id"])


def _share(replicas: Replicas, staff: str, customer: str, partner: str, granted: bool) -> None:
    variables = {"id": customer, "granted": granted, "recipient": partner}
    data = data_of(graphql(replicas.a.url, staff, SHARE, variables, purpose="customer_support"))
    assert data["recordConsent"]["recipient"] == partner


def _seen_by(server: Server, token: str) -> set[str]:
    data = data_of(graphql(server.url, token, LIST, purpose="customer_support"))
    return {edge["node"]["id"] for edge in data["customers"]["edges"]}


@pytest.mark.postgres
def test_a_withdrawal_for_a_partner_holds_on_the_other_replica(replicas: Replicas) -> None:
    # given a partner (consented access) that a customer shares with, served by replica B
    partner = f"courier-{uuid.uuid4().hex[:8]}"
    replicas.steward(
        "partners", "add", partner, "--name", "Tehran Express", "--access", "consented"
    )
    staff = replicas.token(STAFF, client_id="staff-app")
    courier = replicas.token(PARTNER, client_id=partner)
    customer = _customer(replicas, staff)
    assert customer not in _seen_by(replicas.b, courier)
    _share(replicas, staff, customer, partner, granted=True)
    assert customer in _seen_by(replicas.b, courier)
    # when the customer withdraws for that partner, through replica A
    _share(replicas, staff, customer, partner, granted=False)
    # then B's very next request by the partner no longer finds the customer, on any path
    assert customer not in _seen_by(replicas.b, courier)
    lookup = data_of(
        graphql(replicas.b.url, courier, LOOKUP, {"id": customer}, purpose="customer_support")
    )
    assert lookup["customer"] is None
    # while staff, no partner, still sees them
    assert customer in _seen_by(replicas.b, staff)


@pytest.mark.postgres
def test_a_partner_removal_holds_on_the_other_replica(replicas: Replicas) -> None:
    # given a partner whose token replica B has accepted (and cached)
    partner = f"agency-{uuid.uuid4().hex[:8]}"
    replicas.steward("partners", "add", partner, "--name", "Mekong Marketing")
    token = replicas.token(PARTNER, client_id=partner)
    _seen_by(replicas.b, token)
    # when the partner is removed with the CLI
    assert partner in replicas.steward("partners", "remove", partner)
    # then B refuses its very next request
    refused = graphql(replicas.b.url, token, LIST, purpose="customer_support")
    assert refused.status_code == 401, refused.text
    assert refused.json()["errors"][0]["extensions"]["code"] == "INVALID_TOKEN"
    # and so does A
    assert graphql(replicas.a.url, token, LIST, purpose="customer_support").status_code == 401
