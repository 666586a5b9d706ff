"""GraphQL documents: parsed and validated once, then kept; their shape checked against limits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule, specified_rules

from schema.errors import ParseFailed, QueryTooComplex, ValidationFailed

CACHE_SIZE = 1024
MAX_DIRECTIVES = 50
MAX_SELECTIONS = 10_000
INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


@dataclass(frozen=True, slots=True)
class Limits:
    """The shape a document may have."""

    depth: int
    aliases: int
    tokens: int
    introspection: bool


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed, validated document and what execution needs to know of it."""

    node: DocumentNode
    fragments: dict[str, FragmentDefinitionNode]

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        """The operation to run: the named one, or the only one."""
        operations = [d for d in self.node.definitions if isinstance(d, OperationDefinitionNode)]
        if name is None:
            return operations[0] if len(operations) == 1 else None
        return next((o for o in operations if o.name and o.name.value == name), None)

    def root_fields(self, operation: OperationDefinitionNode) -> set[str]:
        """The names of the root fields the operation selects, through fragments too."""
        return {field.name.value for field in self._fields(operation.selection_set, set())}

    def _fields(self, selections: SelectionSetNode, seen: set[str]) -> Iterator[FieldNode]:
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                yield from self._fields(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    yield from self._fields(fragment.selection_set, seen)


class Documents:
    """A cache of parsed and validated documents for one schema and one set of limits.

    Strawberry ships this as extensions (``ParserCache``, ``ValidationCache``,
    ``MaxTokensLimiter``, ``MaxAliasesLimiter``, ``QueryDepthLimiter``, ``MaskErrors``), which
    run inside ``strawberry.Schema.execute_sync``. Steward keeps its own: through Strawberry's
    pipeline the nested page costs 1.31-1.50x the CPU per request of this cache with graphql-core's
    ``execute_sync`` (``python -m bench.builtins``, 2026-11-29, SQLite, 200 demo customers), and
    Strawberry's caches are bounded by entries, where SPEC section 7 bounds them by bytes.
    """

    def __init__(self, schema: GraphQLSchema, limits: Limits) -> None:
        self._schema = schema
        self._limits = limits
        self._rules = list(specified_rules)
        if not limits.introspection:
            self._rules.append(NoSchemaIntrospectionCustomRule)
        self.get = lru_cache(maxsize=CACHE_SIZE)(self._load)

    def _load(self, source: str) -> Document | GraphQLError:
        try:
            node = parse(source, max_tokens=self._limits.tokens, no_location=False)
        except GraphQLError as error:
            if "tokens" in error.message:
                return QueryTooComplexError(error.message)
            return ParseError(error.message)
        fragments = {
            d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)
        }
        document = Document(node, fragments)
        problem = _shape(document, self._limits)
        if problem is not None:
            return QueryTooComplexError(problem)
        # No "Did you mean …?": it would reveal names to callers who guess.
        errors = validate(self._schema, node, self._rules, max_errors=20, hide_suggestions=True)
        if errors:
            return ValidationError(errors[0].message)
        return document

    def load(self, source: str) -> Document:
        """The document for ``source``; raises the request error that refuses it."""
        result = self.get(source)
        if isinstance(result, ParseError):
            raise ParseFailed(result.message)
        if isinstance(result, ValidationError):
            raise ValidationFailed(result.message)
        if isinstance(result, QueryTooComplexError):
            raise QueryTooComplex(result.message)
        assert isinstance(result, Document)
        return result


class ParseError(GraphQLError):
    """Cached: the source does not parse."""


class ValidationError(GraphQLError):
    """Cached: the document does not validate."""


class QueryTooComplexError(GraphQLError):
    """Cached: the document is over a limit."""


def _shape(document: Document, limits: Limits) -> str | None:
    """Why the document is over a limit, or ``None``."""
    aliases = 0
    directives = 0
    visited = 0
    for definition in document.node.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        stack: list[tuple[SelectionSetNode, int, frozenset[str]]] = [
            (definition.selection_set, 1, frozenset())
        ]
        directives += len(definition.directives or ())
        while stack:
            selection_set, depth, fragments = stack.pop()
            visited += len(selection_set.selections)
            if visited > MAX_SELECTIONS:
                return f"The document selects more than {MAX_SELECTIONS} fields."
            if depth > limits.depth:
                return f"The document is nested deeper than {limits.depth} levels."
            for selection in selection_set.selections:
                directives += len(selection.directives or ())
                if isinstance(selection, FieldNode):
                    aliases += selection.alias is not None
                    # Introspection nests type references deeply but is bounded by the schema.
                    if selection.name.value in INTROSPECTION_ROOTS:
                        continue
                    if selection.selection_set is not None:
                        stack.append((selection.selection_set, depth + 1, fragments))
                elif isinstance(selection, InlineFragmentNode):
                    stack.append((selection.selection_set, depth, fragments))
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = document.fragments.get(name)
                    if fragment is not None and name not in fragments:
                        stack.append((fragment.selection_set, depth, fragments | {name}))
    if aliases > limits.aliases:
        return f"The document uses more than {limits.aliases} aliases."
    if directives > MAX_DIRECTIVES:
        return f"The document uses more than {MAX_DIRECTIVES} directives."
    return None


def is_mutation(operation: OperationDefinitionNode) -> bool:
    """Whether the operation writes."""
    return operation.operation is OperationType.MUTATION
