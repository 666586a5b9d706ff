"""Staff mutations over HTTP: validation, atomicity and what is stored (read back from tables)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from auth.policy import scopes as s
from auth.policy.purposes import Purpose
from store import models
from store.ids import to_global_id
from tests.support.callers import scope

STAFF = scope(
    s.CUSTOMERS_READ,
    s.CUSTOMERS_READ_IDENTITY,
    s.CUSTOMERS_READ_CONTACT,
    s.CUSTOMERS_WRITE,
    s.ADDRESSES_READ,
    s.ADDRESSES_WRITE,
    s.ORDERS_READ,
    s.ORDERS_READ_PAYMENT,
    s.ORDERS_WRITE,
    s.CONSENTS_READ,
    s.CONSENTS_WRITE,
    Purpose.CUSTOMER_SUPPORT.scope,
)
PURPOSE = "customer_support"

CREATE = """
mutation Create($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    id status country preferredLanguage firstName lastName dateOfBirth email mobilePhone
    landlinePhone
  }
}
"""
UPDATE = """
mutation Update($id: ID!, $input: UpdateCustomerInput!) {
  updateCustomer(id: $id, input: $input) { id firstName lastName email landlinePhone updatedAt }
}
"""
ADD_ADDRESS = """
mutation Add($customerId: ID!, $input: AddressInput!) {
  addAddress(customerId: $customerId, input: $input) {
    id label line1 line2 city region postalCode country isDefault
  }
}
"""
UPDATE_ADDRESS = """
mutation Update($id: ID!, $input: UpdateAddressInput!) {
  updateAddress(id: $id, input: $input) { id line1 postalCode isDefault }
}
"""
REMOVE_ADDRESS = "mutation Remove($id: ID!) { removeAddress(id: $id) }"
PLACE = """
mutation Place($customerId: ID!, $input: PlaceOrderInput!) {
  placeOrder(customerId: $customerId, input: $input) {
    id number status totalAmount currency paymentReference
    items { sku name quantity unitPrice } shippingAddress { id }
  }
}
"""
STATUS = """
mutation Status($id: ID!, $status: OrderStatus!) { updateOrderStatus(id: $id, status: $status) {
  id status } }
"""
CONSENT = """
mutation Consent($customerId: ID!, $purpose: Purpose!, $granted: Boolean!) {
  recordConsent(customerId: $customerId, purpose: $purpose, granted: $granted, source: WEB,
                policyVersion: "2026-01") { id purpose status source policyVersion }
}
"""

PERSIAN = {
    "country": "IR",
    "preferredLanguage": "fa-IR",
    "firstName": "مریم",
    "lastName": "رضایی",
    "dateOfBirth": "1988-03-21",
    "email": "maryam@example.com",
    "mobilePhone": "۰۹۱۲ ۳۴۵ ۶۷۸۹",
    "landlinePhone": "021 8888 1234",
}


def counts(session: Session) -> dict[str, int]:
    session.rollback()
    tables: list[Any] = [
        models.Customer,
        models.Address,
        models.Order,
        models.OrderItem,
        models.Consent,
    ]
    return {
        table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0
        for table in tables
    }


def create(gql: Any, **changes: Any) -> dict[str, Any]:
    body = gql(CREATE, {"input": {**PERSIAN, **changes}}, scope=STAFF, purpose=PURPOSE)
    assert "errors" not in body, body
    return body["data"]["createCustomer"]  # type: ignore[no-any-return]


def test_create_customer_normalises_and_stores(gql, session) -> None:
    # given Persian digits in the phone and a local landline / when the customer is created
    created = create(gql)
    # then the response and the table hold the normalised values
    assert created["mobilePhone"] == "+989123456789"
    assert created["landlinePhone"] == "+982188881234"
    assert created["status"] == "ACTIVE"
    row = session.scalars(select(models.Customer)).one()
    assert (row.first_name, row.email, row.mobile_phone) == (
        "مریم",
        "maryam@example.com",
        "+989123456789",
    )
    assert row.subject == created["id"] == to_global_id("Customer", row.id)


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"mobilePhone": "12345"}, "input.mobilePhone", "BAD_USER_INPUT"),
        ({"mobilePhone": "021 8888 1234"}, "input.mobilePhone", "BAD_USER_INPUT"),
        ({"email": "not-an-email"}, "input.email", "BAD_USER_INPUT"),
        ({"dateOfBirth": "2999-01-01"}, "input.dateOfBirth", "BAD_USER_INPUT"),
        ({"firstName": "x" * 101}, "input.firstName", "BAD_USER_INPUT"),
        ({"firstName": "   "}, "input.firstName", "BAD_USER_INPUT"),
        ({"country": "XX"}, "input.country", "BAD_USER_INPUT"),
        ({"preferredLanguage": "not a language"}, "input.preferredLanguage", "BAD_USER_INPUT"),
        ({"lastName": "Card 4111 1111 1111 1111"}, "input.lastName", "CARD_DATA_REJECTED"),
        (
            {"firstName": "4111-1111-1111-1111", "email": "bad", "mobilePhone": "1"},
            "input.firstName",
            "CARD_DATA_REJECTED",
        ),
    ],
)
def test_bad_customer_input_names_the_field_and_stores_nothing(
    gql, session, changes, field, code
) -> None:
    # given an empty database / when a create carries one bad value
    body = gql(CREATE, {"input": {**PERSIAN, **changes}}, scope=STAFF, purpose=PURPOSE)
    # then the error names the field and code, never echoes the value, and nothing is stored
    error = body["errors"][0]
    assert error["extensions"] == {"code": code, "field": field}
    assert body["data"]["createCustomer"] is None
    for value in changes.values():
        assert value not in error["message"]
    assert counts(session)["customer"] == 0


def test_update_keeps_what_is_left_out_and_clears_null(gql, session) -> None:
    created = create(gql)
    body = gql(
        UPDATE,
        {"id": created["id"], "input": {"lastName": "  Rezaei ", "landlinePhone": None}},
        scope=STAFF,
        purpose=PURPOSE,
    )
    updated = body["data"]["updateCustomer"]
    assert updated["lastName"] == "Rezaei"
    assert updated["firstName"] == "مریم"
    assert updated["landlinePhone"] is None
    session.rollback()
    row = session.scalars(select(models.Customer)).one()
    assert (row.last_name, row.landline_phone, row.email) == ("Rezaei", None, "maryam@example.com")


def test_rejected_update_changes_nothing(gql, session) -> None:
    created = create(gql)
    body = gql(
        UPDATE,
        {"id": created["id"], "input": {"lastName": "Ok", "email": "broken@"}},
        scope=STAFF,
        purpose=PURPOSE,
    )
    assert body["errors"][0]["extensions"]["field"] == "input.email"
    session.rollback()
    assert session.scalars(select(models.Customer)).one().last_name == "رضایی"


def test_unknown_customer_is_not_found(gql) -> None:
    body = gql(
        UPDATE,
        {"id": to_global_id("Customer", 424242), "input": {"lastName": "X"}},
        scope=STAFF,
        purpose=PURPOSE,
    )
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


HOME = {
    "label": "HOME",
    "line1": "خیابان ولیعصر، پلاک ۱۲",
    "city": "تهران",
    "postalCode": "۱۲۳۴۵۶۷۸۹۰",
}


def test_addresses_add_update_default_and_remove(gql, session) -> None:
    customer = create(gql)
    first = gql(
        ADD_ADDRESS,
        {"customerId": customer["id"], "input": {**HOME, "isDefault": True}},
        scope=STAFF,
        purpose=PURPOSE,
    )["data"]["addAddress"]
    assert first["postalCode"] == "1234567890"
    assert first["country"] == "IR"
    second = gql(
        ADD_ADDRESS,
        {
            "customerId": customer["id"],
            "input": {**HOME, "label": "INSTALLATION_SITE", "isDefault": True},
        },
        scope=STAFF,
        purpose=PURPOSE,
    )["data"]["addAddress"]
    session.rollback()
    defaults = session.scalars(select(models.Address).where(col(models.Address.is_default))).all()
    assert [to_global_id("Address", a.id) for a in defaults] == [second["id"]]
    updated = gql(
        UPDATE_ADDRESS,
        {"id": first["id"], "input": {"line1": "Valiasr St 12", "postalCode": "1111111111"}},
        scope=STAFF,
        purpose=PURPOSE,
    )["data"]["updateAddress"]
    assert (updated["line1"], updated["postalCode"]) == ("Valiasr St 12", "1111111111")
    removed = gql(REMOVE_ADDRESS, {"id": first["id"]}, scope=STAFF, purpose=PURPOSE)
    assert removed["data"]["removeAddress"] == first["id"]
    assert counts(session)["address"] == 1


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"postalCode": "12345"}, "input.postalCode", "BAD_USER_INPUT"),
        ({"latitude": 91.0}, "input.latitude", "BAD_USER_INPUT"),
        ({"line2": "5500 0000 0000 0004"}, "input.line2", "CARD_DATA_REJECTED"),
        ({"city": "4111111111111111", "postalCode": "1"}, "input.city", "CARD_DATA_REJECTED"),
    ],
)
def test_bad_address_is_refused_and_nothing_stored(gql, session, changes, field, code) -> None:
    customer = create(gql)
    body = gql(
        ADD_ADDRESS,
        {"customerId": customer["id"], "input": {**HOME, **changes}},
        scope=STAFF,
        purpose=PURPOSE,
    )
    assert body["errors"][0]["extensions"] == {"code": code, "field": field}
    assert counts(session)["address"] == 0


def _order_input(**changes: Any) -> dict[str, Any]:
    return {
        "currency": "IRR",
        "items": [
            {
                "sku": "PV-550",
                "name": "Solar panel 550 W",
                "quantity": 4,
                "unitPrice": "1250000000",
            },
            {"sku": "INV-5K", "name": "Inverter 5 kW", "quantity": 1, "unitPrice": "9800000000"},
        ],
        "paymentReference": "778812",
        **changes,
    }


def test_place_order_and_move_it_along(gql, session) -> None:
    customer = create(gql)
    address = gql(
        ADD_ADDRESS, {"customerId": customer["id"], "input": HOME}, scope=STAFF, purpose=PURPOSE
    )["data"]["addAddress"]
    order = gql(
        PLACE,
        {"customerId": customer["id"], "input": _order_input(shippingAddressId=address["id"])},
        scope=STAFF,
        purpose=PURPOSE,
    )["data"]["placeOrder"]
    assert order["status"] == "PENDING"
    assert order["totalAmount"] == str(4 * 1250000000 + 9800000000)
    assert order["shippingAddress"] == {"id": address["id"]}
    assert [i["sku"] for i in order["items"]] == ["PV-550", "INV-5K"]
    assert counts(session)["order_item"] == 2
    for status in ("PAID", "SHIPPED", "INSTALLED"):
        moved = gql(STATUS, {"id": order["id"], "status": status}, scope=STAFF, purpose=PURPOSE)
        assert moved["data"]["updateOrderStatus"]["status"] == status
    refused = gql(STATUS, {"id": order["id"], "status": "PENDING"}, scope=STAFF, purpose=PURPOSE)
    assert refused["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "status"}
    session.rollback()
    assert session.scalars(select(models.Order)).one().status == "INSTALLED"


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"currency": "XYZ"}, "input.currency", "BAD_USER_INPUT"),
        ({"items": []}, "input.items", "BAD_USER_INPUT"),
        (
            {"items": [{"sku": "A", "name": "Panel", "quantity": 0, "unitPrice": "1"}]},
            "input.items.0.quantity",
            "BAD_USER_INPUT",
        ),
        (
            {"items": [{"sku": "A", "name": "Panel", "quantity": 1, "unitPrice": "-5"}]},
            "input.items.0.unitPrice",
            "BAD_USER_INPUT",
        ),
        (
            {
                "items": [
                    {"sku": "A", "name": "4111 1111 1111 1111", "quantity": 1, "unitPrice": "1"}
                ]
            },
            "input.items.0.name",
            "CARD_DATA_REJECTED",
        ),
        ({"paymentReference": "ref with spaces"}, "input.paymentReference", "BAD_USER_INPUT"),
    ],
)
def test_bad_order_stores_nothing(gql, session, changes, field, code) -> None:
    customer = create(gql)
    body = gql(
        PLACE,
        {"customerId": customer["id"], "input": _order_input(**changes)},
        scope=STAFF,
        purpose=PURPOSE,
    )
    assert body["errors"][0]["extensions"] == {"code": code, "field": field}
    assert counts(session)["customer_order"] == counts(session)["order_item"] == 0


def test_consents_are_appended_never_rewritten(gql, session) -> None:
    customer = create(gql)
    for granted in (True, False, True):
        body = gql(
            CONSENT,
            {"customerId": customer["id"], "purpose": "MARKETING", "granted": granted},
            scope=STAFF,
            purpose=PURPOSE,
        )
        assert body["data"]["recordConsent"]["status"] == ("GRANTED" if granted else "WITHDRAWN")
    rows = session.scalars(select(models.Consent).order_by(col(models.Consent.id))).all()
    assert [r.status for r in rows] == ["GRANTED", "WITHDRAWN", "GRANTED"]
    assert {r.purpose for r in rows} == {"marketing"}


def test_writes_need_their_scope(gql, session) -> None:
    body = gql(
        CREATE,
        {"input": PERSIAN},
        scope="customers:read purpose:customer_support",
        purpose=PURPOSE,
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["path"] == ["createCustomer"]
    assert counts(session)["customer"] == 0
