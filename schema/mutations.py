"""Staff mutations: thin adapters over `privacy`, each in its own savepoint.

A refused or failed mutation changes nothing. Each declares its rule with `Requires`
(`auth.policy.roots`) and sees the same rows as a read under the request's purpose.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import strawberry
from strawberry import UNSET

from auth.policy.purposes import Purpose
from privacy import addresses, assignments, consents, customers, lookups, orders
from privacy.errors import NotFound
from privacy.lookups import pk_argument
from schema.context import Context, Info
from schema.permissions import Requires
from schema.queries import order_by_pk
from schema.types import Address, Consent, Customer, Order
from store import models
from store.models import AddressLabel, ConsentSource, OrderStatus


@strawberry.input
class CustomerDetails:
    """What a new customer is made of: staff's `CreateCustomerInput` and the person's own
    `RegisterMeInput` extend it (never in the schema by itself)."""

    country: str
    preferred_language: str
    first_name: str | None = None
    last_name: str | None = None
    date_of_birth: dt.date | None = None
    email: str | None = None
    mobile_phone: str | None = None
    landline_phone: str | None = None


@strawberry.input
class CreateCustomerInput(CustomerDetails):
    subject: str | None = strawberry.field(
        default=None,
        description=(
            "The `sub` the customer's identity provider uses. Default: the customer's id, "
            "for tokens of Steward's own issuer."
        ),
    )
    subject_issuer: str | None = strawberry.field(
        default=None,
        description=(
            "The `iss` of that provider: the external one's or Steward's own (its public "
            "URL). Default: the external provider's when one is trusted, else Steward's own."
        ),
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
    subject: str | None = strawberry.field(
        default=UNSET,
        description=(
            "updateCustomer only (staff): link the customer to this `sub` of its identity "
            "provider; null: back to the default (the customer's id, Steward's own issuer)."
        ),
    )
    subject_issuer: str | None = strawberry.field(
        default=UNSET,
        description=(
            "updateCustomer only, with subject: the `iss` of that provider. Default: the "
            "external provider's when one is trusted, else Steward's own."
        ),
    )


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
    """A savepoint: an error inside undoes everything the mutation wrote."""
    with context.session.begin_nested():
        yield


def given(data: Any) -> dict[str, Any]:
    """The fields of an input object that the client gave (left-out fields are ``UNSET``)."""
    return {
        field.name: getattr(data, field.name)
        for field in dataclasses.fields(data)
        if getattr(data, field.name) is not UNSET
    }


def customer_argument(context: Context, customer_id: str, field: str) -> models.Customer:
    """The customer a global id argument names, if it exists for the caller and is not
    erased (else `NotFound`), noted as seen."""
    pk = pk_argument(customer_id, "Customer", field)
    customer = lookups.active_customer(context.session, context.scope, pk)
    context.loaders.saw_customers([customer])
    return customer


def _address(context: Context, address_id: str) -> models.Address:
    pk = pk_argument(address_id, "Address", "id")
    return lookups.address(context.session, context.scope, pk)


def _order(context: Context, order_id: str) -> models.Order:
    order = order_by_pk(context, pk_argument(order_id, "Order", "orderId"))
    if order is None:
        raise NotFound("order")
    return order


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Register a customer (customers:write).",
        permission_classes=[Requires],
        graphql_type=Customer | None,
    )
    def create_customer(self, info: Info, input: CreateCustomerInput) -> models.Customer | None:
        context = info.context
        with atomic(context):
            fields = given(input)
            subject = fields.pop("subject", None)
            issuer = fields.pop("subject_issuer", None)
            customer = customers.create_customer(
                context.session, fields, subject, context.scope.issuers, issuer
            )
        context.loaders.saw_customers([customer])
        return customer

    @strawberry.mutation(
        description="Correct a customer's details (customers:write).",
        permission_classes=[Requires],
        graphql_type=Customer | None,
    )
    def update_customer(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateCustomerInput,
    ) -> models.Customer | None:
        context = info.context
        with atomic(context):
            customer = customer_argument(context, id, "id")
            # A partner (a third party) never decides who signs in as a customer.
            issuers = None if context.scope.principal.partner else context.scope.issuers
            customers.update_customer(context.session, customer, given(input), issuers)
        return customer

    @strawberry.mutation(
        description="Add an address to a customer (addresses:write).",
        permission_classes=[Requires],
        graphql_type=Address | None,
    )
    def add_address(
        self,
        info: Info,
        customer_id: strawberry.ID,
        input: AddressInput,
    ) -> models.Address | None:
        context = info.context
        with atomic(context):
            customer = customer_argument(context, customer_id, "customerId")
            return addresses.add_address(context.session, customer, given(input))

    @strawberry.mutation(
        description="Change an address (addresses:write).",
        permission_classes=[Requires],
        graphql_type=Address | None,
    )
    def update_address(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateAddressInput,
    ) -> models.Address | None:
        context = info.context
        with atomic(context):
            address = _address(context, id)
            addresses.update_address(context.session, address, given(input))
        return address

    @strawberry.mutation(
        description="Remove an address; returns its id (addresses:write).",
        permission_classes=[Requires],
    )
    def remove_address(self, info: Info, id: strawberry.ID) -> strawberry.ID | None:
        context = info.context
        with atomic(context):
            address = _address(context, id)
            addresses.remove_address(context.session, address)
        context.customers_read.add(address.customer_id)  # no object returned: noted here
        return id

    @strawberry.mutation(
        description="Place an order for a customer (orders:write).",
        permission_classes=[Requires],
        graphql_type=Order | None,
    )
    def place_order(
        self,
        info: Info,
        customer_id: strawberry.ID,
        input: PlaceOrderInput,
    ) -> models.Order | None:
        context = info.context
        with atomic(context):
            customer = customer_argument(context, customer_id, "customerId")
            shipping = None
            if input.shipping_address_id is not None:
                shipping = pk_argument(
                    input.shipping_address_id, "Address", "input.shippingAddressId"
                )
            order = orders.place_order(
                context.session,
                customer,
                given(input),
                [given(item) for item in input.items],
                shipping,
            )
        context.loaders.saw_orders([order])
        return order

    @strawberry.mutation(
        description="Move an order along its life cycle (orders:write).",
        permission_classes=[Requires],
        graphql_type=Order | None,
    )
    def update_order_status(
        self,
        info: Info,
        id: strawberry.ID,
        status: OrderStatus,
    ) -> models.Order | None:
        context = info.context
        with atomic(context):
            order = order_by_pk(context, pk_argument(id, "Order", "id"))
            if order is None:
                raise NotFound("order")
            orders.update_order_status(context.session, context.scope, order, status)
        return order

    @strawberry.mutation(
        description=(
            "Assign an order to a partner (orders:write): a partner with assigned access sees "
            "only its assigned orders, their customers and shipping addresses."
        ),
        permission_classes=[Requires],
        graphql_type=Order | None,
    )
    def assign_order(
        self,
        info: Info,
        order_id: strawberry.ID,
        partner: Annotated[str, strawberry.argument(description="The partner's client id.")],
        until: Annotated[
            dt.datetime | None,
            strawberry.argument(
                description=(
                    "When the assignment ends; it also ends PARTNER_ASSIGNMENT_DAYS after the "
                    "order leaves PAID and SHIPPED."
                )
            ),
        ] = None,
    ) -> models.Order | None:
        context = info.context
        with atomic(context):
            order = _order(context, order_id)
            assignments.assign(
                context.session,
                order,
                partner,
                until,
                created_by=context.scope.principal.subject,
            )
        return order

    @strawberry.mutation(
        description="End an order's assignment to a partner now (orders:write).",
        permission_classes=[Requires],
        graphql_type=Order | None,
    )
    def unassign_order(
        self,
        info: Info,
        order_id: strawberry.ID,
        partner: Annotated[str, strawberry.argument(description="The partner's client id.")],
    ) -> models.Order | None:
        context = info.context
        with atomic(context):
            order = _order(context, order_id)
            assignments.unassign(context.session, order, partner)
        return order

    @strawberry.mutation(
        description="Append a consent record for a customer (consents:write).",
        permission_classes=[Requires],
        graphql_type=Consent | None,
    )
    def record_consent(
        self,
        info: Info,
        customer_id: strawberry.ID,
        purpose: Purpose,
        granted: bool,
        source: ConsentSource,
        policy_version: str | None = None,
        recipient: Annotated[
            str | None,
            strawberry.argument(
                description=(
                    "THIRD_PARTY_SHARING only: the partner's client id; null for every partner."
                )
            ),
        ] = None,
        notice_version: Annotated[
            str | None, strawberry.argument(description="The version of the notice shown.")
        ] = None,
        language: Annotated[
            str | None,
            strawberry.argument(description="The language of the notice shown (BCP 47)."),
        ] = None,
        valid_until: Annotated[
            dt.datetime | None,
            strawberry.argument(
                description="A granted consent's end: past it, it counts as withdrawn."
            ),
        ] = None,
    ) -> models.Consent | None:
        context = info.context
        with atomic(context):
            customer = customer_argument(context, customer_id, "customerId")
            return consents.record_consent(
                context.session,
                customer,
                purpose,
                granted,
                source,
                policy_version,
                recipient,
                notice_version=notice_version,
                language=language,
                valid_until=valid_until,
            )
