"""The schema's own errors, and the one place every error of an operation is formatted.

The hierarchy::

    SchemaError
    ├── DocumentError           refused before execution
    │   ├── ParseFailed         GRAPHQL_PARSE_FAILED
    │   ├── ValidationFailed    GRAPHQL_VALIDATION_FAILED
    │   └── QueryTooComplex     QUERY_TOO_COMPLEX
    └── PageSizeExceeded        PAGE_SIZE_EXCEEDED

Inside an operation, the errors of the layers below (`auth.policy.errors.PolicyError`,
`privacy.errors.PrivacyError`) and these are all `auth.policy.errors.CodedError`s:
`format_error` turns any of them into a GraphQL error, and anything else into a masked
``INTERNAL_SERVER_ERROR``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from graphql import GraphQLError

from auth.policy.errors import CodedError

log = logging.getLogger("steward.graphql")

INTERNAL = "INTERNAL_SERVER_ERROR"


class SchemaError(CodedError):
    """Base class: a document or an argument the schema refuses."""


class DocumentError(SchemaError):
    """A document refused before it runs."""


class ParseFailed(DocumentError):
    """The document does not parse."""

    code: ClassVar[str] = "GRAPHQL_PARSE_FAILED"


class ValidationFailed(DocumentError):
    """The document does not validate against the schema."""

    code: ClassVar[str] = "GRAPHQL_VALIDATION_FAILED"


class QueryTooComplex(DocumentError):
    """Depth, aliases, tokens or directives over the configured limits."""

    code: ClassVar[str] = "QUERY_TOO_COMPLEX"


class PageSizeExceeded(SchemaError):
    """``first`` above the configured maximum page size."""

    code: ClassVar[str] = "PAGE_SIZE_EXCEEDED"

    def __init__(self, maximum: int) -> None:
        super().__init__(f"first must be between 0 and {maximum}.")
        self.maximum = maximum

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, "maximum": self.maximum}


def format_error(error: GraphQLError, request_id: str) -> dict[str, Any]:
    """An error of an executed operation as the response shows it.

    Errors of Steward's layers keep their message and ``extensions``; graphql-core's own
    (variables, coercion) are ``BAD_USER_INPUT``; anything else is logged once and masked as
    ``INTERNAL_SERVER_ERROR`` with the request's id.
    """
    original = error.original_error
    formatted: dict[str, Any]
    if original is None or isinstance(original, GraphQLError):
        formatted = dict(error.formatted)
        extensions: dict[str, Any] = formatted.setdefault("extensions", {})
        extensions.setdefault("code", "BAD_USER_INPUT" if error.path is None else INTERNAL)
        return formatted
    if isinstance(original, CodedError):
        return dict(
            GraphQLError(
                original.message,
                error.nodes,
                error.source,
                error.positions,
                error.path,
                extensions=original.extensions,
            ).formatted
        )
    log.error("unexpected failure, request %s", request_id, exc_info=original)
    formatted = {
        "message": "Internal server error.",
        "extensions": {"code": INTERNAL, "requestId": request_id},
    }
    if error.path:
        formatted["path"] = error.path
    return formatted
