"""Root queries. Row rules come from the request's `RowScope`, in the SQL that loads rows."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable
from typing import Annotated, Any

import strawberry
from sqlalchemy import ColumnElement, Select, func
from sqlmodel import SQLModel, col, select

from auth.policy.catalog import DATA_TYPES, POLICY, Rule
from auth.policy.decision import Access, decide, row_condition, row_conditions
from auth.policy.errors import ForbiddenFilter
from auth.policy.purposes import LANGUAGES, Purpose, language_of
from auth.policy.row_rules import ROW_RULES
from privacy import lookups
from schema._internals import resolve_info
from schema.context import Context, Info
from schema.filters import CUSTOMER_FILTERS, ORDER_FILTERS, Filter, revealed, selected_paths
from schema.pagination import page_window
from schema.permissions import Requires, may_see
from schema.types import (
    AccessRecord,
    Connection,
    Customer,
    Node,
    Order,
)
from store import models
from store.ids import InvalidGlobalId, from_global_id
from store.models import CustomerStatus, OrderStatus


@strawberry.enum
class Direction(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.enum
class CustomerOrderField(enum.Enum):
    CREATED_AT = "createdAt"
    LAST_NAME = "lastName"
    EMAIL = "email"


@strawberry.enum
class OrderOrderField(enum.Enum):
    PLACED_AT = "placedAt"
    TOTAL_AMOUNT = "totalAmount"


@strawberry.input(description="Every condition given must hold. Filtering on a field reads it.")
class CustomerFilter:
    status: CustomerStatus | None = None
    email: str | None = None
    last_name: str | None = None
    country: str | None = None
    created_after: dt.datetime | None = None


@strawberry.input
class CustomerOrder:
    field: CustomerOrderField
    direction: Direction = Direction.ASC


@strawberry.input(description="Every condition given must hold. Filtering on a field reads it.")
class OrderFilter:
    status: OrderStatus | None = None
    customer_id: strawberry.ID | None = None
    placed_after: dt.datetime | None = None
    payment_reference: str | None = None


@strawberry.input
class OrderOrder:
    field: OrderOrderField
    direction: Direction = Direction.DESC


def check_readable(context: Context, argument: str, coordinate: str) -> None:
    """Filtering or sorting on a field counts as reading it."""
    if decide(context.plan, coordinate).access is not Access.VISIBLE:
        raise ForbiddenFilter(argument, coordinate)


def _page(
    context: Context,
    statement: Select[Any],
    first: int,
    after: str | None,
    order: list[ColumnElement[Any]],
    seen: Callable[[list[Any]], None],
) -> Connection[Any]:
    offset, limit = page_window(context.options.max_page_size, first, after)
    rows = list(context.session.scalars(statement.order_by(*order).offset(offset).limit(limit + 1)))
    has_next = len(rows) > limit
    rows = rows[:limit]
    seen(rows)
    session = context.session
    count_statement = select(func.count()).select_from(statement.order_by(None).subquery())
    return Connection.of(rows, offset, has_next, lambda: session.scalar(count_statement))


def _customer_conditions(context: Context, where: CustomerFilter | None) -> list[Any]:
    return [
        *row_conditions(context.rows, "Customer"),
        *_filtered(context, CUSTOMER_FILTERS, models.Customer, where),
    ]


def _order_conditions(context: Context, where: OrderFilter | None) -> list[Any]:
    return [
        row_condition(context.rows, "Order"),
        *_filtered(context, ORDER_FILTERS, models.Order, where),
    ]


def _filtered(
    context: Context, filters: tuple[Filter, ...], model: type[SQLModel], where: Any
) -> list[Any]:
    """A filter input's conditions (declared in `schema.filters`), each field checked first."""
    conditions: list[Any] = []
    if where is None:
        return conditions
    for each in filters:
        value = getattr(where, each.attribute)
        if value is not None:
            check_readable(context, f"filter.{each.argument}", each.coordinate)
            column = getattr(model, each.column)
            value = each.value(value)
            conditions.append(column > value if each.after else column == value)
    return conditions


def _disclose_matches(
    info: Info, connection: str, filters: tuple[Filter, ...], where: Any, owners: Select[Any]
) -> None:
    """A filtered connection that counts or positions its rows discloses something of every
    customer its filter matched (`schema.filters.revealed`): the access record names them all,
    and the filter's fields. ``owners``: the matched rows' customer ids."""
    if where is None:
        return
    raw = resolve_info(info)
    given = [each.argument for each in filters if getattr(where, each.attribute) is not None]
    selected = selected_paths(raw.field_nodes, raw.fragments, raw.variable_values)
    coordinates = revealed(connection, filters, given, selected)
    if coordinates:
        context = info.context
        context.fields_read.update(coordinates)
        context.customers_read.update(context.session.scalars(owners))


def _pk_or_zero(global_id: str, type_name: str) -> int:
    """The primary key, or 0 (matches nothing) for an id of another type or none at all."""
    try:
        kind, pk = from_global_id(global_id)
    except InvalidGlobalId:
        return 0
    return pk if kind == type_name else 0


def _direction(column: Any, direction: Direction) -> Any:
    return column.asc() if direction is Direction.ASC else column.desc()


CUSTOMER_COLUMNS = {
    CustomerOrderField.CREATED_AT: models.Customer.created_at,
    CustomerOrderField.LAST_NAME: models.Customer.last_name,
    CustomerOrderField.EMAIL: models.Customer.email,
}
ORDER_COLUMNS = {
    OrderOrderField.PLACED_AT: models.Order.placed_at,
    OrderOrderField.TOTAL_AMOUNT: models.Order.total_amount,
}


def customer_by_pk(context: Context, pk: int) -> models.Customer | None:
    """One customer, if it exists for the caller; its children are loaded with the page's."""
    row = lookups.customer(context.session, context.scope, pk)
    if row is not None:
        context.loaders.saw_customers([row])
    return row


def order_by_pk(context: Context, pk: int) -> models.Order | None:
    """One order, if it exists for the caller."""
    row = lookups.order(context.session, context.scope, pk)
    if row is not None:
        context.loaders.saw_orders([row])
    return row


def _node(context: Context, type_name: str, pk: int) -> SQLModel | None:
    if type_name == "Customer":
        return customer_by_pk(context, pk)
    if type_name == "Order":
        return order_by_pk(context, pk)
    model: Any = DATA_TYPES[type_name].model
    condition = row_condition(context.rows, type_name)
    if condition is not None:
        return context.session.scalars(select(model).where(model.id == pk, condition)).first()
    record = context.session.get(model, pk)
    if isinstance(record, models.AccessRecord):
        context.loaders.saw_records([record])
    return record


@strawberry.type(description="A form disclosed instead of a field's value under a purpose.")
class PolicyForm:
    purpose: str
    form: str = strawberry.field(description="partial, generalised or pseudonym.")
    partners: bool = strawberry.field(
        description="Only for partners (third parties); false: for every caller."
    )


@strawberry.type
class PolicyField:
    field: str = strawberry.field(description="Schema coordinate, `Type.field` or `Type.*`.")
    scopes: list[str]
    purposes: list[str] | None = strawberry.field(description="null: any purpose.")
    forms: list[PolicyForm] = strawberry.field(
        default_factory=list,
        description="Forms disclosed instead of the value, per purpose (graduated disclosure).",
    )


@strawberry.type
class PolicyPurpose:
    id: str
    consent_required: bool
    title: str = strawberry.field(
        description="What the purpose is called, in the policy's language."
    )
    description: str = strawberry.field(
        description="What the purpose covers, in the notices' words and the policy's language."
    )
    declarable: bool = strawberry.field(description="Whether X-Purpose may name it.")


@strawberry.type(description="A rule on which rows exist for a caller.")
class PolicyRowRule:
    name: str
    description: str


@strawberry.type(description="The privacy policy Steward enforces.")
class Policy:
    fields: list[PolicyField]
    rows: list[PolicyRowRule] = strawberry.field(
        description="The row rules: which customers and orders exist for a caller."
    )
    language: str = strawberry.field(
        default=LANGUAGES[0],
        description=(
            "The language of the purposes' titles and descriptions: "
            + ", ".join(LANGUAGES)
            + " (right to left: fa)."
        ),
    )

    @strawberry.field(description="The purposes of processing, in the policy's language.")
    def purposes(self) -> list[PolicyPurpose]:
        return [
            PolicyPurpose(
                id=purpose.id,
                consent_required=purpose.consent_required,
                title=purpose.text(self.language).title,
                description=purpose.text(self.language).description,
                declarable=purpose.declarable,
            )
            for purpose in Purpose
        ]


def policy_document() -> Policy:
    """The policy table as GraphQL objects, its texts in English."""
    return Policy(
        fields=[
            PolicyField(
                field=coordinate,
                scopes=list(rule.scopes),
                purposes=rule.purpose_ids(),
                forms=_forms(rule),
            )
            for coordinate, rule in POLICY.items()
        ],
        rows=[PolicyRowRule(name=name, description=text) for name, text in ROW_RULES],
    )


def _forms(rule: Rule) -> list[PolicyForm]:
    """The forms of ``rule``, in the purposes' order, every caller's before partners'."""
    return [
        PolicyForm(purpose=purpose.id, form=form.value, partners=partners)
        for purpose in Purpose
        for partners, forms in ((False, rule.forms), (True, rule.partner_forms))
        if (form := forms.get(purpose)) is not None
    ]


@strawberry.type
class Query:
    @strawberry.field(
        description="Customers that exist for the caller under its purpose.",
        permission_classes=[Requires],
    )
    def customers(
        self,
        info: Info,
        first: int = 10,
        after: str | None = None,
        filter: CustomerFilter | None = None,
        order_by: CustomerOrder | None = None,
    ) -> Connection[Customer] | None:
        context = info.context
        conditions = _customer_conditions(context, filter)
        order: list[Any] = []
        if order_by is not None:
            check_readable(context, "orderBy", f"Customer.{order_by.field.value}")
            order.append(_direction(CUSTOMER_COLUMNS[order_by.field], order_by.direction))
        order.append(col(models.Customer.id).asc())
        statement = select(models.Customer).where(*conditions)
        page = _page(context, statement, first, after, order, context.loaders.saw_customers)
        owners = select(col(models.Customer.id)).where(*conditions)
        _disclose_matches(info, "CustomerConnection", CUSTOMER_FILTERS, filter, owners)
        return page

    @strawberry.field(
        description="One customer, or null when it does not exist for the caller.",
        permission_classes=[Requires],
        graphql_type=Customer | None,
    )
    def customer(self, info: Info, id: strawberry.ID) -> models.Customer | None:
        context = info.context
        pk = _pk_or_zero(id, "Customer")
        return customer_by_pk(context, pk) if pk else None

    @strawberry.field(
        description="Orders that exist for the caller under its purpose.",
        permission_classes=[Requires],
    )
    def orders(
        self,
        info: Info,
        first: int = 10,
        after: str | None = None,
        filter: OrderFilter | None = None,
        order_by: OrderOrder | None = None,
    ) -> Connection[Order] | None:
        context = info.context
        conditions = _order_conditions(context, filter)
        order: list[Any] = []
        if order_by is not None:
            check_readable(context, "orderBy", f"Order.{order_by.field.value}")
            order.append(_direction(ORDER_COLUMNS[order_by.field], order_by.direction))
        else:
            order.append(col(models.Order.placed_at).desc())
        order.append(col(models.Order.id).desc())
        statement = select(models.Order).where(*conditions)
        page = _page(context, statement, first, after, order, context.loaders.saw_orders)
        owners = select(col(models.Order.customer_id)).where(*conditions).distinct()
        _disclose_matches(info, "OrderConnection", ORDER_FILTERS, filter, owners)
        return page

    @strawberry.field(
        description="One order, or null when it does not exist for the caller.",
        permission_classes=[Requires],
        graphql_type=Order | None,
    )
    def order(self, info: Info, id: strawberry.ID) -> models.Order | None:
        context = info.context
        pk = _pk_or_zero(id, "Order")
        return order_by_pk(context, pk) if pk else None

    @strawberry.field(
        description="Any object by its global id; needs its type's read scope.",
        permission_classes=[Requires],
        graphql_type=Node | None,
    )
    def node(self, info: Info, id: strawberry.ID) -> SQLModel | None:
        context = info.context
        try:
            type_name, pk = from_global_id(id)
        except InvalidGlobalId:
            return None
        data_type = DATA_TYPES.get(type_name)
        if data_type is None or data_type.node_scope is None:
            return None
        # Decided before looking the row up, so that the answer does not tell whether it exists.
        if not may_see(context, type_name):
            return None
        return _node(context, type_name, pk)

    @strawberry.field(
        description="The caller's own record, every field visible (me:read).",
        permission_classes=[Requires],
        graphql_type=Customer | None,
    )
    def me(self, info: Info) -> models.Customer | None:
        context = info.context
        if context.scope.owner_id is None:
            return None
        return customer_by_pk(context, context.scope.owner_id)

    @strawberry.field(
        description=(
            "The privacy policy: what each field needs, and the purposes in the customer's "
            "language."
        ),
        permission_classes=[Requires],
    )
    def policy(
        self,
        info: Info,
        language: Annotated[
            str | None,
            strawberry.argument(
                description=(
                    "en, fa or vi (a tag such as fa-IR counts as fa); default: the request's "
                    "Accept-Language; anything else: en."
                )
            ),
        ] = None,
    ) -> Policy:
        preferences = info.context.languages if language is None else (language,)
        return dataclasses.replace(policy_document(), language=language_of(preferences))

    @strawberry.field(
        description="Access records, newest first (audit:read).", permission_classes=[Requires]
    )
    def audit_log(
        self,
        info: Info,
        first: int = 10,
        after: str | None = None,
        customer_id: strawberry.ID | None = None,
        client_id: str | None = None,
        purpose: Purpose | None = None,
    ) -> Connection[AccessRecord] | None:
        context = info.context
        statement = select(models.AccessRecord)
        if customer_id is not None:
            statement = statement.join(
                models.AccessRecordCustomer,
                col(models.AccessRecordCustomer.access_record_id) == models.AccessRecord.id,
            ).where(models.AccessRecordCustomer.customer_id == _pk_or_zero(customer_id, "Customer"))
        if client_id is not None:
            statement = statement.where(models.AccessRecord.client_id == client_id)
        if purpose is not None:
            statement = statement.where(models.AccessRecord.purpose == purpose.value)
        order: list[ColumnElement[Any]] = [
            col(models.AccessRecord.occurred_at).desc(),
            col(models.AccessRecord.id).desc(),
        ]
        return _page(context, statement, first, after, order, context.loaders.saw_records)
