"""The schema's data types against the catalog: building the schema fails where they disagree.

The Strawberry types are written by hand; the catalog (`auth.policy.catalog`) says what each
field is. A field the catalog has and the type lacks, a guarded field that is not nullable (ids
excepted), a list that is not one, a value of another type, an object field leading elsewhere:
each is a disagreement, and `schema.build.assemble` refuses the schema. (A field the type has
and the catalog lacks is a policy gap: `schema.permissions.install_guards` reports it.)
"""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    get_named_type,
    get_nullable_type,
    is_non_null_type,
)

from auth.policy.catalog import DATA_TYPES, Cardinality, Field, Kind

SCALARS: dict[Kind, str] = {
    Kind.GID: "ID",
    Kind.TEXT: "String",
    Kind.AGE_BAND: "String",
    Kind.INT_TEXT: "String",
    Kind.DATETIME: "DateTime",
    Kind.DATE: "Date",
    Kind.FLOAT: "Float",
    Kind.BOOL: "Boolean",
    Kind.INT: "Int",
    Kind.TEXT_LIST: "String",
    Kind.ID_LIST: "ID",
    Kind.JSON: "JSON",
}
"""The GraphQL scalar each scalar kind is served as (an enum kind: any enum)."""

LISTS = frozenset({Kind.TEXT_LIST, Kind.ID_LIST})


def disagreements(schema: GraphQLSchema) -> list[str]:
    """Where the schema's data types and the catalog disagree, one line each."""
    problems: list[str] = []
    for type_name, data_type in DATA_TYPES.items():
        graphql_type = schema.type_map.get(type_name)
        if graphql_type is None:
            continue
        if not isinstance(graphql_type, GraphQLObjectType):
            problems.append(f"{type_name}: not an object type")
            continue
        for each in data_type.fields:
            coordinate = f"{type_name}.{each.name}"
            found = graphql_type.fields.get(each.name)
            if found is None:
                problems.append(f"{coordinate}: in the catalog, not in the schema")
                continue
            problems.extend(f"{coordinate}: {why}" for why in _field(each, found.type))
    return problems


def _field(field: Field, graphql_type: GraphQLOutputType) -> list[str]:
    problems: list[str] = []
    required = field.kind is Kind.GID
    if is_non_null_type(graphql_type) != required:
        problems.append("nullable, but an id is not" if required else "not nullable, as guarded")
    relation = field.relation
    listed = field.kind in LISTS or (
        relation is not None and relation.cardinality is Cardinality.LIST
    )
    if isinstance(get_nullable_type(graphql_type), GraphQLList) != listed:
        problems.append("a list in the catalog" if listed else "no list in the catalog")
    named = get_named_type(graphql_type)
    if relation is not None:
        expected = relation.target
        if relation.cardinality is Cardinality.CONNECTION:
            expected += "Connection"
        if named.name != expected:
            problems.append(f"leads to {named.name}, the catalog says {expected}")
    elif field.kind in (Kind.ENUM, Kind.UPPER):
        if not isinstance(named, GraphQLEnumType):
            problems.append(f"{named.name} is no enum, the catalog says {field.kind}")
    elif named.name != SCALARS[field.kind]:
        problems.append(f"{named.name}, the catalog says {field.kind} ({SCALARS[field.kind]})")
    return problems
