"""Row rules and request refusals: what exists for a caller under its purpose (SPEC sections 3-4).

Consent-based purposes see only customers whose latest consent is GRANTED; order_fulfillment
only orders in fulfillment and their customers; legal_order only the customers a valid legal
request names. What does not exist is absent from lists and totalCount, null on lookups and
NOT_FOUND to mutations. Purposes, legal references and scopes are refused before or at the
field they concern; filters and orders on fields the caller may not read are refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from auth.policy import scopes as s
from auth.policy.purposes import DECLARABLE, Purpose
from store import models
from store.ids import to_global_id
from tests.support.policy_model import (
    OFFICER,
    READ_SCOPES,
    T0,
    Caller,
    Model,
    Seeded,
    Snapshot,
    form_of,
    hidden_reason,
    rule_of,
)
from tests.support.servers import jti_of

WRITE_SCOPES = (s.CUSTOMERS_WRITE, s.ADDRESSES_WRITE, s.ORDERS_WRITE, s.CONSENTS_WRITE)

EXISTS = """
query Exists($customer: ID!, $order: ID!, $address: ID!) {
  customers(first: 50) { totalCount edges { node { id } } }
  orders(first: 50) { totalCount edges { node { id customer { id } } } }
  customer(id: $customer) { id orders { totalCount edges { node { id } } } }
  node(id: $customer) { id }
  order(id: $order) { id customer { id } }
  orderNode: node(id: $order) { id }
  address: node(id: $address) { id }
}
"""

UPDATE_CUSTOMER = """
mutation Update($id: ID!) { updateCustomer(id: $id, input: {preferredLanguage: "en"}) { id } }
"""
ADD_ADDRESS = """
mutation Add($id: ID!) {
  addAddress(customerId: $id, input: {label: OTHER, line1: "Street 1", city: "Hue"}) { id }
}
"""
UPDATE_ADDRESS = """
mutation UpdateAddress($id: ID!) { updateAddress(id: $id, input: {city: "Da Nang"}) { id } }
"""
REMOVE_ADDRESS = "mutation Remove($id: ID!) { removeAddress(id: $id) }"
PLACE_ORDER = """
mutation Place($id: ID!) {
  placeOrder(customerId: $id, input: {currency: "VND",
    items: [{sku: "PV-1", name: "Panel", quantity: 1, unitPrice: "100"}]}) { id }
}
"""
ORDER_STATUS = """
mutation Status($id: ID!, $status: OrderStatus!) {
  updateOrderStatus(id: $id, status: $status) { id status }
}
"""
RECORD_CONSENT = """
mutation Consent($id: ID!, $purpose: Purpose!, $granted: Boolean!) {
  recordConsent(customerId: $id, purpose: $purpose, granted: $granted, source: CALL_CENTER) {
    id status
  }
}
"""


def token_scope(purpose: Purpose | str | None, *extra: str) -> str:
    """Every read scope, the given extra ones, and the purpose's scope."""
    granted = [*READ_SCOPES, *extra]
    if isinstance(purpose, Purpose):
        granted.append(purpose.scope)
    elif purpose:
        granted.append(f"purpose:{purpose}")
    return " ".join(granted)


def add_customer(
    session: Session,
    name: str,
    *,
    consents: Iterable[tuple[str, str]] = (),
    orders: Iterable[str] = ("PAID",),
    country: str = "VN",
) -> dict[str, Any]:
    """A customer with an address, one order per status and a consent ledger; its global ids."""
    customer = models.Customer(
        country=country,
        preferred_language="vi-VN",
        first_name=name.title(),
        last_name="Test",
        email=f"{name}@example.vn",
        created_at=T0,
        updated_at=T0,
    )
    session.add(customer)
    session.flush()
    assert customer.id is not None
    address = models.Address(
        customer_id=customer.id, label="HOME", line1="1 Lê Lợi", city="Huế", country=country
    )
    session.add(address)
    session.flush()
    ids: dict[str, Any] = {
        "customer": to_global_id("Customer", customer.id),
        "address": to_global_id("Address", address.id),  # type: ignore[arg-type]
        "orders": {},
        "pk": customer.id,
    }
    for day, status in enumerate(orders):
        order = models.Order(
            customer_id=customer.id,
            number=f"SO-{name}-{status}",
            status=status,
            placed_at=T0 + dt.timedelta(days=day),
            total_amount=1000,
            currency="VND",
            shipping_address_id=address.id,
        )
        session.add(order)
        session.flush()
        ids["orders"][status] = to_global_id("Order", order.id)  # type: ignore[arg-type]
    ids["consents"] = []
    for hour, (purpose, status) in enumerate(consents):
        consent = models.Consent(
            customer_id=customer.id,
            purpose=purpose,
            status=status,
            source="WEB",
            recorded_at=T0 + dt.timedelta(hours=hour),
        )
        session.add(consent)
        session.flush()
        ids["consents"].append(to_global_id("Consent", consent.id))  # type: ignore[arg-type]
    return ids


def listed(body: dict[str, Any], root: str) -> set[str]:
    return {edge["node"]["id"] for edge in body["data"][root]["edges"]}


def error_codes(body: dict[str, Any]) -> dict[tuple[Any, ...], str]:
    return {tuple(e.get("path") or ()): e["extensions"]["code"] for e in body.get("errors", [])}


def customer_count(session: Session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(models.Customer)) or 0


# --- Consent-based purposes -------------------------------------------------------------------

HISTORIES = {
    "granted": ["GRANTED"],
    "withdrawn": ["WITHDRAWN"],
    "never": [],
    "granted_then_withdrawn": ["GRANTED", "WITHDRAWN"],
    "withdrawn_then_regranted": ["WITHDRAWN", "GRANTED"],
}
CONSENTED = {"granted", "withdrawn_then_regranted"}


@pytest.fixture
def ledger(session: Session, request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    """One customer per consent history for the purpose under test.

    The customer who was never asked did consent to the *other* consent-based purpose, which
    must not count.
    """
    purpose: Purpose = request.param
    other = Purpose.ANALYTICS if purpose is Purpose.MARKETING else Purpose.MARKETING
    with session.begin():
        customers = {
            name: add_customer(
                session,
                name.replace("_", ""),
                consents=[(purpose.value, status) for status in history]
                + ([(other.value, "GRANTED")] if name == "never" else []),
            )
            for name, history in HISTORIES.items()
        }
    session.expunge_all()
    return customers


CONSENT_PURPOSES = pytest.mark.parametrize(
    ("ledger", "purpose"),
    [(p, p) for p in (Purpose.MARKETING, Purpose.ANALYTICS)],
    indirect=["ledger"],
    ids=["marketing", "analytics"],
)


@CONSENT_PURPOSES
def test_consent_purposes_see_only_customers_whose_latest_consent_is_granted(
    gql, ledger, purpose
) -> None:
    for name, ids in ledger.items():
        # when a caller under a consent-based purpose looks for each customer on every path
        body = gql(
            EXISTS,
            {
                "customer": ids["customer"],
                "order": ids["orders"]["PAID"],
                "address": ids["address"],
            },
            scope=token_scope(purpose),
            purpose=purpose.value,
        )
        data = body["data"]
        # then only the consented ones exist: in lists and totals, lookups, node, order.customer
        exists = name in CONSENTED
        assert "errors" not in body
        assert listed(body, "customers") == {ledger[n]["customer"] for n in CONSENTED}
        assert data["customers"]["totalCount"] == len(CONSENTED)
        assert data["orders"]["totalCount"] == len(CONSENTED)
        assert {e["node"]["customer"]["id"] for e in data["orders"]["edges"]} == {
            ledger[n]["customer"] for n in CONSENTED
        }
        assert (data["customer"] is not None) is exists, name
        assert (data["node"] is not None) is exists, name
        assert (data["order"] is not None) is exists, name
        assert (data["orderNode"] is not None) is exists, name
        assert (data["address"] is not None) is exists, name
        if exists:
            assert data["order"]["customer"] == {"id": ids["customer"]}
            assert data["customer"]["orders"]["totalCount"] == 1


CONSENT_NODE = "query Record($id: ID!) { node(id: $id) { ... on Consent { id status } } }"


@CONSENT_PURPOSES
def test_the_consent_records_of_customers_without_consent_do_not_exist(
    gql, ledger, purpose
) -> None:
    for name, ids in ledger.items():
        for record in ids["consents"]:
            # when a caller under a consent-based purpose looks up each consent record
            body = gql(
                CONSENT_NODE, {"id": record}, scope=token_scope(purpose), purpose=purpose.value
            )
            # then only the records of customers whose latest consent is GRANTED exist (the
            # ledger is the customer's, whatever the looked-up record says)
            assert (body["data"]["node"] is not None) is (name in CONSENTED), (name, record)


WRITES = {
    "updateCustomer": (UPDATE_CUSTOMER, "customer", {}),
    "addAddress": (ADD_ADDRESS, "customer", {}),
    "placeOrder": (PLACE_ORDER, "customer", {}),
    "recordConsent": (RECORD_CONSENT, "customer", {"purpose": "BILLING", "granted": True}),
    "updateAddress": (UPDATE_ADDRESS, "address", {}),
    "removeAddress": (REMOVE_ADDRESS, "address", {}),
    "updateOrderStatus": (ORDER_STATUS, "order", {"status": "SHIPPED"}),
}
"""Each staff mutation on a customer's data: its document, what it targets, its variables."""


@CONSENT_PURPOSES
@pytest.mark.parametrize(("mutation", "target", "variables"), WRITES.values(), ids=WRITES.keys())
def test_mutations_on_customers_without_consent_are_not_found(
    gql, session, ledger, purpose, mutation, target, variables
) -> None:
    for name, ids in ledger.items():
        target_id = ids["orders"]["PAID"] if target == "order" else ids[target]
        # when a caller under a consent-based purpose writes to each customer
        body = gql(
            mutation,
            {"id": target_id, **variables},
            scope=token_scope(purpose, *WRITE_SCOPES),
            purpose=purpose.value,
        )
        # then it is NOT_FOUND for those without a current consent, and succeeds for the others
        root = next(iter(body["data"]))
        if name in CONSENTED:
            assert "errors" not in body, (name, body)
            assert body["data"][root] is not None
        else:
            assert body["data"][root] is None
            assert error_codes(body) == {(root,): "NOT_FOUND"}, name


@CONSENT_PURPOSES
def test_a_withdrawal_takes_effect_from_the_next_request(gql, ledger, purpose) -> None:
    # given a customer who consented
    granted = ledger["granted"]
    # when support records the withdrawal
    body = gql(
        RECORD_CONSENT,
        {"id": granted["customer"], "purpose": purpose.name, "granted": False},
        scope=token_scope(Purpose.CUSTOMER_SUPPORT, s.CONSENTS_WRITE),
        purpose="customer_support",
    )
    assert body["data"]["recordConsent"]["status"] == "WITHDRAWN"
    # then the customer no longer exists under the consent-based purpose
    variables = {
        "customer": granted["customer"],
        "order": granted["orders"]["PAID"],
        "address": granted["address"],
    }
    after = gql(EXISTS, variables, scope=token_scope(purpose), purpose=purpose.value)
    assert after["data"]["customer"] is None
    assert granted["customer"] not in listed(after, "customers")
    assert after["data"]["customers"]["totalCount"] == len(CONSENTED) - 1


# --- Order fulfillment ------------------------------------------------------------------------

STATUSES = ["PENDING", "PAID", "SHIPPED", "INSTALLED", "CANCELLED"]
IN_FULFILLMENT = {"PAID", "SHIPPED"}


@pytest.fixture
def shop(session: Session) -> dict[str, dict[str, Any]]:
    """One customer per order status, one with PENDING and SHIPPED orders, one without orders."""
    with session.begin():
        customers = {
            status: add_customer(session, status.lower(), orders=[status]) for status in STATUSES
        }
        customers["mixed"] = add_customer(session, "mixed", orders=["PENDING", "SHIPPED"])
        customers["none"] = add_customer(session, "none", orders=[])
    session.expunge_all()
    return customers


FULFILLMENT = token_scope(Purpose.ORDER_FULFILLMENT, s.ORDERS_WRITE)


@pytest.mark.parametrize("status", STATUSES)
def test_fulfillment_sees_only_orders_in_fulfillment_and_their_customers(gql, shop, status) -> None:
    ids = shop[status]
    # when a courier looks for the customer and order of each status
    body = gql(
        EXISTS,
        {"customer": ids["customer"], "order": ids["orders"][status], "address": ids["address"]},
        scope=FULFILLMENT,
        purpose="order_fulfillment",
    )
    data = body["data"]
    # then only PAID and SHIPPED orders exist, and the customers who have one, with addresses
    exists = status in IN_FULFILLMENT
    assert "errors" not in body
    assert listed(body, "orders") == {shop[s_]["orders"][s_] for s_ in IN_FULFILLMENT} | {
        shop["mixed"]["orders"]["SHIPPED"]
    }
    assert data["orders"]["totalCount"] == 3
    assert listed(body, "customers") == {shop[s_]["customer"] for s_ in IN_FULFILLMENT} | {
        shop["mixed"]["customer"]
    }
    assert data["customers"]["totalCount"] == 3
    for key in ("customer", "node", "order", "orderNode", "address"):
        assert (data[key] is not None) is exists, key


def test_fulfillment_shows_a_customer_only_their_orders_in_fulfillment(gql, shop) -> None:
    mixed = shop["mixed"]
    # when a courier reads a customer with a PENDING and a SHIPPED order
    body = gql(
        EXISTS,
        {
            "customer": mixed["customer"],
            "order": mixed["orders"]["PENDING"],
            "address": mixed["address"],
        },
        scope=FULFILLMENT,
        purpose="order_fulfillment",
    )
    # then the customer's orders are the SHIPPED one alone, and the PENDING one does not exist
    orders = body["data"]["customer"]["orders"]
    assert orders["totalCount"] == 1
    assert [e["node"]["id"] for e in orders["edges"]] == [mixed["orders"]["SHIPPED"]]
    assert body["data"]["order"] is None
    assert body["data"]["orderNode"] is None


def test_fulfillment_writes_see_the_same_rows(gql, shop) -> None:
    # when a courier moves orders along: a PENDING one (not in fulfillment), a PAID one
    pending = gql(
        ORDER_STATUS,
        {"id": shop["PENDING"]["orders"]["PENDING"], "status": "PAID"},
        scope=FULFILLMENT,
        purpose="order_fulfillment",
    )
    shipped = gql(
        ORDER_STATUS,
        {"id": shop["PAID"]["orders"]["PAID"], "status": "SHIPPED"},
        scope=FULFILLMENT,
        purpose="order_fulfillment",
    )
    installed = gql(
        ORDER_STATUS,
        {"id": shop["SHIPPED"]["orders"]["SHIPPED"], "status": "INSTALLED"},
        scope=FULFILLMENT,
        purpose="order_fulfillment",
    )
    # then the PENDING order is NOT_FOUND, the PAID one ships, and the installed one leaves
    # fulfillment: the payload does not show an order that no longer exists for the courier
    assert error_codes(pending) == {("updateOrderStatus",): "NOT_FOUND"}
    assert shipped["data"]["updateOrderStatus"]["status"] == "SHIPPED"
    assert "errors" not in installed
    assert installed["data"]["updateOrderStatus"] is None


# --- Legal orders -----------------------------------------------------------------------------


@pytest.fixture
def court(session: Session) -> dict[str, Any]:
    """Customers named and not named by legal requests: valid, expired and not yet valid."""
    now = dt.datetime.now(dt.UTC)
    with session.begin():
        named = add_customer(session, "named")
        also = add_customer(session, "also")
        outside = add_customer(session, "outside")
        windows = {
            "LR-VALID": (now - dt.timedelta(days=1), now + dt.timedelta(days=1), [named, also]),
            "LR-EXPIRED": (now - dt.timedelta(days=9), now - dt.timedelta(seconds=1), [named]),
            "LR-FUTURE": (now + dt.timedelta(days=1), now + dt.timedelta(days=9), [named]),
        }
        for reference, (start, end, customers) in windows.items():
            request = models.LegalRequest(
                reference=reference,
                authority="Court",
                order_document=f"DOC-{reference}",
                created_by=OFFICER,
                valid_from=start,
                valid_until=end,
            )
            session.add(request)
            session.flush()
            assert request.id is not None
            for customer in customers:
                session.add(
                    models.LegalRequestCustomer(
                        legal_request_id=request.id, customer_id=customer["pk"]
                    )
                )
    session.expunge_all()
    return {"named": named, "also": also, "outside": outside}


LEGAL = token_scope(Purpose.LEGAL_ORDER, s.CUSTOMERS_WRITE)


def test_a_valid_legal_request_shows_only_the_customers_it_names(gql, court) -> None:
    for name, ids in court.items():
        # when an auditor on a valid legal order looks for each customer
        body = gql(
            EXISTS,
            {
                "customer": ids["customer"],
                "order": ids["orders"]["PAID"],
                "address": ids["address"],
            },
            scope=LEGAL,
            purpose="legal_order",
            headers={"X-Legal-Reference": "LR-VALID"},
        )
        data = body["data"]
        # then the named customers exist, everywhere; the one outside it nowhere
        exists = name != "outside"
        assert listed(body, "customers") == {court["named"]["customer"], court["also"]["customer"]}
        assert data["customers"]["totalCount"] == 2
        assert data["orders"]["totalCount"] == 2
        for key in ("customer", "node", "order", "orderNode", "address"):
            assert (data[key] is not None) is exists, (name, key)
    # and a write to the customer outside it is NOT_FOUND
    body = gql(
        UPDATE_CUSTOMER,
        {"id": court["outside"]["customer"]},
        scope=LEGAL,
        purpose="legal_order",
        headers={"X-Legal-Reference": "LR-VALID"},
    )
    assert error_codes(body) == {("updateCustomer",): "NOT_FOUND"}


@pytest.mark.parametrize(
    ("reference", "sub"),
    [
        ("LR-EXPIRED", "auditor-1"),
        ("LR-FUTURE", "auditor-1"),
        ("LR-UNKNOWN", "auditor-1"),
        ("LR-VALID", OFFICER),
    ],
    ids=["expired", "not-yet-valid", "unknown", "used-by-its-creator"],
)
def test_an_invalid_legal_reference_is_refused(gql, court, reference, sub) -> None:
    # when the legal reference is expired, not yet valid, unknown, or used by its creator
    body = gql(
        EXISTS,
        {"customer": court["named"]["customer"], "order": "x", "address": "x"},
        scope=LEGAL,
        purpose="legal_order",
        sub=sub,
        headers={"X-Legal-Reference": reference},
        status=403,
    )
    # then the request is refused before anything is read
    assert body == {
        "errors": [
            {
                "message": body["errors"][0]["message"],
                "extensions": {"code": "INVALID_LEGAL_REFERENCE"},
            }
        ]
    }


def test_legal_order_without_a_reference_is_refused(gql, court) -> None:
    # when legal_order is declared without X-Legal-Reference
    body = gql(
        EXISTS,
        {"customer": court["named"]["customer"], "order": "x", "address": "x"},
        scope=LEGAL,
        purpose="legal_order",
        status=400,
    )
    # then it is refused
    assert [e["extensions"]["code"] for e in body["errors"]] == ["LEGAL_REFERENCE_REQUIRED"]
    assert "data" not in body


# --- Purposes ---------------------------------------------------------------------------------

CUSTOMERS = "query Customers { customers(first: 5) { totalCount } }"
WITHOUT_PURPOSE = [
    "query { policy { purposes { id } } }",
    "query { __typename }",
    'query { __type(name: "Customer") { name } }',
]


def test_reading_customer_data_without_a_purpose_is_refused(gql) -> None:
    # when a query and a mutation on customer data declare no purpose
    for operation in (CUSTOMERS, UPDATE_CUSTOMER):
        body = gql(
            operation,
            {"id": to_global_id("Customer", 1)},
            scope=token_scope("customer_support", s.CUSTOMERS_WRITE),
            status=400,
        )
        # then they are refused with PURPOSE_REQUIRED
        assert [e["extensions"]["code"] for e in body["errors"]] == ["PURPOSE_REQUIRED"]


def test_a_known_document_without_a_purpose_is_refused_after_the_standing_alone(
    client, token, session: Session
) -> None:
    # given a query the server has seen (its document is cached), and the caller's token
    bearer = {"Authorization": f"Bearer {token(token_scope('customer_support'))}"}
    body = {"query": CUSTOMERS}
    seen = client.post("/graphql", json=body, headers={**bearer, "X-Purpose": "customer_support"})
    assert seen.status_code == 200, seen.text
    statements: list[str] = []

    def note(*arguments: Any) -> None:
        statements.append(arguments[2])

    engine = client.app.state.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        # when it comes again without a purpose
        refused = client.post("/graphql", json=body, headers=bearer)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    # and again once its token is revoked
    with session.begin():
        session.add(models.RevokedToken(jti=jti_of(bearer["Authorization"][7:])))
    revoked = client.post("/graphql", json=body, headers=bearer)
    # then it is refused with PURPOSE_REQUIRED without a connection of the pool (its standing
    # read on the event loop's own connection on SQLite, kept on PostgreSQL)
    assert refused.status_code == 400
    assert [e["extensions"]["code"] for e in refused.json()["errors"]] == ["PURPOSE_REQUIRED"]
    assert not [s for s in statements if s.lstrip().startswith("SELECT")]
    # and, revoked, as an invalid token: the standing comes first, whatever the cache holds
    assert revoked.status_code == 401, revoked.text
    assert [e["extensions"]["code"] for e in revoked.json()["errors"]] == ["INVALID_TOKEN"]


@pytest.mark.parametrize("operation", WITHOUT_PURPOSE)
def test_the_policy_and_introspection_need_no_purpose(gql, operation) -> None:
    # when a caller asks for the policy or the schema without declaring a purpose
    body = gql(operation, scope="customers:read")
    # then it is answered
    assert "errors" not in body


def test_an_unknown_purpose_is_refused_with_the_valid_ones(gql) -> None:
    # when the purpose is not one of Steward's
    body = gql(CUSTOMERS, scope=token_scope("customer_support"), purpose="curiosity", status=400)
    # then UNKNOWN_PURPOSE, and the message lists every valid purpose
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNKNOWN_PURPOSE"
    assert all(purpose.value in error["message"] for purpose in DECLARABLE)


@pytest.mark.parametrize("purpose", DECLARABLE, ids=lambda p: p.value)
def test_a_purpose_the_token_does_not_grant_is_refused(gql, purpose) -> None:
    # given a token with every read scope and every purpose but this one
    others = [p.scope for p in DECLARABLE if p is not purpose]
    # when it declares this purpose
    body = gql(
        CUSTOMERS,
        scope=" ".join([*READ_SCOPES, *others]),
        purpose=purpose.value,
        headers={"X-Legal-Reference": "LR-VALID"},
        status=403,
    )
    # then PURPOSE_NOT_PERMITTED
    assert [e["extensions"]["code"] for e in body["errors"]] == ["PURPOSE_NOT_PERMITTED"]


def test_the_purpose_is_matched_case_insensitively(gql) -> None:
    # when the purpose is declared in another case / then it is the same purpose
    body = gql(CUSTOMERS, scope=token_scope("customer_support"), purpose="Customer_Support")
    assert body == {"data": {"customers": {"totalCount": 0}}}


# --- Scopes on root fields, node and mutations ------------------------------------------------


def roots(data: Seeded) -> list[tuple[str, str, str]]:
    """(root selection, its response key, the scope it needs): every root that reads data."""
    nodes = [
        ("customerNode", "ava", s.CUSTOMERS_READ),
        ("orderNode", "ava_paid", s.ORDERS_READ),
        ("addressNode", "ava_home", s.ADDRESSES_READ),
        ("consentNode", "ava_analytics", s.CONSENTS_READ),
        ("usageNode", "ava_login", s.USAGE_READ),
        ("accessNode", "ava_read", s.AUDIT_READ),
        ("legalNode", "legal", s.PRIVACY_ADMIN),
    ]
    return [
        ("customers(first: 1) { totalCount }", "customers", s.CUSTOMERS_READ),
        (f'customer(id: "{data["ava"]}") {{ id }}', "customer", s.CUSTOMERS_READ),
        ("orders(first: 1) { totalCount }", "orders", s.ORDERS_READ),
        (f'order(id: "{data["ava_paid"]}") {{ id }}', "order", s.ORDERS_READ),
        ("auditLog(first: 1) { totalCount }", "auditLog", s.AUDIT_READ),
    ] + [(f'{key}: node(id: "{data[row]}") {{ id }}', key, scope) for key, row, scope in nodes]


def test_each_root_field_and_node_type_needs_its_scope(gql, data) -> None:
    every_root = roots(data)
    operation = "query Roots { " + " ".join(selection for selection, _, _ in every_root) + " }"
    for _, key, needed in every_root:
        # given a token with every read scope but the one this root needs
        granted = [scope for scope in READ_SCOPES if scope != needed]
        # when it reads every root in one operation
        body = gql(
            operation,
            scope=" ".join([*granted, Purpose.CUSTOMER_SUPPORT.scope]),
            purpose="customer_support",
        )
        # then exactly the roots that need the missing scope are FORBIDDEN, at their path
        refused = {k for _, k, scope in every_root if scope == needed}
        assert error_codes(body) == {(k,): "FORBIDDEN" for k in refused}, key
        assert all(body["data"][k] is None for k in refused)
        assert all(body["data"][k] is not None for _, k, _ in every_root if k not in refused)
        assert all(e["extensions"]["needs"] == {"scopes": [needed]} for e in body["errors"]), body[
            "errors"
        ]


MUTATIONS = [
    (
        'createCustomer(input: {country: "VN", preferredLanguage: "vi-VN"}) { id }',
        s.CUSTOMERS_WRITE,
    ),
    ('updateCustomer(id: "<ava>", input: {preferredLanguage: "en"}) { id }', s.CUSTOMERS_WRITE),
    (
        'addAddress(customerId: "<ava>", input: {label: OTHER, line1: "x", city: "y"}) { id }',
        s.ADDRESSES_WRITE,
    ),
    ('updateAddress(id: "<ava_home>", input: {city: "Qom"}) { id }', s.ADDRESSES_WRITE),
    ('removeAddress(id: "<ava_site>")', s.ADDRESSES_WRITE),
    (
        'placeOrder(customerId: "<ava>", input: {currency: "IRR", '
        'items: [{sku: "A", name: "B", quantity: 1, unitPrice: "1"}]}) { id }',
        s.ORDERS_WRITE,
    ),
    ('updateOrderStatus(id: "<ava_pending>", status: PAID) { id }', s.ORDERS_WRITE),
    (
        'recordConsent(customerId: "<ava>", purpose: BILLING, granted: true, source: WEB) { id }',
        s.CONSENTS_WRITE,
    ),
]
"""(mutation, the scope it needs); ``<name>`` stands for a seeded row's global id."""


def with_ids(template: str, data: Seeded) -> str:
    for name, global_id in data.ids.items():
        template = template.replace(f"<{name}>", global_id)
    return template


@pytest.mark.parametrize(("template", "needed"), MUTATIONS, ids=lambda v: str(v).split("(")[0])
def test_each_mutation_needs_its_write_scope(gql, session, data, template, needed) -> None:
    mutation = "mutation M { " + with_ids(template, data) + " }"
    before = _row_counts(session)
    # when a caller with every other write scope runs it
    granted = [scope for scope in WRITE_SCOPES if scope != needed]
    body = gql(
        mutation, scope=token_scope("customer_support", *granted), purpose="customer_support"
    )
    # then it is FORBIDDEN at its path and nothing changed
    root = template.split("(")[0]
    assert error_codes(body) == {(root,): "FORBIDDEN"}
    assert body["data"] == {root: None}
    assert _row_counts(session) == before
    # and with the scope it goes through
    allowed = gql(
        mutation, scope=token_scope("customer_support", needed), purpose="customer_support"
    )
    assert "errors" not in allowed, allowed


def _row_counts(session: Session) -> dict[str, Any]:
    session.rollback()
    counts: dict[str, Any] = {
        model.__name__: session.scalar(select(func.count()).select_from(model))
        for model in (models.Customer, models.Address, models.Order, models.Consent)
    }
    counts["statuses"] = sorted(session.scalars(select(col(models.Order.status))))
    counts["cities"] = sorted(session.scalars(select(col(models.Address.city))))
    counts["languages"] = sorted(session.scalars(select(col(models.Customer.preferred_language))))
    session.rollback()
    return counts


# --- Filters and orders -----------------------------------------------------------------------

FILTERS: list[tuple[str, str, str, Any]] = [
    # (root, arguments, the field they read, which stored rows match given the seeded ids)
    ("customers", "filter: {status: ERASED}", "Customer.status", lambda c, d: c.status == "ERASED"),
    (
        "customers",
        'filter: {email: "ava.karimi@example.ir"}',
        "Customer.email",
        lambda c, d: c.email == "ava.karimi@example.ir",
    ),
    (
        "customers",
        'filter: {lastName: "Trần"}',
        "Customer.lastName",
        lambda c, d: c.last_name == "Trần",
    ),
    ("customers", 'filter: {country: "vn"}', "Customer.country", lambda c, d: c.country == "VN"),
    (
        "customers",
        'filter: {createdAfter: "2025-03-02T12:00:00Z"}',
        "Customer.createdAt",
        lambda c, d: c.created_at > dt.datetime(2025, 3, 2, 12, tzinfo=dt.UTC),
    ),
    ("customers", "orderBy: {field: CREATED_AT}", "Customer.createdAt", lambda c, d: True),
    (
        "customers",
        "orderBy: {field: LAST_NAME, direction: DESC}",
        "Customer.lastName",
        lambda c, d: True,
    ),
    ("customers", "orderBy: {field: EMAIL}", "Customer.email", lambda c, d: True),
    ("orders", "filter: {status: SHIPPED}", "Order.status", lambda o, d: o.status == "SHIPPED"),
    (
        "orders",
        'filter: {customerId: "<ava>"}',
        "Order.customer",
        lambda o, d: o.customer_id == d.pk("ava"),
    ),
    (
        "orders",
        'filter: {placedAfter: "2025-03-06T00:00:00Z"}',
        "Order.placedAt",
        lambda o, d: o.placed_at > dt.datetime(2025, 3, 6, tzinfo=dt.UTC),
    ),
    (
        "orders",
        'filter: {paymentReference: "PAY-881"}',
        "Order.paymentReference",
        lambda o, d: o.payment_reference == "PAY-881",
    ),
    ("orders", "orderBy: {field: PLACED_AT, direction: ASC}", "Order.placedAt", lambda o, d: True),
    ("orders", "orderBy: {field: TOTAL_AMOUNT}", "Order.totalAmount", lambda o, d: True),
]
"""Every filter and order argument of the root lists."""

ROOT_SCOPES = {"customers": s.CUSTOMERS_READ, "orders": s.ORDERS_READ}


def filter_operation(data: Seeded) -> str:
    selections = [
        f"f{i}: {root}(first: 50, {with_ids(arguments, data)}) "
        "{ totalCount edges { node { id } } }"
        for i, (root, arguments, _, _) in enumerate(FILTERS)
    ]
    return "query Filters { " + " ".join(selections) + " }"


@pytest.mark.parametrize("purpose", DECLARABLE, ids=lambda p: p.value)
def test_filtering_or_sorting_on_a_field_counts_as_reading_it(gql, session, data, purpose) -> None:
    operation = filter_operation(data)
    snapshot = Snapshot.load(session)
    needed = sorted({scope for _, _, field, _ in FILTERS for scope in rule_of(field).scopes})  # type: ignore[union-attr]
    for without in [None, *needed]:
        # given a caller with every read scope but `without`, under `purpose`
        caller = Caller(frozenset(READ_SCOPES) - {without}, purpose, data.legal_request_id)
        model = Model(snapshot, caller)
        # when it filters and sorts on every field that can be filtered or sorted on
        body = gql(
            operation,
            scope=caller.scope,
            purpose=purpose.value,
            headers={"X-Legal-Reference": data.legal_reference},
        )
        # then each argument on a field it may not read is FORBIDDEN_FILTER at its path, the
        # others give the rows that exist for it and match
        expected_errors = {}
        for i, (root, _, field, matches) in enumerate(FILTERS):
            key = f"f{i}"
            if ROOT_SCOPES[root] not in caller.scopes:
                expected_errors[(key,)] = "FORBIDDEN"
            elif hidden_reason(field, caller) is not None or form_of(field, caller) is not None:
                expected_errors[(key,)] = "FORBIDDEN_FILTER"
            else:
                rows = (
                    [snapshot.customers[pk] for pk in model.visible_customers]
                    if root == "customers"
                    else [snapshot.orders[pk] for pk in model.visible_orders]
                )
                type_name = "Customer" if root == "customers" else "Order"
                expected = {
                    to_global_id(type_name, row.id)  # type: ignore[arg-type]
                    for row in rows
                    if matches(row, data)
                }
                assert body["data"][key]["totalCount"] == len(expected), (without, field)
                assert listed(body, key) == expected, (without, field)
        assert error_codes(body) == expected_errors, without
        for error in body.get("errors", []):
            if error["extensions"]["code"] == "FORBIDDEN_FILTER":
                [index] = error["path"]
                assert error["extensions"]["field"] == FILTERS[int(index[1:])][2]
