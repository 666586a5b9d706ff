"""Staff single sign-on: a provider's roles or groups, mapped to Steward's scopes.

A company's provider says what a member of staff is (``groups: ["support"]``), not which of
Steward's scopes they hold. :class:`ScopeClaims` reads one claim of an external provider's
token, by its path, and adds the scopes each of its roles maps to; the token's own ``scope``
still counts. The claim shapes of common providers:

- Keycloak: ``realm_access.roles`` (a list, in an object);
- Auth0: a namespaced claim an Action adds, ``https://steward.example.com/roles`` (a URI is
  one claim name, never a path), or ``permissions`` (RBAC);
- Entra ID: ``roles`` (app roles) or ``groups`` (group object ids).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from auth.policy.scopes import ALL_SCOPES
from auth.tokens.errors import Cause, InvalidToken

__all__ = ["ScopeClaims"]

_KNOWN = frozenset(ALL_SCOPES)


@dataclass(frozen=True, slots=True)
class ScopeClaims:
    """Which claim names a caller's roles, and the scopes each role grants.

    Args:
        claim: the claim's path: dot-separated names (``realm_access.roles``), or one name
            when it is a URI (Auth0's namespaced claims, ``https://…/roles``).
        roles: role → the Steward scopes it grants (purposes included, ``purpose:…``).

    Raises:
        ValueError: an empty path or role, or a scope Steward does not know (a typo must not
            pass for a scope that grants nothing).

    Example:
        >>> claims = ScopeClaims("realm_access.roles", {"support": frozenset({"customers:read"})})
        >>> sorted(claims.scopes({"realm_access": {"roles": ["support", "offline_access"]}}))
        ['customers:read']
    """

    claim: str
    roles: Mapping[str, frozenset[str]]

    def __post_init__(self) -> None:
        if not all(self.path):
            raise ValueError(f"the claim path {self.claim!r} has an empty name")
        for role, scopes in self.roles.items():
            if not role:
                raise ValueError("a role name is empty")
            unknown = sorted(scopes - _KNOWN)
            if unknown:
                raise ValueError(f"role {role!r} maps to unknown scopes: {', '.join(unknown)}")

    @property
    def path(self) -> tuple[str, ...]:
        """The names to follow from the claims' top level to the roles."""
        return (self.claim,) if "://" in self.claim else tuple(self.claim.split("."))

    def scopes(self, claims: Mapping[str, object]) -> frozenset[str]:
        """The scopes the token's roles map to; none when the claim is absent.

        Raises:
            InvalidToken: the claim is there but neither a string nor a list of strings.
        """
        value: object = claims
        for name in self.path:
            if not isinstance(value, Mapping) or name not in value:
                return frozenset()
            value = value[name]
        if isinstance(value, str):
            roles: list[object] = [value]
        elif isinstance(value, list):
            roles = value
        else:
            raise InvalidToken(Cause.INVALID_CLAIM, claim=self.claim)
        if not all(isinstance(role, str) for role in roles):
            raise InvalidToken(Cause.INVALID_CLAIM, claim=self.claim)
        granted: set[str] = set()
        for role in roles:
            granted.update(self.roles.get(str(role), ()))
        return frozenset(granted)
