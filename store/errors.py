"""What the store fails with when the database itself does: the layers above answer 503.

The hierarchy::

    StoreError
    └── DatabaseUnavailable   unreachable, too slow, or refusing writes

A bug (a constraint violated, a column missing from a query) is none of these: it stays the
driver's error and is answered as an unexpected failure.
"""

from __future__ import annotations

from sqlalchemy import exc

__all__ = ["DatabaseUnavailable", "StoreError", "unavailable"]

CAUSE_LENGTH = 200
"""Characters of the driver's message kept in `DatabaseUnavailable.cause`."""

# SQLSTATE classes and codes that say "the database cannot serve now", not "this request is
# wrong": connection exceptions, insufficient resources, operator intervention (statement
# timeout, shutdown, recovery), and a read-only transaction (a standby, or writes refused).
_UNAVAILABLE_CLASSES = ("08", "53", "57")
_UNAVAILABLE_CODES = frozenset({"25006"})


class StoreError(Exception):
    """Base class: the database could not do what was asked."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached in time, or refuses the work (read-only, recovery).

    Attributes:
        cause: why, for one log line: the driver's error class and the first line of its
            message (never SQL parameters; the engine hides them).
    """

    def __init__(self, cause: str) -> None:
        super().__init__("The database is unavailable.")
        self.cause = cause


def unavailable(error: BaseException) -> DatabaseUnavailable | None:
    """The `DatabaseUnavailable` that ``error`` amounts to, or ``None`` when it is a bug.

    Example:
        >>> unavailable(exc.TimeoutError("QueuePool limit reached")).cause
        'pool: no free connection in time'
    """
    if isinstance(error, DatabaseUnavailable):
        return error
    if isinstance(error, exc.TimeoutError):  # the pool's wait, not the driver's
        return DatabaseUnavailable("pool: no free connection in time")
    if not isinstance(error, exc.DBAPIError):
        return None
    original = error.orig
    state = str(getattr(original, "sqlstate", None) or "")
    if not (
        isinstance(error, exc.OperationalError | exc.InterfaceError)
        or error.connection_invalidated
        or state.startswith(_UNAVAILABLE_CLASSES)
        or state in _UNAVAILABLE_CODES
    ):
        return None
    message = str(original).strip().splitlines()[0] if str(original).strip() else ""
    name = type(original).__name__
    cause = f"{name} {state}: {message}" if state else f"{name}: {message}"
    return DatabaseUnavailable(cause[:CAUSE_LENGTH])
