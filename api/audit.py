"""The audit trail: one access record per request that discloses customer data.

A record says who asked (``sub`` and client), under which purpose and legal reference, in which
operation, about which customers, and which fields the caller could read — never the values.
It is written in the request's own transaction, after execution and before the commit, so it is
durable before the response leaves; if it cannot be written, nothing is answered.

Which fields: the schema coordinates the operation selects (computed once per document, through
fragments and interfaces) that the request's plan lets the caller read, plus the root fields
(``Query.customers``, ``Mutation.eraseCustomer``) so that the record says what was done whatever
the client named its operation. Which customers: those loaded for the response (lookups, pages,
the owners of returned orders, what a resolver noted in ``Context.customers_read``).

Example:
    Once per request, after execution and inside its transaction::

        auditor = Auditor(schema)  # one per endpoint: it caches coordinates per document
        auditor.record(context, document, operation, document.root_fields(operation))
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

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
from sqlalchemy import insert
from sqlalchemy.orm import Session

from api.documents import Document
from api.models import AccessRecord, AccessRecordCustomer, table_of, utcnow
from auth.policy import DATA_TYPES
from auth.purposes import Purpose
from schema.context import Context
from schema.permissions import policy_key

PRIVACY_ADMINISTRATION = frozenset(
    {"eraseCustomer", "exportCustomerData", "createLegalRequest", "auditLog"}
)
"""Root fields that are audited whenever they are asked for, with or without a purpose."""

CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class Access:
    """What one request disclosed: the content of an access record.

    Attributes:
        subject: the caller's ``sub``.
        client_id: the caller's OAuth client.
        purpose: the declared purpose's id, if any.
        legal_reference: the legal request's reference, under ``legal_order``.
        operation_name: the GraphQL operation's name as the client sent it.
        customer_ids: the customers whose data the response carries.
        fields: schema coordinates, e.g. ``Customer.email``.
    """

    subject: str
    client_id: str
    purpose: str | None
    legal_reference: str | None
    operation_name: str | None
    customer_ids: tuple[int, ...]
    fields: tuple[str, ...]


def write(session: Session, access: Access) -> int:
    """Insert the access record and its per-customer index rows; returns the record's id.

    Two Core statements, not the ORM's unit of work: nothing reads the record back in the
    request that writes it, and this runs on every request that discloses customer data.
    """
    record = table_of(AccessRecord)
    record_id: int = session.execute(
        insert(record)
        .values(
            occurred_at=utcnow(),
            client_id=access.client_id[:255],
            subject=access.subject[:255],
            purpose=access.purpose,
            legal_reference=access.legal_reference,
            operation_name=None if access.operation_name is None else access.operation_name[:255],
            customer_ids=list(access.customer_ids),
            fields=list(access.fields),
        )
        .returning(record.c.id)
    ).scalar_one()
    if access.customer_ids:
        session.execute(
            insert(table_of(AccessRecordCustomer)),
            [{"access_record_id": record_id, "customer_id": pk} for pk in access.customer_ids],
        )
    return record_id


class Selection:
    """The schema coordinates an operation selects, computed once per document.

    Documents are cached by ``api.documents.Documents`` and reused across requests; this cache
    holds them by identity (keeping each alive while cached, so an identity is never reused).
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
        self._cache: OrderedDict[tuple[int, int], tuple[Document, frozenset[str]]] = OrderedDict()

    def of(self, document: Document, operation: OperationDefinitionNode) -> frozenset[str]:
        """Every ``Type.field`` the operation selects on the root and on the data types."""
        key = (id(document), id(operation))
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] is document:
                self._cache.move_to_end(key)
                return cached[1]
        coordinates = self._walk(document, operation)
        with self._lock:
            self._cache[key] = (document, coordinates)
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
    """Writes the access record of each request that needs one."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.selection = Selection(schema)

    def access(
        self,
        context: Context,
        document: Document,
        operation: OperationDefinitionNode,
        root_fields: set[str],
    ) -> Access | None:
        """What the request disclosed, or ``None`` when it needs no access record.

        A request needs one when it runs a privacy-administration field, or when it returns
        data of customers other than the caller under a purpose. A customer's reads of their
        own record (``me``, self-service) are not access records.
        """
        loaders = context.loaders
        customers = (
            set(loaders.customer_ids_seen)
            | set(loaders.order_owner.values())
            | context.customers_read
        )
        administration = bool(root_fields & PRIVACY_ADMINISTRATION)
        others = customers - {context.customer_id}
        if not administration and (context.purpose is None or not others):
            return None
        roots = self.selection.roots
        fields = {
            coordinate
            for coordinate in self.selection.of(document, operation)
            if coordinate.partition(".")[0] in roots or _readable(context, coordinate)
        } | context.fields_read
        purpose = context.purpose
        return Access(
            subject=context.principal.subject,
            client_id=context.principal.client_id,
            purpose=None if purpose is None else purpose.id,
            legal_reference=context.legal_reference if purpose is Purpose.LEGAL_ORDER else None,
            operation_name=operation.name.value if operation.name else None,
            customer_ids=tuple(sorted(customers)),
            fields=tuple(sorted(fields)),
        )

    def record(
        self,
        context: Context,
        document: Document,
        operation: OperationDefinitionNode,
        root_fields: set[str],
    ) -> int | None:
        """Write the request's access record, if it needs one, in the request's transaction."""
        access = self.access(context, document, operation, root_fields)
        if access is None:
            return None
        return write(context.session, access)


def _readable(context: Context, coordinate: str) -> bool:
    key = policy_key(coordinate)
    return key is not None and context.plan.allows(key)
