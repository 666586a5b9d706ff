"""Why a privacy operation refused its input; nothing was changed.

The hierarchy::

    PrivacyError
    ├── InputError            BAD_USER_INPUT (``field`` names the input)
    │   └── CardDataRejected  CARD_DATA_REJECTED
    ├── NotFound              NOT_FOUND
    ├── SelfRegistrationOff   FORBIDDEN
    ├── TooManyAttempts       RATE_LIMITED (``retryAfter`` in seconds)
    └── LimitUnavailable      SERVICE_UNAVAILABLE

Messages name fields and rules, never submitted values: they may be personal data.
"""

from __future__ import annotations

from typing import Any, ClassVar

from auth.policy.errors import CodedError

__all__ = [
    "CardDataRejected",
    "InputError",
    "LimitUnavailable",
    "NotFound",
    "PrivacyError",
    "SelfRegistrationOff",
    "TooManyAttempts",
]


class PrivacyError(CodedError):
    """Base class: an operation refused; the caller's transaction is left unchanged."""

    code: ClassVar[str] = "BAD_USER_INPUT"


class InputError(PrivacyError):
    """An input that Steward refuses."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, "field": self.field}


class CardDataRejected(InputError):
    """A free-text input holding what looks like a payment card number."""

    code: ClassVar[str] = "CARD_DATA_REJECTED"

    def __init__(self, field: str) -> None:
        super().__init__(
            field,
            f"{field} looks like it contains a payment card number; "
            "Steward never stores card data, remove it and try again",
        )


class NotFound(PrivacyError):
    """The object does not exist for this caller (or at all: the two are not told apart)."""

    code: ClassVar[str] = "NOT_FOUND"

    def __init__(self, what: str) -> None:
        super().__init__(f"No such {what}.")


class SelfRegistrationOff(PrivacyError):
    """``registerMe`` while ``STEWARD_SELF_REGISTRATION`` is off."""

    code: ClassVar[str] = "FORBIDDEN"

    def __init__(self) -> None:
        super().__init__(
            "Self-registration is off on this server: ask the company to link your sign-in "
            "to your customer record (a link code)."
        )


class TooManyAttempts(PrivacyError):
    """Too many wrong link codes from one signed-in person."""

    code: ClassVar[str] = "RATE_LIMITED"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many wrong codes; try again in {retry_after} seconds.")
        self.retry_after = retry_after

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, "retryAfter": self.retry_after}


class LimitUnavailable(PrivacyError):
    """The store that counts attempts cannot be reached: refuse rather than count nothing."""

    code: ClassVar[str] = "SERVICE_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__("The service is temporarily unavailable; try again shortly.")
