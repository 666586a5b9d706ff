"""Staff mutations. Each runs in its own savepoint: a refused or failed one changes nothing."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import strawberry
from sqlmodel import select
from strawberry import UNSET

from api import models
from api import validation as v
from api.models import AddressLabel, ConsentSource, ConsentStatus, OrderStatus, utcnow
from auth import scopes
from auth.purposes import Purpose
from schema.context import Context, Info
from schema.errors import NotFound, input_error
from schema.ids import InvalidGlobalId, pk_of, to_global_id
from schema.queries import customer_by_pk, order_by_pk, require
from schema.types import (
    Address,
    Consent,
    Customer,
    Order,
)

T = TypeVar("T")

NAME = 100
LINE = 200

TRANSITIONS = {
    OrderStatus.PENDING: {OrderStatus.PAID, OrderStatus.CANCELLED},
    OrderStatus.PAID: {OrderStatus.SHIPPED, OrderStatus.CANCELLED},
    OrderStatus.SHIPPED: {OrderStatus.INSTALLED},
    OrderStatus.INSTALLED: set(),
    OrderStatus.CANCELLED: set(),
}
"""Allowed order status changes; anything else is refused."""


@strawberry.input
class CreateCustomerInput:
    country: str
    preferred_language: str
    first_name: str | None = None
    last_name: str | None = None
    date_of_birth: dt.date | None = None
    email: str | None = None
    mobile_phone: str | None = None
    landline_phone: str | None = None
    subject: str | None = strawberry.field(
        default=None, description="The `sub` the customer's identity provider uses."
    )


@strawberry.input(description="Fields left out stay as they are; null clears a field.")
class UpdateCustomerInput:
    first_name: str | None = UNSET
    last_name: str | None = UNSET
    date_of_birth: dt.date | None = UNSET
    email: str | None = UNSET
    mobile_phone: str | None = UNSET
    landline_phone: str | None = UNSET
    preferred_language: str | None = UNSET


@strawberry.input
class AddressInput:
    label: AddressLabel
    line1: str
    city: str
    line2: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = strawberry.field(default=None, description="Default: the customer's.")
    latitude: float | None = None
    longitude: float | None = None
    is_default: bool = False


@strawberry.input(description="Fields left out stay as they are; null clears a field.")
class UpdateAddressInput:
    label: AddressLabel | None = UNSET
    line1: str | None = UNSET
    line2: str | None = UNSET
    city: str | None = UNSET
    region: str | None = UNSET
    postal_code: str | None = UNSET
    latitude: float | None = UNSET
    longitude: float | None = UNSET
    is_default: bool | None = UNSET


@strawberry.input
class OrderItemInput:
    sku: str
    name: str
    quantity: int
    unit_price: str = strawberry.field(description="In the currency's minor units.")


@strawberry.input
class PlaceOrderInput:
    currency: str
    items: list[OrderItemInput]
    shipping_address_id: strawberry.ID | None = None
    payment_reference: str | None = None
    payment_tracking_code: str | None = None


@contextmanager
def atomic(context: Context) -> Iterator[None]:
    """A savepoint; input errors become GraphQL errors and undo everything."""
    try:
        with context.session.begin_nested():
            yield
    except v.InputError as error:
        raise input_error(error) from None


def _pk(global_id: str, type_name: str, field: str) -> int:
    try:
        return pk_of(global_id, type_name)
    except InvalidGlobalId:
        raise input_error(v.InputError(field, f"{field} is not a {type_name} id")) from None


def _given(value: Any) -> bool:
    return value is not UNSET


def _optional(value: str | None, check: Callable[[str], T]) -> T | None:
    return None if value is None else check(value)


def _customer_fields(data: Any, country: str, prefix: str) -> dict[str, Any]:
    """The validated personal fields present in ``data``; card data is checked first."""
    v.reject_card_data(
        {
            f"{prefix}firstName": _text_or_none(data.first_name),
            f"{prefix}lastName": _text_or_none(data.last_name),
        }
    )
    checks: dict[str, tuple[str, Callable[[Any], Any]]] = {
        "first_name": (
            "firstName",
            lambda x: v.text(x, field=f"{prefix}firstName", max_length=NAME),
        ),
        "last_name": ("lastName", lambda x: v.text(x, field=f"{prefix}lastName", max_length=NAME)),
        "date_of_birth": ("dateOfBirth", lambda x: v.birth_date(x, field=f"{prefix}dateOfBirth")),
        "email": ("email", lambda x: v.email(x, field=f"{prefix}email")),
        "mobile_phone": (
            "mobilePhone",
            lambda x: v.phone(x, field=f"{prefix}mobilePhone", country=country, kind="mobile"),
        ),
        "landline_phone": (
            "landlinePhone",
            lambda x: v.phone(x, field=f"{prefix}landlinePhone", country=country, kind="landline"),
        ),
        "preferred_language": (
            "preferredLanguage",
            lambda x: v.language(x, field=f"{prefix}preferredLanguage"),
        ),
    }
    values: dict[str, Any] = {}
    for attribute, (_name, check) in checks.items():
        value = getattr(data, attribute, UNSET)
        if _given(value):
            values[attribute] = None if value is None else check(value)
    return values


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _address_fields(data: Any, country: str, prefix: str) -> dict[str, Any]:
    v.reject_card_data(
        {
            f"{prefix}{name}": _text_or_none(getattr(data, attribute, None))
            for attribute, name in (
                ("line1", "line1"),
                ("line2", "line2"),
                ("city", "city"),
                ("region", "region"),
            )
        }
    )
    checks: dict[str, Callable[[Any], Any]] = {
        "label": lambda x: x.value,
        "line1": lambda x: v.text(x, field=f"{prefix}line1", max_length=LINE),
        "line2": lambda x: v.text(x, field=f"{prefix}line2", max_length=LINE),
        "city": lambda x: v.text(x, field=f"{prefix}city", max_length=NAME),
        "region": lambda x: v.text(x, field=f"{prefix}region", max_length=NAME),
        "postal_code": lambda x: v.postal_code(x, field=f"{prefix}postalCode", country=country),
        "latitude": lambda x: v.latitude(x, field=f"{prefix}latitude"),
        "longitude": lambda x: v.longitude(x, field=f"{prefix}longitude"),
        "is_default": bool,
    }
    values: dict[str, Any] = {}
    required = {"label", "line1", "city", "is_default"}
    for attribute, check in checks.items():
        value = getattr(data, attribute, UNSET)
        if not _given(value):
            continue
        if value is None and attribute in required:
            raise v.InputError(f"{prefix}{attribute}", f"{prefix}{attribute} cannot be null")
        values[attribute] = None if value is None else check(value)
    return values


def _make_default(context: Context, address: models.Address) -> None:
    others = context.session.scalars(
        select(models.Address).where(
            models.Address.customer_id == address.customer_id,
            models.Address.id != address.id,
            models.Address.is_default.is_(True),  # type: ignore[attr-defined]
        )
    )
    for other in others:
        other.is_default = False


def _visible_customer(context: Context, customer_id: str, field: str) -> models.Customer:
    customer = customer_by_pk(context, _pk(customer_id, "Customer", field))
    if customer is None or customer.status == models.CustomerStatus.ERASED:
        raise NotFound("customer")
    return customer


def _visible_address(context: Context, address_id: str) -> models.Address:
    address = context.session.get(models.Address, _pk(address_id, "Address", "id"))
    if address is None or customer_by_pk(context, address.customer_id) is None:
        raise NotFound("address")
    return address


def create_customer(context: Context, data: CreateCustomerInput) -> models.Customer:
    """Validate and insert a customer; its subject defaults to its global id."""
    country = v.country(data.country, field="input.country")
    values = _customer_fields(data, country, "input.")
    subject = None
    if data.subject is not None:
        subject = v.identifier(data.subject, field="input.subject", max_length=255)
    customer = models.Customer(country=country, **values)
    context.session.add(customer)
    context.session.flush()
    customer.subject = subject or to_global_id("Customer", customer.id)  # type: ignore[arg-type]
    if subject is not None and context.session.scalar(
        select(models.Customer.id).where(
            models.Customer.subject == subject, models.Customer.id != customer.id
        )
    ):
        raise v.InputError("input.subject", "input.subject is already linked to a customer")
    context.session.flush()
    return customer


def place_order(context: Context, customer: models.Customer, data: PlaceOrderInput) -> models.Order:
    """Validate and insert an order with its items, PENDING."""
    v.reject_card_data({f"input.items.{i}.name": item.name for i, item in enumerate(data.items)})
    currency = v.currency(data.currency, field="input.currency")
    if not data.items:
        raise v.InputError("input.items", "input.items must hold at least one item")
    if len(data.items) > 100:
        raise v.InputError("input.items", "input.items may hold at most 100 items")
    items = []
    for i, item in enumerate(data.items):
        prefix = f"input.items.{i}."
        items.append(
            models.OrderItem(
                order_id=0,
                sku=v.identifier(item.sku, field=f"{prefix}sku"),
                name=v.text(item.name, field=f"{prefix}name", max_length=LINE),
                quantity=v.positive_int(item.quantity, field=f"{prefix}quantity"),
                unit_price=v.non_negative_int(item.unit_price, field=f"{prefix}unitPrice"),
            )
        )
    total = sum(item.quantity * item.unit_price for item in items)
    if total > v.INT64_MAX:
        raise v.InputError("input.items", "the order total is too large")
    shipping_id = None
    if data.shipping_address_id is not None:
        shipping_id = _pk(data.shipping_address_id, "Address", "input.shippingAddressId")
        address = context.session.get(models.Address, shipping_id)
        if address is None or address.customer_id != customer.id:
            raise v.InputError("input.shippingAddressId", "no such address of this customer")
    order = models.Order(
        customer_id=customer.id,  # type: ignore[arg-type]
        number=f"SO-{utcnow():%Y}-{secrets.token_hex(5).upper()}",
        total_amount=total,
        currency=currency,
        shipping_address_id=shipping_id,
        payment_reference=_optional(
            data.payment_reference, lambda x: v.identifier(x, field="input.paymentReference")
        ),
        payment_tracking_code=_optional(
            data.payment_tracking_code,
            lambda x: v.identifier(x, field="input.paymentTrackingCode"),
        ),
    )
    context.session.add(order)
    context.session.flush()
    for line in items:
        line.order_id = order.id  # type: ignore[assignment]
    context.session.add_all(items)
    context.session.flush()
    return order


def record_consent(
    context: Context,
    customer: models.Customer,
    purpose: str,
    granted: bool,
    source: str,
    policy_version: str | None,
) -> models.Consent:
    """Append a consent record; the ledger is never rewritten."""
    consent = models.Consent(
        customer_id=customer.id,  # type: ignore[arg-type]
        purpose=purpose,
        status=ConsentStatus.GRANTED if granted else ConsentStatus.WITHDRAWN,
        source=source,
        policy_version=_optional(
            policy_version, lambda x: v.text(x, field="policyVersion", max_length=32)
        ),
    )
    context.session.add(consent)
    context.session.flush()
    return consent


def touch(customer: models.Customer) -> None:
    """Mark the customer as changed now."""
    customer.updated_at = utcnow()


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Register a customer (customers:write).")
    def create_customer(self, info: Info, input: CreateCustomerInput) -> Customer | None:
        context = info.context
        require(context, scopes.CUSTOMERS_WRITE)
        with atomic(context):
            customer = create_customer(context, input)
        context.loaders.saw_customers([customer])
        return customer  # type: ignore[return-value]

    @strawberry.mutation(description="Correct a customer's details (customers:write).")
    def update_customer(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateCustomerInput,
    ) -> Customer | None:
        context = info.context
        require(context, scopes.CUSTOMERS_WRITE)
        with atomic(context):
            customer = _visible_customer(context, id, "id")
            for attribute, value in _customer_fields(input, customer.country, "input.").items():
                setattr(customer, attribute, value)
            touch(customer)
            context.session.flush()
        return customer  # type: ignore[return-value]

    @strawberry.mutation(description="Add an address to a customer (addresses:write).")
    def add_address(
        self,
        info: Info,
        customer_id: strawberry.ID,
        input: AddressInput,
    ) -> Address | None:
        context = info.context
        require(context, scopes.ADDRESSES_WRITE)
        with atomic(context):
            customer = _visible_customer(context, customer_id, "customerId")
            country = v.country(input.country or customer.country, field="input.country")
            values = _address_fields(input, country, "input.")
            address = models.Address(customer_id=customer.id, country=country, **values)  # type: ignore[arg-type]
            context.session.add(address)
            context.session.flush()
            if address.is_default:
                _make_default(context, address)
            touch(customer)
            context.session.flush()
        return address  # type: ignore[return-value]

    @strawberry.mutation(description="Change an address (addresses:write).")
    def update_address(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateAddressInput,
    ) -> Address | None:
        context = info.context
        require(context, scopes.ADDRESSES_WRITE)
        with atomic(context):
            address = _visible_address(context, id)
            for attribute, value in _address_fields(input, address.country, "input.").items():
                setattr(address, attribute, value)
            if address.is_default:
                _make_default(context, address)
            context.session.flush()
        return address  # type: ignore[return-value]

    @strawberry.mutation(description="Remove an address; returns its id (addresses:write).")
    def remove_address(self, info: Info, id: strawberry.ID) -> strawberry.ID | None:
        context = info.context
        require(context, scopes.ADDRESSES_WRITE)
        with atomic(context):
            address = _visible_address(context, id)
            context.session.delete(address)
            context.session.flush()
        return id

    @strawberry.mutation(description="Place an order for a customer (orders:write).")
    def place_order(
        self,
        info: Info,
        customer_id: strawberry.ID,
        input: PlaceOrderInput,
    ) -> Order | None:
        context = info.context
        require(context, scopes.ORDERS_WRITE)
        with atomic(context):
            customer = _visible_customer(context, customer_id, "customerId")
            order = place_order(context, customer, input)
        context.loaders.saw_orders([order])
        return order  # type: ignore[return-value]

    @strawberry.mutation(description="Move an order along its life cycle (orders:write).")
    def update_order_status(
        self,
        info: Info,
        id: strawberry.ID,
        status: OrderStatus,
    ) -> Order | None:
        context = info.context
        require(context, scopes.ORDERS_WRITE)
        with atomic(context):
            order = order_by_pk(context, _pk(id, "Order", "id"))
            if order is None:
                raise NotFound("order")
            current = OrderStatus(order.status)
            if status not in TRANSITIONS[current]:
                raise v.InputError("status", f"an order that is {current} cannot become {status}")
            order.status = status.value
            context.session.flush()
        return order  # type: ignore[return-value]

    @strawberry.mutation(description="Append a consent record for a customer (consents:write).")
    def record_consent(
        self,
        info: Info,
        customer_id: strawberry.ID,
        purpose: Purpose,
        granted: bool,
        source: ConsentSource,
        policy_version: str | None = None,
    ) -> Consent | None:
        context = info.context
        require(context, scopes.CONSENTS_WRITE)
        with atomic(context):
            customer = _visible_customer(context, customer_id, "customerId")
            return record_consent(  # type: ignore[return-value]
                context, customer, purpose.value, granted, source.value, policy_version
            )
