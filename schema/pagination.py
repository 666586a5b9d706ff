"""Relay pagination: opaque offset cursors and the page-size limit."""

from __future__ import annotations

import base64
import binascii

from privacy.errors import InputError
from schema.errors import PageSizeExceeded

MAX_OFFSET = 2**31 - 1
"""The furthest a cursor may point: more rows than an id column (INTEGER) can number.

A page's SQL adds its size to the offset; bounded here, that sum always fits a BIGINT.
"""


def encode_cursor(offset: int) -> str:
    """The opaque cursor of the row at ``offset``."""
    return base64.b64encode(f"o:{offset}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The offset a cursor points at; `InputError` when it is not one of ours."""
    try:
        text = base64.b64decode(cursor.encode("ascii"), validate=True).decode("ascii")
        prefix, _, number = text.partition(":")
        offset = int(number)
    except (UnicodeError, binascii.Error, ValueError):
        raise InputError("after", "after is not a valid cursor.") from None
    if prefix != "o" or not 0 <= offset <= MAX_OFFSET or str(offset) != number:
        raise InputError("after", "after is not a valid cursor.")
    return offset


def page_window(max_page_size: int, first: int, after: str | None) -> tuple[int, int]:
    """The offset and limit of a page: rows after the ``after`` cursor, ``first`` of them."""
    if first < 0 or first > max_page_size:
        raise PageSizeExceeded(max_page_size)
    offset = 0 if after is None else decode_cursor(after) + 1
    return offset, first
