"""Out-of-range numbers in cursors, global ids and arguments: BAD_USER_INPUT for arguments and
cursors, null for lookups, never a 500 (SPEC section 7). Ids are out of range beyond the id
columns' INTEGER (2^31 - 1 on PostgreSQL), and strings that hold a NUL or a lone surrogate
are BAD_USER_INPUT (SPEC section 7, v5): on both executors and both databases."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from store.ids import to_global_id
from tests.support.auth import TokenFactory
from tests.support.callers import SUPPORT
from tests.support.operations import Gql
from tests.support.world import seed

READER = f"{SUPPORT} audit:read"
WRITER = f"{SUPPORT} customers:write addresses:write orders:write"
LOOKUPS = """
query Lookups($c: ID!, $o: ID!, $n: ID!) {
  customer(id: $c) { id } order(id: $o) { id } node(id: $n) { id }
}
"""
FILTERS = """
query Filters($c: ID!) {
  orders(filter: {customerId: $c}) { totalCount }
  auditLog(customerId: $c) { totalCount }
}
"""
PAGES = {
    "customers": "query P($a: String) { customers(after: $a) { totalCount } }",
    "orders": "query P($a: String) { orders(after: $a) { totalCount } }",
    "auditLog": "query P($a: String) { auditLog(after: $a) { totalCount } }",
    "Customer.orders": """
      query P($id: ID!, $a: String) { customer(id: $id) { orders(after: $a) { totalCount } } }
    """,
}
MUTATIONS = {
    "updateCustomer": (
        'mutation M($id: ID!) { updateCustomer(id: $id, input: {firstName: "A"}) { id } }',
        "id",
    ),
    "updateAddress": (
        'mutation M($id: ID!) { updateAddress(id: $id, input: {city: "Hue"}) { id } }',
        "id",
    ),
    "updateOrderStatus": (
        "mutation M($id: ID!) { updateOrderStatus(id: $id, status: PAID) { id } }",
        "id",
    ),
}
PLACE = """
mutation Place($customerId: ID!, $address: ID!) {
  placeOrder(customerId: $customerId, input: {
    currency: "IRR", shippingAddressId: $address,
    items: [{sku: "PV-550", name: "Panel", quantity: 1, unitPrice: "100"}]
  }) { id }
}
"""

huge = st.one_of(
    st.integers(min_value=2**31, max_value=2**63 - 1),
    st.integers(min_value=2**63, max_value=2**300),
    st.sampled_from([2**31, 2**32, 2**63 - 1, 2**63, 2**64 + 1]),
)
"""Numbers beyond the id columns: PostgreSQL's INTEGER ends at 2^31 - 1."""


@pytest.fixture(params=["compiled", "strawberry"])
def executor(request: pytest.FixtureRequest) -> str:
    """Both executors: what the compiler declines, Strawberry answers, and alike."""
    return str(request.param)


def gid(type_name: str, number: int) -> str:
    """A well-formed global id, whatever the number."""
    return base64.b64encode(f"{type_name}:{number}".encode()).decode()


def cursor(offset: int) -> str:
    return base64.b64encode(f"o:{offset}".encode()).decode()


def no_server_error(body: Any) -> None:
    for error in body.get("errors", []):
        assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", error


def bad_input(body: Any, field: str) -> None:
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, error


PROPERTY = settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_lookups_of_huge_ids_are_null(gql: Gql, session: Session) -> None:
    seed(session)

    @PROPERTY
    @given(huge, st.sampled_from(["Customer", "Order", "Address", "AccessRecord"]))
    def run(number: int, node_type: str) -> None:
        variables = {"c": gid("Customer", number), "o": gid("Order", number)}
        variables["n"] = gid(node_type, number)
        body = gql(LOOKUPS, variables, scope=READER, purpose="customer_support")
        assert body == {"data": {"customer": None, "order": None, "node": None}}

    run()


def test_filters_on_huge_ids_match_nothing(gql: Gql, session: Session) -> None:
    seed(session)

    @PROPERTY
    @given(huge)
    def run(number: int) -> None:
        body = gql(
            FILTERS, {"c": gid("Customer", number)}, scope=READER, purpose="customer_support"
        )
        assert body == {"data": {"orders": {"totalCount": 0}, "auditLog": {"totalCount": 0}}}

    run()


def test_cursors_past_any_row_are_bad_input(gql: Gql, session: Session) -> None:
    maryam, _ = seed(session)

    @PROPERTY
    @given(st.integers(min_value=2**31, max_value=2**300), st.sampled_from(sorted(PAGES)))
    def run(offset: int, page: str) -> None:
        variables = {"a": cursor(offset), "id": maryam.id}
        body = gql(PAGES[page], variables, scope=READER, purpose="customer_support")
        no_server_error(body)
        bad_input(body, "after")

    run()


def test_the_last_cursor_in_range_is_an_empty_page(gql: Gql, session: Session) -> None:
    seed(session)
    body = gql(
        "query P($a: String) { customers(after: $a) { edges { cursor } } }",
        {"a": cursor(2**31 - 1)},
        scope=READER,
        purpose="customer_support",
    )
    assert body == {"data": {"customers": {"edges": []}}}


def test_mutation_arguments_with_huge_ids_are_bad_input(gql: Gql, session: Session) -> None:
    maryam, _ = seed(session)

    @PROPERTY
    @given(huge, st.sampled_from(sorted(MUTATIONS)))
    def run(number: int, mutation: str) -> None:
        query, field = MUTATIONS[mutation]
        type_name = {"updateAddress": "Address", "updateOrderStatus": "Order"}.get(
            mutation, "Customer"
        )
        body = gql(query, {"id": gid(type_name, number)}, scope=WRITER, purpose="customer_support")
        no_server_error(body)
        bad_input(body, field)
        place = gql(
            PLACE,
            {"customerId": maryam.id, "address": gid("Address", number)},
            scope=WRITER,
            purpose="customer_support",
        )
        bad_input(place, "input.shippingAddressId")

    run()


def test_first_beyond_a_graphql_int_is_bad_input(gql: Gql) -> None:
    body = gql(
        "query P($f: Int) { customers(first: $f) { totalCount } }",
        {"f": 2**63},
        scope=READER,
        purpose="customer_support",
    )
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}


def test_the_last_id_in_range_is_looked_up(gql: Gql, session: Session) -> None:
    seed(session)
    variables = {"c": gid("Customer", 2**31 - 1), "o": gid("Order", 2**31 - 1)}
    variables["n"] = gid("Customer", 2**31 - 1)
    body = gql(LOOKUPS, variables, scope=READER, purpose="customer_support")
    assert body == {"data": {"customer": None, "order": None, "node": None}}


UNSTORABLE = ["\x00", "\ud800", "\udfff"]
"""What no string argument may hold: PostgreSQL's text refuses NUL; UTF-8 has no lone
surrogate."""
STRING_ARGUMENTS = {
    "email": "query Q($v: String) { customers(filter: {email: $v}) { totalCount } }",
    "lastName": "query Q($v: String) { customers(filter: {lastName: $v}) { totalCount } }",
    "country": "query Q($v: String) { customers(filter: {country: $v}) { totalCount } }",
    "paymentReference": (
        "query Q($v: String) { orders(filter: {paymentReference: $v}) { totalCount } }"
    ),
    "customerId": "query Q($v: ID) { orders(filter: {customerId: $v}) { totalCount } }",
    "clientId": "query Q($v: String) { auditLog(clientId: $v) { totalCount } }",
    "customer": "query Q($v: ID!) { customer(id: $v) { id } }",
    "after": "query Q($v: String) { customers(after: $v) { totalCount } }",
}
text = st.text(st.characters(codec="utf-8"), max_size=8)
unstorable = st.builds(
    lambda before, bad, after: before + bad + after, text, st.sampled_from(UNSTORABLE), text
)


def post_raw(client: TestClient, token: TokenFactory, payload: dict[str, Any]) -> Any:
    """Post JSON written by the standard library: it escapes lone surrogates (``\\ud800``),
    which httpx's encoder cannot send."""
    headers = {
        "Authorization": f"Bearer {token(READER)}",
        "X-Purpose": "customer_support",
        "Content-Type": "application/json",
    }
    return client.post("/graphql", content=json.dumps(payload), headers=headers)


def test_unstorable_strings_in_any_argument_are_bad_input(
    client: TestClient, token: TokenFactory, session: Session
) -> None:
    seed(session)

    @PROPERTY
    @given(unstorable, st.sampled_from(sorted(STRING_ARGUMENTS)), st.booleans())
    def run(value: str, argument: str, literal: bool) -> None:
        query = STRING_ARGUMENTS[argument]
        if literal:  # the value written into the document, as a GraphQL string
            selection = query.split(")", 1)[1].replace("$v", json.dumps(value))
            payload: dict[str, Any] = {"query": "query Q" + selection}
        else:
            payload = {"query": query, "variables": {"v": value}}
        response = post_raw(client, token, payload)
        body = response.json()
        no_server_error(body)
        (error,) = body["errors"]
        if "\x00" in value:
            assert response.status_code == 400, body
            assert error["extensions"] == {"code": "BAD_USER_INPUT"}, error
        else:  # a lone surrogate: the JSON body, or the GraphQL literal, is refused first
            code = "GRAPHQL_PARSE_FAILED" if literal else "BAD_REQUEST"
            assert error["extensions"] == {"code": code}, error
            assert response.status_code == (200 if literal else 400)

    run()


def test_unstorable_strings_in_mutations_are_bad_input(gql: Gql, session: Session) -> None:
    maryam, _ = seed(session)
    body = gql(
        "mutation M($id: ID!, $v: String) { updateCustomer(id: $id, input: {firstName: $v}) "
        "{ id } }",
        {"id": maryam.id, "v": "Mar\x00yam"},
        scope=WRITER,
        purpose="customer_support",
        status=400,
    )
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}


def test_in_range_global_ids_still_work(gql: Gql, session: Session) -> None:
    maryam, _ = seed(session)
    body = gql(
        "query C($c: ID!) { customer(id: $c) { id } }",
        {"c": to_global_id("Customer", maryam.pk)},
        scope=READER,
        purpose="customer_support",
    )
    assert body == {"data": {"customer": {"id": maryam.id}}}
