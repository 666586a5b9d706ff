"""Privacy operations: self-service for customers, erasure, export and legal requests.

What the privacy notices promise customers (``shared/seeds``), as mutations:

- customers keep their own details current and manage their consents (``updateMe``,
  ``addMyAddress``, ``removeMyAddress``, ``setMyConsent``); how they use the service is recorded
  as usage events;
- data is kept until the customer cancels it (``eraseMe``) or asks for it to be cancelled
  (``eraseCustomer``, privacy:admin);
- the right of access (``exportCustomerData``, privacy:admin);
- disclosure to an authority only on a written legal order (``createLegalRequest``,
  privacy:admin).

Each mutation runs in one savepoint (`schema.mutations.atomic`): refused input or a failure
midway leaves nothing half-done. The privacy-administration mutations act on any customer,
whatever purpose the request declares, and are always audited (`api.audit`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import Any

import strawberry
from sqlalchemy import delete, select, update
from sqlmodel import col
from strawberry.scalars import JSON
from strawberry.utils.str_converters import to_camel_case

from api import models
from api import validation as v
from api.models import ConsentSource, CustomerStatus, utcnow
from auth import scopes
from auth.policy import rule_for
from auth.purposes import Purpose
from schema.context import Context, Info
from schema.errors import NotFound
from schema.ids import InvalidGlobalId, pk_of, to_global_id
from schema.mutations import (
    AddressInput,
    UpdateCustomerInput,
    _address_fields,
    _customer_fields,
    _make_default,
    _pk,
    atomic,
    record_consent,
    touch,
)
from schema.queries import require
from schema.types import Address, Consent, Customer, LegalRequest

PERSONAL_FIELDS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "email",
    "mobile_phone",
    "landline_phone",
)
"""The customer's personal columns, blanked by erasure (the notices' "account" details)."""

SELF_SERVICE_SOURCE = ConsentSource.WEB
"""How consents given or withdrawn by the customers themselves are recorded."""

STAFF_SOURCE = ConsentSource.CALL_CENTER
"""How the withdrawals of an erasure done by staff on the customer's request are recorded."""

SELF_ERASURE_REASON = "Requested by the customer (self-service)."
REASON = 500
REFERENCE = 128
AUTHORITY = 200
MAX_LEGAL_CUSTOMERS = 1000


class UsageKind:
    """The kinds of usage events that self-service records (as the demo data names them)."""

    VIEWED_PROFILE = "viewed_profile"
    UPDATED_PROFILE = "updated_profile"
    ADDED_ADDRESS = "added_address"
    REMOVED_ADDRESS = "removed_address"
    GRANTED_CONSENT = "granted_consent"
    WITHDREW_CONSENT = "withdrew_consent"


# --- Self-service ------------------------------------------------------------------------------


def own_customer(context: Context, *, erased: bool = False) -> models.Customer:
    """The caller's own customer record, locked for the rest of the transaction.

    Args:
        context: the request's context; its ``customer_id`` links the token to the customer.
        erased: whether an erased record will do (``eraseMe`` is idempotent); otherwise an
            erased customer has nothing left to change and is `NotFound`.
    """
    customer = None
    if context.customer_id is not None:
        customer = context.session.get(
            models.Customer, context.customer_id, with_for_update=True, populate_existing=True
        )
    if customer is None or (not erased and customer.status == CustomerStatus.ERASED):
        raise NotFound("customer")
    return customer


def record_usage(
    context: Context, customer: models.Customer, kind: str, detail: str | None = None
) -> None:
    """Append a usage event of ``customer``; ``detail`` never holds personal values."""
    context.session.add(models.UsageEvent(customer_id=customer.id, kind=kind, detail=detail))  # type: ignore[arg-type]
    context.session.flush()


def record_profile_view(context: Context) -> None:
    """Record a customer's read of ``me`` as one usage event per request.

    Reads are how customers use the service most; the notices say that use is recorded to
    improve the service. Nothing is recorded for an erased customer: erasure ends collection.
    """
    if context.customer_id is None or scopes.ME_READ not in context.principal.scopes:
        return
    customer = context.session.get(models.Customer, context.customer_id)
    if customer is not None and customer.status == CustomerStatus.ACTIVE:
        record_usage(context, customer, UsageKind.VIEWED_PROFILE)


def _own_address(context: Context, customer: models.Customer, address_id: str) -> models.Address:
    address = context.session.get(models.Address, _pk(address_id, "Address", "id"))
    if address is None or address.customer_id != customer.id:
        raise NotFound("address")
    return address


def _consent_based(purpose: Purpose) -> None:
    # The other purposes rest on the contract or the law, not on consent (the notices): a
    # record for them would change nothing and would mislead the customer into thinking it did.
    if not purpose.consent_required:
        choices = ", ".join(p.name for p in Purpose if p.consent_required)
        raise v.InputError(
            "purpose",
            f"purpose is not based on consent; customers may grant or withdraw: {choices}",
        )


# --- Erasure -----------------------------------------------------------------------------------


def erase(
    context: Context, customer: models.Customer, *, reason: str | None, source: ConsentSource
) -> bool:
    """Erase a customer as SPEC section 4 says; returns whether anything changed.

    Deletes the addresses (orders keep no shipping address) and usage events, blanks the
    personal fields, appends a WITHDRAWN record for every purpose, and marks the customer
    ERASED with the time and the reason. Orders stay, with their numbers, amounts and payment
    references (accounting retention); consents and access records stay (they prove what was
    allowed and who saw what). ``subject`` stays: it is an opaque identifier, not personal
    content, and it lets the customer still sign in to confirm the erasure (``me``), see who
    saw their data (``me { accessLog }``) and their retained orders.

    Erasing an erased customer changes nothing and appends nothing. Call it inside `atomic`:
    a failure midway undoes every step.
    """
    if customer.status == CustomerStatus.ERASED:
        return False
    now = utcnow()
    _blank(context, customer, now)
    _delete_personal_rows(context, customer)
    _withdraw_everything(context, customer, source)
    customer.status = CustomerStatus.ERASED
    customer.erased_at = now
    customer.erasure_reason = reason
    context.session.flush()
    return True


def _blank(context: Context, customer: models.Customer, now: dt.datetime) -> None:
    for attribute in PERSONAL_FIELDS:
        setattr(customer, attribute, None)
    customer.updated_at = now
    context.session.flush()


def _delete_personal_rows(context: Context, customer: models.Customer) -> None:
    session = context.session
    addresses = select(col(models.Address.id)).where(col(models.Address.customer_id) == customer.id)
    # The foreign key would do this too (ON DELETE SET NULL); saying it keeps the ORM in step.
    session.execute(
        update(models.Order)
        .where(col(models.Order.shipping_address_id).in_(addresses))
        .values(shipping_address_id=None)
    )
    session.execute(delete(models.Address).where(col(models.Address.customer_id) == customer.id))
    session.execute(
        delete(models.UsageEvent).where(col(models.UsageEvent.customer_id) == customer.id)
    )


def _withdraw_everything(
    context: Context, customer: models.Customer, source: ConsentSource
) -> None:
    for purpose in Purpose:
        record_consent(context, customer, purpose.value, False, source.value, None)


def _reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    return v.text(reason, field="reason", max_length=REASON)


# --- Export (the right of access) --------------------------------------------------------------


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _gid(type_name: str, attribute: str = "id") -> Callable[[Any], str | None]:
    get = attrgetter(attribute)

    def convert(row: Any) -> str | None:
        pk = get(row)
        return None if pk is None else to_global_id(type_name, pk)

    return convert


def _at(attribute: str) -> Callable[[Any], str | None]:
    get = attrgetter(attribute)
    return lambda row: _iso(get(row))


def _text(attribute: str) -> Callable[[Any], Any]:
    get = attrgetter(attribute)
    return lambda row: None if get(row) is None else str(get(row))


Serializer = Mapping[str, Callable[[Any], Any]]

CUSTOMER: Serializer = {
    "id": _gid("Customer"),
    "subject": attrgetter("subject"),
    "status": attrgetter("status"),
    "country": attrgetter("country"),
    "preferredLanguage": attrgetter("preferred_language"),
    "createdAt": _at("created_at"),
    "updatedAt": _at("updated_at"),
    "firstName": attrgetter("first_name"),
    "lastName": attrgetter("last_name"),
    "dateOfBirth": _at("date_of_birth"),
    "email": attrgetter("email"),
    "mobilePhone": attrgetter("mobile_phone"),
    "landlinePhone": attrgetter("landline_phone"),
    "erasedAt": _at("erased_at"),
    "erasureReason": attrgetter("erasure_reason"),
}
ADDRESS: Serializer = {
    "id": _gid("Address"),
    **{
        to_camel_case(name): attrgetter(name)
        for name in (
            "label",
            "line1",
            "line2",
            "city",
            "region",
            "postal_code",
            "country",
            "latitude",
            "longitude",
            "is_default",
        )
    },
}
ORDER: Serializer = {
    "id": _gid("Order"),
    "number": attrgetter("number"),
    "status": attrgetter("status"),
    "placedAt": _at("placed_at"),
    "totalAmount": _text("total_amount"),
    "currency": attrgetter("currency"),
    "shippingAddressId": _gid("Address", "shipping_address_id"),
    "paymentReference": attrgetter("payment_reference"),
    "paymentTrackingCode": attrgetter("payment_tracking_code"),
}
ORDER_ITEM: Serializer = {
    "sku": attrgetter("sku"),
    "name": attrgetter("name"),
    "quantity": attrgetter("quantity"),
    "unitPrice": _text("unit_price"),
}
CONSENT: Serializer = {
    "id": _gid("Consent"),
    "purpose": attrgetter("purpose"),
    "status": attrgetter("status"),
    "recordedAt": _at("recorded_at"),
    "source": attrgetter("source"),
    "policyVersion": attrgetter("policy_version"),
}
USAGE_EVENT: Serializer = {
    "id": _gid("UsageEvent"),
    "occurredAt": _at("occurred_at"),
    "kind": attrgetter("kind"),
    "detail": attrgetter("detail"),
}
# Which other customers a record names is theirs, not this customer's: customerIds is left out.
ACCESS_RECORD: Serializer = {
    "id": _gid("AccessRecord"),
    "occurredAt": _at("occurred_at"),
    "clientId": attrgetter("client_id"),
    "subject": attrgetter("subject"),
    "purpose": attrgetter("purpose"),
    "legalReference": attrgetter("legal_reference"),
    "operationName": attrgetter("operation_name"),
    "fields": attrgetter("fields"),
}

EXPORT_FIELDS = frozenset(
    coordinate
    for coordinate in (
        *(f"Customer.{key}" for key in CUSTOMER),
        *(f"Address.{key}" for key in ADDRESS),
        *(f"Order.{key}" for key in ORDER),
        *(f"OrderItem.{key}" for key in ORDER_ITEM),
        *(f"Consent.{key}" for key in CONSENT),
        *(f"UsageEvent.{key}" for key in USAGE_EVENT),
        *(f"AccessRecord.{key}" for key in ACCESS_RECORD),
        "Customer.addresses",
        "Customer.orders",
        "Customer.consents",
        "Customer.usageEvents",
        "Customer.accessLog",
        "Order.items",
    )
    if rule_for(coordinate) is not None
)
"""The schema coordinates an export discloses (recorded in its access record)."""


def _dump(row: Any, serializer: Serializer) -> dict[str, Any]:
    return {key: convert(row) for key, convert in serializer.items()}


def _all(rows: Sequence[Any], serializer: Serializer) -> list[dict[str, Any]]:
    return [_dump(row, serializer) for row in rows]


def export(context: Context, customer: models.Customer) -> dict[str, Any]:
    """Everything Steward holds about ``customer``, as one JSON object.

    Keys: ``customer``, ``addresses``, ``orders`` (each with its ``items``), ``consents`` (the
    whole ledger), ``usageEvents`` and ``accessRecords`` (who saw the customer's data, and why).
    """
    session = context.session
    pk = customer.id
    orders = session.scalars(
        select(models.Order)
        .where(col(models.Order.customer_id) == pk)
        .order_by(col(models.Order.placed_at), col(models.Order.id))
    ).all()
    items: dict[int | None, list[models.OrderItem]] = {order.id: [] for order in orders}
    for item in session.scalars(
        select(models.OrderItem)
        .where(col(models.OrderItem.order_id).in_(list(items)))
        .order_by(col(models.OrderItem.id))
    ):
        items[item.order_id].append(item)
    access = session.scalars(
        select(models.AccessRecord)
        .join(
            models.AccessRecordCustomer,
            col(models.AccessRecordCustomer.access_record_id) == col(models.AccessRecord.id),
        )
        .where(col(models.AccessRecordCustomer.customer_id) == pk)
        .order_by(col(models.AccessRecord.occurred_at), col(models.AccessRecord.id))
    ).all()
    return {
        "customer": _dump(customer, CUSTOMER),
        "addresses": _all(_of(context, models.Address, pk, models.Address.id), ADDRESS),
        "orders": [
            {**_dump(order, ORDER), "items": _all(items[order.id], ORDER_ITEM)} for order in orders
        ],
        "consents": _all(_of(context, models.Consent, pk, models.Consent.id), CONSENT),
        "usageEvents": _all(
            _of(
                context, models.UsageEvent, pk, models.UsageEvent.occurred_at, models.UsageEvent.id
            ),
            USAGE_EVENT,
        ),
        "accessRecords": _all(access, ACCESS_RECORD),
    }


def _of(context: Context, model: Any, pk: int | None, *order_by: Any) -> Sequence[Any]:
    return context.session.scalars(
        select(model).where(model.customer_id == pk).order_by(*order_by)
    ).all()


# --- Legal requests ----------------------------------------------------------------------------


def create_legal_request(
    context: Context,
    *,
    reference: str,
    authority: str,
    order_document: str,
    customer_ids: Sequence[str],
    valid_until: dt.datetime,
) -> models.LegalRequest:
    """Register a written legal order; valid from now until ``valid_until``.

    Its creator can never use it (two people for every disclosure, enforced when a request
    declares ``legal_order``).
    """
    v.reject_card_data(
        {"reference": reference, "authority": authority, "orderDocument": order_document}
    )
    reference = v.text(reference, field="reference", max_length=REFERENCE)
    if not (reference.isascii() and reference.isprintable()):
        # It travels in the X-Legal-Reference header.
        raise v.InputError("reference", "reference must be printable ASCII")
    authority = v.text(authority, field="authority", max_length=AUTHORITY)
    order_document = v.text(order_document, field="orderDocument", max_length=AUTHORITY)
    if valid_until.tzinfo is None:
        raise v.InputError("validUntil", "validUntil needs a time zone offset")
    now = utcnow()
    if valid_until <= now:
        raise v.InputError("validUntil", "validUntil must be in the future")
    pks = _legal_customers(context, customer_ids)
    session = context.session
    if session.scalar(
        select(col(models.LegalRequest.id)).where(col(models.LegalRequest.reference) == reference)
    ):
        raise v.InputError("reference", "reference is already registered")
    request = models.LegalRequest(
        reference=reference,
        authority=authority,
        order_document=order_document,
        created_by=context.principal.subject,
        valid_from=now,
        valid_until=valid_until,
    )
    session.add(request)
    session.flush()
    session.add_all(
        models.LegalRequestCustomer(legal_request_id=request.id, customer_id=pk)  # type: ignore[arg-type]
        for pk in pks
    )
    session.flush()
    context.customers_read.update(pks)
    return request


def _legal_customers(context: Context, customer_ids: Sequence[str]) -> list[int]:
    if not customer_ids:
        raise v.InputError("customerIds", "customerIds must name at least one customer")
    if len(customer_ids) > MAX_LEGAL_CUSTOMERS:
        raise v.InputError(
            "customerIds", f"customerIds may name at most {MAX_LEGAL_CUSTOMERS} customers"
        )
    pks: list[int] = []
    for i, global_id in enumerate(customer_ids):
        try:
            pks.append(pk_of(global_id, "Customer"))
        except InvalidGlobalId:
            raise v.InputError(
                f"customerIds.{i}", f"customerIds.{i} is not a customer id"
            ) from None
    known = set(
        context.session.scalars(
            select(col(models.Customer.id)).where(col(models.Customer.id).in_(pks))
        )
    )
    for i, pk in enumerate(pks):
        if pk not in known:
            raise v.InputError(f"customerIds.{i}", f"customerIds.{i} is not a known customer")
    return sorted(set(pks))


def _any_customer(context: Context, customer_id: str) -> models.Customer:
    """A customer for privacy administration: any customer, whatever the declared purpose."""
    customer = context.session.get(
        models.Customer,
        _pk(customer_id, "Customer", "id"),
        with_for_update=True,
        populate_existing=True,
    )
    if customer is None:
        raise NotFound("customer")
    context.customers_read.add(customer.id)  # type: ignore[arg-type]
    return customer


# --- The mutations ---------------------------------------------------------------------------


def _update_me(info: Info, input: UpdateCustomerInput) -> Customer | None:
    context = info.context
    require(context, scopes.ME_WRITE)
    with atomic(context):
        customer = own_customer(context)
        values = _customer_fields(input, customer.country, "input.")
        for attribute, value in values.items():
            setattr(customer, attribute, value)
        touch(customer)
        if values:
            changed = ", ".join(to_camel_case(name) for name in values)
            record_usage(context, customer, UsageKind.UPDATED_PROFILE, f"changed {changed}")
        context.session.flush()
    return customer  # type: ignore[return-value]


def _add_my_address(info: Info, input: AddressInput) -> Address | None:
    context = info.context
    require(context, scopes.ME_WRITE)
    with atomic(context):
        customer = own_customer(context)
        country = v.country(input.country or customer.country, field="input.country")
        values = _address_fields(input, country, "input.")
        address = models.Address(customer_id=customer.id, country=country, **values)  # type: ignore[arg-type]
        context.session.add(address)
        context.session.flush()
        if address.is_default:
            _make_default(context, address)
        touch(customer)
        record_usage(context, customer, UsageKind.ADDED_ADDRESS, f"label {address.label}")
    return address  # type: ignore[return-value]


def _remove_my_address(info: Info, id: strawberry.ID) -> strawberry.ID | None:
    context = info.context
    require(context, scopes.ME_WRITE)
    with atomic(context):
        customer = own_customer(context)
        address = _own_address(context, customer, id)
        label = address.label
        context.session.delete(address)
        touch(customer)
        record_usage(context, customer, UsageKind.REMOVED_ADDRESS, f"label {label}")
    return id


def _set_my_consent(info: Info, purpose: Purpose, granted: bool) -> Consent | None:
    context = info.context
    require(context, scopes.ME_WRITE)
    with atomic(context):
        _consent_based(purpose)
        customer = own_customer(context)
        consent = record_consent(
            context, customer, purpose.value, granted, SELF_SERVICE_SOURCE.value, None
        )
        kind = UsageKind.GRANTED_CONSENT if granted else UsageKind.WITHDREW_CONSENT
        record_usage(context, customer, kind, f"purpose {purpose.id}")
    return consent  # type: ignore[return-value]


def _erase_me(info: Info) -> Customer | None:
    context = info.context
    require(context, scopes.ME_WRITE)
    with atomic(context):
        customer = own_customer(context, erased=True)
        erase(context, customer, reason=SELF_ERASURE_REASON, source=SELF_SERVICE_SOURCE)
    return customer  # type: ignore[return-value]


def _erase_customer(info: Info, id: strawberry.ID, reason: str | None = None) -> Customer | None:
    context = info.context
    require(context, scopes.PRIVACY_ADMIN)
    with atomic(context):
        stated = _reason(reason)
        customer = _any_customer(context, id)
        erase(context, customer, reason=stated, source=STAFF_SOURCE)
    return customer  # type: ignore[return-value]


def _export_customer_data(info: Info, id: strawberry.ID) -> JSON | None:
    context = info.context
    require(context, scopes.PRIVACY_ADMIN)
    with atomic(context):
        customer = _any_customer(context, id)
        data = export(context, customer)
    context.fields_read.update(EXPORT_FIELDS)
    return JSON(data)


def _create_legal_request(
    info: Info,
    reference: str,
    authority: str,
    order_document: str,
    customer_ids: list[strawberry.ID],
    valid_until: dt.datetime,
) -> LegalRequest | None:
    context = info.context
    require(context, scopes.PRIVACY_ADMIN)
    with atomic(context):
        return create_legal_request(  # type: ignore[return-value]
            context,
            reference=reference,
            authority=authority,
            order_document=order_document,
            customer_ids=customer_ids,
            valid_until=valid_until,
        )


@strawberry.type
class PrivacyMutation:
    """Self-service (me:write) and privacy administration (privacy:admin)."""

    update_me = strawberry.mutation(
        resolver=_update_me, description="Correct your own details (me:write)."
    )
    add_my_address = strawberry.mutation(
        resolver=_add_my_address, description="Add an address of your own (me:write)."
    )
    remove_my_address = strawberry.mutation(
        resolver=_remove_my_address,
        description="Remove one of your addresses; returns its id (me:write).",
    )
    set_my_consent = strawberry.mutation(
        resolver=_set_my_consent,
        description=(
            "Grant or withdraw your consent to a consent-based purpose (ANALYTICS, MARKETING); "
            "it holds from the next request on (me:write)."
        ),
    )
    erase_me = strawberry.mutation(
        resolver=_erase_me,
        description=(
            "Erase your personal data; orders stay for accounting. Erasing again changes "
            "nothing (me:write)."
        ),
    )
    erase_customer = strawberry.mutation(
        resolver=_erase_customer,
        description=(
            "Erase a customer's personal data on their request; orders stay for accounting. "
            "Erasing again changes nothing (privacy:admin; audited)."
        ),
    )
    export_customer_data = strawberry.mutation(
        resolver=_export_customer_data,
        description=(
            "Everything held about a customer, as one JSON object with the keys customer, "
            "addresses, orders, consents, usageEvents, accessRecords: the right of access "
            "(privacy:admin; audited)."
        ),
    )
    create_legal_request = strawberry.mutation(
        resolver=_create_legal_request,
        description=(
            "Register a written legal order naming customers, valid from now until validUntil; "
            "its creator cannot use it (privacy:admin; audited)."
        ),
    )
