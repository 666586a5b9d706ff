"""GraphQL documents: parsed and validated once, then kept; their shape checked against limits."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field

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
    TokenKind,
    parse,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule, specified_rules

from schema.errors import ParseFailed, QueryTooComplex, ValidationFailed
from schema.storable import UnstorableString, literals_storable

CACHE_BYTES = 32 * 1024 * 1024
"""Default bound of the cache: the memory its documents take (source, syntax tree, statements)."""
TOKEN_BYTES = 512
"""What a token of a kept syntax tree counts besides its text: the token and its share of the
tree's nodes (an upper estimate; tracemalloc measures 140-490 bytes with graphql-core 3.2)."""
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
    """A parsed, validated document and what execution needs to know of it.

    What is derived from it later (the compiled read path's statements) is kept on it, in
    `derived`, through `keep`: it lives as long as the document does, and counts in the byte
    bound of the cache that holds the document.
    """

    node: DocumentNode
    fragments: dict[str, FragmentDefinitionNode]
    source: str = field(default="", repr=False)
    tree: int = field(default=0, repr=False)
    """Bytes its syntax tree holds (`_settle`)."""
    derived: dict[Hashable, object] = field(default_factory=dict, compare=False, repr=False)
    cache: Documents | None = field(default=None, compare=False, repr=False)
    caller: Hashable = field(default=None, compare=False, repr=False)
    """Whose cache entry it is (`Documents.get`)."""

    def keep(self, key: Hashable, value: object, size: int) -> bool:
        """Keep ``value`` (of about ``size`` bytes) under ``key`` while the document is kept.

        Returns whether it was kept: only a document its cache holds keeps anything, and only
        within the cache's bound.
        """
        return self.cache is not None and self.cache.keep(self, key, value, size)

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

    Bounded by bytes, not entries: the source texts it keeps (the keys), their syntax trees
    (every token, comments included, with its text: `TOKEN_BYTES` each beside it), and what
    is derived from its documents (`Document.keep`: the compiled read path's statements) take
    at most ``cache_bytes`` together, least recently used document out first, with everything
    derived from it. Refusals (a document that does not parse or validate) are kept under the
    same bound; a text larger than the whole bound is never kept. Each caller has entries of
    its own (SPEC section 7, v5): that a text is cached tells a caller only what it sent
    itself.

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
        self._sizes: dict[tuple[Hashable, str], int] = {}
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
        loaded = self._load(source, caller)  # outside the lock: other threads' documents go on
        size = sys.getsizeof(source) + (loaded.tree if isinstance(loaded, Document) else 0)
        if size > self._capacity:
            return loaded
        with self._lock:
            if key not in self._entries:
                self._entries[key] = loaded
                self._sizes[key] = size
                self._bytes += size
                self._evict()
        return loaded

    def keep(self, document: Document, key: Hashable, value: object, size: int) -> bool:
        """`Document.keep`: ``value`` is kept on ``document`` and counted in the bound, if
        the cache holds the document."""
        entry = (document.caller, document.source)
        with self._lock:
            if self._entries.get(entry) is not document:
                return False
            document.derived[key] = value
            self._sizes[entry] += size
            self._bytes += size
            self._evict()
            return self._entries.get(entry) is document

    def _evict(self) -> None:
        """Least recently used out first, until the cache is within its bound."""
        while self._bytes > self._capacity:
            evicted, entry = self._entries.popitem(last=False)
            self._bytes -= self._sizes.pop(evicted)
            if isinstance(entry, Document):
                entry.derived.clear()  # a request still holding the document keeps nothing

    def _load(self, source: str, caller: Hashable) -> Document | GraphQLError:
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
        document = Document(node, fragments, source, _settle(node), cache=self, caller=caller)
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


def _settle(node: DocumentNode) -> int:
    """Trim a parsed document's token chain to what execution uses; returns what it holds.

    The lexer links every token to the next and the previous one, comments included: a chain
    of reference cycles, which lives until a full collection of the garbage collector (rare
    in a serving process, `api.app.settle_heap`) and holds each comment's text (which the
    token limit does not count). Nothing reads the chain after parsing but the syntax tree's
    locations, which name tokens that are never comments: comments leave the chain and the
    links back go, so that a dropped document is freed at once. Then each token that is left
    counts `TOKEN_BYTES` and its text.
    """
    size = 0
    token = node.loc.start_token if node.loc is not None else None
    while token is not None:
        token.prev = None
        while token.next is not None and token.next.kind is TokenKind.COMMENT:
            token.next = token.next.next
        size += TOKEN_BYTES + (0 if token.value is None else sys.getsizeof(token.value))
        token = token.next
    return size


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
