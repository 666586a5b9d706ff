"""The connections' filters (`CustomerFilter`, `OrderFilter`), declared once for both executors.

`schema.queries` turns them into the loaders' conditions and `schema.compiled` into the
compiled statement's: a filter added here is applied, and checked, the same way by both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLIncludeDirective,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionNode,
    get_directive_values,
)

from store.ids import InvalidGlobalId, from_global_id


def _same(value: Any) -> Any:
    return value


def _enum_value(value: Enum) -> Any:
    return value.value


def _upper(value: str) -> str:
    return value.upper()


def customer_pk(global_id: str) -> int:
    """The customer's primary key, or 0 (matches nothing) for an id of another type."""
    try:
        kind, pk = from_global_id(global_id)
    except InvalidGlobalId:
        return 0
    return pk if kind == "Customer" else 0


@dataclass(frozen=True, slots=True)
class Filter:
    """One field of a filter input.

    Attributes:
        argument: the input field's GraphQL name (``lastName``).
        coordinate: the field the caller must be able to read to filter on it.
        column: the column it compares.
        after: compared with ``>`` (created or placed after); otherwise with ``=``.
        value: the column's value for the input's value.
        attribute: the input field's Python name (``last_name``).
    """

    argument: str
    coordinate: str
    column: str
    after: bool = False
    value: Callable[[Any], Any] = _same
    attribute: str = field(init=False)

    def __post_init__(self) -> None:
        snake = re.sub(r"([A-Z])", r"_\1", self.argument).lower()
        object.__setattr__(self, "attribute", snake)


CUSTOMER_FILTERS: tuple[Filter, ...] = (
    Filter("status", "Customer.status", "status", value=_enum_value),
    Filter("email", "Customer.email", "email"),
    Filter("lastName", "Customer.lastName", "last_name"),
    Filter("country", "Customer.country", "country", value=_upper),
    Filter("createdAfter", "Customer.createdAt", "created_at", after=True),
)
"""`CustomerFilter`, in the order its fields are checked."""

ORDER_FILTERS: tuple[Filter, ...] = (
    Filter("status", "Order.status", "status", value=_enum_value),
    Filter("customerId", "Order.customer", "customer_id", value=customer_pk),
    Filter("placedAfter", "Order.placedAt", "placed_at", after=True),
    Filter("paymentReference", "Order.paymentReference", "payment_reference"),
)
"""`OrderFilter`, in the order its fields are checked."""


REVEALING = ("totalCount", "pageInfo", "edges.cursor")
"""What of a connection answers questions about the rows its filter matched without returning
them: how many there are, whether more follow, where each one stands."""


def revealed(
    connection: str,
    filters: tuple[Filter, ...],
    given: Iterable[str],
    selected: AbstractSet[str],
) -> frozenset[str]:
    """The coordinates a filtered connection discloses about every row it matched (SPEC
    section 7, v5): the filter's fields and the connection's `REVEALING` fields selected.

    Empty when the connection is not filtered (an unfiltered count tells nothing of any one
    customer) or selects none of them; otherwise the request discloses something of every
    customer the filter matched, and its access record names them all.

    Args:
        connection: the connection type (``CustomerConnection``).
        filters: its filter's fields.
        given: the filter fields the request sets (GraphQL names), non-null.
        selected: the connection's selected paths (`selected_paths`).
    """
    named = set(given)
    used = {each.coordinate for each in filters if each.argument in named}
    shown = [path for path in REVEALING if path in selected]
    if not used or not shown:
        return frozenset()
    edge = connection.removesuffix("Connection") + "Edge"
    return frozenset(used) | {
        f"{edge}.cursor" if path == "edges.cursor" else f"{connection}.{path}" for path in shown
    }


def selected_paths(
    nodes: Iterable[FieldNode], fragments: Mapping[str, FragmentDefinitionNode], variables: Any
) -> set[str]:
    """The fields a connection's selection asks for — ``totalCount``, ``edges``,
    ``edges.cursor`` … — through fragments, ``@skip``/``@include`` decided."""
    paths: set[str] = set()
    for node in _fields(nodes, fragments, variables):
        name = node.name.value
        paths.add(name)
        if name == "edges":
            paths.update(
                f"edges.{inner.name.value}" for inner in _fields([node], fragments, variables)
            )
    return paths


def _fields(
    nodes: Iterable[FieldNode], fragments: Mapping[str, FragmentDefinitionNode], variables: Any
) -> Iterator[FieldNode]:
    seen: set[str] = set()
    stack = [node.selection_set for node in nodes if node.selection_set is not None]
    while stack:
        for selection in stack.pop().selections:
            if not _included(selection, variables):
                continue
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    stack.append(fragment.selection_set)


def _included(node: SelectionNode, variables: Any) -> bool:
    skip = get_directive_values(GraphQLSkipDirective, node, variables)
    if skip is not None and skip["if"] is True:
        return False
    include = get_directive_values(GraphQLIncludeDirective, node, variables)
    return not (include is not None and include["if"] is False)
