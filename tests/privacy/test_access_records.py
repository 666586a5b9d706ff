"""Lists of customer ids obey the row rules, and an access record names only the customers
whose data the response disclosed (SPEC section 7)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from store import models
from store.ids import to_global_id
from tests.support.auth import TokenFactory
from tests.support.callers import SUPPORT
from tests.support.operations import post
from tests.support.world import Person, Tables, seed

MARKETING_AUDITOR = "audit:read customers:read purpose:marketing"
MARKETING_WRITER = "customers:write customers:read purpose:marketing"
MARKETING_ADMIN = "privacy:admin customers:read purpose:marketing"

LOOKUP = "query Lookup($id: ID!) { customer(id: $id) { id email } }"
AUDIT_LOG = "query Log { auditLog(first: 50) { edges { node { id customerIds } } } }"
RECORD = "query Record($id: ID!) { node(id: $id) { ... on AccessRecord { customerIds } } }"
LEGAL_REQUEST = "query Legal($id: ID!) { node(id: $id) { ... on LegalRequest { customerIds } } }"
CREATE = """
mutation Create { createCustomer(input: {country: "IR", preferredLanguage: "fa-IR"}) { id } }
"""
MY_LOG = "query MyLog { me { accessLog { purpose } } }"
SUPPORTS = "customer_support"


@pytest.fixture
def people(session: Session) -> tuple[Person, Person]:
    """Maryam consents to marketing; Lan withdrew her consent."""
    maryam, lan = seed(session)
    with session.begin():
        session.add(
            models.Consent(
                customer_id=lan.pk, purpose="marketing", status="WITHDRAWN", source="WEB"
            )
        )
    return maryam, lan


def _read_both(
    client: TestClient, token: TokenFactory, engine: Engine, people: tuple[Person, Person]
) -> int:
    """Support reads both customers in one request; returns that access record's id."""
    maryam, lan = people
    query = "query Both($a: ID!, $b: ID!) { a: customer(id: $a) { id } b: customer(id: $b) { id } }"
    post(client, token(SUPPORT), query, {"a": maryam.id, "b": lan.id}, purpose="customer_support")
    (record,) = Tables(engine).access_records()
    assert record.id is not None
    return record.id


def ids_of(body: Any) -> list[list[str]]:
    edges = body["data"]["auditLog"]["edges"]
    return [edge["node"]["customerIds"] for edge in edges]


def test_audit_log_lists_only_customers_that_exist_under_the_purpose(
    client: TestClient, token: TokenFactory, engine: Engine, people: tuple[Person, Person]
) -> None:
    # given a record of support reading Maryam and Lan
    maryam, lan = people
    record = _read_both(client, token, engine, people)
    # when a marketing auditor reads the log, and the record by its id
    log = post(client, token(MARKETING_AUDITOR), AUDIT_LOG, purpose="marketing")
    node = post(
        client,
        token(MARKETING_AUDITOR),
        RECORD,
        {"id": to_global_id("AccessRecord", record)},
        purpose="marketing",
    )
    # then Lan, who did not consent, is named by neither
    assert ids_of(log) == [[maryam.id]]
    assert node["data"]["node"]["customerIds"] == [maryam.id]
    # and the auditor's own records name only Maryam
    records = Tables(engine).access_records()
    assert [r.customer_ids for r in records[1:]] == [[maryam.pk], [maryam.pk]]
    assert lan.pk in records[0].customer_ids


def test_a_customer_who_never_consented_sees_no_marketing_access(
    client: TestClient, token: TokenFactory, engine: Engine, people: tuple[Person, Person]
) -> None:
    # given marketing reading the audit log, and registering a customer (without consent)
    _, lan = people
    _read_both(client, token, engine, people)
    post(client, token(MARKETING_AUDITOR), AUDIT_LOG, purpose="marketing")
    created = post(client, token(MARKETING_WRITER), CREATE, purpose="marketing")
    assert created["data"]["createCustomer"] is None  # not visible without consent
    newcomer = to_global_id("Customer", lan.pk + 1)
    # when Lan and the newcomer read their access logs
    lans = post(client, token("me:read", sub=lan.id), MY_LOG)
    newcomers = post(client, token("me:read", sub=newcomer), MY_LOG)
    # then neither shows a marketing entry
    assert [r["purpose"] for r in lans["data"]["me"]["accessLog"]] == ["customer_support"]
    assert newcomers["data"]["me"]["accessLog"] == []


def test_legal_request_customers_obey_the_row_rules(
    client: TestClient, token: TokenFactory, session: Session, people: tuple[Person, Person]
) -> None:
    # given a legal request naming Maryam and Lan
    maryam, lan = people
    with session.begin():
        request = models.LegalRequest(
            reference="CASE-1",
            authority="Court",
            order_document="ORD-1",
            created_by="officer",
            valid_until=models.utcnow() + dt.timedelta(days=1),
        )
        session.add(request)
        session.flush()
        session.add_all(
            models.LegalRequestCustomer(legal_request_id=request.id, customer_id=pk)  # type: ignore[arg-type]
            for pk in (maryam.pk, lan.pk)
        )
    # when a privacy admin looks it up under marketing
    body = post(
        client,
        token(MARKETING_ADMIN),
        LEGAL_REQUEST,
        {"id": to_global_id("LegalRequest", request.id)},  # type: ignore[arg-type]
        purpose="marketing",
    )
    # then only Maryam is named
    assert body["data"]["node"]["customerIds"] == [maryam.id]


def test_loaded_but_unreturned_customers_are_not_recorded(
    client: TestClient, token: TokenFactory, engine: Engine, people: tuple[Person, Person]
) -> None:
    # given a page that loads customers but returns only their count
    post(
        client,
        token(SUPPORT),
        "query Count { customers { totalCount } }",
        purpose="customer_support",
    )
    # when a lookup finds Maryam
    maryam, _ = people
    post(client, token(SUPPORT), LOOKUP, {"id": maryam.id}, purpose="customer_support")
    # then only the lookup, which returned her, is an access record about her
    records = Tables(engine).access_records()
    assert [(r.operation_name, r.customer_ids) for r in records] == [("Lookup", [maryam.pk])]


# A filter answers questions about the customers it matched (SPEC section 7, v5)

PROBE = """
query Probe($email: String, $after: DateTime) {
  customers(filter: {email: $email, createdAfter: $after}) { totalCount }
}
"""
BY_PAYMENT = "query Pay($ref: String) { orders(filter: {paymentReference: $ref}) { totalCount } }"
POSITIONS = {
    "hasNextPage": "customers(first: 0, filter: {email: $email}) { pageInfo { hasNextPage } }",
    "cursor": "customers(filter: {email: $email}) { edges { cursor } }",
    "fragment": "customers(filter: {email: $email}) { ...Counted }",
}


def records_of(engine: Engine) -> list[tuple[str | None, list[int], list[str]]]:
    return [(r.operation_name, r.customer_ids, r.fields) for r in Tables(engine).access_records()]


def test_a_filtered_count_records_the_customers_it_matched(
    client: TestClient, token: TokenFactory, engine: Engine, people: tuple[Person, Person]
) -> None:
    maryam, _ = people
    # when support counts the customers with Maryam's email: no node comes back
    body = post(client, token(SUPPORT), PROBE, {"email": "maryam@example.com"}, purpose=SUPPORTS)
    # then the count told something of Maryam, and her access record says so
    assert body == {"data": {"customers": {"totalCount": 1}}}
    assert records_of(engine) == [
        (
            "Probe",
            [maryam.pk],
            ["Customer.email", "CustomerConnection.totalCount", "Query.customers"],
        )
    ]


def test_bisecting_through_filtered_counts_leaves_a_record_per_probe(
    client: TestClient, token: TokenFactory, engine: Engine, people: tuple[Person, Person]
) -> None:
    maryam, _ = people
    bearer = token(SUPPORT)
    # when support narrows down when Maryam registered, one count at a time
    probes = ["2000-01-01T00:00:00Z", "2010-01-01T00:00:00Z", "2020-01-01T00:00:00Z"]
    for after in probes:
        variables = {"email": "maryam@example.com", "after": after}
        body = post(client, bearer, PROBE, variables, purpose=SUPPORTS)
        assert body == {"data": {"customers": {"totalCount": 1}}}
    # then each probe is an access record about her, naming the fields it compared
    fields = ["Customer.createdAt", "Customer.email", "CustomerConnection.totalCount"]
    assert records_of(engine) == [("Probe", [maryam.pk], [*fields, "Query.customers"])] * 3


def test_a_filtered_order_count_records_the_order_s_customer(
    client: TestClient, token: TokenFactory, engine: Engine, people: tuple[Person, Person]
) -> None:
    _, lan = people
    # when support counts the orders with one of Lan's payment references
    reference = f"PAY{lan.pk}01"
    body = post(client, token(SUPPORT), BY_PAYMENT, {"ref": reference}, purpose=SUPPORTS)
    # then the record names Lan, and the filter's field
    assert body == {"data": {"orders": {"totalCount": 1}}}
    assert records_of(engine) == [
        (
            "Pay",
            [lan.pk],
            ["Order.paymentReference", "OrderConnection.totalCount", "Query.orders"],
        )
    ]


@pytest.mark.parametrize("selection", sorted(POSITIONS))
def test_filtered_page_positions_record_the_customers_matched(
    client: TestClient,
    token: TokenFactory,
    engine: Engine,
    people: tuple[Person, Person],
    selection: str,
) -> None:
    maryam, _ = people
    query = (
        f"query Where($email: String) {{ {POSITIONS[selection]} }}"
        " fragment Counted on CustomerConnection { totalCount }"
        if selection == "fragment"
        else f"query Where($email: String) {{ {POSITIONS[selection]} }}"
    )
    # when a page's positions (or its count, through a fragment) answer for a filter
    post(client, token(SUPPORT), query, {"email": "maryam@example.com"}, purpose=SUPPORTS)
    # then the customer the filter matched is recorded
    ((name, customers, fields),) = records_of(engine)
    assert (name, customers) == ("Where", [maryam.pk])
    assert "Customer.email" in fields


def test_an_unfiltered_count_or_a_skipped_one_records_nothing(
    client: TestClient, token: TokenFactory, engine: Engine, people: tuple[Person, Person]
) -> None:
    bearer = token(SUPPORT)
    # when support counts every customer, and asks a filtered count it then skips
    post(client, bearer, "query All { customers { totalCount } }", purpose=SUPPORTS)
    skipped = (
        "query Skip($email: String, $no: Boolean!) {"
        " customers(filter: {email: $email}) { totalCount @skip(if: $no) } }"
    )
    post(client, bearer, skipped, {"email": "maryam@example.com", "no": True}, purpose=SUPPORTS)
    # and a filter that matches nobody
    post(client, bearer, PROBE, {"email": "nobody@example.com"}, purpose=SUPPORTS)
    # then none of them disclosed anything of a customer
    assert records_of(engine) == []
