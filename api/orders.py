"""``steward orders``: give partners their jobs (SPEC section 13)."""

from __future__ import annotations

import typer

orders_app = typer.Typer(
    help="Orders: assign them to partners (couriers, installers).\n\n"
    "A partner with assigned access sees only the orders assigned to it, while the "
    "assignment is active, their customers and their shipping addresses.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@orders_app.command("assign")
def orders_assign(
    number: str = typer.Argument(..., help="The order's number (SO-...)."),
    client_id: str = typer.Argument(..., help="The partner's client id."),
    until: str | None = typer.Option(
        None,
        help="When the assignment ends: an ISO 8601 date (midnight UTC) or time with its "
        "offset. It also ends PARTNER_ASSIGNMENT_DAYS after the order leaves PAID and SHIPPED.",
    ),
) -> None:
    """Assign an order to a partner.

    From the next request on, a partner with assigned access sees the order, its customer
    (if they consented to share with it) and its shipping address. Assigning it again sets
    the new --until. An unknown order or a client id that is no active partner is an error
    (exit 2).
    """
    from api.partners import parse_time
    from api.settings import Settings
    from privacy import assignments
    from privacy.errors import InputError
    from store.database import transaction_at

    ends = None if until is None else parse_time(until, "--until")
    try:
        with transaction_at(Settings().database_url) as session:
            order = assignments.order_numbered(session, number)
            assignments.assign(session, order, client_id, ends, created_by="steward-cli")
    except InputError as error:
        raise typer.BadParameter(error.message) from None
    suffix = "" if ends is None else f" until {ends.isoformat()}"
    typer.echo(f"order {number} assigned to {client_id}{suffix}")


@orders_app.command("unassign")
def orders_unassign(
    number: str = typer.Argument(..., help="The order's number (SO-...)."),
    client_id: str = typer.Argument(..., help="The partner's client id."),
) -> None:
    """End an order's assignment to a partner.

    From the next request on, the partner no longer sees the order through it. An order
    not assigned to that partner is an error (exit 2).
    """
    from api.settings import Settings
    from privacy import assignments
    from privacy.errors import InputError
    from store.database import transaction_at

    try:
        with transaction_at(Settings().database_url) as session:
            assignments.unassign(session, assignments.order_numbered(session, number), client_id)
    except InputError as error:
        raise typer.BadParameter(error.message) from None
    typer.echo(f"order {number} unassigned from {client_id}")
