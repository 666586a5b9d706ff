"""The partner rule (SPEC section 8): a partner sees only the customers who consented to it.

For a partner and for a non-partner with the same scopes under the same purpose, exactly which
customers exist on every path — lists and ``totalCount``, ``customer``, ``order``, ``node``,
nested objects, mutations — before and after general and per-partner grants and withdrawals.
The seeded world (`tests.policy_model.seed`): ava shares with every partner, binh with the
courier only, chi with every partner but the courier, dara (erased) with none.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from auth.policy import scopes as s
from tests.support.auth import TokenFactory
from tests.support.policy_model import AGENCY, COURIER, OFFICER, READ_SCOPES, Seeded

STAFF = "staff-client"
"""A client that is no partner."""
PEOPLE = ("ava", "binh", "chi", "dara")
ORDERS = {
    "ava_paid": "ava",
    "ava_pending": "ava",
    "binh_shipped": "binh",
    "chi_cancelled": "chi",
    "chi_installed": "chi",
    "dara_installed": "dara",
}
ADDRESSES = {"ava_home": "ava", "binh_home": "binh"}
SCOPE = " ".join(
    [*READ_SCOPES, s.CUSTOMERS_WRITE, s.CONSENTS_WRITE]
    + [f"purpose:{p}" for p in ("customer_support", "order_fulfillment", "legal_order")]
)

LISTS = """
query Lists {
  customers(first: 50) { totalCount edges { node { id } } }
  orders(first: 50) { totalCount edges { node { id customer { id } } } }
}
"""
LOOKUPS = """
query Lookups($id: ID!) {
  customer(id: $id) { id orders { totalCount } }
  node(id: $id) { id }
}
"""
ORDER = """
query Order($id: ID!) {
  order(id: $id) { id customer { id } }
  node(id: $id) { id }
}
"""
ADDRESS = "query Address($id: ID!) { node(id: $id) { id } }"
UPDATE = """
mutation Update($id: ID!) { updateCustomer(id: $id, input: {preferredLanguage: "en"}) { id } }
"""
RECORD = """
mutation Record($id: ID!, $granted: Boolean!, $recipient: String) {
  recordConsent(customerId: $id, purpose: THIRD_PARTY_SHARING, granted: $granted,
                source: CALL_CENTER, recipient: $recipient) { id recipient status }
}
"""


class Caller:
    """One client, asking over HTTP under one purpose."""

    def __init__(
        self, client: TestClient, token: TokenFactory, data: Seeded, client_id: str, purpose: str
    ) -> None:
        self.client = client
        self.data = data
        self.headers = {
            "Authorization": f"Bearer {token(SCOPE, sub='agent-1', client_id=client_id)}",
            "X-Purpose": purpose,
            "X-Legal-Reference": data.legal_reference,
        }

    def ask(self, query: str, **variables: Any) -> Any:
        response = self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    def seen(self) -> dict[str, set[str]]:
        """Which customers exist for the caller, path by path."""
        names = {self.data[name]: name for name in PEOPLE}
        lists = self.ask(LISTS)["data"]
        customers = lists["customers"]
        orders = lists["orders"]
        # totalCount counts what the page lists (every row fits on it)
        assert customers["totalCount"] == len(customers["edges"])
        assert orders["totalCount"] == len(orders["edges"])
        paths: dict[str, set[str]] = {
            "customers": {names[e["node"]["id"]] for e in customers["edges"]},
            "orders": {ORDERS[self._order_name(e["node"]["id"])] for e in orders["edges"]},
            "orders.customer": {names[e["node"]["customer"]["id"]] for e in orders["edges"]},
        }
        for key in ("customer", "node", "customer.orders", "order", "order.node", "order.customer"):
            paths[key] = set()
        for person in PEOPLE:
            found = self.ask(LOOKUPS, id=self.data[person])["data"]
            if found["customer"] is not None:
                paths["customer"].add(person)
                if found["customer"]["orders"]["totalCount"] > 0:
                    paths["customer.orders"].add(person)
            if found["node"] is not None:
                paths["node"].add(person)
        for order, person in ORDERS.items():
            found = self.ask(ORDER, id=self.data[order])["data"]
            if found["order"] is not None:
                paths["order"].add(person)
                if found["order"]["customer"] is not None:
                    paths["order.customer"].add(person)
            if found["node"] is not None:
                paths["order.node"].add(person)
        paths["address"] = {
            person
            for address, person in ADDRESSES.items()
            if self.ask(ADDRESS, id=self.data[address])["data"]["node"] is not None
        }
        paths["updateCustomer"] = set()
        for person in PEOPLE:
            body = self.ask(UPDATE, id=self.data[person])
            if body["data"]["updateCustomer"] is not None:
                paths["updateCustomer"].add(person)
            else:
                assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        return paths

    def _order_name(self, global_id: str) -> str:
        return next(name for name in ORDERS if self.data[name] == global_id)


def expect(caller: Caller, people: set[str]) -> None:
    """Every path shows exactly ``people`` (those of them with orders and addresses)."""
    paths = caller.seen()
    erased = {"dara"}
    for path, seen in paths.items():
        if path == "address":
            wanted = people & set(ADDRESSES.values())
        elif path == "updateCustomer":
            wanted = people - erased  # an erased customer has nothing left to update
        elif path.startswith("order") or path == "customer.orders":
            wanted = people & set(ORDERS.values())
        else:
            wanted = people
        assert seen == wanted, f"{path}: saw {sorted(seen)}, expected {sorted(wanted)}"


def record(staff: Caller, person: str, *, granted: bool, recipient: str | None) -> None:
    body = staff.ask(RECORD, id=staff.data[person], granted=granted, recipient=recipient)
    assert "errors" not in body, body
    assert body["data"]["recordConsent"]["recipient"] == recipient


@pytest.fixture
def callers(client: TestClient, token: TokenFactory, data: Seeded) -> Any:
    def make(client_id: str, purpose: str = "customer_support") -> Caller:
        return Caller(client, token, data, client_id, purpose)

    return make


def test_partners_and_staff_see_exactly_their_customers_on_every_path(callers) -> None:
    # given a non-partner and two partners with the same scopes, under customer_support
    staff, courier, agency = callers(STAFF), callers(COURIER), callers(AGENCY)
    # then staff sees everyone; each partner only those who consented to it (seeded)
    expect(staff, {"ava", "binh", "chi", "dara"})
    expect(courier, {"ava", "binh"})
    expect(agency, {"ava", "chi"})

    # when chi grants the courier explicitly (after withdrawing it)
    record(staff, "chi", granted=True, recipient=COURIER)
    # then the courier sees chi from the next request on; nobody else changes
    expect(courier, {"ava", "binh", "chi"})
    expect(agency, {"ava", "chi"})

    # when ava withdraws for every partner
    record(staff, "ava", granted=False, recipient=None)
    # then neither partner sees ava, staff still does
    expect(courier, {"binh", "chi"})
    expect(agency, {"chi"})
    expect(staff, {"ava", "binh", "chi", "dara"})

    # when ava grants the agency alone, and binh grants every partner
    record(staff, "ava", granted=True, recipient=AGENCY)
    record(staff, "binh", granted=True, recipient=None)
    # then the latest record for the partner or for all partners decides
    expect(courier, {"binh", "chi"})
    expect(agency, {"ava", "binh", "chi"})

    # when binh withdraws for the courier alone
    record(staff, "binh", granted=False, recipient=COURIER)
    # then only the courier loses binh
    expect(courier, {"chi"})
    expect(agency, {"ava", "binh", "chi"})


def test_the_partner_rule_adds_to_the_purposes_own_rules(callers) -> None:
    # given order_fulfillment: only customers with a PAID or SHIPPED order (ava, binh)
    staff = callers(STAFF, "order_fulfillment")
    courier = callers(COURIER, "order_fulfillment")
    agency = callers(AGENCY, "order_fulfillment")
    # then the partner rule holds on top of it
    expect(staff, {"ava", "binh"})
    expect(courier, {"ava", "binh"})
    expect(agency, {"ava"})


def test_a_legal_order_is_not_bound_by_consent(callers) -> None:
    # given the legal request naming ava and dara, used by a partner (not its creator)
    assert OFFICER != "agent-1"
    agency = callers(AGENCY, "legal_order")
    # then the law decides, not the consent: dara never consented to any partner
    expect(agency, {"ava", "dara"})


def test_nested_paths_and_totals_obey_the_rule(callers, data: Seeded) -> None:
    # given the agency, which binh did not consent to
    agency = callers(AGENCY)
    # when it reads binh's order, and the customers page with nested orders
    body = agency.ask(ORDER, id=data["binh_shipped"])
    page = agency.ask(
        "{ customers(first: 1) { totalCount pageInfo { hasNextPage } edges { node { id } } } }"
    )
    # then the order does not exist for it, and the total counts only ava and chi
    assert body["data"] == {"order": None, "node": None}
    assert page["data"]["customers"]["totalCount"] == 2
    assert page["data"]["customers"]["pageInfo"]["hasNextPage"] is True
