"""``steward customers``: operator commands about customers (SPEC section 12)."""

from __future__ import annotations

import typer

customers_app = typer.Typer(
    help="Customers: link codes.\n\n"
    "A person who signs in at the company's identity provider becomes linked to their "
    "customer record with a one-time code that staff make here (or with createLinkCode).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

OPERATOR = "steward-cli"
"""Who the access record of a command names, as client and subject."""


@customers_app.command("link-code")
def customers_link_code(
    customer_id: str = typer.Argument(..., help="The customer's global id (Customer.id)."),
) -> None:
    """Make a one-time link code for a customer.

    Whoever enters it with the linkMe mutation, signed in at a trusted provider, is linked
    to the customer. Prints the code and its expiry (15 minutes); earlier codes of the
    customer stop working. The code is shown only here and stored only as its hash; the
    creation is audited.
    """
    from api.settings import Settings
    from privacy.audit import Access, write
    from privacy.errors import PrivacyError
    from privacy.linking import create_link_code
    from store import models
    from store.database import transaction_at
    from store.ids import InvalidGlobalId, pk_of

    try:
        pk = pk_of(customer_id, "Customer")
    except InvalidGlobalId:
        raise typer.BadParameter("not a customer id", param_hint="CUSTOMER_ID") from None
    try:
        with transaction_at(Settings().database_url) as session:
            customer = session.get(models.Customer, pk, with_for_update=True)
            if customer is None or customer.status != models.CustomerStatus.ACTIVE:
                raise typer.BadParameter("no such active customer", param_hint="CUSTOMER_ID")
            code, expires_at = create_link_code(session, customer, OPERATOR)
            write(
                session,
                Access(
                    subject=OPERATOR,
                    client_id=OPERATOR,
                    purpose=None,
                    legal_reference=None,
                    operation_name="steward customers link-code",
                    customer_ids=(pk,),
                    fields=("Mutation.createLinkCode",),
                ),
            )
    except PrivacyError as error:
        raise typer.BadParameter(error.message, param_hint="CUSTOMER_ID") from None
    typer.echo(f"{code}\texpires {expires_at.isoformat(timespec='seconds')}")
