"""The GraphQL types. Their values are the database rows themselves; fields read attributes.

Each field of a data type is `guarded`: the catalog (`auth.policy.catalog`) decides who may read
it, and the schema's description of the field says so; building the schema fails where a type
here and the catalog disagree (`schema.conformance`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

import strawberry
from graphql import GraphQLResolveInfo
from strawberry.permission import PermissionExtension
from strawberry.scalars import JSON

from auth.policy.purposes import Purpose
from schema.context import Info
from schema.pagination import encode_cursor, page_window
from schema.permissions import FieldPolicy, guarded
from store import models
from store.ids import to_global_id
from store.models import AddressLabel, ConsentSource, ConsentStatus, CustomerStatus, OrderStatus

if TYPE_CHECKING:
    from schema.context import Context

strawberry.enum(CustomerStatus, name="CustomerStatus")
strawberry.enum(AddressLabel, name="AddressLabel")
strawberry.enum(OrderStatus, name="OrderStatus")
strawberry.enum(ConsentStatus, name="ConsentStatus")
strawberry.enum(ConsentSource, name="ConsentSource")
strawberry.enum(Purpose, name="Purpose", description="A purpose of processing.")

T = TypeVar("T")

AGE_BANDS = (
    (18, "0-17"),
    (25, "18-24"),
    (35, "25-34"),
    (45, "35-44"),
    (55, "45-54"),
    (65, "55-64"),
)


def age_band(born: dt.date, today: dt.date) -> str:
    """The age band of someone born on ``born``.

    >>> age_band(dt.date(2000, 6, 1), dt.date(2026, 5, 31))
    '25-34'
    """
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    for limit, band in AGE_BANDS:
        if age < limit:
            return band
    return "65+"


def _global_id(type_name: str) -> Any:
    def resolve(source: Any, _info: GraphQLResolveInfo[Any]) -> str:
        return to_global_id(type_name, source.id)

    return resolve


def _context(info: GraphQLResolveInfo[Any]) -> Context:
    context: Context = info.context
    return context


def _completes(obj: Any, info: GraphQLResolveInfo[Any], model: type[Any], owner: str) -> bool:
    """Whether ``obj`` is a row of ``model``; if so, the response discloses its customer.

    graphql-core asks this of every object it puts into the response, so the audit learns
    exactly whose data was disclosed: not the rows loaded, only the rows returned.
    """
    if not isinstance(obj, model):
        return False
    _context(info).customers_read.add(getattr(obj, owner))
    return True


@strawberry.interface(description="An object with a global id.")
class Node:
    id: strawberry.ID


@strawberry.type(description="Where a customer lives, installs or is billed.")
class Address(Node):
    id: strawberry.ID = guarded(_global_id("Address"))
    label: AddressLabel | None = guarded()
    line1: str | None = guarded()
    line2: str | None = guarded()
    city: str | None = guarded()
    region: str | None = guarded()
    postal_code: str | None = guarded()
    country: str | None = guarded(description="ISO 3166-1 alpha-2.")
    latitude: float | None = guarded()
    longitude: float | None = guarded()
    is_default: bool | None = guarded()

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return _completes(obj, info, models.Address, "customer_id")


@strawberry.type(description="One line of an order. Prices are in the currency's minor units.")
class OrderItem:
    sku: str | None = guarded()
    name: str | None = guarded()
    quantity: int | None = guarded()
    unit_price: str | None = guarded(lambda source, _info: str(source.unit_price))

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, models.OrderItem)


def _items(source: models.Order, info: GraphQLResolveInfo[Any]) -> list[models.OrderItem]:
    return _context(info).loaders.items.get(source.id)  # type: ignore[arg-type]


def _shipping_address(source: models.Order, info: GraphQLResolveInfo[Any]) -> models.Address | None:
    if source.shipping_address_id is None:
        return None
    return _context(info).loaders.address_by_id.get(source.shipping_address_id)


def _order_customer(source: models.Order, info: GraphQLResolveInfo[Any]) -> models.Customer | None:
    return _context(info).loaders.customer_by_id.get(source.customer_id)


@strawberry.type(description="An order of goods or an installation.")
class Order(Node):
    id: strawberry.ID = guarded(_global_id("Order"))
    number: str | None = guarded()
    status: OrderStatus | None = guarded()
    placed_at: dt.datetime | None = guarded()
    total_amount: str | None = guarded(
        lambda source, _info: str(source.total_amount),
        description="The total, a decimal string in the currency's ISO 4217 minor units.",
    )
    currency: str | None = guarded(description="ISO 4217 code.")
    items: list[OrderItem] | None = guarded(_items)
    shipping_address: Address | None = guarded(_shipping_address)
    payment_reference: str | None = guarded(description="The bank's payment number.")
    payment_tracking_code: str | None = guarded()
    customer: Annotated[Customer, strawberry.lazy("schema.types")] | None = guarded(_order_customer)

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return _completes(obj, info, models.Order, "customer_id")


@strawberry.type(description="One record of the append-only consent ledger.")
class Consent(Node):
    id: strawberry.ID = guarded(_global_id("Consent"))
    purpose: Purpose | None = guarded()
    status: ConsentStatus | None = guarded()
    recorded_at: dt.datetime | None = guarded()
    source: ConsentSource | None = guarded()
    policy_version: str | None = guarded()
    recipient: str | None = guarded(
        description="THIRD_PARTY_SHARING: the partner's client id; null for every partner."
    )
    notice_version: str | None = guarded(
        description="Evidence: the version of the privacy notice the customer was shown."
    )
    language: str | None = guarded(
        description="Evidence: the language of the notice the customer was shown (BCP 47)."
    )
    valid_until: dt.datetime | None = guarded(
        description="A conditional consent's end: past it, the consent counts as withdrawn."
    )

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return _completes(obj, info, models.Consent, "customer_id")


@strawberry.type(description="How the customer used the service.")
class UsageEvent(Node):
    id: strawberry.ID = guarded(_global_id("UsageEvent"))
    occurred_at: dt.datetime | None = guarded()
    kind: str | None = guarded()
    detail: str | None = guarded()

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return _completes(obj, info, models.UsageEvent, "customer_id")


def _customer_ids(source: models.AccessRecord, info: GraphQLResolveInfo[Any]) -> list[str]:
    context = _context(info)
    plan = context.plan
    if plan.allows("AccessRecord.*"):
        customer_ids = context.loaders.visible(source.customer_ids)
    else:
        # Shown to a customer as their own (``me { accessLog }``): the others it names stay hidden.
        customer_ids = [pk for pk in source.customer_ids if pk == plan.owner_id]
    return _disclosed_ids(context, customer_ids)


def _disclosed_ids(context: Context, customer_ids: list[int]) -> list[str]:
    """Global ids of customers the response names, noted for the audit."""
    context.customers_read.update(customer_ids)
    return [to_global_id("Customer", pk) for pk in customer_ids]


FORMS = (
    "The fields disclosed in a form instead of their value, and the form: "
    '`{"Customer.email": "pseudonym"}` (graduated disclosure).'
)


@strawberry.type(description="Who read customer data, which fields, and why. Never values.")
class AccessRecord(Node):
    id: strawberry.ID = guarded(_global_id("AccessRecord"))
    occurred_at: dt.datetime | None = guarded()
    client_id: str | None = guarded()
    subject: str | None = guarded()
    purpose: str | None = guarded()
    legal_reference: str | None = guarded()
    operation_name: str | None = guarded()
    recipient: str | None = guarded(
        description="The client id of the partner (third party) that made the request, if any."
    )
    customer_ids: list[strawberry.ID] | None = guarded(_customer_ids)
    fields: list[str] | None = guarded(description="Schema coordinates, e.g. `Customer.email`.")
    forms: JSON | None = guarded(description=FORMS)

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, models.AccessRecord)


@strawberry.type(name="Partner", description="A third party: a partner's OAuth client.")
class PartnerType:
    client_id: str | None = guarded()
    name: str | None = guarded()

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, models.Partner)


def _recipient(source: models.AccessRecord, info: GraphQLResolveInfo[Any]) -> models.Partner | None:
    if source.recipient is None:
        return None
    return _context(info).loaders.partner_by_client_id.get(source.recipient)


def _disclosed_orders(source: models.AccessRecord, info: GraphQLResolveInfo[Any]) -> list[str]:
    """The numbers of the assigned orders a disclosure was for: shown to a customer, their own
    only; to staff, those of the customers that exist for them."""
    context = _context(info)
    plan = context.plan
    loaders = context.loaders
    found = [loaders.order_numbers.get(pk) for pk in source.order_ids or ()]
    orders = [each for each in found if each is not None]
    if plan.allows("Disclosure.*"):
        shown = set(loaders.visible(customer for customer, _ in orders))
    else:
        shown = {plan.owner_id} if plan.owner_id is not None else set()
    return [number for customer, number in orders if customer in shown]


@strawberry.type(description="What a partner (a third party) received about a customer.")
class Disclosure:
    recipient: PartnerType | None = guarded(_recipient)
    purpose: str | None = guarded(description="The purpose the partner declared.")
    at: dt.datetime | None = guarded(lambda source, _info: source.occurred_at)
    fields: list[str] | None = guarded(description="Schema coordinates, e.g. `Customer.email`.")
    orders: list[str] | None = guarded(
        _disclosed_orders,
        description=(
            "The numbers of the orders assigned to the partner that the disclosure was for "
            "(a partner with assigned access); empty otherwise."
        ),
    )
    forms: JSON | None = guarded(description=FORMS)

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, models.AccessRecord)


def _legal_customer_ids(
    source: models.LegalRequest, info: GraphQLResolveInfo[Context]
) -> list[str]:
    context = _context(info)
    named = context.loaders.legal_customers.get(source.id)  # type: ignore[arg-type]
    return _disclosed_ids(context, context.loaders.visible(named))


@strawberry.type(description="A written judicial or legal order that allows disclosure.")
class LegalRequest(Node):
    id: strawberry.ID = guarded(_global_id("LegalRequest"))
    reference: str | None = guarded()
    authority: str | None = guarded()
    order_document: str | None = guarded(description="The identifier of the written order.")
    customer_ids: list[strawberry.ID] | None = guarded(_legal_customer_ids)
    created_by: str | None = guarded()
    valid_from: dt.datetime | None = guarded()
    valid_until: dt.datetime | None = guarded()

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, models.LegalRequest)


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count: strawberry.Private[Any]

    @strawberry.field(description="How many exist for this caller, across all pages.")
    def total_count(self) -> int:
        return int(self.count())

    @classmethod
    def of(cls, rows: list[Any], offset: int, has_next: bool, count: Any) -> Connection[T]:
        """A page of ``rows`` that starts at ``offset``; ``count()`` gives the total."""
        edges = [Edge(cursor=encode_cursor(offset + i), node=row) for i, row in enumerate(rows)]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=has_next,
                has_previous_page=offset > 0,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            count=count,
        )


def _age_band(source: models.Customer, _info: GraphQLResolveInfo[Any]) -> str | None:
    if source.date_of_birth is None:
        return None
    return age_band(source.date_of_birth, dt.datetime.now(dt.UTC).date())


def _addresses(source: models.Customer, info: GraphQLResolveInfo[Any]) -> list[models.Address]:
    return _context(info).loaders.addresses.get(source.id)  # type: ignore[arg-type]


def _consents(source: models.Customer, info: GraphQLResolveInfo[Any]) -> list[models.Consent]:
    return _context(info).loaders.consents.get(source.id)  # type: ignore[arg-type]


def _usage(source: models.Customer, info: GraphQLResolveInfo[Any]) -> list[models.UsageEvent]:
    return _context(info).loaders.usage_events.get(source.id)  # type: ignore[arg-type]


def _access_log(
    source: models.Customer, info: GraphQLResolveInfo[Any]
) -> list[models.AccessRecord]:
    return _context(info).loaders.access_log.get(source.id)  # type: ignore[arg-type]


def _disclosures(
    source: models.Customer, info: GraphQLResolveInfo[Any]
) -> list[models.AccessRecord]:
    return _context(info).loaders.disclosures.get(source.id)  # type: ignore[arg-type]


@strawberry.type(description="A customer of the retailer.")
class Customer(Node):
    id: strawberry.ID = guarded(_global_id("Customer"))
    status: CustomerStatus | None = guarded()
    country: str | None = guarded(
        description="ISO 3166-1 alpha-2; the default region for phone numbers."
    )
    preferred_language: str | None = guarded()
    created_at: dt.datetime | None = guarded()
    updated_at: dt.datetime | None = guarded()
    first_name: str | None = guarded()
    last_name: str | None = guarded()
    date_of_birth: dt.date | None = guarded()
    age_band: str | None = guarded(
        _age_band, description="`0-17`, `18-24`, … `65+`, from dateOfBirth."
    )
    email: str | None = guarded()
    mobile_phone: str | None = guarded(description="E.164.")
    landline_phone: str | None = guarded(description="E.164.")
    addresses: list[Address] | None = guarded(_addresses)
    consents: list[Consent] | None = guarded(_consents)
    usage_events: list[UsageEvent] | None = guarded(_usage)
    access_log: list[AccessRecord] | None = guarded(
        _access_log, description="Who read this customer's data, and why."
    )
    disclosures: list[Disclosure] | None = guarded(
        _disclosures,
        description="What partners (third parties) received about this customer, newest first.",
    )

    @strawberry.field(
        description="The customer's orders, newest first.",
        extensions=[PermissionExtension([FieldPolicy()], use_directives=False)],
    )
    def orders(
        self,
        root: strawberry.Parent[models.Customer],
        info: Info,
        first: int = 10,
        after: str | None = None,
    ) -> Connection[Order] | None:
        offset, limit = page_window(info.context.options.max_page_size, first, after)
        loaders = info.context.loaders
        customer_id = root.id
        assert customer_id is not None
        rows, has_next = loaders.orders_of(customer_id, offset, limit)
        return Connection.of(rows, offset, has_next, lambda: loaders.order_count_of(customer_id))

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return _completes(obj, info, models.Customer, "id")


__all__ = [
    "JSON",
    "AccessRecord",
    "Address",
    "Connection",
    "Consent",
    "Customer",
    "Disclosure",
    "Info",
    "LegalRequest",
    "Node",
    "Order",
    "OrderItem",
    "PartnerType",
    "UsageEvent",
]
