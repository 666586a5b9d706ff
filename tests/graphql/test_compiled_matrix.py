"""The compiler declines nothing the policy-matrix query selects (SPEC section 11).

The policy matrix's operation (`tests.policy.test_matrix`), kept to the compiled root fields
and to what the catalog marks compiled (every such field of every compiled type; ``node`` of
each compiled type with a global id), is sent under every declarable purpose by a
caller holding every read scope and by one holding only ``customers:read`` and
``orders:read``. Every request must be answered by the compiled statement: a fallback to
Strawberry (a declined operation, a failure to compile or to run) fails the test. The answer
is also checked against the policy model, as the matrix test checks the Strawberry path.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from graphql import GraphQLObjectType, get_named_type, is_leaf_type
from sqlalchemy.orm import Session

from auth.policy import scopes as s
from auth.policy.catalog import DATA_TYPES, FIELDS, Kind, compiled
from auth.policy.purposes import DECLARABLE, Purpose
from schema.compiled import CompiledReads
from tests.policy.test_matrix import TYPES, connection, legal_headers
from tests.support.policy_model import (
    READ_SCOPES,
    Caller,
    Field,
    Fragment,
    Model,
    Seeded,
    Selection,
    Snapshot,
    check,
    render,
    seed,
)


def compiled_fields(type_name: str, path: tuple[str, ...] = ()) -> tuple[Selection, ...]:
    """Every field of a data type that the catalog marks compiled; related types once a path."""
    graphql_type = TYPES[type_name]
    assert isinstance(graphql_type, GraphQLObjectType)
    path = (*path, type_name)
    selections: list[Selection] = []
    for name, graphql_field in graphql_type.fields.items():
        if not compiled(f"{type_name}.{name}"):
            continue
        target = get_named_type(graphql_field.type)
        node = target.name.removesuffix("Connection")
        if is_leaf_type(target):
            selections.append(Field(name))
        elif node in path:
            continue
        elif target.name.endswith("Connection"):
            selections.append(connection(name, compiled_fields(node, path)))
        else:
            selections.append(Field(name, compiled_fields(node, path)))
    return tuple(selections)


SEEDED = {
    "Customer": "ava",
    "Order": "ava_paid",
    "Address": "ava_home",
    "Consent": "ava_analytics",
    "UsageEvent": "ava_login",
}
"""A seeded row of each compiled type with a global id."""


def lookup(alias: str, global_id: str, type_name: str) -> Field:
    return Field(
        "node",
        (Fragment(type_name, compiled_fields(type_name)),),
        alias=alias,
        arguments=(("id", global_id),),
    )


def matrix_operation(data: Seeded, *, lookups: bool) -> tuple[Selection, ...]:
    """Every compiled field of every compiled type, from each root that reaches it."""
    roots: tuple[Selection, ...] = (
        connection("customers", compiled_fields("Customer")),
        connection("orders", compiled_fields("Order")),
    )
    if not lookups:
        return roots
    looked_up = tuple(
        lookup(type_name.lower(), data[SEEDED[type_name]], type_name)
        for type_name, data_type in DATA_TYPES.items()
        if data_type.compiled and data_type.node_scope is not None
    )
    return (*roots, *looked_up)


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each request the compiler was asked about got a compiled answer."""
    seen: list[bool] = []
    answer = CompiledReads.answer

    def spy(self: CompiledReads, *args: Any, **kwargs: Any) -> Any:
        result = answer(self, *args, **kwargs)
        seen.append(result is not None)
        return result

    monkeypatch.setattr(CompiledReads, "answer", spy)
    return seen


CALLERS = {
    "every scope": (frozenset(READ_SCOPES), True),
    "few scopes": (frozenset({s.CUSTOMERS_READ, s.ORDERS_READ}), False),
}


@pytest.mark.parametrize("purpose", DECLARABLE, ids=lambda p: p.value)
@pytest.mark.parametrize("who", CALLERS)
def test_the_compiler_declines_nothing_the_matrix_selects(
    gql: Any, session: Session, answered: list[bool], purpose: Purpose, who: str
) -> None:
    # given the seeded rows and a caller with every read scope, or with few
    data = seed(session)
    scopes, lookups = CALLERS[who]
    caller = Caller(scopes, purpose, data.legal_request_id)
    operation = matrix_operation(data, lookups=lookups)
    expected = Model(Snapshot.load(session), caller).expect(operation)
    # when it reads every compiled field of every compiled type
    body = gql(
        render(operation),
        scope=caller.scope,
        purpose=purpose.value,
        headers=legal_headers(caller, data),
    )
    # then the compiled statement answered it, as the policy model says
    assert answered == [True], f"{purpose.value}, {who}: the compiler declined"
    check(body, expected, case=f"{purpose.value}, {who}")


def test_a_compiled_field_the_compiler_cannot_serve_is_an_error_not_a_decline(
    gql: Any,
    session: Session,
    answered: list[bool],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a catalog that marks compiled a field of a kind the compiler has no JSON for
    seed(session)
    country = dataclasses.replace(FIELDS["Customer.country"], kind=Kind.TEXT_LIST)
    monkeypatch.setattr("schema.compiled.plan.FIELDS", {**FIELDS, "Customer.country": country})
    # when a query selects it
    query = "{ customers(first: 1) { edges { node { country } } } }"
    body = gql(
        query, scope=f"{s.CUSTOMERS_READ} purpose:customer_support", purpose="customer_support"
    )
    # then Strawberry answered, and the log names the field, as an error
    assert "errors" not in body
    assert answered == [False]
    assert any(
        record.levelname == "ERROR" and "Customer.country" in record.getMessage()
        for record in caplog.records
    )
