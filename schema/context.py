"""The typed context of one GraphQL request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import strawberry
from sqlalchemy.orm import Session

from auth.policy.plan import Plan
from auth.policy.request import RequestScope
from auth.policy.row_rules import RowScope
from privacy.linking import WrongCodes
from schema.loaders import Loaders


@dataclass(frozen=True, slots=True)
class Options:
    """What the schema's resolvers are configured with.

    Attributes:
        max_page_size: the largest ``first`` a connection accepts.
        batched_loaders: nested lists are fetched for all the parents of a page at once
            (off only in benchmarks, to measure what batching is worth).
        self_registration: whether a signed-in person without a customer may register
            (``registerMe``; ``STEWARD_SELF_REGISTRATION``).
        wrong_codes: where wrong link codes are counted (``linkMe``).
    """

    max_page_size: int = 100
    batched_loaders: bool = True
    self_registration: bool = False
    wrong_codes: WrongCodes = field(default_factory=WrongCodes)


@dataclass(slots=True)
class Context:
    """Everything a resolver may use, decided before execution starts.

    Attributes:
        session: the request's database session (one transaction).
        scope: the policy of the request: caller, purpose, field plan, row rules, owner.
        loaders: the batched loaders.
        options: the schema's configuration.
        customers_read: ids of customers whose data the response discloses (for the audit):
            noted as objects are put into the response, and by resolvers that name customers.
        fields_read: coordinates disclosed outside the selection set, e.g. by an export.
        languages: the request's ``Accept-Language``, best first.
    """

    session: Session
    scope: RequestScope
    loaders: Loaders
    options: Options
    customers_read: set[int] = field(default_factory=set)
    fields_read: set[str] = field(default_factory=set)
    languages: tuple[str, ...] = ()

    @classmethod
    def open(
        cls,
        session: Session,
        scope: RequestScope,
        options: Options,
        languages: tuple[str, ...] = (),
    ) -> Context:
        """The context of a request whose policy is ``scope``."""
        loaders = Loaders(session, scope.rows, batched=options.batched_loaders)
        return cls(session, scope, loaders, options, languages=languages)

    @property
    def plan(self) -> Plan:
        """The field decisions for this caller and purpose."""
        return self.scope.plan

    @property
    def rows(self) -> RowScope:
        """The row rules for this caller and purpose."""
        return self.scope.rows


Info: TypeAlias = strawberry.Info[Context, None]
