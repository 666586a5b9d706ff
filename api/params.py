"""The GraphQL-over-HTTP request parameters (``query``, ``variables``, ``operationName``,
``documentId``, ``extensions``), from a POST's JSON body or a GET's URL."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from api.errors import (
    JSON,
    MethodNotAllowed,
    PayloadTooLarge,
    RequestError,
    UnsupportedMediaType,
)

DOCUMENT_ID = re.compile(r"sha256:([0-9a-fA-F]{64})")
"""``documentId`` as the GraphQL-over-HTTP persisted-documents appendix writes a SHA-256."""
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True, slots=True)
class Params:
    """The GraphQL-over-HTTP request parameters.

    Attributes:
        query: the document's text, unless the request names a registered one only.
        variables: the variables' values.
        operation_name: which operation of the document to run.
        document_id: the SHA-256 (lower-case hex) of a registered document the request names
            by ``documentId`` or Apollo's ``extensions.persistedQuery.sha256Hash``.
    """

    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    document_id: str | None = None


def params_before_body(request: Request, limit: int) -> Params | None:
    """Refuse what the method and headers alone tell is wrong, before a body is read.

    Returns:
        A GET's parameters (they came with its URL); ``None`` for a POST, whose body is read
        (`read_params`) once its caller passed.
    """
    if request.method == "GET":
        return parse_params(dict(request.query_params), get=True)
    if request.method != "POST":
        raise MethodNotAllowed("Use GET or POST.", headers={"Allow": "GET, POST"})
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != JSON:
        raise UnsupportedMediaType("Send the request as application/json.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    return None


async def read_params(request: Request, limit: int) -> Params:
    """A POST's parameters, from its JSON body of at most ``limit`` bytes."""
    body = await _read_body(request, limit)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError("The body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise RequestError("The body must be one JSON object; batching is not supported.")
    return parse_params(payload, get=False)


def parse_params(payload: Mapping[str, Any], *, get: bool) -> Params:
    """The parameters of a request: a POST's JSON body, or a GET's URL query (``get``).

    Raises:
        RequestError: a parameter is missing or malformed (400).
    """
    variables = _object(payload, "variables", get=get)
    operation_name = payload.get("operationName")
    if operation_name == "":
        operation_name = None
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError("operationName must be a string.")
    extensions = _object(payload, "extensions", get=get)
    named = _document_id(payload.get("documentId"), extensions)
    query = payload.get("query")
    if named is not None and query is None:
        return Params(None, variables, operation_name, named)
    if not isinstance(query, str) or not query.strip():
        raise RequestError("The request needs a query string.")
    return Params(query, variables, operation_name, named)


def _object(payload: Mapping[str, Any], name: str, *, get: bool) -> dict[str, Any] | None:
    """An object parameter (``variables``, ``extensions``); JSON text in a GET's URL."""
    value = payload.get(name)
    if get and isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise RequestError(f"{name} is not valid JSON.") from None
    if value is not None and not isinstance(value, dict):
        raise RequestError(f"{name} must be an object.")
    return value


def _document_id(given: Any, extensions: dict[str, Any] | None) -> str | None:
    """The registered document a request names, as lower-case hex, or ``None``.

    ``documentId: "sha256:<hex>"`` (GraphQL over HTTP, persisted documents) or Apollo's
    ``extensions.persistedQuery.sha256Hash``; both at once must agree.
    """
    named: str | None = None
    if given is not None:
        match = DOCUMENT_ID.fullmatch(given) if isinstance(given, str) else None
        if match is None:
            raise RequestError('documentId must be "sha256:" and 64 hexadecimal digits.')
        named = match.group(1).lower()
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is not None:
        digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if not isinstance(digest, str) or not SHA256_HEX.fullmatch(digest):
            raise RequestError(
                "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits."
            )
        if named is not None and named != digest.lower():
            raise RequestError("documentId and persistedQuery name different documents.")
        named = digest.lower()
    return named


async def _read_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)
