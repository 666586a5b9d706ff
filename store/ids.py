"""Relay global ids: ``base64("<Type>:<primary key>")``."""

from __future__ import annotations

import base64
import binascii

MAX_PK = 2**31 - 1
"""The largest primary key a global id may name: the id columns are INTEGER, which is 32 bits
on PostgreSQL (SQLite's holds 64).

A larger number names no row, and would not even reach the database (PostgreSQL refuses to
compare an integer column with it, SQLite's driver raises ``OverflowError`` beyond 64 bits):
it is not an id at all, on either database alike.
"""


class InvalidGlobalId(ValueError):
    """The value is not a global id of the expected type."""

    def __init__(self) -> None:
        super().__init__("not a valid id")


def to_global_id(type_name: str, pk: int) -> str:
    """The global id of row ``pk`` of ``type_name``.

    >>> to_global_id("Customer", 1)
    'Q3VzdG9tZXI6MQ=='
    """
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def from_global_id(value: str) -> tuple[str, int]:
    """The type name and primary key of a global id; `InvalidGlobalId` when it is not one."""
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True).decode("ascii")
        type_name, _, pk = decoded.partition(":")
        number = int(pk)
    except (UnicodeError, binascii.Error, ValueError):
        raise InvalidGlobalId from None
    if not type_name or not 1 <= number <= MAX_PK or str(number) != pk:
        raise InvalidGlobalId
    return type_name, number


def pk_of(value: str, type_name: str) -> int:
    """The primary key of a global id that must name ``type_name``."""
    kind, pk = from_global_id(value)
    if kind != type_name:
        raise InvalidGlobalId
    return pk
