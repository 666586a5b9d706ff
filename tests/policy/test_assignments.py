"""Order assignments (SPEC section 13): a partner with assigned access sees only its job.

The seeded world (`tests.support.policy_model.seed`) gains `DISPATCH`, a partner with assigned
access: ava and chi share their data with every partner, binh with the courier only. The
orders assigned to it: ava's PAID order (shipped to ava's home), binh's SHIPPED order (binh
does not share with it), chi's order installed two days ago (still within
PARTNER_ASSIGNMENT_DAYS) and chi's order cancelled ten days ago (no longer). On every path —
lists and ``totalCount``, lookups, ``node``, nested objects, filters, mutations — it sees
exactly the orders of its active assignments whose customers consented, those customers,
and of addresses only those orders' shipping addresses. Both executors, both databases.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli
from auth import partners
from auth.policy import scopes as s
from store import models
from store.ids import to_global_id
from store.models import PartnerAccess, utcnow
from tests.support.auth import TokenFactory
from tests.support.callers import CUSTOMER
from tests.support.operations import post
from tests.support.policy_model import READ_SCOPES, Seeded

DISPATCH = "dispatch-9"
"""A partner with assigned access."""
STAFF = "staff-client"
READ = " ".join(
    [*READ_SCOPES, s.CUSTOMERS_WRITE, s.ADDRESSES_WRITE]
    + [f"purpose:{p}" for p in ("customer_support", "order_fulfillment", "marketing")]
)
WRITE = " ".join(
    [*READ_SCOPES, s.ORDERS_WRITE, s.CONSENTS_WRITE]
    + [f"purpose:{p}" for p in ("customer_support", "order_fulfillment")]
)
PEOPLE = ("ava", "binh", "chi", "dara")
ORDERS = ("ava_paid", "ava_pending", "binh_shipped", "chi_cancelled", "chi_installed")
ADDRESSES = ("ava_home", "ava_site", "binh_home")

PAGES = """
query Pages {
  customers(first: 50) { totalCount edges { node { id addresses { id } } } }
  orders(first: 50) {
    totalCount
    edges { node { id shippingAddress { id } customer { id addresses { id } } } }
  }
}
"""
CUSTOMER_LOOKUP = """
query Customer($id: ID!) {
  customer(id: $id) { id orders(first: 10) { totalCount edges { node { id } } } }
  node(id: $id) { id }
}
"""
ORDER_LOOKUP = """
query Order($id: ID!) { order(id: $id) { id customer { id } } node(id: $id) { id } }
"""
NODE = "query Node($id: ID!) { node(id: $id) { id } }"
FILTERED = """
query Filtered($customerId: ID!) {
  byCountry: customers(first: 50, filter: {country: "IR"}) { totalCount edges { node { id } } }
  byCustomer: orders(first: 50, filter: {customerId: $customerId}) { totalCount }
}
"""
UPDATE = """
mutation Update($id: ID!) { updateCustomer(id: $id, input: {preferredLanguage: "en"}) { id } }
"""
ASSIGN = """
mutation Assign($order: ID!, $partner: String!, $until: DateTime) {
  assignOrder(orderId: $order, partner: $partner, until: $until) { id number }
}
"""
UNASSIGN = """
mutation Unassign($order: ID!, $partner: String!) {
  unassignOrder(orderId: $order, partner: $partner) { id }
}
"""
RECORD = """
mutation Record($id: ID!, $for: Purpose!, $until: DateTime) {
  recordConsent(customerId: $id, purpose: $for, granted: true, source: PAPER,
                validUntil: $until) { id status validUntil }
}
"""


def _ago(days: float) -> dt.datetime:
    return utcnow() - dt.timedelta(days=days)


@pytest.fixture
def world(session: Session, data: Seeded) -> Seeded:
    """The seeded world, with `DISPATCH` and its assignments."""
    with session.begin():
        partners.add(session, DISPATCH, "Dispatch Nine", access=PartnerAccess.ASSIGNED)
        for name in ("ava_paid", "binh_shipped", "chi_installed", "chi_cancelled"):
            session.add(
                models.OrderAssignment(order_id=data.pk(name), partner=DISPATCH, created_by="t")
            )
        for name, days in (("chi_installed", 2), ("chi_cancelled", 10)):
            session.execute(
                update(models.Order)
                .where(col(models.Order.id) == data.pk(name))
                .values(left_fulfillment_at=_ago(days))
            )
    return data


class Caller:
    """One client asking over HTTP under one purpose."""

    def __init__(
        self, client: TestClient, token: TokenFactory, data: Seeded, client_id: str, purpose: str
    ) -> None:
        self.client = client
        self.data = data
        self.bearer = token(READ, sub="agent-1", client_id=client_id)
        self.purpose = purpose

    def ask(self, query: str, **variables: Any) -> Any:
        return post(self.client, self.bearer, query, variables, purpose=self.purpose)

    def names(self, ids: Any) -> set[str]:
        by_id = {self.data[name]: name for name in (*PEOPLE, *ORDERS, *ADDRESSES)}
        return {by_id[each] for each in ids}

    def seen(self) -> dict[str, set[str]]:
        """What exists for the caller, path by path."""
        pages = self.ask(PAGES)["data"]
        customers, orders = pages["customers"], pages["orders"]
        assert customers["totalCount"] == len(customers["edges"])
        assert orders["totalCount"] == len(orders["edges"])
        nodes = [edge["node"] for edge in orders["edges"]]
        paths = {
            "customers": self.names(e["node"]["id"] for e in customers["edges"]),
            "customers.addresses": self.names(
                a["id"] for e in customers["edges"] for a in e["node"]["addresses"]
            ),
            "orders": self.names(node["id"] for node in nodes),
            "orders.shippingAddress": self.names(
                node["shippingAddress"]["id"] for node in nodes if node["shippingAddress"]
            ),
            "orders.customer": self.names(node["customer"]["id"] for node in nodes),
            "orders.customer.addresses": self.names(
                a["id"] for node in nodes for a in node["customer"]["addresses"]
            ),
        }
        for key in ("customer", "node", "customer.orders", "order", "order.node", "address"):
            paths[key] = set()
        paths["updateCustomer"] = set()
        for person in PEOPLE:
            found = self.ask(CUSTOMER_LOOKUP, id=self.data[person])["data"]
            if found["customer"] is not None:
                paths["customer"].add(person)
                orders_of = found["customer"]["orders"]
                assert orders_of["totalCount"] == len(orders_of["edges"])
                paths["customer.orders"] |= self.names(e["node"]["id"] for e in orders_of["edges"])
            if found["node"] is not None:
                paths["node"].add(person)
            body = self.ask(UPDATE, id=self.data[person])
            if body["data"]["updateCustomer"] is not None:
                paths["updateCustomer"].add(person)
            else:
                assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        for order in ORDERS:
            found = self.ask(ORDER_LOOKUP, id=self.data[order])["data"]
            if found["order"] is not None:
                paths["order"].add(order)
            if found["node"] is not None:
                paths["order.node"].add(order)
        for address in ADDRESSES:
            if self.ask(NODE, id=self.data[address])["data"]["node"] is not None:
                paths["address"].add(address)
        return paths


def expect(
    caller: Caller,
    people: set[str],
    orders: set[str],
    addresses: set[str],
    shipped: set[str] | None = None,
) -> None:
    """Every path shows exactly these customers, orders and addresses (``shipped``: those
    that are the orders' shipping addresses, when not all of them)."""
    erased = {"dara"}
    wanted = {
        "customers": people,
        "customer": people,
        "node": people,
        "updateCustomer": people - erased,
        "orders": orders,
        "order": orders,
        "order.node": orders,
        "customer.orders": orders,
        "orders.customer": {order.split("_")[0] for order in orders},
        "customers.addresses": addresses,
        "orders.customer.addresses": addresses,
        "orders.shippingAddress": addresses if shipped is None else shipped,
        "address": addresses,
    }
    seen = caller.seen()
    for path, expected in wanted.items():
        assert seen[path] == expected, f"{path}: saw {sorted(seen[path])}, expected {expected}"


@pytest.fixture
def callers(client: TestClient, token: TokenFactory, world: Seeded) -> Any:
    def make(client_id: str, purpose: str = "customer_support") -> Caller:
        return Caller(client, token, world, client_id, purpose)

    return make


@pytest.fixture
def staff(client: TestClient, token: TokenFactory) -> Any:
    bearer = token(WRITE, sub="dispatcher-1", client_id=STAFF)

    def ask(query: str, purpose: str = "customer_support", **variables: Any) -> Any:
        return post(client, bearer, query, variables, purpose=purpose)

    return ask


def _assignments(session: Session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(models.OrderAssignment)) or 0


def test_an_assigned_partner_sees_its_active_assignments_on_every_path(callers) -> None:
    # then under customer_support: ava's PAID order and chi's order installed two days ago;
    # not binh's (binh does not share with it), nor chi's cancelled ten days ago; of
    # addresses, only the PAID order's shipping address (ava's home, not her site)
    dispatch = callers(DISPATCH)
    expect(dispatch, {"ava", "chi"}, {"ava_paid", "chi_installed"}, {"ava_home"})
    # and under order_fulfillment, only what is in fulfillment as well
    fulfilling = callers(DISPATCH, "order_fulfillment")
    expect(fulfilling, {"ava"}, {"ava_paid"}, {"ava_home"})


def test_filters_count_only_assigned_rows(callers, world: Seeded) -> None:
    dispatch = callers(DISPATCH)
    body = dispatch.ask(FILTERED, customerId=world["ava"])["data"]
    assert dispatch.names(e["node"]["id"] for e in body["byCountry"]["edges"]) == {"ava"}
    assert body["byCountry"]["totalCount"] == 1
    assert body["byCustomer"]["totalCount"] == 1
    hidden = dispatch.ask(FILTERED, customerId=world["binh"])["data"]
    assert hidden["byCustomer"]["totalCount"] == 0


def test_consented_access_keeps_the_v4_rule(callers, session: Session) -> None:
    # given the same partner registered with consented access
    with session.begin():
        partners.add(session, DISPATCH, "Dispatch Nine", access=PartnerAccess.CONSENTED)
    dispatch = callers(DISPATCH)
    # then it sees every customer who shares with it, with all their orders and addresses
    expect(
        dispatch,
        {"ava", "chi"},
        {"ava_paid", "ava_pending", "chi_cancelled", "chi_installed"},
        {"ava_home", "ava_site"},
        {"ava_home"},
    )


def test_assignments_end_when_unassigned_or_at_until(callers, staff, world: Seeded) -> None:
    dispatch = callers(DISPATCH)
    # when staff unassign ava's order
    body = staff(UNASSIGN, order=world["ava_paid"], partner=DISPATCH)
    assert body["data"]["unassignOrder"] == {"id": world["ava_paid"]}
    # then the partner no longer sees ava, her order or her address
    expect(dispatch, {"chi"}, {"chi_installed"}, set())
    # when they assign it again until tomorrow
    tomorrow = (utcnow() + dt.timedelta(days=1)).isoformat()
    body = staff(ASSIGN, order=world["ava_paid"], partner=DISPATCH, until=tomorrow)
    assert "errors" not in body, body
    # then it is back
    expect(dispatch, {"ava", "chi"}, {"ava_paid", "chi_installed"}, {"ava_home"})


def test_an_assignment_past_its_until_has_ended(callers, session: Session, world: Seeded) -> None:
    with session.begin():
        session.execute(
            update(models.OrderAssignment)
            .where(col(models.OrderAssignment.order_id) == world.pk("ava_paid"))
            .values(until=_ago(0.01))
        )
    expect(callers(DISPATCH), {"chi"}, {"chi_installed"}, set())


def test_an_order_that_left_fulfillment_ends_its_assignments_days_later(
    callers, staff, session: Session, world: Seeded
) -> None:
    dispatch = callers(DISPATCH)
    # when ava's order is shipped and installed
    for status in ("SHIPPED", "INSTALLED"):
        body = staff(
            "mutation S($id: ID!, $s: OrderStatus!) { updateOrderStatus(id: $id, status: $s) "
            "{ status } }",
            id=world["ava_paid"],
            s=status,
        )
        assert body["data"]["updateOrderStatus"] == {"status": status}, body
    # then the assignment holds PARTNER_ASSIGNMENT_DAYS more
    expect(dispatch, {"ava", "chi"}, {"ava_paid", "chi_installed"}, {"ava_home"})
    # and ends once they have passed
    with session.begin():
        session.execute(
            update(models.Order)
            .where(col(models.Order.id) == world.pk("ava_paid"))
            .values(left_fulfillment_at=_ago(7.01))
        )
    expect(dispatch, {"chi"}, {"chi_installed"}, set())


@pytest.mark.parametrize(
    ("order", "partner", "until", "code", "field"),
    [
        ("ava_pending", "nobody-1", None, "BAD_USER_INPUT", "partner"),
        ("ava_pending", "gone-1", None, "BAD_USER_INPUT", "partner"),
        ("ava_pending", "late-1", None, "BAD_USER_INPUT", "partner"),
        ("ava_pending", DISPATCH, "2020-01-01T00:00:00Z", "BAD_USER_INPUT", "until"),
        ("ava_pending", DISPATCH, "2999-01-01T00:00:00", "BAD_USER_INPUT", "until"),
        ("missing", DISPATCH, None, "NOT_FOUND", None),
        ("hidden", DISPATCH, None, "NOT_FOUND", None),
    ],
)
def test_bad_assignments_are_refused_and_change_nothing(
    staff,
    session: Session,
    world: Seeded,
    order: str,
    partner: str,
    until: str | None,
    code: str,
    field: str | None,
) -> None:
    # given a removed partner and one past its until
    with session.begin():
        partners.add(session, "gone-1", "Gone")
        partners.remove(session, "gone-1")
        partners.add(session, "late-1", "Late", until=utcnow() + dt.timedelta(seconds=30))
        session.execute(
            update(models.Partner)
            .where(col(models.Partner.client_id) == "late-1")
            .values(until=_ago(0.01))
        )
    before = _assignments(session)
    purpose = "customer_support"
    if order == "missing":
        global_id = to_global_id("Order", 9999)
    elif order == "hidden":
        # ava's PENDING order does not exist under order_fulfillment
        global_id, purpose = world["ava_pending"], "order_fulfillment"
    else:
        global_id = world[order]
    body = staff(ASSIGN, purpose=purpose, order=global_id, partner=partner, until=until)
    [error] = body["errors"]
    assert body["data"]["assignOrder"] is None
    assert error["extensions"]["code"] == code, error
    if field is not None:
        assert error["extensions"]["field"] == field
    assert _assignments(session) == before


def test_unassigning_what_is_not_assigned_is_bad_input(staff, world: Seeded) -> None:
    body = staff(UNASSIGN, order=world["ava_pending"], partner=DISPATCH)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_a_partner_cannot_assign_itself_orders(client, token, world: Seeded) -> None:
    bearer = token(WRITE, sub=DISPATCH, client_id=DISPATCH)
    body = post(
        client,
        bearer,
        ASSIGN,
        {"order": world["ava_pending"], "partner": DISPATCH},
        purpose="customer_support",
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_an_expired_partners_tokens_are_refused(
    client: TestClient, token: TokenFactory, session: Session, world: Seeded
) -> None:
    bearer = token(READ, sub=DISPATCH, client_id=DISPATCH)
    post(client, bearer, PAGES, purpose="customer_support")
    with session.begin():
        session.execute(
            update(models.Partner)
            .where(col(models.Partner.client_id) == DISPATCH)
            .values(until=_ago(0.001))
        )
    refused = post(client, bearer, PAGES, purpose="customer_support", status=401)
    assert refused["errors"][0]["extensions"]["code"] == "INVALID_TOKEN"
    assert "partner" in refused["errors"][0]["message"]


def test_an_expired_consent_counts_as_withdrawn(
    callers, staff, session: Session, world: Seeded
) -> None:
    # given binh's marketing consent recorded again, valid until tomorrow
    tomorrow = (utcnow() + dt.timedelta(days=1)).isoformat()
    body = staff(RECORD, id=world["binh"], until=tomorrow, **{"for": "MARKETING"})
    assert body["data"]["recordConsent"]["validUntil"] is not None, body
    marketing = callers(STAFF, "marketing")
    assert marketing.seen()["customers"] == {"ava", "binh"}
    # when the time passes
    with session.begin():
        session.execute(
            update(models.Consent)
            .where(col(models.Consent.customer_id) == world.pk("binh"))
            .where(col(models.Consent.valid_until).is_not(None))
            .values(valid_until=_ago(0.001))
        )
    # then binh is gone as after a withdrawal; so for partners, whose sharing consent expires
    assert marketing.seen()["customers"] == {"ava"}
    with session.begin():
        session.add(
            models.Consent(
                customer_id=world.pk("ava"),
                purpose="third_party_sharing",
                status="GRANTED",
                source="PAPER",
                valid_until=_ago(0.001),
            )
        )
    assert callers(DISPATCH).seen()["customers"] == {"chi"}


@pytest.mark.parametrize(
    ("granted", "until"),
    [(True, "2020-01-01T00:00:00Z"), (False, "2999-01-01T00:00:00Z")],
)
def test_a_consents_valid_until_must_be_a_future_grant(
    staff, session: Session, world: Seeded, granted: bool, until: str
) -> None:
    session.rollback()
    before = session.scalar(select(func.count()).select_from(models.Consent))
    body = staff(
        "mutation R($id: ID!, $g: Boolean!, $u: DateTime) { recordConsent(customerId: $id, "
        "purpose: MARKETING, granted: $g, source: PAPER, validUntil: $u) { id } }",
        id=world["ava"],
        g=granted,
        u=until,
    )
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "validUntil"}
    session.rollback()
    assert session.scalar(select(func.count()).select_from(models.Consent)) == before


def test_disclosures_name_the_assigned_orders(
    client: TestClient, token: TokenFactory, callers, session: Session, world: Seeded
) -> None:
    # when the partner reads the orders page
    dispatch = callers(DISPATCH)
    dispatch.ask(PAGES)
    # then its access record names the assigned orders it was for
    session.rollback()
    record = session.scalars(
        select(models.AccessRecord).where(col(models.AccessRecord.recipient) == DISPATCH)
    ).one()
    assert record.order_ids == sorted([world.pk("ava_paid"), world.pk("chi_installed")])
    session.rollback()
    # and ava sees her own order's number in her disclosures, not chi's
    with session.begin():
        ava = session.get(models.Customer, world.pk("ava"))
        assert ava is not None
        ava.subject = world["ava"]
        number = session.get(models.Order, world.pk("ava_paid")).number  # type: ignore[union-attr]
    me = token(CUSTOMER, sub=world["ava"])
    body = post(client, me, "{ me { disclosures { recipient { clientId } orders } } }")
    ours = [d for d in body["data"]["me"]["disclosures"] if d["recipient"]["clientId"] == DISPATCH]
    assert ours == [{"recipient": {"clientId": DISPATCH}, "orders": [number]}]


def test_steward_orders_assign_and_partners_options(
    steward: CliRunner, session: Session, world: Seeded
) -> None:
    session.rollback()
    number = session.get(models.Order, world.pk("ava_pending")).number  # type: ignore[union-attr]
    # when a partner is registered with consented access and an end, and one gets an order
    added = steward.invoke(
        cli,
        [
            "partners",
            "add",
            "late-2",
            "--name",
            "Late",
            "--access",
            "consented",
            "--until",
            "2999-01-31",
        ],
    )
    assigned = steward.invoke(cli, ["orders", "assign", number, DISPATCH, "--until", "2999-01-01"])
    # then both are stored, and listed
    assert added.exit_code == 0, added.output
    assert assigned.exit_code == 0, assigned.output
    assert f"order {number} assigned to {DISPATCH}" in assigned.stdout
    listed = {
        line.split("\t")[0]: line.split("\t")[4:]
        for line in steward.invoke(cli, ["partners", "list"]).stdout.splitlines()
    }
    assert listed["late-2"] == ["consented", "until 2999-01-31T00:00:00+00:00"]
    assert listed[DISPATCH] == ["assigned", "-"]
    # and bad input is an error that changes nothing
    before = _assignments(session)
    for arguments in (
        ["orders", "assign", "SO-NONE", DISPATCH],
        ["orders", "assign", number, "nobody-1"],
        ["orders", "assign", number, DISPATCH, "--until", "2001-01-01"],
        ["orders", "assign", number, DISPATCH, "--until", "tomorrow"],
        ["partners", "add", "x-1", "--name", "X", "--access", "everyone"],
    ):
        refused = steward.invoke(cli, arguments)
        assert refused.exit_code == 2, (arguments, refused.output)
    assert _assignments(session) == before
    # when it is unassigned
    unassigned = steward.invoke(cli, ["orders", "unassign", number, DISPATCH])
    assert unassigned.exit_code == 0, unassigned.output
    again = steward.invoke(cli, ["orders", "unassign", number, DISPATCH])
    assert again.exit_code == 2
