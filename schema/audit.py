"""What a GraphQL request disclosed, for its access record (written by `privacy.audit`).

Which fields: the schema coordinates the operation selects (computed once per document, through
fragments and interfaces) that the request's plan lets the caller read, plus the root fields
(``Query.customers``, ``Mutation.eraseCustomer``) so that the record says what was done whatever
the client named its operation. Which customers: those whose data the response discloses, as
``Context.customers_read`` collected them during execution — the owners of every data object in
the response, and the customers that lists of ids name after the row rules — never the rows
loaded but not returned.

Example:
    Once per request, after execution and inside its transaction (`schema.execution`)::

        auditor = Auditor(schema, group)  # one per endpoint: it caches coordinates per document
        auditor.record(scope, customers, document, operation, root_fields, fields, session)
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from collections.abc import Set as AbstractSet

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)
from sqlalchemy.orm import Session

from auth.policy.catalog import DATA_TYPES, policy_key
from auth.policy.decision import decide
from auth.policy.purposes import Purpose
from auth.policy.request import RequestScope
from auth.policy.roots import always_audited
from privacy.audit import Access, GroupCommit, write
from schema.documents import Document

CACHE_SIZE = 1024


class Selection:
    """The schema coordinates an operation selects, computed once per document.

    Documents are cached by ``schema.documents.Documents`` and reused across requests; this cache
    knows them by identity through a weak reference: it never keeps a document (and its source
    text) alive beyond that cache's bound, and a reused identity is told apart by its dead
    reference.
    """

    def __init__(self, schema: GraphQLSchema, size: int = CACHE_SIZE) -> None:
        self._schema = schema
        self._size = size
        self.roots = frozenset(
            root.name
            for root in (schema.query_type, schema.mutation_type, schema.subscription_type)
            if root is not None
        )
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[int, int], tuple[weakref.ref[Document], frozenset[str]]] = (
            OrderedDict()
        )

    def of(self, document: Document, operation: OperationDefinitionNode) -> frozenset[str]:
        """Every ``Type.field`` the operation selects on the root and on the data types."""
        key = (id(document), id(operation))
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0]() is document:
                self._cache.move_to_end(key)
                return cached[1]
        coordinates = self._walk(document, operation)
        with self._lock:
            self._cache[key] = (weakref.ref(document), coordinates)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return coordinates

    def _walk(self, document: Document, operation: OperationDefinitionNode) -> frozenset[str]:
        root = self._schema.get_root_type(operation.operation)
        assert root is not None
        found: set[str] = set()
        self._selections(document, operation.selection_set, root, found, set())
        kept = self.roots | frozenset(DATA_TYPES)
        return frozenset(c for c in found if c.partition(".")[0] in kept)

    def _selections(
        self,
        document: Document,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType,
        found: set[str],
        fragments: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self._field(document, selection, parent, found, fragments)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = parent if condition is None else self._type(condition.name.value, parent)
                self._selections(document, selection.selection_set, inner, found, fragments)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = document.fragments.get(name)
                if fragment is None or name in fragments:
                    continue
                fragments.add(name)
                inner = self._type(fragment.type_condition.name.value, parent)
                self._selections(document, fragment.selection_set, inner, found, fragments)

    def _field(
        self,
        document: Document,
        node: FieldNode,
        parent: GraphQLNamedType,
        found: set[str],
        fragments: set[str],
    ) -> None:
        name = node.name.value
        if name.startswith("__") or not isinstance(
            parent, GraphQLObjectType | GraphQLInterfaceType
        ):
            return
        definition = parent.fields.get(name)
        if definition is None:
            return
        found.update(f"{owner.name}.{name}" for owner in self._concrete(parent))
        if node.selection_set is not None:
            inner = get_named_type(definition.type)
            self._selections(document, node.selection_set, inner, found, fragments)

    def _concrete(self, parent: GraphQLNamedType) -> Iterable[GraphQLNamedType]:
        # A field asked of an interface (`node { id }`) may come from any implementation.
        if isinstance(parent, GraphQLInterfaceType):
            return self._schema.get_possible_types(parent)
        return (parent,)

    def _type(self, name: str, default: GraphQLNamedType) -> GraphQLNamedType:
        named = self._schema.get_type(name)
        return default if named is None else named


class Auditor:
    """Writes the access record of each request that needs one.

    Args:
        schema: the executable schema (for the coordinates an operation selects).
        group: where records of requests answered outside a write transaction are written,
            grouped with other requests' (group commit).
    """

    def __init__(self, schema: GraphQLSchema, group: GroupCommit) -> None:
        self.selection = Selection(schema)
        self.group = group

    def access(
        self,
        scope: RequestScope,
        customers: AbstractSet[int],
        document: Document,
        operation: OperationDefinitionNode,
        root_fields: set[str],
        fields_read: AbstractSet[str] = frozenset(),
        *,
        orders: tuple[int, ...] | None = None,
    ) -> Access | None:
        """What a request that disclosed ``customers`` disclosed, or ``None`` when it needs no
        access record, whichever executor answered it.

        A request needs one when it runs a privacy-administration field, or when it returns
        data of customers other than the caller under a purpose. A customer's reads of their
        own record (``me``, self-service) are not access records. ``fields_read``: coordinates
        disclosed beyond the selection (an export's, a filter's); ``orders``: the assigned
        orders it was for (`privacy.assignments.disclosed_orders`).
        """
        administration = always_audited(root_fields)
        others = customers - {scope.owner_id}
        if not administration and (scope.purpose is None or not others):
            return None
        roots = self.selection.roots
        fields = {
            coordinate
            for coordinate in self.selection.of(document, operation)
            if coordinate.partition(".")[0] in roots or _readable(scope, coordinate)
        } | fields_read
        purpose = scope.purpose
        principal = scope.principal
        return Access(
            subject=scope.principal.subject,
            client_id=scope.principal.client_id,
            purpose=None if purpose is None else purpose.id,
            legal_reference=scope.legal_reference if purpose is Purpose.LEGAL_ORDER else None,
            operation_name=operation.name.value if operation.name else None,
            customer_ids=tuple(sorted(customers)),
            fields=tuple(sorted(fields)),
            recipient=principal.client_id if principal.partner else None,
            order_ids=orders,
            forms=tuple(
                (coordinate, form.value)
                for coordinate in sorted(fields)
                if (form := decide(scope.plan, coordinate).form) is not None
            ),
        )

    def record(
        self,
        scope: RequestScope,
        customers: AbstractSet[int],
        document: Document,
        operation: OperationDefinitionNode,
        root_fields: set[str],
        fields_read: AbstractSet[str],
        into: Session,
        *,
        orders: tuple[int, ...] | None = None,
    ) -> int | None:
        """Write the request's access record, if it needs one (`access`), in the request's
        transaction ``into`` (durable with its commit); its id. ``orders``: the assigned
        orders it was for, read in the request's session
        (`privacy.assignments.disclosed_orders`).

        A request answered outside a write transaction writes its record with `access` and
        ``group.write_soon`` (`GroupCommit`).
        """
        access = self.access(
            scope, customers, document, operation, root_fields, fields_read, orders=orders
        )
        if access is None:
            return None
        return write(into, access)


def _readable(scope: RequestScope, coordinate: str) -> bool:
    """Whether the request discloses ``coordinate``: its value, or a form of it."""
    key = policy_key(coordinate)
    if key is None:
        return False
    return scope.plan.allows(key) or decide(scope.plan, coordinate).form is not None
