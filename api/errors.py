"""Every refusal of a request, mapped to its HTTP response in one place.

The layers below raise their own errors (`auth.tokens.errors.AuthError`,
`auth.policy.errors.PolicyError`, `schema.errors.DocumentError`,
`store.errors.DatabaseUnavailable`); this module adds the HTTP ones (`RequestError`) and gives
each error its status. Every body is GraphQL-shaped:
``{"errors": [{"message": ..., "extensions": {"code": ...}}]}``, except on the built-in
issuer's ``/oauth/token``, whose errors have the shape of RFC 6749 section 5.2.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from starlette.responses import Response

from auth.policy.errors import (
    CodedError,
    InvalidLegalReference,
    PolicyError,
    PurposeNotPermitted,
)
from auth.tokens.errors import AuthError
from schema.errors import INTERNAL, DocumentError, ParseFailed, ValidationFailed

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
TOKEN_PATH = "/oauth/token"  # noqa: S105  # a path, not a secret
DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
SHUTTING_DOWN = "SHUTTING_DOWN"
RETRY_AFTER = "5"
"""Seconds a client is asked to wait before it retries after a 503."""


class RequestError(CodedError):
    """An HTTP request that ``/graphql`` refuses before reading its document.

    ``fault``: why a service the request needed failed, for its log line (never personal).
    """

    fault: str | None = None

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers or {}


class MethodNotAllowed(RequestError):
    """Not GET or POST, or a mutation over GET."""

    code: ClassVar[str] = "METHOD_NOT_ALLOWED"


class PayloadTooLarge(RequestError):
    """The body is over ``STEWARD_MAX_BODY_BYTES``."""

    code: ClassVar[str] = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(RequestError):
    """A POST body that is not JSON (forms and multipart are refused: CSRF)."""

    code: ClassVar[str] = "UNSUPPORTED_MEDIA_TYPE"


class RateLimited(RequestError):
    """Too many requests from one client and subject."""

    code: ClassVar[str] = "RATE_LIMITED"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many requests; retry in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )


class RateLimitUnavailable(RequestError):
    """The shared rate-limit store cannot be reached; refuse rather than run unlimited."""

    code: ClassVar[str] = "SERVICE_UNAVAILABLE"

    def __init__(self, fault: str) -> None:
        super().__init__("The service is temporarily unavailable.", headers={"Retry-After": "1"})
        self.fault = fault


class DocumentNotTrusted(RequestError):
    """A trusted-documents-only partner sent a document that is not one of its registered ones."""

    code: ClassVar[str] = "DOCUMENT_NOT_TRUSTED"

    def __init__(self) -> None:
        super().__init__(
            "This client runs only its registered documents: send documentId "
            '("sha256:<hex>") of one of them.'
        )


class PersistedQueryNotFound(RequestError):
    """No registered document has the id the request names."""

    code: ClassVar[str] = "PERSISTED_QUERY_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("No registered document has this id.")


class DocumentIdMismatch(RequestError):
    """The request's text is not the document its id names (SHA-256)."""

    code: ClassVar[str] = "DOCUMENT_ID_MISMATCH"

    def __init__(self) -> None:
        super().__init__("The query text does not hash (SHA-256) to the document id.")


class RequestTimeout(RequestError):
    """The body arrived slower than ``STEWARD_REQUEST_READ_TIMEOUT``; the connection closes."""

    code: ClassVar[str] = "REQUEST_TIMEOUT"

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"The request did not arrive within {seconds:g} seconds.",
            headers={"Connection": "close"},
        )


class HeadersTooLarge(RequestError):
    """The request line and headers are over their bounds (`api.request_bounds`); the connection
    closes."""

    code: ClassVar[str] = "HEADERS_TOO_LARGE"

    def __init__(self, max_bytes: int, max_lines: int) -> None:
        super().__init__(
            f"The request headers are too large: at most {max_bytes // 1024} KiB "
            f"and {max_lines} lines.",
            headers={"Connection": "close"},
        )


STATUS: dict[type[Exception], int] = {
    MethodNotAllowed: 405,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    RateLimited: 429,
    RateLimitUnavailable: 503,
    RequestTimeout: 408,
    HeadersTooLarge: 431,
    PurposeNotPermitted: 403,
    InvalidLegalReference: 403,
    DocumentNotTrusted: 403,
    PersistedQueryNotFound: 404,
}
"""The status of each refusal that is not 400 (authentication errors carry their own)."""

Refusal = AuthError | PolicyError | DocumentError | RequestError
"""Every error that refuses a request before its operation runs."""


def refusal_response(
    error: Refusal, media: str, resource_metadata: str, *, graphql: bool = True
) -> Response:
    """The response that refuses a request with ``error``.

    Args:
        error: why.
        media: the response's media type (what the client accepts).
        resource_metadata: the protected-resource metadata URL, for ``WWW-Authenticate``.
        graphql: whether the request reached ``/graphql``: a document that does not parse or
            validate is then 200 for ``application/json`` clients (GraphQL over HTTP).
    """
    headers: dict[str, str] = {}
    if isinstance(error, AuthError):
        status = error.status
        challenge = error.www_authenticate(resource_metadata)
        if challenge:
            headers["WWW-Authenticate"] = challenge
    else:
        status = STATUS.get(type(error), 400)
        if isinstance(error, RequestError):
            headers.update(error.headers)
        if graphql and media == JSON and isinstance(error, ParseFailed | ValidationFailed):
            status = 200
    return error_response(status, error.code, error.message, media, headers)


def unavailable_response(code: str, path: str, accept: str | None) -> Response:
    """503: the database is unavailable, or the server shuts down before the request finished.

    GraphQL-shaped, except on ``/oauth/token``: there RFC 6749's ``temporarily_unavailable``.
    Both ask the client to retry (``Retry-After``).

    Args:
        code: `DATABASE_UNAVAILABLE` or `SHUTTING_DOWN`.
        path: the request's path.
        accept: the request's ``Accept`` header.
    """
    message = (
        "The database is temporarily unavailable; retry later."
        if code == DATABASE_UNAVAILABLE
        else "The server is shutting down; retry the request."
    )
    headers = {"Retry-After": RETRY_AFTER, "Cache-Control": "no-store"}
    if path == TOKEN_PATH:
        body = {"error": "temporarily_unavailable", "error_description": message}
        return Response(orjson.dumps(body), status_code=503, media_type=JSON, headers=headers)
    media = GRAPHQL_RESPONSE if GRAPHQL_RESPONSE in (accept or "") else JSON
    return error_response(503, code, message, media, headers)


def timeout_response(error: RequestTimeout, path: str) -> Response:
    """408 for a body that arrived too slowly, outside ``/graphql`` (which refuses its own).

    On ``/oauth/token`` in the shape of RFC 6749 (``invalid_request``: it has no code of its
    own for this), elsewhere GraphQL-shaped; the connection closes.
    """
    if path == TOKEN_PATH:
        body = {"error": "invalid_request", "error_description": error.message}
        return Response(orjson.dumps(body), status_code=408, media_type=JSON, headers=error.headers)
    return error_response(408, error.code, error.message, JSON, error.headers)


def internal_response(media: str, request_id: str) -> Response:
    """The masked answer to an unexpected failure."""
    return error_response(
        500, INTERNAL, "Internal server error.", media, extensions={"requestId": request_id}
    )


def error_response(
    status: int,
    code: str,
    message: str,
    media: str = JSON,
    headers: dict[str, str] | None = None,
    *,
    extensions: dict[str, Any] | None = None,
) -> Response:
    """A GraphQL-shaped error body."""
    body = {"errors": [{"message": message, "extensions": {"code": code, **(extensions or {})}}]}
    return Response(orjson.dumps(body), status_code=status, media_type=media, headers=headers)
