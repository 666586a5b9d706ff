"""What the privacy policy refuses: a request's purpose, a root field, a filter, a schema.

The hierarchy (`CodedError` is also the root of the other layers' trees)::

    CodedError
    PolicyError
    ├── PurposeRequired         PURPOSE_REQUIRED
    ├── UnknownPurpose          UNKNOWN_PURPOSE
    ├── PurposeNotPermitted     PURPOSE_NOT_PERMITTED
    ├── LegalReferenceRequired  LEGAL_REFERENCE_REQUIRED
    ├── InvalidLegalReference   INVALID_LEGAL_REFERENCE
    ├── Forbidden               FORBIDDEN (a root field, mutation or node without its scope)
    └── ForbiddenFilter         FORBIDDEN_FILTER
    PolicyGapError              (a schema built with a field the policy does not cover)

Messages are fixed here and never carry a personal value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from auth.policy.purposes import DECLARABLE, Purpose

__all__ = [
    "CodedError",
    "Forbidden",
    "ForbiddenFilter",
    "InvalidLegalReference",
    "LegalReferenceRequired",
    "PolicyError",
    "PolicyGapError",
    "PurposeNotPermitted",
    "PurposeRequired",
    "UnknownPurpose",
]


class CodedError(Exception):
    """An error with a stable ``extensions.code``: the root of every layer's own tree.

    Its message is fixed by its class and never carries a personal value.
    """

    code: ClassVar[str] = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def extensions(self) -> dict[str, Any]:
        """The error's ``extensions`` in a GraphQL response."""
        return {"code": self.code}


class PolicyError(CodedError):
    """Base class: the policy refuses the request or a part of it."""

    code: ClassVar[str] = "FORBIDDEN"


class PurposeRequired(PolicyError):
    """The operation reads or writes customer data but declares no purpose."""

    code: ClassVar[str] = "PURPOSE_REQUIRED"

    def __init__(self) -> None:
        super().__init__("Declare the purpose of processing in the X-Purpose header.")


class UnknownPurpose(PolicyError):
    """``X-Purpose`` names no purpose a request may declare."""

    code: ClassVar[str] = "UNKNOWN_PURPOSE"

    def __init__(self) -> None:
        valid = ", ".join(p.id for p in DECLARABLE)
        super().__init__(f"Unknown purpose. Valid purposes: {valid}.")


class PurposeNotPermitted(PolicyError):
    """The token lacks ``purpose:<id>`` for the declared purpose."""

    code: ClassVar[str] = "PURPOSE_NOT_PERMITTED"

    def __init__(self, purpose: Purpose) -> None:
        super().__init__(f"The token does not grant {purpose.scope}.")


class LegalReferenceRequired(PolicyError):
    """``legal_order`` without ``X-Legal-Reference``."""

    code: ClassVar[str] = "LEGAL_REFERENCE_REQUIRED"

    def __init__(self) -> None:
        super().__init__("legal_order needs the X-Legal-Reference header.")


class InvalidLegalReference(PolicyError):
    """The legal reference is unknown, not valid now, or used by its own creator."""

    code: ClassVar[str] = "INVALID_LEGAL_REFERENCE"

    def __init__(self) -> None:
        super().__init__(
            "The legal reference is unknown, not valid now, or was created by the caller."
        )


class Forbidden(PolicyError):
    """A root field, mutation or ``node`` that the token's scopes do not reach."""

    def __init__(self, scopes: Iterable[str]) -> None:
        self.scopes = list(scopes)
        super().__init__(f"This needs the scope {' '.join(self.scopes)}.")

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, "needs": {"scopes": self.scopes}}


class NotForPartners(PolicyError):
    """A root field that only the company's own clients may run, run by a partner."""

    def __init__(self) -> None:
        super().__init__(
            "Partners (third parties) may not run this: it links sign-ins to customers."
        )


class ForbiddenFilter(PolicyError):
    """A filter or order on a field the caller may not read."""

    code: ClassVar[str] = "FORBIDDEN_FILTER"

    def __init__(self, argument: str, field: str) -> None:
        super().__init__(
            f"Filtering or sorting on {field} is not allowed for this caller and purpose."
        )
        self.argument = argument
        self.field = field

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, "argument": self.argument, "field": self.field}


class PolicyGapError(RuntimeError):
    """Fields or root fields without a rule: they would be hidden from, or open to, everyone."""

    def __init__(self, gaps: Iterable[str]) -> None:
        self.gaps = sorted(gaps)
        super().__init__("no policy rule for: " + ", ".join(self.gaps))


class CatalogMismatchError(RuntimeError):
    """A data type of the schema and the catalog (`auth.policy.catalog`) disagree."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = sorted(problems)
        super().__init__("the schema and the catalog disagree: " + "; ".join(self.problems))
