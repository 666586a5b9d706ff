"""Building the schema: Strawberry's types, then the policy compiled into field guards."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

import strawberry
from graphql import GraphQLSchema
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.base import get_object_definition
from strawberry.types.field import StrawberryField

from auth.policy.catalog import DATA_TYPES
from auth.policy.errors import CatalogMismatchError, PolicyGapError
from schema import types
from schema._internals import core_schema
from schema.conformance import disagreements
from schema.mutations import Mutation as StaffMutation
from schema.permissions import install_guards, strip_permission_extensions
from schema.privacy_mutations import PrivacyMutation
from schema.queries import Query
from schema.sign_in import SignInMutation

Mutation = merge_types("Mutation", (StaffMutation, PrivacyMutation, SignInMutation))

_BY_NAME = {
    definition.name: cls
    for cls in vars(types).values()
    if isinstance(cls, type) and (definition := get_object_definition(cls)) is not None
}
TYPES: list[type] = [_BY_NAME[name] for name in DATA_TYPES]
"""The Strawberry type of each of the catalog's data types (`auth.policy.catalog`)."""


@cache
def _declared(data_types: tuple[type, ...]) -> dict[StrawberryField, bool]:
    # Stripping changes the types: once per set of types, however many schemas are built.
    return strip_permission_extensions(list(data_types))


def assemble(
    query: type,
    mutation: type | None,
    data_types: list[type],
    *,
    enforce: bool = True,
    extensions: Sequence[type[SchemaExtension] | Callable[[], SchemaExtension]] = (),
) -> strawberry.Schema:
    """A schema with the policy's guards installed.

    ``extensions`` are Strawberry's, for its own execution pipeline (`bench.builtins` only:
    ``/graphql`` executes with graphql-core).

    Raises:
        PolicyGapError: naming every field of a data type and every root field without a rule
            (with ``enforce=False``, benchmarks only, nothing is checked or guarded).
        CatalogMismatchError: naming every field where a data type and the catalog disagree.
    """
    roots = (query,) if mutation is None else (query, mutation)
    declared = _declared((*roots, *data_types))
    schema = strawberry.Schema(
        query=query,
        mutation=mutation,
        types=data_types,
        config=StrawberryConfig(auto_camel_case=True),
        extensions=list(extensions),
    )
    gaps = install_guards(schema, declared, enforce=enforce)
    if not enforce:
        return schema
    if gaps:
        raise PolicyGapError(gaps)
    problems = disagreements(core_schema(schema))
    if problems:
        raise CatalogMismatchError(problems)
    return schema


@cache
def build_schema(*, enforce: bool = True) -> strawberry.Schema:
    """Steward's schema (``enforce=False``: benchmarks only)."""
    return assemble(Query, Mutation, TYPES, enforce=enforce)


def graphql_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema that ``/graphql`` executes (its resolvers are the guards)."""
    return core_schema(schema)


def sdl() -> str:
    """The schema in SDL, as exported to ``schema.graphql``."""
    return build_schema().as_str() + "\n"
