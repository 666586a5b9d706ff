"""GraphQL documents: parsed and validated once, then kept; their shape checked against limits."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass

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
from schema.storable import UnstorableString, literals_storable

CACHE_BYTES = 32 * 1024 * 1024
"""Default bound of the cache: the memory its documents' source texts take."""
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


@dataclass(frozen=True, slots=True, weakref_slot=True)
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

    Bounded by bytes, not entries: the source texts it keeps (the keys, and what a document's
    size grows with; its syntax tree is bounded by the token limit) take at most
    ``cache_bytes``, least recently used out first. Refusals (a document that does not parse
    or validate) are kept under the same bound; a text larger than the whole bound is never
    kept. Each caller has entries of its own (SPEC section 7, v5): that a text is cached
    tells a caller only what it sent itself.

    Args:
        schema: what documents are validated against.
        limits: the shape a document may have.
        cache_bytes: the bound; 0 keeps nothing.
    """

    def __init__(
        self, schema: GraphQLSchema, limits: Limits, cache_bytes: int = CACHE_BYTES
    ) -> None:
        self._schema = schema
        self._limits = limits
        self._rules = list(specified_rules)
        if not limits.introspection:
            self._rules.append(NoSchemaIntrospectionCustomRule)
        self._capacity = cache_bytes
        self._entries: OrderedDict[tuple[Hashable, str], Document | GraphQLError] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes of source text the cache holds now."""
        return self._bytes

    def get(self, source: str, caller: Hashable = None) -> Document | GraphQLError:
        """The document for ``source``, or why it is refused; parsed once per caller while it
        is kept.

        Args:
            source: the document's text.
            caller: whose cache entry it is: a caller's hit must not tell it that another
                caller sent the same text (a cached document answers several times faster).
        """
        key = (caller, source)
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                return cached
        loaded = self._load(source)  # outside the lock: other threads' documents go on
        size = sys.getsizeof(source)
        if size > self._capacity:
            return loaded
        with self._lock:
            if key not in self._entries:
                self._entries[key] = loaded
                self._bytes += size
                while self._bytes > self._capacity:
                    (_, evicted), _ = self._entries.popitem(last=False)
                    self._bytes -= sys.getsizeof(evicted)
        return loaded

    def _load(self, source: str) -> Document | GraphQLError:
        try:
            node = parse(source, max_tokens=self._limits.tokens, no_location=False)
        except GraphQLError as error:
            if "tokens" in error.message:
                return QueryTooComplexError(error.message)
            return ParseError(error.message)
        if not literals_storable(node):
            return UnstorableLiteral(UnstorableString().message)
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

    def load(self, source: str, caller: Hashable = None) -> Document:
        """The document for ``source`` (`get`); raises the request error that refuses it."""
        result = self.get(source, caller)
        if isinstance(result, ParseError):
            raise ParseFailed(result.message)
        if isinstance(result, ValidationError):
            raise ValidationFailed(result.message)
        if isinstance(result, QueryTooComplexError):
            raise QueryTooComplex(result.message)
        if isinstance(result, UnstorableLiteral):
            raise UnstorableString
        assert isinstance(result, Document)
        return result


class ParseError(GraphQLError):
    """Cached: the source does not parse."""


class ValidationError(GraphQLError):
    """Cached: the document does not validate."""


class QueryTooComplexError(GraphQLError):
    """Cached: the document is over a limit."""


class UnstorableLiteral(GraphQLError):
    """Cached: a string literal holds a NUL or a lone surrogate (`schema.storable`)."""


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
