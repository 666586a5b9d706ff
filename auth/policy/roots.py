"""The root-field rules: what each query and mutation needs before it runs (SPEC sections 3, 4).

Every root field of the schema has exactly one entry; building the schema fails on a root field
without one (`PolicyGapError`). The permission class ``Requires`` on each root field, the
``/graphql`` endpoint's purpose check and the audit all read this table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from auth.policy import scopes as s


@dataclass(frozen=True, slots=True)
class RootRule:
    """What running one root field needs.

    Attributes:
        scopes: every one of these scopes (none: anyone with a valid token).
        purpose: whether the request must declare a purpose (``X-Purpose``).
        audited: whether every request that runs it writes an access record, purpose or not
            (privacy administration).
        by_type: the scope is that of the looked-up object's data type (``node``).
        first_party: partners (third parties) may not run it, whatever their scopes: it
            decides who signs in as a customer.
    """

    scopes: tuple[str, ...] = ()
    purpose: bool = True
    audited: bool = False
    by_type: bool = False
    first_party: bool = False


def _rule(
    *scopes: str, purpose: bool = True, audited: bool = False, first_party: bool = False
) -> RootRule:
    return RootRule(scopes, purpose=purpose, audited=audited, first_party=first_party)


_SELF_SERVICE = _rule(s.ME_WRITE, purpose=False)
_ADMINISTRATION = _rule(s.PRIVACY_ADMIN, purpose=False, audited=True)

ROOTS: dict[str, RootRule] = {
    # Reads under a purpose.
    "customers": _rule(s.CUSTOMERS_READ),
    "customer": _rule(s.CUSTOMERS_READ),
    "orders": _rule(s.ORDERS_READ),
    "order": _rule(s.ORDERS_READ),
    "node": RootRule(by_type=True),
    # The caller's own record, and the policy itself.
    "me": _rule(s.ME_READ, purpose=False),
    "policy": _rule(purpose=False),
    "auditLog": _rule(s.AUDIT_READ, purpose=False, audited=True),
    # Staff writes, under a purpose.
    "createCustomer": _rule(s.CUSTOMERS_WRITE),
    "updateCustomer": _rule(s.CUSTOMERS_WRITE),
    "addAddress": _rule(s.ADDRESSES_WRITE),
    "updateAddress": _rule(s.ADDRESSES_WRITE),
    "removeAddress": _rule(s.ADDRESSES_WRITE),
    "placeOrder": _rule(s.ORDERS_WRITE),
    "updateOrderStatus": _rule(s.ORDERS_WRITE),
    # Staff give partners their jobs; a partner never assigns itself one.
    "assignOrder": _rule(s.ORDERS_WRITE, first_party=True),
    "unassignOrder": _rule(s.ORDERS_WRITE, first_party=True),
    "recordConsent": _rule(s.CONSENTS_WRITE),
    # Linking sign-ins to customers: every attempt leaves an access record.
    "createLinkCode": _rule(s.CUSTOMERS_WRITE, audited=True, first_party=True),
    "unlinkCustomer": _rule(s.CUSTOMERS_WRITE, audited=True, first_party=True),
    "linkMe": _rule(s.ME_WRITE, purpose=False, audited=True),
    "registerMe": _rule(s.ME_WRITE, purpose=False, audited=True),
    # Self-service.
    "updateMe": _SELF_SERVICE,
    "addMyAddress": _SELF_SERVICE,
    "removeMyAddress": _SELF_SERVICE,
    "setMyConsent": _SELF_SERVICE,
    "eraseMe": _SELF_SERVICE,
    # Privacy administration.
    "eraseCustomer": _ADMINISTRATION,
    "exportCustomerData": _ADMINISTRATION,
    "createLegalRequest": _ADMINISTRATION,
}
"""Root field name (queries and mutations share one namespace) → its rule."""

INTROSPECTION = frozenset({"__typename", "__schema", "__type"})
"""Meta fields: they read the schema, never customer data."""


def needs_purpose(root_fields: Iterable[str]) -> bool:
    """Whether an operation selecting ``root_fields`` must declare a purpose.

    A root field without an entry needs one (fail closed); introspection never does.
    """
    for name in root_fields:
        if name in INTROSPECTION:
            continue
        rule = ROOTS.get(name)
        if rule is None or rule.purpose:
            return True
    return False


def always_audited(root_fields: Iterable[str]) -> bool:
    """Whether an operation selecting ``root_fields`` is audited whatever it returns."""
    return any(name in ROOTS and ROOTS[name].audited for name in root_fields)
