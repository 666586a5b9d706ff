"""Logs: one JSON object per line for log collectors, or one plain line for a terminal.

Steward logs through the standard library. :class:`JsonFormatter` turns a record into one
line of JSON; what a record adds in ``extra={"fields": {...}}`` becomes top-level keys::

    log.info("request", extra={"fields": {"request_id": "…", "status": 200}})
    # {"time": "2026-11-01T12:00:00.123Z", "level": "info", "logger": "steward.access",
    #  "message": "request", "request_id": "…", "status": 200}

:class:`TextFormatter` writes the same record for a person at a terminal (``steward serve
--log-format text``, the default in development mode, so ``make run``)::

    12:00:00.123 INFO  steward.access  request  request_id=… status=200

What goes into a line is chosen by the code that logs, never copied from a request: no
tokens, no GraphQL variables, no personal values (the engine hides SQL parameters too).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

__all__ = ["JsonFormatter", "LogFormat", "TextFormatter", "logging_config"]

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


class TextFormatter(logging.Formatter):
    """Formats a record as one line for a terminal.

    The local time, the level, the logger and the message, then the record's ``fields`` as
    ``key=value`` pairs (logfmt): a value with spaces or quotes is quoted, a list is joined
    with commas, an absent (``None``) or empty one is left out. A traceback follows on the
    next lines.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as a line of text (and its traceback, if any)."""
        created = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        line = (
            f"{created}.{int(record.msecs):03d} {record.levelname:<5} {record.name}  "
            f"{record.getMessage()}"
        )
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            pairs = " ".join(
                f"{key}={text}" for key, value in fields.items() if (text := _text(value))
            )
            line = f"{line}  {pairs}" if pairs else line
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        elif record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        return line.rstrip()


def _text(value: object) -> str:
    """A field's value as logfmt writes it; empty for ``None`` and empty lists."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | set | frozenset):
        return _text(",".join(str(item) for item in value)) if value else ""
    text = str(value)
    if not text or any(c.isspace() or c in '"=\\' for c in text):
        return orjson.dumps(text).decode()
    return text


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
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"steward": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "steward": {
                "class": "logging.StreamHandler",
                "formatter": "steward",
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
