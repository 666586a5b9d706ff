"""The policy's permission classes, and the guards they are planned into once per request.

Every field of a data type declares `FieldPolicy` (through `guarded`); every root field declares
`Requires`. Both read their rule from the one declaration in `auth.policy`. Strawberry would run
`FieldPolicy` per field per row; `install_guards` instead replaces it with guards that consult
the request's `Plan` with one set lookup, counting what they hide for ``extensions.redactions``.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

import strawberry
from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    get_nullable_type,
)
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types.base import get_object_definition
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from auth.policy.catalog import BY_MODEL, DATA_TYPES, FIELDS, Rule, policy_key, rule_for
from auth.policy.decision import Access, decide, exists_for
from auth.policy.errors import Forbidden, NotForPartners
from auth.policy.forms import check, disclose
from auth.policy.purposes import Purpose
from auth.policy.roots import ROOTS, RootRule
from auth.policy.table import form_text
from schema._internals import core_schema, parent_type_name, strawberry_field
from schema.context import Context, Info
from store.ids import InvalidGlobalId, from_global_id
from store.models import CustomerStatus

RESOLVE = "steward.resolve"

Resolver = Callable[..., Any]


class FieldPolicy(BasePermission):
    """Allows a field when the policy lets the caller's scopes and purpose read it."""

    message = "The privacy policy does not allow this field for this caller and purpose."
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        parent = parent_type_name(info)
        context = info.context
        return _shown(
            decide(context.plan, f"{parent}.{info.field_name}").access, parent, source, context
        )


class Requires(BasePermission):
    """Declares that a root field runs only as its rule in `auth.policy.roots` allows.

    Building the schema installs the check in its place (`install_guards`): refused, the field
    is an error at its path, ``FORBIDDEN`` with the scopes it needs. For ``node``, the scope is
    that of the type the id names; an id that names no data type finds nothing, without error.
    """

    message = "This needs a scope the token does not grant."
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        check_root(ROOTS[info.field_name], info.context, kwargs)
        return True


def check_root(rule: RootRule, context: Context, arguments: dict[str, Any]) -> None:
    """Raise `Forbidden` unless the caller holds every scope ``rule`` needs (and
    `NotForPartners` for a partner running a first-party field)."""
    needed = _node_scopes(arguments.get("id")) if rule.by_type else rule.scopes
    granted = context.scope.principal.scopes
    missing = [scope for scope in needed if scope not in granted]
    if missing:
        raise Forbidden(missing)
    if rule.first_party and context.scope.principal.partner:
        raise NotForPartners


def _node_scopes(global_id: Any) -> tuple[str, ...]:
    try:
        type_name, _pk = from_global_id(str(global_id))
    except InvalidGlobalId:
        return ()
    data_type = DATA_TYPES.get(type_name)
    if data_type is None or data_type.node_scope is None:
        return ()
    return (data_type.node_scope,)


def guarded(resolve: Resolver | None = None, *, description: str | None = None) -> Any:
    """A field of a data type, guarded by the policy (its rule, and whether erasure blanks it,
    are the catalog's: `auth.policy.catalog`).

    Args:
        resolve: ``(source, info, **arguments) -> value``, called directly by graphql-core;
            by default the attribute of the same name on the row.
        description: what the field is; the policy's needs are appended at build time.
    """
    return strawberry.field(
        description=description,
        metadata={RESOLVE: resolve},
        extensions=[PermissionExtension([FieldPolicy()], use_directives=False)],
    )


def _shown(access: Access, type_name: str, source: Any, context: Context) -> bool:
    """Whether a field decided ``access`` shows its value on ``source``."""
    return access is Access.VISIBLE or (
        access is Access.OWNED and _owns(type_name, source, context)
    )


def _owns(type_name: str, source: Any, context: Context) -> bool:
    owner = context.plan.owner_id
    data_type = DATA_TYPES.get(type_name)
    if owner is None or data_type is None:
        return False
    return data_type.owned_by(source, owner, context.loaders.order_owner)


def strip_permission_extensions(types: list[type]) -> dict[StrawberryField, bool]:
    """Remove the policy's permission extensions before Strawberry compiles the resolvers.

    `install_guards` puts planned guards in their place. Returns every field of the data types
    and of the root types, each with whether it declared its permission class (`FieldPolicy`
    on a data type, `Requires` on a root field).
    """
    declared: dict[StrawberryField, bool] = {}
    for cls in types:
        definition = get_object_definition(cls, strict=True)
        kind = FieldPolicy if definition.name in DATA_TYPES else Requires
        for field in definition.fields:
            ours = [
                extension
                for extension in field.extensions
                if isinstance(extension, PermissionExtension)
                and any(isinstance(p, FieldPolicy | Requires) for p in extension.permissions)
            ]
            field.extensions = [e for e in field.extensions if e not in ours]
            declared[field] = any(
                isinstance(p, kind) for extension in ours for p in extension.permissions
            )
            if kind is FieldPolicy:
                coordinate = f"{definition.name}.{field.graphql_name or to_camel_case(field.name)}"
                rule = rule_for(coordinate) if declared[field] else None
                field.description = _describe(field.description, rule_text(rule))
    return declared


def rule_text(rule: Rule | None) -> str:
    """How a field's needs read in the schema's descriptions."""
    if rule is None:
        return "Hidden from everyone: the policy has no entry for this field."
    purposes = rule.purpose_ids()
    scopes = " + ".join(f"`{scope}`" for scope in rule.scopes) or "no scope"
    where = "any purpose" if purposes is None else ", ".join(f"`{p}`" for p in purposes)
    forms = [
        f"`{purpose.id}`: {text}"
        for purpose in Purpose
        if (text := form_text(rule, purpose)) is not None
    ]
    instead = f" Instead of the value: {'; '.join(forms)}." if forms else ""
    return f"Needs {scopes}; purposes: {where}.{instead}"


def _describe(description: str | None, needs: str) -> str:
    return f"{description}\n\n{needs}" if description else needs


def install_guards(
    schema: strawberry.Schema, declared: dict[StrawberryField, bool], *, enforce: bool
) -> list[str]:
    """Replace the data types' resolvers with planned guards; return the fields without policy.

    With ``enforce=False`` (benchmarks only) the fast resolvers go in unguarded.
    """
    gaps: list[str] = []
    for type_name in DATA_TYPES:
        graphql_type = core_schema(schema).type_map.get(type_name)
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        for name, graphql_field in graphql_type.fields.items():
            field = strawberry_field(graphql_field)
            coordinate = f"{type_name}.{name}"
            key = policy_key(coordinate) if declared.get(field) else None
            if key is None:
                gaps.append(coordinate)
            catalogued = FIELDS.get(coordinate)
            custom = field.metadata.get(RESOLVE) or (
                graphql_field.resolve if field.base_resolver else None
            )
            inner = custom or _attribute(field.python_name)
            if not enforce:
                graphql_field.resolve = inner
                continue
            graphql_field.resolve = _guard(
                type_name,
                coordinate,
                key,
                inner,
                attribute=None if custom else field.python_name,
                arguments=bool(graphql_field.args),
                erasable=catalogued is not None and catalogued.erasable,
            )
    gaps.extend(_require_roots(schema, declared))
    if enforce:
        _guard_roots(schema)
    return gaps


def may_see(context: Context, type_name: str) -> bool:
    """Whether objects of ``type_name`` exist for the caller at all: it may read their id.

    ``id`` is the one guarded field that cannot be null, so an object whose id the policy
    hides is itself null. Counts the refusal for ``extensions.redactions``.
    """
    coordinate = f"{type_name}.id"
    if decide(context.plan, coordinate).access is Access.VISIBLE:
        return True
    context.plan.hidden[coordinate] += 1
    return False


def _guard_roots(schema: strawberry.Schema) -> None:
    """Guard what root fields return: the object itself, as its fields are guarded.

    Nested objects are reached through a guarded field whose rule includes their id's (a test
    checks this); root fields and mutation payloads are not, so they are checked here. A
    mutation's payload must also still exist for the caller after the write (row rules).
    """
    graphql_schema = core_schema(schema)
    for root in (graphql_schema.query_type, graphql_schema.mutation_type):
        if root is None:
            continue
        for graphql_field in root.fields.values():
            target = get_nullable_type(graphql_field.type)
            if not isinstance(target, GraphQLObjectType | GraphQLInterfaceType):
                continue
            if "id" not in target.fields or graphql_field.resolve is None:
                continue
            if isinstance(target, GraphQLObjectType) and target.name not in DATA_TYPES:
                continue
            graphql_field.resolve = _payload(
                graphql_field.resolve, rows=root is graphql_schema.mutation_type
            )


def _payload(inner: Resolver, *, rows: bool) -> Resolver:
    # Positional-only: a mutation may have an argument called `source` (recordConsent).
    def resolve(source: Any, info: GraphQLResolveInfo[Context], /, **kwargs: Any) -> Any:
        value = inner(source, info, **kwargs)
        data_type = BY_MODEL.get(type(value))
        if data_type is None:
            return value
        type_name = data_type.name
        context: Context = info.context
        if rows and not exists_for(context.session, context.rows, value):
            return None
        if (context.plan.owner_id is not None and _owns(type_name, value, context)) or may_see(
            context, type_name
        ):
            return value
        return None

    return resolve


def _attribute(name: str) -> Resolver:
    get = attrgetter(name)

    def resolve(source: Any, _info: GraphQLResolveInfo[Context]) -> Any:
        return get(source)

    return resolve


def _guard(
    type_name: str,
    coordinate: str,
    key: str | None,
    inner: Resolver,
    *,
    attribute: str | None,
    arguments: bool,
    erasable: bool,
) -> Resolver:
    """The resolver of a guarded field: one set lookup in the request's plan, then the value.

    The common case — the plan allows the field — costs one membership test over the
    unguarded resolver, with no extra call: it reads the attribute itself when the field is a
    plain attribute. Everything else (ownership, counting what is hidden, erased values) takes
    the general path.
    """
    if key is None:

        def hidden(_source: Any, info: GraphQLResolveInfo[Context], /, **_kwargs: Any) -> Any:
            info.context.plan.hidden[coordinate] += 1

        return hidden

    def general(source: Any, info: GraphQLResolveInfo[Context], /, **kwargs: Any) -> Any:
        context: Context = info.context
        plan = context.plan
        decision = decide(plan, coordinate)
        form = decision.form
        if form is not None and _owns(type_name, source, context):
            form = None  # the owner rule: a customer reads their own values as they are
        if form is not None or _shown(decision.access, type_name, source, context):
            value = inner(source, info, **kwargs)
            if value is None and erasable and source.status == CustomerStatus.ERASED:
                plan.erased[coordinate] += 1
            if form is None:
                return value
            # Counted wherever the form stands, whether or not a value is stored (MASKED).
            plan.hidden[coordinate] += 1
            return disclose(form, check(coordinate, form), value, key=context.scope.pseudonym_key)
        plan.hidden[coordinate] += 1
        return None

    if erasable and attribute is not None:
        get_personal = attrgetter(attribute)

        def personal(source: Any, info: GraphQLResolveInfo[Context]) -> Any:
            plan = info.context.plan
            if key in plan.visible:
                value = get_personal(source)
                if value is None and source.status == CustomerStatus.ERASED:
                    plan.erased[coordinate] += 1
                return value
            return general(source, info)

        return personal
    if erasable:
        return general
    if arguments:

        def with_arguments(source: Any, info: GraphQLResolveInfo[Context], /, **kwargs: Any) -> Any:
            if key in info.context.plan.visible:
                return inner(source, info, **kwargs)
            return general(source, info, **kwargs)

        return with_arguments
    if attribute is not None:
        get = attrgetter(attribute)

        def read(source: Any, info: GraphQLResolveInfo[Context]) -> Any:
            if key in info.context.plan.visible:
                return get(source)
            return general(source, info)

        return read

    def resolve(source: Any, info: GraphQLResolveInfo[Context]) -> Any:
        if key in info.context.plan.visible:
            return inner(source, info)
        return general(source, info)

    return resolve


def _require_roots(schema: strawberry.Schema, declared: dict[StrawberryField, bool]) -> list[str]:
    """Install each root field's `Requires` check; return the root fields without a rule."""
    gaps: list[str] = []
    core = core_schema(schema)
    for root in (core.query_type, core.mutation_type):
        if root is None:
            continue
        for name, graphql_field in root.fields.items():
            rule = ROOTS.get(name)
            if rule is None or not declared.get(strawberry_field(graphql_field)):
                gaps.append(f"{root.name}.{name}")
                continue
            assert graphql_field.resolve is not None
            graphql_field.resolve = _required(rule, graphql_field.resolve)
    return gaps


def _required(rule: RootRule, inner: Resolver) -> Resolver:
    # Positional-only: a mutation may have an argument called `source` (recordConsent).
    def resolve(source: Any, info: GraphQLResolveInfo[Context], /, **kwargs: Any) -> Any:
        check_root(rule, info.context, kwargs)
        return inner(source, info, **kwargs)

    return resolve
