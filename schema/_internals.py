"""Every use of Strawberry's and graphql-core's private internals, in one module.

Strawberry builds a graphql-core schema and keeps it private; Steward installs its planned
field guards on that schema's resolvers after the build (``schema.permissions``), which needs
three things neither library exposes. ``tests/graphql/test_internals.py`` pins the versions
these were written against: an upgrade fails that test first, and this module is where to look.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLField, GraphQLResolveInfo, GraphQLSchema
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

WRITTEN_AGAINST = {"strawberry-graphql": "0.341", "graphql-core": "3.3"}
"""The releases (major.minor) this module was written against."""


def core_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema Strawberry built (``Schema._schema``)."""
    core: GraphQLSchema = schema._schema
    return core


def strawberry_field(field: GraphQLField) -> StrawberryField:
    """The Strawberry field a graphql-core field was converted from."""
    definition: StrawberryField = field.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
    return definition


def parent_type_name(info: strawberry.Info[Any, Any]) -> str:
    """The name of the type whose field is being resolved (``Info._raw_info``)."""
    name: str = info._raw_info.parent_type.name
    return name


def resolve_info(info: strawberry.Info[Any, Any]) -> GraphQLResolveInfo[Any]:
    """graphql-core's own resolve info (``Info._raw_info``): its field nodes, fragments and
    variable values, as graphql-core executes them."""
    raw: GraphQLResolveInfo[Any] = info._raw_info
    return raw
