"""Property: for random operations, scopes and purposes, nothing forbidden is ever returned and
nothing allowed is ever hidden.

Hypothesis builds operations over the seeded data: random subsets of every data type's fields,
aliases (also of one field twice), inline fragments with and without a type condition, named
fragments, ``... on Node``, ``node`` lookups of every type, and nesting
customer → orders → customer, order → shippingAddress / items / customer. Each runs over HTTP
for a random set of read scopes under a random purpose, as a partner (the seeded courier or
agency, whose customers' consents differ per recipient) or not, and the response must be
exactly what `tests.policy_model` derives from the stored rows and the table. Independently of
the model, a walk of the response checks that no value the table forbids is present.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import GraphQLObjectType, get_named_type, is_leaf_type
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from auth.policy.purposes import DECLARABLE, Purpose
from schema.build import build_schema
from store.ids import from_global_id
from tests.support.policy_model import (
    AGENCY,
    COURIER,
    DISPATCH,
    IDLE,
    OBJECTS,
    READ_SCOPES,
    Caller,
    Field,
    Fragment,
    Model,
    Seeded,
    Selection,
    Snapshot,
    check,
    flatten,
    form_of,
    hidden_reason,
    looks_formed,
    render,
    seed,
    seed_assignments,
)

TYPES = build_schema()._schema.type_map
NODE_TYPES = (
    "Customer",
    "Order",
    "Address",
    "Consent",
    "UsageEvent",
    "AccessRecord",
    "LegalRequest",
)
MAX_ALIASES = 24
"""Below the server's limit (30), so that no generated operation is refused for its shape."""


def fields_of(type_name: str) -> list[tuple[str, str | None]]:
    """(field, the data type it leads to, or None for a leaf) for each field of a data type."""
    graphql_type = TYPES[type_name]
    assert isinstance(graphql_type, GraphQLObjectType)
    result = []
    for name, field in graphql_type.fields.items():
        target = get_named_type(field.type)
        result.append((name, None if is_leaf_type(target) else OBJECTS[f"{type_name}.{name}"]))
    return result


@dataclass
class Names:
    """Fresh aliases and fragment names for one operation."""

    aliases: int = 0
    fragments: int = 0

    def alias(self) -> str | None:
        if self.aliases >= MAX_ALIASES:
            return None
        self.aliases += 1
        return f"a{self.aliases}"

    def fragment(self) -> str:
        self.fragments += 1
        return f"F{self.fragments}"


@st.composite
def selections(
    draw: Any, type_name: str, depth: int, names: Names, keys: set[str] | None = None
) -> tuple[Selection, ...]:
    """A random selection set on ``type_name``; objects nested at most ``depth`` more levels.

    ``keys`` are the response keys already taken at this level (by sibling fragments): a
    field whose name is taken gets an alias, so that no two selections need merging.
    """
    candidates = [f for f in fields_of(type_name) if f[1] is None or depth > 0]
    chosen = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=8))
    fields: list[Field] = []
    keys = set() if keys is None else keys
    for name, target in chosen:
        alias = names.alias() if name in keys or draw(st.integers(0, 4)) == 0 else None
        if name in keys and alias is None:
            continue
        keys.add(alias or name)
        children: tuple[Selection, ...] = ()
        arguments: tuple[tuple[str, Any], ...] = ()
        if target == "OrderConnection":
            children = connection(draw, "Order", depth - 1, names)
            arguments = (("first", draw(st.integers(1, 3))),)
        elif target is not None:
            children = draw(selections(target, depth - 1, names))
        fields.append(Field(name, children, alias, arguments))
    return wrapped(draw, type_name, fields, names)


def wrapped(draw: Any, type_name: str, fields: list[Field], names: Names) -> tuple[Selection, ...]:
    """The fields as they are, or spread through inline and named fragments."""
    result: list[Selection] = []
    for field in fields:
        how = draw(st.sampled_from(["field", "field", "inline", "untyped", "named", "node"]))
        if how == "inline":
            result.append(Fragment(type_name, (field,)))
        elif how == "untyped":
            result.append(Fragment(None, (field,)))
        elif how == "named":
            result.append(Fragment(type_name, (field,), name=names.fragment()))
        elif how == "node" and field.name == "id" and type_name in NODE_TYPES:
            result.append(Fragment("Node", (field,)))
        else:
            result.append(field)
    return tuple(result)


def connection(draw: Any, type_name: str, depth: int, names: Names) -> tuple[Selection, ...]:
    node = Field("node", draw(selections(type_name, depth, names)))
    parts: list[Selection] = [Field("edges", (node,))]
    if draw(st.booleans()):
        parts.insert(0, Field("totalCount"))
    return tuple(parts)


@st.composite
def operations(draw: Any, data: Seeded) -> tuple[Selection, ...]:
    """One to three root fields over the seeded rows."""
    names = Names()
    customers = [n for n in data.ids if from_global_id(data[n])[0] == "Customer"]
    orders = [n for n in data.ids if from_global_id(data[n])[0] == "Order"]
    roots: list[Selection] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["customers", "orders", "customer", "order", "node", "node"]))
        alias = names.alias()
        if kind == "customers":
            children = connection(draw, "Customer", 2, names)
            roots.append(Field(kind, children, alias, (("first", draw(st.integers(1, 4))),)))
        elif kind == "orders":
            children = connection(draw, "Order", 2, names)
            roots.append(Field(kind, children, alias, (("first", draw(st.integers(1, 6))),)))
        elif kind in ("customer", "order"):
            # mostly ids of the right type; sometimes of the other one (null)
            pool = customers if (kind == "customer") != (draw(st.integers(0, 5)) == 0) else orders
            target = data[draw(st.sampled_from(pool))]
            children = draw(selections(kind.capitalize(), 2, names))
            roots.append(Field(kind, children, alias, (("id", target),)))
        else:
            target = data[draw(st.sampled_from(sorted(data.ids)))]
            keys: set[str] = set()
            spreads: list[Selection] = [
                Fragment(t, draw(selections(t, 1, names, keys)))
                for t in draw(st.lists(st.sampled_from(NODE_TYPES), min_size=1, max_size=3))
            ]
            if draw(st.booleans()):
                spreads.append(Field("__typename"))
            roots.append(Field("node", tuple(spreads), alias, (("id", target),)))
    return tuple(roots)


scope_sets = st.one_of(
    st.frozensets(st.sampled_from(READ_SCOPES)),
    st.frozensets(st.sampled_from(READ_SCOPES), max_size=3).map(
        lambda left_out: frozenset(READ_SCOPES) - left_out
    ),
)
"""Any set of read scopes, but mostly nearly all of them, so that deep paths are reachable."""

callers = st.tuples(
    scope_sets,
    st.sampled_from(DECLARABLE),
    st.sampled_from([None, COURIER, AGENCY, DISPATCH, IDLE]),
)
"""Scopes, a purpose, and the partner the client is (None: no partner; `DISPATCH` and `IDLE`
have assigned access, with and without assignments)."""


def forbidden_values(
    response: Any, type_name: str, selection: tuple[Selection, ...], caller: Caller
) -> list[str]:
    """The coordinates whose value the response carries although the table forbids it."""
    found: list[str] = []
    if response is None:
        return found
    for field in flatten(selection, type_name):
        value = response.get(field.key)
        if field.name == "__typename" or value is None:
            continue
        coordinate = f"{type_name}.{field.name}"
        form = form_of(coordinate, caller)
        if form is not None:
            # where a form is due, never the clear value
            if not looks_formed(form, value):
                found.append(coordinate)
            continue
        if hidden_reason(coordinate, caller) is not None:
            found.append(coordinate)
            continue
        target = OBJECTS.get(coordinate)
        if target == "OrderConnection":
            found += edges_forbidden(value, "Order", field, caller)
        elif target is not None:
            for item in value if isinstance(value, list) else [value]:
                found += forbidden_values(item, target, field.children, caller)
    return found


def edges_forbidden(
    value: dict[str, Any], type_name: str, field: Field, caller: Caller
) -> list[str]:
    found: list[str] = []
    for part in flatten(field.children, f"{type_name}Connection"):
        if part.name != "edges":
            continue
        node = next(f for f in flatten(part.children, f"{type_name}Edge") if f.name == "node")
        for edge in value[part.key]:
            found += forbidden_values(edge[node.key], type_name, node.children, caller)
    return found


def root_forbidden(
    body: dict[str, Any], operation: tuple[Selection, ...], caller: Caller
) -> list[str]:
    found: list[str] = []
    for root in operation:
        assert isinstance(root, Field)
        value = (body.get("data") or {}).get(root.key)
        if value is None:
            continue
        if root.name in ("customers", "orders"):
            found += edges_forbidden(value, root.name[:-1].capitalize(), root, caller)
        elif root.name == "node":
            type_name = from_global_id(root.argument("id"))[0]
            found += forbidden_values(value, type_name, root.children, caller)
        else:
            found += forbidden_values(value, root.name.capitalize(), root.children, caller)
    return found


def test_random_operations_neither_leak_nor_over_hide(gql, token, session: Session) -> None:
    data = seed(session)
    seed_assignments(session, data)

    @settings(
        max_examples=100,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data(), callers)
    def run(draw: st.DataObject, who: tuple[frozenset[str], Purpose, str | None]) -> None:
        # given a random caller and a random operation
        granted, purpose, partner = who
        caller = Caller(granted, purpose, data.legal_request_id, partner)
        operation = draw.draw(operations(data), label="operation")
        expected = Model(Snapshot.load(session), caller).expect(operation)
        # when it runs over HTTP
        body = gql(
            render(operation),
            scope=caller.scope,
            purpose=purpose.value,
            headers={
                "X-Legal-Reference": data.legal_reference,
                "Authorization": f"Bearer {token(caller.scope, client_id=partner or 'staff-app')}",
            },
        )
        # then no value the table forbids is present, and the response is exactly the model's
        assert root_forbidden(body, operation, caller) == []
        check(body, expected, case=render(operation))

    run()
