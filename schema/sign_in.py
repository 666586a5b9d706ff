"""Signing in as a customer: link codes, linking, self-registration (SPEC section 12).

Staff make a one-time code for an existing customer (``createLinkCode``) and may undo a link
(``unlinkCustomer``); a person signed in at a trusted identity provider enters the code
(``linkMe``), or registers as a new customer when the server allows it (``registerMe``).
Thin adapters over `privacy.linking`, each in one savepoint, each always audited
(`auth.policy.roots`): an access record per attempt, never the code.
"""

from __future__ import annotations

import datetime as dt

import strawberry

from auth.policy.purposes import Purpose
from privacy import linking
from privacy.consents import Choice
from privacy.errors import SelfRegistrationOff
from schema.context import Context, Info
from schema.mutations import CustomerDetails, atomic, customer_argument, given
from schema.permissions import Requires
from schema.types import Customer
from store import models
from store.models import ConsentSource


@strawberry.type(description="A one-time code that links a signed-in person to a customer.")
class LinkCode:
    code: str = strawberry.field(
        description="XXXX-XXXX-XXXX; shown only now, valid once, for 15 minutes."
    )
    expires_at: dt.datetime


@strawberry.input(description="A consent chosen at sign-up, with the notice shown.")
class ConsentChoiceInput:
    purpose: Purpose = strawberry.field(description="A consent-based purpose.")
    granted: bool
    source: ConsentSource = strawberry.field(description="WEB or MOBILE: where it was chosen.")
    notice_version: str = strawberry.field(description="The version of the notice shown.")
    language: str = strawberry.field(description="The language of the notice shown (BCP 47).")
    recipient: str | None = strawberry.field(
        default=None,
        description="THIRD_PARTY_SHARING only: the partner's client id; null for every partner.",
    )


@strawberry.input(description="A new customer's details, and the consents they chose.")
class RegisterMeInput(CustomerDetails):
    consents: list[ConsentChoiceInput] = strawberry.field(default_factory=list)


def _person(context: Context) -> tuple[str, str]:
    return context.scope.issuers.link(context.scope.principal)


def _signed_in_as(context: Context, customer: models.Customer) -> None:
    """The caller is this customer from now on, for the rest of the response."""
    assert customer.id is not None
    context.plan.owner_id = customer.id
    context.customers_read.add(customer.id)


def _create_link_code(info: Info, customer_id: strawberry.ID) -> LinkCode | None:
    context = info.context
    with atomic(context):
        customer = customer_argument(context, customer_id, "customerId")
        code, expires_at = linking.create_link_code(
            context.session, customer, context.scope.principal.subject
        )
    assert customer.id is not None
    context.customers_read.add(customer.id)  # no object of the customer returned: noted here
    return LinkCode(code=code, expires_at=expires_at)


def _unlink_customer(info: Info, customer_id: strawberry.ID) -> models.Customer | None:
    context = info.context
    with atomic(context):
        customer = customer_argument(context, customer_id, "customerId")
        linking.unlink(context.session, customer)
    return customer


def _link_me(info: Info, code: str) -> models.Customer | None:
    context = info.context
    with atomic(context):
        customer = linking.link_me(
            context.session,
            code,
            _person(context),
            context.scope.owner_id,
            context.options.wrong_codes,
        )
    _signed_in_as(context, customer)
    return customer


def _register_me(info: Info, input: RegisterMeInput) -> models.Customer | None:
    context = info.context
    if not context.options.self_registration:
        raise SelfRegistrationOff
    fields = given(input)
    choices = [
        Choice(
            purpose=choice.purpose,
            granted=choice.granted,
            source=choice.source,
            notice_version=choice.notice_version,
            language=choice.language,
            recipient=choice.recipient,
        )
        for choice in fields.pop("consents")
    ]
    with atomic(context):
        customer = linking.register_me(context.session, fields, choices, _person(context))
    _signed_in_as(context, customer)
    return customer


@strawberry.type
class SignInMutation:
    """Linking sign-ins to customers: staff (customers:write) and the person (me:write)."""

    create_link_code = strawberry.mutation(
        permission_classes=[Requires],
        resolver=_create_link_code,
        description=(
            "Make a one-time code that links whoever enters it (linkMe) to this customer: "
            "valid once, for 15 minutes; earlier codes of the customer stop working "
            "(customers:write; audited)."
        ),
    )
    unlink_customer = strawberry.mutation(
        permission_classes=[Requires],
        resolver=_unlink_customer,
        graphql_type=Customer | None,
        description=(
            "Undo a customer's link to a sign-in; unlinking again changes nothing "
            "(customers:write; audited)."
        ),
    )
    link_me = strawberry.mutation(
        permission_classes=[Requires],
        resolver=_link_me,
        graphql_type=Customer | None,
        description=(
            "Link your sign-in to the customer a staff member made this code for. A wrong, "
            "used or expired code is BAD_USER_INPUT; 5 wrong codes an hour, RATE_LIMITED "
            "(me:write; audited)."
        ),
    )
    register_me = strawberry.mutation(
        permission_classes=[Requires],
        resolver=_register_me,
        graphql_type=Customer | None,
        description=(
            "Register yourself as a new customer, linked to your sign-in, with the consents "
            "you chose; only where self-registration is on (me:write; audited)."
        ),
    )
