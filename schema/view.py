"""A client's view of the schema: what it can ever unlock, and what each of its documents gets.

Per caller, as Hasura's roles and Apollo's contracts give one: the types and fields reachable
through fields that some purpose the caller's scopes allow can unlock (`auth.policy.view`).
Introspection answers from this view (`introspect`), ``steward schema --client`` prints it;
execution keeps the one schema, where a field the caller may not read is ``null`` and a
redaction, not a validation error. ``steward partners contract`` walks a registered document's
fields and states, per purpose, what the policy gives of each (`contract`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    EnumTypeDefinitionNode,
    ExecutionResult,
    FieldDefinitionNode,
    FieldNode,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    TypeDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    UnionTypeDefinitionNode,
    Visitor,
    build_ast_schema,
    execute_sync,
    get_named_type,
    parse,
    print_schema,
    visit,
)

from auth.policy.catalog import DATA_TYPES
from auth.policy.purposes import Purpose
from auth.policy.roots import INTROSPECTION
from auth.policy.scopes import ALL_SCOPES
from auth.policy.view import (
    Access,
    Decision,
    contexts,
    field_decision,
    may_find,
    may_run,
    may_unlock,
    root_decision,
)
from schema.build import build_schema, graphql_schema
from schema.documents import INTROSPECTION_ROOTS
from schema.errors import ValidationFailed

Fields = frozenset[str] | None
"""The fields a type keeps in a view; ``None`` for a type without fields (scalar, enum)."""


def known(scopes: frozenset[str]) -> frozenset[str]:
    """The scopes that decide a view: an external provider's token may carry others."""
    return scopes & frozenset(ALL_SCOPES)


def client_schema(scopes: frozenset[str]) -> GraphQLSchema:
    """The schema as a caller holding ``scopes`` sees it: what it can ever unlock."""
    return _view(known(scopes))[1]


def client_sdl(scopes: frozenset[str]) -> str:
    """`client_schema` in SDL, its types in the order of the whole schema's."""
    document, built = _view(known(scopes))
    names = [d.name.value for d in document.definitions if isinstance(d, TypeDefinitionNode)]
    ordered = GraphQLSchema(
        query=built.query_type,
        mutation=built.mutation_type,
        types=[built.type_map[name] for name in names],
        directives=built.directives,
    )
    return print_schema(ordered) + "\n"


@lru_cache(maxsize=64)
def _view(scopes: frozenset[str]) -> tuple[DocumentNode, GraphQLSchema]:
    """One view per distinct set of known scopes: built once, then shared."""
    full = graphql_schema(build_schema())
    kept = _reach(full, scopes)
    definitions = []
    for definition in _whole().definitions:
        if not isinstance(definition, TypeDefinitionNode):
            definitions.append(definition)
        elif definition.name.value in kept:
            definitions.append(_trim(definition, kept))
    document = DocumentNode(definitions=tuple(definitions))
    return document, build_ast_schema(document)


@cache
def _whole() -> DocumentNode:
    """The whole schema's SDL, parsed: each view keeps some of its definitions."""
    return parse(build_schema().as_str())


def _reach(schema: GraphQLSchema, scopes: frozenset[str]) -> dict[str, Fields]:
    """The types a caller can reach from the roots through fields it can ever unlock.

    A field whose type has nothing the caller may read is left out with it: a data type whose
    id is hidden is ``null`` wherever it is returned. So is a root field returning one, even a
    mutation the caller may run (``orders:write`` without ``orders:read``: ``placeOrder``).
    """
    roots = {t.name for t in (schema.query_type, schema.mutation_type) if t is not None}

    def unlocks(owner: GraphQLNamedType, name: str) -> bool:
        if owner.name in roots:
            return may_run(name, scopes)
        if owner.name in DATA_TYPES:
            return may_unlock(f"{owner.name}.{name}", scopes)
        return True  # structural: connections, edges, page info, the policy's own types

    def visible(owner: GraphQLObjectType | GraphQLInterfaceType) -> frozenset[str]:
        return frozenset(
            name
            for name, field in owner.fields.items()
            if unlocks(owner, name) and _has_content(get_named_type(field.type), unlocks)
        )

    kept: dict[str, Fields] = {}
    # (type, returned by a field): an interface a field returns brings the implementations
    # the caller can find; one an object merely implements brings none.
    stack: list[tuple[GraphQLNamedType, bool]] = [
        (t, True) for t in (schema.query_type, schema.mutation_type) if t is not None
    ]
    while stack:
        named, returned = stack.pop()
        if named.name in kept and not (returned and isinstance(named, GraphQLInterfaceType)):
            continue
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            fields = visible(named)
            kept[named.name] = fields
            for name in fields:
                field = named.fields[name]
                stack.append((get_named_type(field.type), True))
                stack.extend((get_named_type(a.type), True) for a in field.args.values())
            stack.extend((interface, False) for interface in named.interfaces)
            if isinstance(named, GraphQLInterfaceType) and returned:
                stack.extend(
                    (found, False)
                    for found in schema.get_possible_types(named)
                    if found.name not in DATA_TYPES or may_find(found.name, scopes)
                )
        elif isinstance(named, GraphQLInputObjectType):
            kept[named.name] = frozenset(named.fields)
            stack.extend((get_named_type(f.type), True) for f in named.fields.values())
        else:
            kept[named.name] = None
    return {name: fields for name, fields in kept.items() if fields is None or fields}


def _has_content(named: GraphQLNamedType, unlocks: Any) -> bool:
    """Whether a type the caller reaches has something to select: an object needs a field, and
    a data type with an id its id (an object whose id is hidden is itself null)."""
    if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        return True
    if "id" in named.fields and named.name in DATA_TYPES:
        return bool(unlocks(named, "id"))
    return any(unlocks(named, name) for name in named.fields)


def _trim(definition: TypeDefinitionNode, kept: dict[str, Fields]) -> TypeDefinitionNode:
    fields = kept[definition.name.value]
    if isinstance(definition, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
        assert fields is not None
        trimmed: list[FieldDefinitionNode] = [
            f for f in definition.fields or () if f.name.value in fields
        ]
        interfaces = tuple(i for i in definition.interfaces or () if i.name.value in kept)
        return type(definition)(
            name=definition.name,
            description=definition.description,
            directives=definition.directives,
            interfaces=interfaces,
            fields=tuple(trimmed),
        )
    if isinstance(
        definition,
        InputObjectTypeDefinitionNode
        | EnumTypeDefinitionNode
        | ScalarTypeDefinitionNode
        | UnionTypeDefinitionNode,
    ):
        return definition
    raise TypeError(f"a view cannot keep a {definition.kind} definition")


def reads_schema(root_fields: set[str]) -> bool:
    """Whether an operation introspects (``__schema``, ``__type``; ``__typename`` aside).

    Raises:
        ValidationFailed: it also selects data: introspection answers from the caller's view
            and data from the one schema, so they run as operations of their own.
    """
    if not root_fields & INTROSPECTION_ROOTS:
        return False
    if root_fields - INTROSPECTION:
        raise ValidationFailed(
            "Introspection (__schema, __type) runs as an operation of its own, without other "
            "root fields."
        )
    return True


def introspect(
    view: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
) -> ExecutionResult:
    """Answer an introspection operation (``__schema``, ``__type``, ``__typename`` only) from
    a view (`client_schema`); the document was validated against the whole schema."""
    result = execute_sync(
        view,
        document,
        operation_name=operation_name,
        variable_values=variables,
        hide_suggestions=True,
    )
    assert isinstance(result, ExecutionResult)
    return result


# --- Contracts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """What a client gets of one selected field under one purpose (``None``: no purpose)."""

    coordinate: str
    purpose: Purpose | None
    decision: Decision


@dataclass(frozen=True, slots=True)
class Contract:
    """What a client gets of each field one of its documents selects, per purpose.

    Attributes:
        purposes: the purposes it may run the document under (``None``: without one).
        terms: per selected field (schema coordinate, first selection first), per purpose.
    """

    purposes: tuple[Purpose | None, ...]
    terms: tuple[Term, ...]

    def never_visible(self) -> dict[str, str]:
        """The fields the client can never see through this document → why (first purpose's)."""
        never: dict[str, str] = {}
        for coordinate in dict.fromkeys(term.coordinate for term in self.terms):
            decisions = [t.decision for t in self.terms if t.coordinate == coordinate]
            if all(decision.hidden for decision in decisions):
                never[coordinate] = decisions[0].why or "hidden"
        return never


def contract(
    document: DocumentNode, scopes: frozenset[str], *, partner: str | None, assigned: bool = False
) -> Contract:
    """The contract of one document (an operation and its fragments) for a caller; ``partner``
    is its client id when it is a partner, ``assigned`` whether its access is ``assigned``."""
    schema = graphql_schema(build_schema())
    selected = list(_selected(schema, document))
    roots = [name for owner, name in selected if owner is schema.query_type]
    roots += [name for owner, name in selected if owner is schema.mutation_type]
    purposes = contexts(scopes, roots) or (None,)
    terms = [
        Term(
            f"{owner.name}.{name}",
            purpose,
            _decision(schema, owner, name, scopes, purpose, partner=partner, assigned=assigned),
        )
        for owner, name in selected
        for purpose in purposes
    ]
    return Contract(purposes, tuple(terms))


def _decision(
    schema: GraphQLSchema,
    owner: GraphQLObjectType | GraphQLInterfaceType,
    name: str,
    scopes: frozenset[str],
    purpose: Purpose | None,
    *,
    partner: str | None,
    assigned: bool,
) -> Decision:
    if owner is schema.query_type or owner is schema.mutation_type:
        return root_decision(name, scopes, purpose)
    if isinstance(owner, GraphQLInterfaceType):
        # A field selected on an interface (``node { id }``): what the best of the types the
        # caller can find gives.
        found = [
            field_decision(f"{t.name}.{name}", scopes, purpose, partner=partner, assigned=assigned)
            for t in schema.get_possible_types(owner)
        ]
        return next(
            (d for d in found if not d.hidden),
            found[0] if found else Decision(Access.HIDDEN, why="no type implements it"),
        )
    return field_decision(
        f"{owner.name}.{name}", scopes, purpose, partner=partner, assigned=assigned
    )


def _selected(
    schema: GraphQLSchema, document: DocumentNode
) -> Iterator[tuple[GraphQLObjectType | GraphQLInterfaceType, str]]:
    """The fields a document selects that the policy governs: root fields and the data
    types' fields (through fragments too), each once, first selection first."""
    type_info = TypeInfo(schema)
    found: dict[tuple[str, str], tuple[GraphQLObjectType | GraphQLInterfaceType, str]] = {}
    roots = {t.name for t in (schema.query_type, schema.mutation_type) if t is not None}

    class Fields(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            owner = type_info.get_parent_type()
            name = node.name.value
            if name.startswith("__") or not isinstance(
                owner, GraphQLObjectType | GraphQLInterfaceType
            ):
                return
            governed = owner.name in roots or owner.name in DATA_TYPES
            if isinstance(owner, GraphQLInterfaceType):
                governed = any(t.name in DATA_TYPES for t in schema.get_possible_types(owner))
            if governed:
                found.setdefault((owner.name, name), (owner, name))

    visit(document, TypeInfoVisitor(type_info, Fields()))
    yield from found.values()
