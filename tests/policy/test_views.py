"""Per-caller schemas hold for every set of scopes: a field is in a caller's view exactly when
the request plan (what execution enforces) lets some purpose the caller may declare read it,
as the value or in a form."""

from __future__ import annotations

from graphql import GraphQLInterfaceType, GraphQLObjectType, get_named_type
from hypothesis import given, settings
from hypothesis import strategies as st

from auth.policy import scopes as s
from auth.policy.catalog import DATA_TYPES, Ownership, policy_key
from auth.policy.decision import Access, decide
from auth.policy.plan import Plan
from auth.policy.purposes import DECLARABLE
from auth.policy.scopes import ALL_SCOPES
from schema.build import build_schema, graphql_schema
from schema.view import client_schema

FULL = graphql_schema(build_schema())
SCOPE_SETS = st.frozensets(st.sampled_from(ALL_SCOPES))


def readable(coordinate: str, scopes: frozenset[str]) -> bool:
    """What execution decides: some purpose the caller may declare (or none) lets it read the
    field (the value, or a form of it), or the caller is a customer, who reads every field of
    their own rows (``me``, and the payloads of the self-service mutations)."""
    key = policy_key(coordinate)
    if key is None:
        return False
    under = [None, *(p for p in DECLARABLE if p.scope in scopes)]
    customer = s.ME_READ in scopes or s.ME_WRITE in scopes
    owner = customer and DATA_TYPES[key.partition(".")[0]].ownership is not (Ownership.NOBODY)
    return owner or any(
        decide(Plan(scopes, purpose), coordinate).access in (Access.VISIBLE, Access.FORM)
        for purpose in under
    )


@settings(max_examples=40, deadline=None)
@given(scopes=SCOPE_SETS)
def test_a_view_shows_exactly_the_data_fields_some_purpose_unlocks(scopes: frozenset[str]) -> None:
    view = client_schema(scopes)
    for name, named in view.type_map.items():
        if name not in DATA_TYPES:
            continue
        assert isinstance(named, GraphQLObjectType)
        whole = FULL.type_map[name]
        assert isinstance(whole, GraphQLObjectType)
        for field_name, field in whole.fields.items():
            coordinate = f"{name}.{field_name}"
            target = get_named_type(field.type)
            reachable = not isinstance(target, GraphQLObjectType | GraphQLInterfaceType) or (
                target.name in view.type_map
            )
            expected = readable(coordinate, scopes) and reachable
            assert (field_name in named.fields) == expected, coordinate


@settings(max_examples=40, deadline=None)
@given(scopes=SCOPE_SETS)
def test_a_data_type_is_in_a_view_only_if_its_id_is_readable(scopes: frozenset[str]) -> None:
    view = client_schema(scopes)
    for name in DATA_TYPES:
        whole = FULL.type_map[name]
        assert isinstance(whole, GraphQLObjectType)
        if name in view.type_map and "id" in whole.fields:
            assert readable(f"{name}.id", scopes), name
