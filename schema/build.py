"""Building the schema: Strawberry's types, then the policy compiled into field guards."""

from __future__ import annotations

from functools import cache

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.field import StrawberryField

from schema import types
from schema.mutations import Mutation as StaffMutation
from schema.permissions import install_guards, strip_permission_extensions
from schema.privacy import PrivacyMutation
from schema.queries import Query

Mutation = merge_types("Mutation", (StaffMutation, PrivacyMutation))

DATA_TYPES = [
    types.Customer,
    types.Address,
    types.Order,
    types.OrderItem,
    types.Consent,
    types.UsageEvent,
    types.AccessRecord,
    types.LegalRequest,
]


class PolicyGapError(RuntimeError):
    """A field of a data type has no policy entry; it would be hidden from everyone."""

    def __init__(self, gaps: list[str]) -> None:
        super().__init__("fields without a policy entry: " + ", ".join(gaps))


@cache
def _declared() -> dict[StrawberryField, bool]:
    return strip_permission_extensions(list(DATA_TYPES))


@cache
def build_schema(*, enforce: bool = True) -> strawberry.Schema:
    """The schema, with the policy's guards installed (``enforce=False``: benchmarks only)."""
    declared = _declared()
    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        types=DATA_TYPES,
        config=StrawberryConfig(auto_camel_case=True),
    )
    policy_gaps(schema)[:] = install_guards(schema, declared, enforce=enforce)
    return schema


_GAPS: dict[int, list[str]] = {}


def policy_gaps(schema: strawberry.Schema) -> list[str]:
    """The fields of data types that have no policy entry (they are hidden from everyone)."""
    return _GAPS.setdefault(id(schema), [])


def sdl() -> str:
    """The schema in SDL, as exported to ``schema.graphql``."""
    return build_schema().as_str() + "\n"


PURPOSE_FREE_FIELDS = frozenset(
    {
        "__typename",
        "__schema",
        "__type",
        "me",
        "policy",
        "auditLog",
        "updateMe",
        "addMyAddress",
        "removeMyAddress",
        "setMyConsent",
        "eraseMe",
        "eraseCustomer",
        "exportCustomerData",
        "createLegalRequest",
    }
)
"""Root fields that need no ``X-Purpose`` (SPEC section 3); every other one does."""
