"""The right of access over HTTP: `exportCustomerData` holds everything kept about a customer."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapper
from strawberry.utils.str_converters import to_camel_case

from store import models
from store.ids import to_global_id
from tests.support.callers import PRIVACY_ADMIN, SUPPORT

EXPORT = "mutation Export($id: ID!) { exportCustomerData(id: $id) }"
READ = "query Read($id: ID!) { customer(id: $id) { id firstName email } }"
KEYS = {
    "customer",
    "addresses",
    "orders",
    "consents",
    "usageEvents",
    "accessRecords",
    "disclosures",
}

# Columns an export leaves out, and why: the link to the customer is the export itself; which
# other customers an access record names is theirs, not this customer's.
LEFT_OUT = {
    "customer": set(),
    "addresses": {"customerId"},
    "orders": {"customerId"},
    "items": {"id", "orderId"},
    "consents": {"customerId"},
    "usageEvents": {"customerId"},
    # (the key only makes a retry idempotent; a record's orders may be other customers': the
    # disclosures name the customer's own)
    "accessRecords": {"customerIds", "requestKey", "orderIds"},
}
TABLES = {
    "customer": models.Customer,
    "addresses": models.Address,
    "orders": models.Order,
    "items": models.OrderItem,
    "consents": models.Consent,
    "usageEvents": models.UsageEvent,
    "accessRecords": models.AccessRecord,
}


def columns(model: type) -> set[str]:
    mapper: Mapper[Any] = sa_inspect(model)
    return {to_camel_case(column.key) for column in mapper.columns}


def test_export_holds_everything_about_the_customer_and_nothing_else(gql, people) -> None:
    # given a customer whose data support has read once
    maryam, lan = people
    gql(READ, {"id": maryam.id}, scope=SUPPORT, purpose="customer_support")
    # when a privacy administrator exports their data
    body = gql(EXPORT, {"id": maryam.id}, scope=PRIVACY_ADMIN)
    assert "errors" not in body, body
    data = body["data"]["exportCustomerData"]
    # then it has the keys SPEC section 4 names, with every row kept about them
    assert set(data) == KEYS
    customer = data["customer"]
    assert (customer["id"], customer["subject"], customer["firstName"], customer["email"]) == (
        maryam.id,
        maryam.id,
        "مریم",
        "maryam@example.com",
    )
    assert customer["dateOfBirth"] == "1986-04-02"
    assert {a["id"] for a in data["addresses"]} == {
        to_global_id("Address", pk) for pk in maryam.address_ids
    }
    orders = {o["number"]: o for o in data["orders"]}
    paid = orders[f"SO-{maryam.pk}-1"]
    assert (paid["totalAmount"], paid["paymentReference"], paid["paymentTrackingCode"]) == (
        "5000",
        f"PAY{maryam.pk}01",
        f"TRK{maryam.pk}01",
    )
    assert paid["shippingAddressId"] == to_global_id("Address", maryam.address_ids[1])
    assert [i["sku"] for i in paid["items"]] == ["PV-550", "INV-5K"]
    assert [i["sku"] for i in orders[f"SO-{maryam.pk}-2"]["items"]] == ["CBL"]
    assert [(c["purpose"], c["status"]) for c in data["consents"]] == [
        ("marketing", "GRANTED"),
        ("analytics", "WITHDRAWN"),
    ]
    assert [e["kind"] for e in data["usageEvents"]] == ["login", "viewed_order"]
    (access,) = data["accessRecords"]
    assert (access["subject"], access["purpose"], access["operationName"]) == (
        "staff-1",
        "customer_support",
        "Read",
    )
    # and nothing about anyone else
    text = orjson.dumps(data).decode()
    assert lan.id not in text
    assert "lan@example.vn" not in text


def test_export_leaves_out_no_stored_column(gql, people) -> None:
    # given a customer with a row in every table / when exported
    maryam, _ = people
    gql(READ, {"id": maryam.id}, scope=SUPPORT, purpose="customer_support")
    data = gql(EXPORT, {"id": maryam.id}, scope=PRIVACY_ADMIN)["data"]["exportCustomerData"]
    entries = {
        "customer": [data["customer"]],
        "items": [item for order in data["orders"] for item in order["items"]],
        **{key: data[key] for key in KEYS - {"customer"}},
    }
    # then every column of every table is in it, unless left out on purpose
    for section, model in TABLES.items():
        assert entries[section], section
        for entry in entries[section]:
            missing = columns(model) - LEFT_OUT[section] - set(entry)
            assert not missing, (section, missing)


def test_export_is_audited_without_values(gql, tables, people) -> None:
    maryam, _ = people
    gql(EXPORT, {"id": maryam.id}, scope=PRIVACY_ADMIN, sub="privacy-officer")
    (record,) = tables.access_records()
    assert (record.subject, record.purpose, record.operation_name) == (
        "privacy-officer",
        None,
        "Export",
    )
    assert record.customer_ids == [maryam.pk]
    assert {"Mutation.exportCustomerData", "Customer.email", "Order.paymentReference"} <= set(
        record.fields
    )
    stored = orjson.dumps(record.model_dump(mode="json")).decode()
    assert "maryam@example.com" not in stored
    assert "مریم" not in stored


def test_export_of_an_erased_customer_shows_what_is_kept(gql, people) -> None:
    maryam, _ = people
    gql(
        "mutation E($id: ID!) { eraseCustomer(id: $id) { id } }",
        {"id": maryam.id},
        scope=PRIVACY_ADMIN,
    )
    data = gql(EXPORT, {"id": maryam.id}, scope=PRIVACY_ADMIN)["data"]["exportCustomerData"]
    assert data["customer"]["status"] == "ERASED"
    assert data["customer"]["email"] is None
    assert data["customer"]["erasedAt"] is not None
    assert (data["addresses"], data["usageEvents"]) == ([], [])
    assert len(data["orders"]) == 2
    assert {c["status"] for c in data["consents"][2:]} == {"WITHDRAWN"}


def test_export_needs_privacy_admin(gql, tables, people) -> None:
    maryam, _ = people
    body = gql(EXPORT, {"id": maryam.id}, scope=SUPPORT, purpose="customer_support")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["data"]["exportCustomerData"] is None


def test_export_of_an_unknown_customer_is_not_found(gql, people) -> None:
    body = gql(EXPORT, {"id": to_global_id("Customer", 424242)}, scope=PRIVACY_ADMIN)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
