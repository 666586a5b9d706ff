"""Self-service and privacy administration: thin adapters over `privacy`.

What the privacy notices promise customers (``shared/seeds``), as mutations:

- customers keep their own details current and manage their consents (``updateMe``,
  ``addMyAddress``, ``removeMyAddress``, ``setMyConsent``; `privacy.self_service`); how they
  use the service is recorded as usage events;
- data is kept until the customer cancels it (``eraseMe``) or asks for it to be cancelled
  (``eraseCustomer``, privacy:admin);
- the right of access (``exportCustomerData``, privacy:admin);
- disclosure to an authority only on a written legal order (``createLegalRequest``,
  privacy:admin).

Each mutation runs in one savepoint (`schema.mutations.atomic`): refused input or a failure
midway leaves nothing half-done. The privacy-administration mutations act on any customer,
whatever purpose the request declares, and are always audited (`auth.policy.roots`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from auth.policy.purposes import Purpose
from privacy import erasure, legal, lookups, self_service
from privacy.export import EXPORT_FIELDS, export
from schema.context import Context, Info
from schema.mutations import AddressInput, UpdateCustomerInput, atomic, given
from schema.permissions import Requires
from schema.types import Address, Consent, Customer, LegalRequest
from store import models


def _update_me(info: Info, input: UpdateCustomerInput) -> models.Customer | None:
    context = info.context
    with atomic(context):
        return self_service.update_me(context.session, context.scope, given(input))


def _add_my_address(info: Info, input: AddressInput) -> models.Address | None:
    context = info.context
    with atomic(context):
        return self_service.add_my_address(context.session, context.scope, given(input))


def _remove_my_address(info: Info, id: strawberry.ID) -> strawberry.ID | None:
    context = info.context
    with atomic(context):
        self_service.remove_my_address(context.session, context.scope, id)
    return id


def _set_my_consent(
    info: Info,
    purpose: Purpose,
    granted: bool,
    recipient: Annotated[
        str | None,
        strawberry.argument(
            description="THIRD_PARTY_SHARING only: the partner's client id; null for every partner."
        ),
    ] = None,
    notice_version: Annotated[
        str | None, strawberry.argument(description="The version of the notice shown.")
    ] = None,
    language: Annotated[
        str | None, strawberry.argument(description="The language of the notice shown (BCP 47).")
    ] = None,
) -> models.Consent | None:
    context = info.context
    with atomic(context):
        return self_service.set_my_consent(
            context.session,
            context.scope,
            purpose,
            granted,
            recipient=recipient,
            notice_version=notice_version,
            language=language,
        )


def _erase_me(info: Info) -> models.Customer | None:
    context = info.context
    with atomic(context):
        return self_service.erase_me(context.session, context.scope)


def _any_customer(context: Context, customer_id: str) -> models.Customer:
    customer = lookups.any_customer(
        context.session, lookups.pk_argument(customer_id, "Customer", "id")
    )
    assert customer.id is not None
    context.customers_read.add(customer.id)
    return customer


def _erase_customer(
    info: Info, id: strawberry.ID, reason: str | None = None
) -> models.Customer | None:
    context = info.context
    with atomic(context):
        stated = erasure.stated_reason(reason)
        customer = _any_customer(context, id)
        erasure.erase(context.session, customer, reason=stated, source=erasure.STAFF_SOURCE)
    return customer


def _export_customer_data(info: Info, id: strawberry.ID) -> JSON | None:
    context = info.context
    with atomic(context):
        data = export(context.session, _any_customer(context, id))
    context.fields_read.update(EXPORT_FIELDS)
    return JSON(data)


def _create_legal_request(
    info: Info,
    reference: str,
    authority: str,
    order_document: str,
    customer_ids: list[strawberry.ID],
    valid_until: dt.datetime,
) -> models.LegalRequest | None:
    context = info.context
    with atomic(context):
        request, named = legal.create_legal_request(
            context.session,
            context.scope,
            reference=reference,
            authority=authority,
            order_document=order_document,
            customer_ids=customer_ids,
            valid_until=valid_until,
        )
    context.customers_read.update(named)
    return request


@strawberry.type
class PrivacyMutation:
    """Self-service (me:write) and privacy administration (privacy:admin)."""

    update_me = strawberry.mutation(
        permission_classes=[Requires],
        resolver=_update_me,
        graphql_type=Customer | None,
        description="Correct your own details (me:write).",
    )
    add_my_address = strawberry.mutation(
        permission_classes=[Requires],
        resolver=_add_my_address,
        graphql_type=Address | None,
        description="Add an address of your own (me:write).",
    )
    remove_my_address = strawberry.mutation(
        permission_classes=[Requires],
        resolver=_remove_my_address,
        description="Remove one of your addresses; returns its id (me:write).",
    )
    set_my_consent = strawberry.mutation(
        permission_classes=[Requires],
        resolver=_set_my_consent,
        graphql_type=Consent | None,
        description=(
            "Grant or withdraw your consent to a consent-based purpose (ANALYTICS, MARKETING, "
            "THIRD_PARTY_SHARING for every partner or, with recipient, for one); it holds from "
            "the next request on (me:write)."
        ),
    )
    erase_me = strawberry.mutation(
        permission_classes=[Requires],
        resolver=_erase_me,
        graphql_type=Customer | None,
        description=(
            "Erase your personal data; orders stay for accounting. Erasing again changes "
            "nothing (me:write)."
        ),
    )
    erase_customer = strawberry.mutation(
        permission_classes=[Requires],
        resolver=_erase_customer,
        graphql_type=Customer | None,
        description=(
            "Erase a customer's personal data on their request; orders stay for accounting. "
            "Erasing again changes nothing (privacy:admin; audited)."
        ),
    )
    export_customer_data = strawberry.mutation(
        permission_classes=[Requires],
        resolver=_export_customer_data,
        description=(
            "Everything held about a customer, as one JSON object with the keys customer, "
            "addresses, orders, consents, usageEvents, accessRecords, disclosures: the right "
            "of access (privacy:admin; audited)."
        ),
    )
    create_legal_request = strawberry.mutation(
        permission_classes=[Requires],
        resolver=_create_legal_request,
        graphql_type=LegalRequest | None,
        description=(
            "Register a written legal order naming customers, valid from now until validUntil; "
            "its creator cannot use it (privacy:admin; audited)."
        ),
    )
