"""Structured logs: one JSON object per line, for log collectors rather than terminals.

Steward logs through the standard library. :class:`JsonFormatter` turns a record into one
line of JSON; what a record adds in ``extra={"fields": {...}}`` becomes top-level keys::

    log.info("request", extra={"fields": {"request_id": "…", "status": 200}})
    # {"time": "2026-11-01T12:00:00.123Z", "level": "info", "logger": "steward.access",
    #  "message": "request", "request_id": "…", "status": 200}

What goes into a line is chosen by the code that logs, never copied from a request: no
tokens, no GraphQL variables, no personal values (the engine hides SQL parameters too).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

__all__ = ["JsonFormatter", "LogFormat", "logging_config"]

LogFormat = Literal["json", "text"]

_BASE_KEYS = frozenset({"time", "level", "logger", "message", "exception"})


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON.

    Keys: ``time`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``, ``message``, the
    record's ``fields`` (they never replace those four), and ``exception`` (the traceback)
    when the record carries one.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single line of JSON."""
        created = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            entry.update((k, v) for k, v in fields.items() if k not in _BASE_KEYS)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["exception"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def logging_config(log_format: LogFormat = "json", level: str = "info") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` dictionary for Steward and uvicorn.

    Everything goes to standard error through one handler: Steward's loggers
    (``steward.*``, ``auth.*``, ``api.*``) and uvicorn's own messages. uvicorn's access log
    is off: ``steward.access`` writes one richer line per request instead.

    Args:
        log_format: ``json`` (one object per line) or ``text`` (for a terminal).
        level: the level of Steward's and uvicorn's loggers.

    Example:
        >>> uvicorn.run(app, log_config=logging_config("json"))  # doctest: +SKIP
    """
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"}
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s %(fields)s"}
    )
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"steward": formatter},
        "filters": {"fields": {"()": f"{__name__}._DefaultFields"}},
        "handlers": {
            "steward": {
                "class": "logging.StreamHandler",
                "formatter": "steward",
                "filters": ["fields"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["steward"], "level": "WARNING"},
        "loggers": {
            name: {"level": level, "propagate": True}
            for name in ("steward", "api", "auth", "schema", "uvicorn", "uvicorn.error")
        }
        | {"uvicorn.access": {"level": "WARNING", "propagate": True}},
    }


class _DefaultFields(logging.Filter):
    """Gives every record a ``fields`` attribute, so the text format can always print it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "fields"):
            record.fields = ""
        return True
