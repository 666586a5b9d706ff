"""Refusals of a GraphQL request before execution, each with its status and ``extensions.code``."""

from __future__ import annotations


class RequestError(Exception):
    """A request refused before its operation runs."""

    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class MethodNotAllowed(RequestError):
    """Not GET or POST, or a mutation over GET."""

    status = 405
    code = "METHOD_NOT_ALLOWED"


class PayloadTooLarge(RequestError):
    """The body is over ``STEWARD_MAX_BODY_BYTES``."""

    status = 413
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(RequestError):
    """A POST body that is not JSON (forms and multipart are refused: CSRF)."""

    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class PurposeRequired(RequestError):
    """The operation reads or writes customer data but declares no purpose."""

    code = "PURPOSE_REQUIRED"


class UnknownPurpose(RequestError):
    """``X-Purpose`` names no purpose Steward knows."""

    code = "UNKNOWN_PURPOSE"


class PurposeNotPermitted(RequestError):
    """The token lacks ``purpose:<id>`` for the declared purpose."""

    status = 403
    code = "PURPOSE_NOT_PERMITTED"


class LegalReferenceRequired(RequestError):
    """``legal_order`` without ``X-Legal-Reference``."""

    code = "LEGAL_REFERENCE_REQUIRED"


class InvalidLegalReference(RequestError):
    """The legal reference is unknown, expired, or used by its own creator."""

    status = 403
    code = "INVALID_LEGAL_REFERENCE"


class ParseFailed(RequestError):
    """The document does not parse."""

    code = "GRAPHQL_PARSE_FAILED"


class ValidationFailed(RequestError):
    """The document does not validate against the schema."""

    code = "GRAPHQL_VALIDATION_FAILED"


class QueryTooComplex(RequestError):
    """Depth, aliases, tokens or directives over the configured limits."""

    code = "QUERY_TOO_COMPLEX"
