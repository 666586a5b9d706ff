"""Root queries over HTTP: pagination, batching, lookups, filters and orders."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.demo import load_demo_data
from store import models
from store.ids import to_global_id
from tests.support.callers import SUPPORT

NESTED_PAGE = """
query Page($first: Int!) {
  customers(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id firstName email mobilePhone
      addresses { id label city postalCode }
      orders(first: 5) { totalCount edges { node {
        id number status totalAmount currency paymentReference
        items { sku name quantity unitPrice }
        shippingAddress { id city }
      } } }
      consents { purpose status recordedAt }
    } }
  }
}
"""

PAGE = """
query Page($first: Int, $after: String) {
  customers(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id } }
  }
}
"""


@contextmanager
def counting(app: Any) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    engine = app.state.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def demo(session: Session) -> Session:
    with session.begin():
        load_demo_data(session, customers=60, seed=7)
    return session


def test_nested_page_statements_do_not_grow_with_page_size(app, gql, demo) -> None:
    # given 60 demo customers with addresses, orders, items and consents, and the query run once
    # (a compiled statement's first run takes a savepoint of its own)
    gql(NESTED_PAGE, {"first": 1}, scope=SUPPORT, purpose="customer_support")
    counts = {}
    for first in (5, 50):
        # when the nested page query asks for 5, then 50 customers
        with counting(app) as statements:
            body = gql(NESTED_PAGE, {"first": first}, scope=SUPPORT, purpose="customer_support")
        assert "errors" not in body
        assert len(body["data"]["customers"]["edges"]) == first
        counts[first] = len(statements)
    # then both issue the same number of SQL statements
    assert counts[5] == counts[50], counts


def test_nested_page_returns_the_stored_data(gql, demo) -> None:
    # given the demo data / when the first page is read under customer_support
    body = gql(NESTED_PAGE, {"first": 10}, scope=SUPPORT, purpose="customer_support")
    # then every customer, address, order and item matches the database
    for edge in body["data"]["customers"]["edges"]:
        node = edge["node"]
        pk = int(_pk(node["id"]))
        customer = demo.get(models.Customer, pk)
        assert customer is not None
        assert (node["firstName"], node["email"], node["mobilePhone"]) == (
            customer.first_name,
            customer.email,
            customer.mobile_phone,
        )
        stored = demo.scalars(select(models.Address).where(col(models.Address.customer_id) == pk))
        assert sorted(a["city"] for a in node["addresses"]) == sorted(a.city for a in stored)
        total = demo.scalar(
            select(func.count())
            .where(col(models.Order.customer_id) == pk)
            .select_from(models.Order)
        )
        assert node["orders"]["totalCount"] == total
        for order_edge in node["orders"]["edges"]:
            order = order_edge["node"]
            items = order["items"]
            assert int(order["totalAmount"]) == sum(
                i["quantity"] * int(i["unitPrice"]) for i in items
            )


def _pk(global_id: str) -> str:
    import base64

    return base64.b64decode(global_id).decode().split(":")[1]


def test_pages_walk_every_customer_once(gql, demo) -> None:
    # given 60 customers / when paging 25 at a time with the end cursor
    seen: list[str] = []
    after = None
    while True:
        page = gql(PAGE, {"first": 25, "after": after}, scope=SUPPORT, purpose="customer_support")
        connection = page["data"]["customers"]
        seen.extend(edge["node"]["id"] for edge in connection["edges"])
        assert connection["totalCount"] == 60
        assert connection["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    # then every customer came exactly once
    assert len(seen) == len(set(seen)) == 60


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"first": 101}, "PAGE_SIZE_EXCEEDED"),
        ({"first": -1}, "PAGE_SIZE_EXCEEDED"),
        ({"first": 5, "after": "not-a-cursor"}, "BAD_USER_INPUT"),
    ],
)
def test_bad_pages_are_refused(gql, demo, variables, code) -> None:
    body = gql(PAGE, variables, scope=SUPPORT, purpose="customer_support")
    assert body["data"]["customers"] is None
    assert body["errors"][0]["extensions"]["code"] == code


LOOKUPS = """
query Lookups($customer: ID!, $order: ID!) {
  customer(id: $customer) { id lastName }
  order(id: $order) { id number customer { id } }
  asNode: node(id: $customer) { id ... on Customer { lastName } }
  orderNode: node(id: $order) { id ... on Order { number } }
}
"""


def test_lookups_by_global_id(gql, demo) -> None:
    # given an order and its customer
    order = demo.scalars(select(models.Order).order_by(col(models.Order.id))).first()
    assert order is not None
    customer = demo.get(models.Customer, order.customer_id)
    assert customer is not None
    variables = {
        "customer": to_global_id("Customer", customer.id),
        "order": to_global_id("Order", order.id),
    }
    # when looked up by id, directly and through node
    data = gql(LOOKUPS, variables, scope=SUPPORT, purpose="customer_support")["data"]
    # then each path gives the same rows
    assert data["customer"] == {"id": variables["customer"], "lastName": customer.last_name}
    assert data["asNode"] == data["customer"]
    assert data["order"]["number"] == data["orderNode"]["number"] == order.number
    assert data["order"]["customer"]["id"] == variables["customer"]


@pytest.mark.parametrize(
    "bad_id", ["nope", to_global_id("Order", 1), to_global_id("Customer", 99999)]
)
def test_lookup_of_what_does_not_exist_is_null(gql, demo, bad_id) -> None:
    query = "query($id: ID!) { customer(id: $id) { id } node(id: $id) { id } }"
    body = gql(query, {"id": bad_id}, scope=SUPPORT, purpose="customer_support")
    assert body["data"]["customer"] is None
    if bad_id.startswith("Q3"):
        assert body["data"]["node"] is None


FILTERED = """
query Filtered($filter: CustomerFilter, $orderBy: CustomerOrder) {
  customers(first: 100, filter: $filter, orderBy: $orderBy) {
    totalCount edges { node { id lastName country createdAt } }
  }
}
"""


def test_filters_and_orders_match_the_database(gql, demo) -> None:
    # given customers in IR and VN / when filtered by country and sorted by last name
    body = gql(
        FILTERED,
        {"filter": {"country": "VN"}, "orderBy": {"field": "LAST_NAME", "direction": "DESC"}},
        scope=SUPPORT,
        purpose="customer_support",
    )
    nodes = [edge["node"] for edge in body["data"]["customers"]["edges"]]
    expected = demo.scalar(
        select(func.count())
        .select_from(models.Customer)
        .where(col(models.Customer.country) == "VN")
    )
    # then only VN customers come, in descending last-name order
    assert body["data"]["customers"]["totalCount"] == expected == len(nodes)
    assert {node["country"] for node in nodes} == {"VN"}
    names = [node["lastName"] for node in nodes]
    assert names == sorted(names, reverse=True)


ORDERS = """
query Orders($filter: OrderFilter, $orderBy: OrderOrder) {
  orders(first: 100, filter: $filter, orderBy: $orderBy) {
    totalCount edges { node { status totalAmount placedAt } }
  }
}
"""


def test_order_filters_and_sorting(gql, demo) -> None:
    body = gql(
        ORDERS,
        {"filter": {"status": "SHIPPED"}, "orderBy": {"field": "TOTAL_AMOUNT", "direction": "ASC"}},
        scope=SUPPORT,
        purpose="customer_support",
    )
    nodes = [edge["node"] for edge in body["data"]["orders"]["edges"]]
    expected = demo.scalar(
        select(func.count())
        .select_from(models.Order)
        .where(col(models.Order.status) == models.OrderStatus.SHIPPED)
    )
    assert body["data"]["orders"]["totalCount"] == expected
    assert nodes
    assert {node["status"] for node in nodes} == {"SHIPPED"}
    amounts = [int(node["totalAmount"]) for node in nodes]
    assert amounts == sorted(amounts)


@pytest.mark.parametrize("executor", ["compiled"], indirect=True)
def test_a_compiled_read_finds_its_caller_with_the_token_standing(app, client, token, demo) -> None:
    # given a token with a `me` scope (its caller may own a customer) reading under a purpose
    query = {"query": "{ customers(first: 2) { edges { node { id firstName } } } }"}
    headers = {
        "Authorization": f"Bearer {token(f'me:read {SUPPORT}')}",
        "X-Purpose": "customer_support",
    }
    first = client.post("/graphql", json=query, headers=headers)  # the statements compiled once
    assert first.status_code == 200, first.text
    # when the page is read on the compiled path
    with counting(app) as statements:
        body = client.post("/graphql", json=query, headers=headers).json()
    assert len(body["data"]["customers"]["edges"]) == 2
    # then the caller's customer came with the token's standing (read on the event loop's own
    # connection on SQLite, kept on PostgreSQL), not in a round trip of its own
    assert not [s for s in statements if "revoked_token" in s]
    assert not [s for s in statements if s.lstrip().startswith("SELECT customer.id")]
