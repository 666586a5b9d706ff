"""The typed context of one GraphQL request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import strawberry
from sqlalchemy.orm import Session

from api.settings import Settings
from auth.plan import Plan
from auth.principal import Principal
from auth.purposes import Purpose
from schema.loaders import Loaders
from schema.rows import RowScope


@dataclass(slots=True)
class Context:
    """Everything a resolver may use, decided before execution starts.

    Attributes:
        session: the request's database session (one transaction).
        principal: the verified caller.
        purpose: the declared purpose.
        legal_reference: ``X-Legal-Reference``, for ``legal_order``.
        plan: the field decisions for this caller and purpose.
        rows: the row-level rules for this caller and purpose.
        loaders: the batched loaders.
        settings: the service's settings.
        customer_id: the customer the caller is, when its token links to one.
        customers_read: ids of customers whose data the response carries (for the audit).
        fields_read: coordinates disclosed outside the selection set, e.g. by an export.
    """

    session: Session
    principal: Principal
    purpose: Purpose | None
    legal_reference: str | None
    plan: Plan
    rows: RowScope
    loaders: Loaders
    settings: Settings
    customer_id: int | None = None
    customers_read: set[int] = field(default_factory=set)
    fields_read: set[str] = field(default_factory=set)


Info: TypeAlias = strawberry.Info[Context, None]
