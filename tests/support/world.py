"""A small seeded world (two customers and their rows), and reading the tables directly."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from store import models
from store.ids import to_global_id
from store.models import utcnow


@dataclass(frozen=True)
class Person:
    """A seeded customer: primary key, global id (= subject) and the ids of their rows."""

    pk: int
    id: str
    address_ids: tuple[int, ...]
    order_ids: tuple[int, ...]


def _customer(
    session: Session, *, country: str, language: str, first: str, last: str, email: str, mobile: str
) -> models.Customer:
    customer = models.Customer(
        country=country,
        preferred_language=language,
        first_name=first,
        last_name=last,
        date_of_birth=dt.date(1986, 4, 2),
        email=email,
        mobile_phone=mobile,
        landline_phone=None,
    )
    session.add(customer)
    session.flush()
    customer.subject = to_global_id("Customer", customer.id)  # type: ignore[arg-type]
    return customer


def _person(session: Session, customer: models.Customer, city: str, postal: str) -> Person:
    pk = customer.id
    assert pk is not None
    home = models.Address(
        customer_id=pk,
        label="HOME",
        line1=f"{city} 12",
        city=city,
        postal_code=postal,
        country=customer.country,
        is_default=True,
    )
    site = models.Address(
        customer_id=pk,
        label="INSTALLATION_SITE",
        line1=f"{city} roof 3",
        city=city,
        postal_code=postal,
        country=customer.country,
    )
    session.add_all([home, site])
    session.flush()
    currency = "IRR" if customer.country == "IR" else "VND"
    paid = models.Order(
        customer_id=pk,
        number=f"SO-{pk}-1",
        status="PAID",
        total_amount=5000,
        currency=currency,
        shipping_address_id=site.id,
        payment_reference=f"PAY{pk}01",
        payment_tracking_code=f"TRK{pk}01",
        placed_at=utcnow() - dt.timedelta(days=3),
    )
    pending = models.Order(
        customer_id=pk,
        number=f"SO-{pk}-2",
        status="PENDING",
        total_amount=700,
        currency=currency,
        placed_at=utcnow() - dt.timedelta(days=1),
    )
    session.add_all([paid, pending])
    session.flush()
    assert paid.id is not None
    assert pending.id is not None
    session.add_all(
        [
            models.OrderItem(
                order_id=paid.id, sku="PV-550", name="Panel", quantity=4, unit_price=1000
            ),
            models.OrderItem(
                order_id=paid.id, sku="INV-5K", name="Inverter", quantity=1, unit_price=1000
            ),
            models.OrderItem(
                order_id=pending.id, sku="CBL", name="Cable", quantity=7, unit_price=100
            ),
            models.Consent(
                customer_id=pk,
                purpose="marketing",
                status="GRANTED",
                source="WEB",
                policy_version="2025-01",
            ),
            models.Consent(customer_id=pk, purpose="analytics", status="WITHDRAWN", source="PAPER"),
            models.UsageEvent(customer_id=pk, kind="login", detail="via web"),
            models.UsageEvent(customer_id=pk, kind="viewed_order", detail=f"order SO-{pk}-1"),
        ]
    )
    session.flush()
    return Person(
        pk=pk,
        id=to_global_id("Customer", pk),
        address_ids=(home.id, site.id),  # type: ignore[arg-type]
        order_ids=(paid.id, pending.id),
    )


def seed(session: Session) -> tuple[Person, Person]:
    """Two customers (IR and VN), each with two addresses, a PAID order shipped to one of them
    and a PENDING one, three items, a marketing grant, an analytics withdrawal, two usage events.
    """
    with session.begin():
        maryam = _customer(
            session,
            country="IR",
            language="fa-IR",
            first="مریم",
            last="رضایی",
            email="maryam@example.com",
            mobile="+989123456789",
        )
        first = _person(session, maryam, "تهران", "1234567890")
        lan = _customer(
            session,
            country="VN",
            language="vi-VN",
            first="Lan",
            last="Nguyễn",
            email="lan@example.vn",
            mobile="+84912345678",
        )
        second = _person(session, lan, "Hà Nội", "100000")
    return first, second


class Tables:
    """Reads the tables themselves, each read in its own short transaction.

    SQLite transactions take the write lock up front, so a test must never keep one open
    while it calls the app.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def all(self, statement: Any) -> list[Any]:
        """Every row the statement selects."""
        with Session(self.engine) as session:
            return list(session.scalars(statement))

    def one(self, statement: Any) -> Any:
        """The one row the statement selects."""
        (row,) = self.all(statement)
        return row

    def get(self, model: Any, pk: int) -> Any:
        """One row by primary key, or ``None``."""
        with Session(self.engine) as session:
            return session.get(model, pk)

    def count(self, model: Any, customer_pk: int | None = None) -> int:
        """Rows of ``model`` (of one customer, when given)."""
        statement = select(func.count()).select_from(model)
        if customer_pk is not None:
            statement = statement.where(model.customer_id == customer_pk)
        with Session(self.engine) as session:
            return int(session.scalar(statement) or 0)

    def access_records(self) -> list[models.AccessRecord]:
        """Every access record, oldest first."""
        return self.all(select(models.AccessRecord).order_by(col(models.AccessRecord.id)))
