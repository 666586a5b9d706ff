"""Batched loading: every nested list is fetched for all the parents of a page at once.

Execution resolves one parent's children before the next parent's, so a classic DataLoader
would need async resolvers. Instead each batch knows the parents seen so far in the request
(the cohort): the first child lookup fetches the children of every pending parent in one
statement. The number of statements per request does not grow with the page size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, over, select
from sqlalchemy.orm import Session
from sqlmodel import col

from auth.policy.catalog import DATA_TYPES, Relation, relation_at
from auth.policy.decision import row_conditions
from auth.policy.row_rules import RowScope
from store.models import (
    AccessRecord,
    AccessRecordCustomer,
    Address,
    Consent,
    Customer,
    LegalRequestCustomer,
    Order,
    OrderItem,
    Partner,
    UsageEvent,
    table_of,
)

K = TypeVar("K")
V = TypeVar("V")

CHUNK = 500


class Batch(Generic[K, V]):
    """Values by key, fetched for every pending key at the first miss."""

    __slots__ = ("_batched", "_default", "_fetch", "_pending", "_values")

    def __init__(
        self,
        fetch: Callable[[list[K]], dict[K, V]],
        default: Callable[[], V],
        *,
        batched: bool = True,
    ) -> None:
        self._fetch = fetch
        self._default = default
        self._batched = batched
        self._values: dict[K, V] = {}
        self._pending: set[K] = set()

    def want(self, keys: Iterable[K]) -> None:
        """Note keys whose values will likely be asked for (unbatched: each key on its own)."""
        if not self._batched:
            return
        values = self._values
        self._pending.update(key for key in keys if key not in values)

    def prime(self, key: K, value: V) -> None:
        """Store a value already loaded elsewhere."""
        self._values.setdefault(key, value)

    def get(self, key: K) -> V:
        """The value for ``key``, fetching it with every pending key on a miss."""
        try:
            return self._values[key]
        except KeyError:
            pass
        self._pending.add(key)
        keys = sorted(self._pending, key=repr)
        self._pending.clear()
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            found = self._fetch(chunk)
            for each in chunk:
                self._values[each] = found[each] if each in found else self._default()
        return self._values[key]


def _order_by(relation: Relation) -> list[ColumnElement[Any]]:
    """The relation's default order, on its target's table."""
    table = table_of(DATA_TYPES[relation.target].model)
    return [table.c[name].desc() if desc else table.c[name] for name, desc in relation.order]


def _grouped(rows: Iterable[Any], key: str) -> dict[Any, list[Any]]:
    groups: dict[Any, list[Any]] = defaultdict(list)
    for row in rows:
        groups[getattr(row, key)].append(row)
    return groups


class Loaders:
    """The batches of one request, bound to its session and row rules."""

    def __init__(self, session: Session, scope: RowScope, *, batched: bool = True) -> None:
        self.session = session
        self.scope = scope
        self.batched = batched
        self.customer_ids_seen: list[int] = []
        self.order_owner: dict[int, int] = {}
        self.addresses = Batch(self._addresses, list, batched=self.batched)
        self.consents = Batch(self._consents, list, batched=self.batched)
        self.usage_events = Batch(self._usage_events, list, batched=self.batched)
        self.access_log = Batch(self._access_log, list, batched=self.batched)
        self.disclosures = Batch(self._disclosures, list, batched=self.batched)
        self.partner_by_client_id: Batch[str, Partner | None] = Batch(
            self._partners, _none, batched=self.batched
        )
        self.order_numbers: Batch[int, tuple[int, str] | None] = Batch(
            self._order_numbers, _none, batched=self.batched
        )
        self.items = Batch(self._items, list, batched=self.batched)
        self.address_by_id: Batch[int, Address | None] = Batch(
            self._address_by_id, _none, batched=self.batched
        )
        self.customer_by_id: Batch[int, Customer | None] = Batch(
            self._customer_by_id, _none, batched=self.batched
        )
        self.legal_customers: Batch[int, list[int]] = Batch(
            self._legal_customers, list, batched=self.batched
        )
        self.visible_customers: Batch[int, bool] = Batch(
            self._visible_customers, bool, batched=self.batched
        )
        self._orders: dict[tuple[int, int], Batch[int, tuple[list[Order], bool]]] = {}
        self._order_counts: Batch[int, int] | None = None
        self._customer_batches: list[Batch[int, Any]] = [
            self.addresses,
            self.consents,
            self.usage_events,
            self.access_log,
            self.disclosures,
        ]

    def scalars(self, statement: Select[Any]) -> Sequence[Any]:
        """Run a query for rows of one entity."""
        return self.session.scalars(statement).all()

    def saw_customers(self, customers: Iterable[Customer]) -> None:
        """Put loaded customers into the cohort of every per-customer batch."""
        customers = list(customers)
        ids = [customer.id for customer in customers if customer.id is not None]
        for customer in customers:
            self.customer_by_id.prime(customer.id, customer)  # type: ignore[arg-type]
        self.customer_ids_seen.extend(ids)
        for batch in self._customer_batches:
            batch.want(ids)

    def saw_orders(self, orders: Iterable[Order]) -> None:
        """Put loaded orders into the cohort of the item and address batches."""
        orders = list(orders)
        for order in orders:
            self.order_owner[order.id] = order.customer_id  # type: ignore[index]
        self.items.want(order.id for order in orders)  # type: ignore[misc]
        self.address_by_id.want(
            order.shipping_address_id for order in orders if order.shipping_address_id
        )
        self.customer_by_id.want(order.customer_id for order in orders)

    def visible(self, customer_ids: Iterable[int]) -> list[int]:
        """Those of ``customer_ids`` that exist for the caller (row rules), in their order.

        Lists of customer ids (an access record's, a legal request's) obey the row rules like
        any other path to a customer.
        """
        customer_ids = list(customer_ids)
        if not self.scope.restricted:
            return customer_ids
        self.visible_customers.want(customer_ids)
        return [pk for pk in customer_ids if self.visible_customers.get(pk)]

    def saw_records(self, records: Iterable[AccessRecord]) -> None:
        """Put the customers that access records name into the row-rule batch."""
        if self.scope.restricted:
            self.visible_customers.want(pk for record in records for pk in record.customer_ids)

    def orders_of(self, customer_id: int, offset: int, limit: int) -> tuple[list[Order], bool]:
        """One page of a customer's orders (newest first) and whether more follow."""
        key = (offset, limit)
        batch = self._orders.get(key)
        if batch is None:
            batch = Batch(
                lambda ids: self._orders_page(ids, offset, limit),
                lambda: ([], False),
                batched=self.batched,
            )
            batch.want(self.customer_ids_seen)
            self._orders[key] = batch
            self._customer_batches.append(batch)
        return batch.get(customer_id)

    def order_count_of(self, customer_id: int) -> int:
        """How many orders of the customer exist for the caller."""
        if self._order_counts is None:
            self._order_counts = Batch(self._count_orders, int, batched=self.batched)
            self._order_counts.want(self.customer_ids_seen)
            self._customer_batches.append(self._order_counts)
        return self._order_counts.get(customer_id)

    def _children(self, coordinate: str, ids: list[int]) -> dict[int, list[Any]]:
        """The rows a list field (``Type.field``) leads to from each of the parents ``ids``,
        by the catalog's keys and default order (a visible parent's own rows: the target's row
        rule only when the catalog says it applies)."""
        relation, child_key, rows = self._related(coordinate, ids)
        return _grouped(self.scalars(rows.order_by(*_order_by(relation))), child_key)

    def _addresses(self, ids: list[int]) -> dict[int, list[Address]]:
        return self._children("Customer.addresses", ids)

    def _consents(self, ids: list[int]) -> dict[int, list[Consent]]:
        return self._children("Customer.consents", ids)

    def _usage_events(self, ids: list[int]) -> dict[int, list[UsageEvent]]:
        return self._children("Customer.usageEvents", ids)

    def _access_log(self, ids: list[int], *, partners_only: bool = False) -> dict[int, list[Any]]:
        statement = (
            select(col(AccessRecordCustomer.customer_id), AccessRecord)
            .join(AccessRecord, col(AccessRecord.id) == col(AccessRecordCustomer.access_record_id))
            .where(col(AccessRecordCustomer.customer_id).in_(ids))
            .order_by(*_order_by(relation_at("Customer.accessLog")))
        )
        if partners_only:
            statement = statement.where(col(AccessRecord.recipient).is_not(None))
        rows = self.session.execute(statement).all()
        groups: dict[int, list[AccessRecord]] = defaultdict(list)
        for customer_id, record in rows:
            groups[customer_id].append(record)
        self.saw_records(record for _, record in rows)
        return groups

    def _disclosures(self, ids: list[int]) -> dict[int, list[AccessRecord]]:
        groups = self._access_log(ids, partners_only=True)
        self.partner_by_client_id.want(
            record.recipient for records in groups.values() for record in records
        )
        self.order_numbers.want(
            pk for records in groups.values() for record in records for pk in record.order_ids or ()
        )
        return groups

    def _order_numbers(self, ids: list[int]) -> dict[int, tuple[int, str] | None]:
        """Order id → (its customer, its number): what a disclosure names (never a row rule's
        subject: the customer it is shown to owns the order)."""
        rows = self.session.execute(
            select(col(Order.id), col(Order.customer_id), col(Order.number)).where(
                col(Order.id).in_(ids)
            )
        ).all()
        return {pk: (customer_id, number) for pk, customer_id, number in rows if pk is not None}

    def _partners(self, client_ids: list[str]) -> dict[str, Partner | None]:
        rows = self.scalars(select(Partner).where(col(Partner.client_id).in_(client_ids)))
        return {row.client_id: row for row in rows}

    def _items(self, ids: list[int]) -> dict[int, list[OrderItem]]:
        return self._children("Order.items", ids)

    def _address_by_id(self, ids: list[int]) -> dict[int, Address | None]:
        return self._single("Order.shippingAddress", ids)

    def _customer_by_id(self, ids: list[int]) -> dict[int, Customer | None]:
        return self._single("Order.customer", ids)

    def _single(self, coordinate: str, keys: list[int]) -> dict[int, Any]:
        """The rows a single object field (``Type.field``) leads to, by their key, that exist
        for the caller (the target's row rule, when the catalog says it applies)."""
        _, child_key, rows = self._related(coordinate, keys)
        return {getattr(row, child_key): row for row in self.scalars(rows)}

    def _related(self, coordinate: str, keys: list[int]) -> tuple[Relation, str, Select[Any]]:
        """The catalog's relation at ``coordinate`` (``Type.field``), its key on the target,
        and the rows it leads to from ``keys`` that exist for the caller: the target's row
        rule, when the catalog says it applies.

        Raises:
            KeyError: the relation goes through a link table (loaded otherwise).
        """
        relation = relation_at(coordinate)
        if relation.child_key is None:
            raise KeyError(f"{coordinate} is loaded through a link table")
        model = DATA_TYPES[relation.target].model
        key = table_of(model).c[relation.child_key]
        rules = row_conditions(self.scope, relation.target) if relation.row_rule else []
        return relation, relation.child_key, select(model).where(key.in_(keys), *rules)

    def _visible_customers(self, ids: list[int]) -> dict[int, bool]:
        rows = self.session.scalars(
            select(col(Customer.id)).where(
                col(Customer.id).in_(ids), *row_conditions(self.scope, "Customer")
            )
        )
        return {pk: True for pk in rows if pk is not None}

    def _legal_customers(self, ids: list[int]) -> dict[int, list[int]]:
        request_id, customer_id = (
            col(LegalRequestCustomer.legal_request_id),
            col(LegalRequestCustomer.customer_id),
        )
        rows = self.session.execute(
            select(request_id, customer_id)
            .where(request_id.in_(ids))
            .order_by(request_id, customer_id)
        ).all()
        groups: dict[int, list[int]] = defaultdict(list)
        for request, customer in rows:
            groups[request].append(customer)
        return groups

    def _orders_page(
        self, ids: list[int], offset: int, limit: int
    ) -> dict[int, tuple[list[Order], bool]]:
        relation = relation_at("Customer.orders")
        position = over(
            func.row_number(),
            partition_by=col(Order.customer_id),
            order_by=_order_by(relation),
        ).label("position")
        numbered = (
            select(col(Order.id), position)
            .where(col(Order.customer_id).in_(ids), *row_conditions(self.scope, "Order"))
            .subquery()
        )
        rows = self.scalars(
            select(Order)
            .join(numbered, numbered.c.id == col(Order.id))
            .where(numbered.c.position > offset, numbered.c.position <= offset + limit + 1)
            .order_by(col(Order.customer_id), numbered.c.position)
        )
        pages: dict[int, tuple[list[Order], bool]] = {}
        for customer_id, orders in _grouped(rows, "customer_id").items():
            pages[customer_id] = (orders[:limit], len(orders) > limit)
        self.saw_orders(order for page, _ in pages.values() for order in page)
        return pages

    def _count_orders(self, ids: list[int]) -> dict[int, int]:
        rows = self.session.execute(
            select(col(Order.customer_id), func.count(col(Order.id)))
            .where(col(Order.customer_id).in_(ids), *row_conditions(self.scope, "Order"))
            .group_by(col(Order.customer_id))
        ).all()
        return {customer_id: count for customer_id, count in rows}  # noqa: C416 (rows, not pairs)


def _none() -> None:
    return None
