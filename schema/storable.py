"""String arguments a database can compare and store: no NUL, no lone surrogates.

PostgreSQL's text types cannot hold NUL (``\\x00``), and UTF-8 cannot encode a lone
surrogate (``\\ud800``): such a value in a filter, a lookup or a mutation would fail in the
driver, after the policy and before any answer, as a 500. SQLite would take both, and the
two databases would answer differently. So a request whose arguments hold one — in the
document's literals or in its variables, anywhere, on either executor — is refused before it
runs, with ``BAD_USER_INPUT``.

JSON bodies with a lone surrogate never get here (orjson refuses them: the body is not valid
JSON), nor GraphQL literals with one (the document does not parse); the check covers every
other way a value may arrive.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from graphql import DocumentNode, StringValueNode, Visitor, visit

from schema.errors import DocumentError

__all__ = ["UnstorableString", "check_variables", "literals_storable", "storable"]

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class UnstorableString(DocumentError):
    """A string argument holds a NUL character or a lone surrogate."""

    code: ClassVar[str] = "BAD_USER_INPUT"

    def __init__(self) -> None:
        super().__init__("String arguments may not contain NUL characters or lone surrogates.")


def storable(text: str) -> bool:
    """Whether ``text`` has neither a NUL nor a lone surrogate (any surrogate, in a Python
    string: a pair would have been decoded into one character)."""
    return _UNSTORABLE.search(text) is None


def literals_storable(node: DocumentNode) -> bool:
    """Whether every string literal of a document is `storable`."""
    finder = _Finder()
    visit(node, finder)
    return finder.storable


def check_variables(value: Any) -> None:
    """Refuse variables holding an unstorable string, at any depth.

    Raises:
        UnstorableString: one is there.
    """
    if isinstance(value, str):
        if not storable(value):
            raise UnstorableString
    elif isinstance(value, dict):
        for key, item in value.items():
            check_variables(key)
            check_variables(item)
    elif isinstance(value, list):
        for item in value:
            check_variables(item)


class _Finder(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.storable = True

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> Any:
        if not storable(node.value):
            self.storable = False
            return self.BREAK
        return None
