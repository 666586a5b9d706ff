"""The audit trail over HTTP: one access record per request that discloses customer data."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import select
from sqlmodel import col

import privacy.audit
import schema.audit
from auth.policy import scopes as s
from auth.policy.purposes import Purpose
from store import models
from store.ids import to_global_id
from tests.support.callers import AUDITOR, CUSTOMER, PRIVACY_ADMIN, SUPPORT, scope
from tests.support.operations import LOOKUP, post

PAGE = """
query Page {
  customers(first: 10) {
    edges { node {
      id firstName email dateOfBirth ageBand
      addresses { city postalCode }
      orders { edges { node { number paymentReference items { sku } } } }
    } }
  }
}
"""
FRAGMENTS = """
query Pieces($id: ID!) {
  node(id: $id) { id ...Contact ... on Customer { lastName } }
}
fragment Contact on Customer { email mobilePhone }
"""
ORDERS = "query Orders { orders(first: 10) { edges { node { number totalAmount } } } }"
UPDATE = """
mutation Fix($id: ID!) { updateCustomer(id: $id, input: {lastName: "Rezaei"}) { id lastName } }
"""
AUDIT_LOG = """
query Log($customerId: ID, $clientId: String, $purpose: Purpose) {
  auditLog(first: 50, customerId: $customerId, clientId: $clientId, purpose: $purpose) {
    totalCount
    edges { node {
      id occurredAt clientId subject purpose legalReference operationName customerIds fields
    } }
  }
}
"""
BILLING = scope(
    s.CUSTOMERS_READ,
    s.CUSTOMERS_READ_CONTACT,
    s.ORDERS_READ,
    s.ORDERS_READ_PAYMENT,
    Purpose.BILLING.scope,
)
FULFILLMENT = scope(
    s.CUSTOMERS_READ,
    s.CUSTOMERS_READ_IDENTITY,
    s.CUSTOMERS_READ_CONTACT,
    s.ORDERS_READ,
    Purpose.ORDER_FULFILLMENT.scope,
)


def test_one_record_per_request_with_who_why_whom_and_which_fields(
    client, token, tables, people
) -> None:
    # given two customers
    maryam, lan = people
    # when support reads a nested page of them, from one client
    bearer = token(SUPPORT, sub="agent-7", client_id="crm-web")
    body = post(client, bearer, PAGE, purpose="customer_support")
    assert "errors" not in body
    # then exactly one access record says who, which client, why, which operation
    (record,) = tables.access_records()
    assert (record.subject, record.client_id, record.purpose, record.operation_name) == (
        "agent-7",
        "crm-web",
        "customer_support",
        "Page",
    )
    assert record.legal_reference is None
    # about both customers, indexed by customer
    assert record.customer_ids == sorted([maryam.pk, lan.pk])
    index = tables.all(select(col(models.AccessRecordCustomer.customer_id)))
    assert sorted(index) == sorted([maryam.pk, lan.pk])
    # listing the fields that were disclosed, not those the policy hid (ageBand)
    assert set(record.fields) == {
        "Query.customers",
        "Customer.id",
        "Customer.firstName",
        "Customer.email",
        "Customer.dateOfBirth",
        "Customer.addresses",
        "Address.city",
        "Address.postalCode",
        "Customer.orders",
        "Order.number",
        "Order.paymentReference",
        "Order.items",
        "OrderItem.sku",
    }
    # and the form of each field disclosed in one (SPEC section 13: its year only)
    assert record.forms == {"Customer.dateOfBirth": "generalised"}
    # and never a value
    stored = orjson.dumps(record.model_dump(mode="json")).decode()
    for value in ("maryam@example.com", "مریم", "Lan", "1234567890", f"PAY{maryam.pk}01"):
        assert value not in stored


def test_fields_through_fragments_and_interfaces(gql, tables, people) -> None:
    maryam, _ = people
    gql(FRAGMENTS, {"id": maryam.id}, scope=SUPPORT, purpose="customer_support")
    (record,) = tables.access_records()
    assert record.customer_ids == [maryam.pk]
    # node's id could be any Node's; only what the caller may read is listed
    assert {"Query.node", "Customer.email", "Customer.mobilePhone", "Customer.lastName"} <= set(
        record.fields
    )
    assert "Customer.id" in record.fields


@pytest.mark.parametrize("kind", ["Address", "Order"])
def test_a_node_lookup_records_its_owner(gql, tables, people, kind) -> None:
    _, lan = people
    pk = lan.address_ids[0] if kind == "Address" else lan.order_ids[0]
    body = gql(
        "query N($id: ID!) { node(id: $id) { id } }",
        {"id": to_global_id(kind, pk)},
        scope=SUPPORT,
        purpose="customer_support",
    )
    assert body["data"]["node"] == {"id": to_global_id(kind, pk)}
    (record,) = tables.access_records()
    assert record.customer_ids == [lan.pk]
    assert f"{kind}.id" in record.fields


def test_hidden_fields_are_not_listed(gql, tables, people) -> None:
    # given order_fulfillment, which may not read email / when email is asked for
    gql(
        "query F { customers(first: 5) { edges { node { id firstName email } } } }",
        scope=FULFILLMENT,
        purpose="order_fulfillment",
    )
    (record,) = tables.access_records()
    # then the record lists what was disclosed only (both customers have a PAID order)
    assert set(record.fields) == {"Query.customers", "Customer.id", "Customer.firstName"}


def test_customers_are_the_owners_of_returned_orders(gql, tables, people) -> None:
    maryam, lan = people
    gql(ORDERS, scope=BILLING, purpose="billing")
    (record,) = tables.access_records()
    assert record.customer_ids == sorted([maryam.pk, lan.pk])
    assert set(record.fields) == {"Query.orders", "Order.number", "Order.totalAmount"}


def test_no_record_when_no_customer_data_is_returned(gql, tables, people) -> None:
    # given a lookup that finds nothing, the policy, and a customer reading themselves
    maryam, _ = people
    gql(LOOKUP, {"id": to_global_id("Customer", 999)}, scope=SUPPORT, purpose="customer_support")
    gql("query P { policy { purposes { id } } }", scope=SUPPORT)
    gql("query Me { me { id email } }", scope=CUSTOMER, sub=maryam.id)
    # then nothing is recorded
    assert tables.access_records() == []


def test_mutations_under_a_purpose_are_recorded(gql, tables, people) -> None:
    maryam, _ = people
    gql(
        UPDATE,
        {"id": maryam.id},
        scope=f"{SUPPORT} customers:write",
        purpose="customer_support",
    )
    (record,) = tables.access_records()
    assert record.customer_ids == [maryam.pk]
    assert {"Mutation.updateCustomer", "Customer.lastName"} <= set(record.fields)


def test_the_record_is_written_before_the_answer_or_there_is_no_answer(
    gql, tables, people, monkeypatch
) -> None:
    # given an audit trail that cannot be written
    maryam, _ = people

    def broken(*_args, **_kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(schema.audit, "write", broken)  # in the request's transaction
    monkeypatch.setattr(privacy.audit, "write_group", broken)  # a group commit (compiled reads)
    # when support reads, and corrects, a customer
    read = gql(LOOKUP, {"id": maryam.id}, scope=SUPPORT, purpose="customer_support", status=500)
    fixed = gql(
        UPDATE,
        {"id": maryam.id},
        scope=f"{SUPPORT} customers:write",
        purpose="customer_support",
        status=500,
    )
    # then neither answer carries data, and the correction did not happen either
    for body in (read, fixed):
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "maryam@example.com" not in str(read)
    assert tables.get(models.Customer, maryam.pk).last_name == "رضایی"


def test_audit_log_filters(client, token, gql, people) -> None:
    # given reads by two clients under two purposes, about different customers
    maryam, lan = people
    post(
        client,
        token(SUPPORT, client_id="crm"),
        LOOKUP,
        {"id": maryam.id},
        purpose="customer_support",
    )
    post(client, token(BILLING, client_id="ledger"), LOOKUP, {"id": lan.id}, purpose="billing")
    post(client, token(BILLING, client_id="ledger"), ORDERS, purpose="billing")

    def log(**filters):
        body = gql(AUDIT_LOG, filters, scope=AUDITOR)
        assert "errors" not in body, body
        return [edge["node"] for edge in body["data"]["auditLog"]["edges"]]

    # when an auditor filters by customer, client and purpose / then each gives its records
    about_maryam = log(customerId=maryam.id)
    assert [r["operationName"] for r in about_maryam] == ["Orders", "Lookup"]
    assert [r["operationName"] for r in log(clientId="crm")] == ["Lookup"]
    billing = log(purpose="BILLING")
    assert [r["operationName"] for r in billing] == ["Orders", "Lookup"]
    assert {r["clientId"] for r in billing} == {"ledger"}
    assert billing[1]["customerIds"] == [lan.id]
    assert billing[1]["fields"] == ["Customer.email", "Customer.id", "Query.customer"]


def test_reading_the_audit_log_needs_audit_read_and_is_itself_audited(gql, tables, people) -> None:
    maryam, _ = people
    gql(LOOKUP, {"id": maryam.id}, scope=SUPPORT, purpose="customer_support")
    refused = gql(AUDIT_LOG, scope=SUPPORT)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    gql(AUDIT_LOG, scope=AUDITOR, sub="auditor-1")
    records = tables.access_records()
    # the refused attempt and the auditor's read are recorded, about the customer concerned
    assert [(r.subject, r.operation_name) for r in records] == [
        ("staff-1", "Lookup"),
        ("staff-1", "Log"),
        ("auditor-1", "Log"),
    ]
    assert records[2].customer_ids == [maryam.pk]
    assert "AccessRecord.fields" in records[2].fields


def test_privacy_administration_is_always_audited(gql, tables, people) -> None:
    maryam, _ = people
    gql(
        "mutation E($id: ID!) { eraseCustomer(id: $id) { id } }",
        {"id": maryam.id},
        scope=PRIVACY_ADMIN,
    )
    (record,) = tables.access_records()
    assert (record.purpose, record.operation_name, record.customer_ids) == (
        None,
        "E",
        [maryam.pk],
    )
    assert record.fields == ["Customer.id", "Mutation.eraseCustomer"]


def test_me_access_log_shows_who_saw_the_data_and_why(client, token, gql, people) -> None:
    # given support and billing have read a customer
    maryam, _ = people
    post(
        client,
        token(SUPPORT, sub="agent-7", client_id="crm"),
        LOOKUP,
        {"id": maryam.id},
        purpose="customer_support",
    )
    post(client, token(BILLING, sub="clerk-2", client_id="ledger"), ORDERS, purpose="billing")
    # when the customer reads their access log
    body = gql(
        "query Log { me { accessLog { subject clientId purpose operationName fields } } }",
        scope="me:read",
        sub=maryam.id,
    )
    # then newest first, who, from which client, why, and which fields
    log = body["data"]["me"]["accessLog"]
    assert [(r["subject"], r["clientId"], r["purpose"]) for r in log] == [
        ("clerk-2", "ledger", "billing"),
        ("agent-7", "crm", "customer_support"),
    ]
    assert "Customer.email" in log[1]["fields"]
