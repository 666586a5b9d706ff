"""The library internals Steward touches (``schema/_internals.py``) are those it was written for.

An upgrade of Strawberry or graphql-core fails here first: read ``schema/_internals.py``,
check each private name against the new release, then move the pin.
"""

from __future__ import annotations

from importlib.metadata import version

from graphql import GraphQLObjectType

from schema._internals import WRITTEN_AGAINST, core_schema, strawberry_field
from schema.build import build_schema


def _minor(distribution: str) -> str:
    return ".".join(version(distribution).split(".")[:2])


def test_the_installed_libraries_are_the_ones_the_internals_were_written_against() -> None:
    # given the installed releases / then they are the pinned ones
    assert {name: _minor(name) for name in WRITTEN_AGAINST} == WRITTEN_AGAINST


def test_each_internal_still_answers() -> None:
    # given the built schema / when its internals are read
    core = core_schema(build_schema())
    customer = core.type_map["Customer"]
    # then the core schema and the field back-references are there
    assert isinstance(customer, GraphQLObjectType)
    assert strawberry_field(customer.fields["email"]).python_name == "email"


def test_what_the_compiler_takes_from_graphql_core_is_its_public_surface() -> None:
    # given the names the compiled read path imports from graphql-core's execution
    import graphql

    used = {"VariableValues", "get_variable_values", "get_argument_values", "get_directive_values"}
    # then graphql-core exports each of them: none needs schema/_internals.py
    assert used <= set(graphql.__all__)
