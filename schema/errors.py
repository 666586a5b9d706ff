"""Errors raised inside an executed operation, each mapped to one ``extensions.code``."""

from __future__ import annotations

from graphql import GraphQLError

from api.validation import InputError


class StewardError(GraphQLError):
    """Base of the errors Steward reports inside an operation."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: object) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class Forbidden(StewardError):
    """A root field, mutation or `node` that the token's scopes do not reach."""

    code = "FORBIDDEN"

    def __init__(self, scope: str) -> None:
        super().__init__(f"This needs the scope {scope}.", needs={"scopes": [scope]})


class ForbiddenFilter(StewardError):
    """A filter or order on a field the caller may not read."""

    code = "FORBIDDEN_FILTER"

    def __init__(self, argument: str, field: str) -> None:
        super().__init__(
            f"Filtering or sorting on {field} is not allowed for this caller and purpose.",
            argument=argument,
            field=field,
        )


class PageSizeExceeded(StewardError):
    """``first`` above the configured maximum page size."""

    code = "PAGE_SIZE_EXCEEDED"

    def __init__(self, maximum: int) -> None:
        super().__init__(f"first must be between 0 and {maximum}.", maximum=maximum)


class NotFound(StewardError):
    """The object does not exist for this caller."""

    code = "NOT_FOUND"

    def __init__(self, what: str) -> None:
        super().__init__(f"No such {what}.")


class BadUserInput(StewardError):
    """Input that fails validation; nothing was changed."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field=field)


def input_error(error: InputError) -> GraphQLError:
    """The GraphQL error for a refused input (``BAD_USER_INPUT`` or ``CARD_DATA_REJECTED``)."""
    return GraphQLError(error.message, extensions=error.extensions)
