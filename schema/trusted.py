"""Trusted documents, as partner integrations ship them: one text per operation.

A ``.graphql`` file may hold several operations and the fragments they share. Each operation is
registered as its own document: the operation and the fragments it uses (transitively), printed
by graphql-core — the operation first, then the fragments by name, as Apollo's
``generate-persisted-query-manifest`` and GraphQL Hive's trusted documents store one text per
operation. Its id is the SHA-256 of exactly that text. An Apollo persisted-query manifest
(``{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [...]}``) gives
the texts itself; each ``id`` must be the SHA-256 of its ``body``.

Every text is parsed and validated against the schema, under the limits of ``/graphql``,
before anything is stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    parse,
    print_ast,
)

from schema.documents import Documents
from schema.errors import DocumentError, ParseFailed

MANIFEST_FORMAT = "apollo-persisted-query-manifest"

Operation = tuple[str | None, str]
"""An operation's name (if any) and its document text."""


class ManifestError(DocumentError):
    """A persisted-query manifest that is not well-formed, or whose ids are not the hashes."""

    code = "BAD_REQUEST"


def trusted_operations(source: str, documents: Documents) -> list[Operation]:
    """The operations of a ``.graphql`` file or an Apollo manifest, each as its own text.

    Raises:
        DocumentError: a text does not parse, validate or keep within the limits, or the
            manifest is malformed; the message says which operation.
    """
    operations = _manifest(source) if source.lstrip().startswith("{") else _split(source)
    for name, body in operations:
        try:
            documents.load(body)
        except DocumentError as error:
            label = f"operation {name}" if name else "an anonymous operation"
            raise type(error)(f"{label}: {error.message}") from None
    return operations


def _split(source: str) -> list[Operation]:
    try:
        node = parse(source, no_location=True)
    except GraphQLError as error:
        raise ParseFailed(error.message) from None
    fragments = {d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in node.definitions if isinstance(d, OperationDefinitionNode)]
    if not operations:
        raise ParseFailed("The file holds no operation.")
    result: list[Operation] = []
    for operation in operations:
        used = sorted(_fragments_used(operation.selection_set, fragments, set()))
        document = DocumentNode(definitions=(operation, *(fragments[name] for name in used)))
        name = operation.name.value if operation.name else None
        result.append((name, print_ast(document)))
    return result


def _fragments_used(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    found: set[str],
) -> set[str]:
    for selection in _selections(selection_set):
        if isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if name in found or fragment is None:
                # An unknown fragment is kept out: validation then names it.
                continue
            found.add(name)
            _fragments_used(fragment.selection_set, fragments, found)
    return found


def _selections(selection_set: SelectionSetNode) -> Iterator[SelectionNode]:
    for selection in selection_set.selections:
        yield selection
        if isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
            yield from _selections(selection.selection_set)


def _manifest(source: str) -> list[Operation]:
    try:
        manifest = orjson.loads(source)
    except orjson.JSONDecodeError:
        raise ManifestError("The manifest is not valid JSON.") from None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != MANIFEST_FORMAT
        or manifest.get("version") != 1
        or not isinstance(manifest.get("operations"), list)
    ):
        raise ManifestError(
            f'A manifest has "format": "{MANIFEST_FORMAT}", "version": 1 and "operations".'
        )
    result: list[Operation] = []
    for index, entry in enumerate(manifest["operations"]):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("id"), str)
            or not isinstance(entry.get("body"), str)
        ):
            raise ManifestError(f"operations[{index}] needs a string id and a string body.")
        name = entry.get("name")
        name = name if isinstance(name, str) and name else None
        body: str = entry["body"]
        if entry["id"].lower() != hashlib.sha256(body.encode()).hexdigest():
            raise ManifestError(f"operations[{index}]: the id is not the SHA-256 of the body.")
        result.append((name, body))
    if not result:
        raise ManifestError("The manifest holds no operation.")
    return result
