"""Demo partners (SPEC section 8): ``steward demo-data`` registers a courier and a marketing
agency, with customers' consents to share with them, the courier's disclosures and the
agency's (the email in a pseudonym, SPEC section 13)."""

from __future__ import annotations

from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session
from sqlmodel import col
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli
from api.demo import load_demo_data
from api.demo_partners import AGENCY, COURIER, COURIER_NAME, load_demo_partners
from store import models
from tests.support.auth import TokenFactory
from tests.support.callers import CUSTOMER
from tests.support.operations import post

DISCLOSURES = "{ me { disclosures { recipient { clientId name } purpose fields forms } } }"


def test_demo_partners_consents_and_disclosures(
    session: Session, client: TestClient, token: TokenFactory
) -> None:
    # when the demo data is loaded with its partners
    with session.begin():
        load_demo_data(session, customers=60, seed=5)
        summary = load_demo_partners(session, seed=5)
    # then both partners exist, and consents name every partner, the courier, or the agency
    assert summary.partners == 2
    session.rollback()
    assert {p.client_id for p in session.scalars(select(models.Partner))} == {COURIER, AGENCY}
    records = session.scalars(
        select(models.Consent).where(col(models.Consent.purpose) == "third_party_sharing")
    ).all()
    assert {(r.recipient, r.status) for r in records} >= {
        (None, "GRANTED"),
        (COURIER, "GRANTED"),
        (AGENCY, "WITHDRAWN"),
    }
    # and a customer the courier read sees it as a disclosure
    assert summary.disclosures > 0
    record = session.scalars(
        select(models.AccessRecord).where(col(models.AccessRecord.recipient) == COURIER)
    ).first()
    assert record is not None
    customer = session.get(models.Customer, record.customer_ids[0])
    assert customer is not None
    body = post(client, token(CUSTOMER, sub=customer.subject), DISCLOSURES)
    disclosures = body["data"]["me"]["disclosures"]
    [delivery] = [d for d in disclosures if d["recipient"]["clientId"] == COURIER]
    assert delivery["recipient"] == {"clientId": COURIER, "name": COURIER_NAME}
    assert "Address.line1" in delivery["fields"]
    assert delivery["forms"] == {}
    # and a customer the agency read under marketing is told the email went as a pseudonym
    campaign = session.scalars(
        select(models.AccessRecord).where(col(models.AccessRecord.recipient) == AGENCY)
    ).first()
    assert campaign is not None
    assert campaign.purpose == "marketing"
    reader = session.get(models.Customer, campaign.customer_ids[-1])
    assert reader is not None
    body = post(client, token(CUSTOMER, sub=reader.subject), DISCLOSURES)
    [marketing] = [
        d for d in body["data"]["me"]["disclosures"] if d["recipient"]["clientId"] == AGENCY
    ]
    assert marketing["purpose"] == "marketing"
    assert marketing["forms"] == {"Customer.email": "pseudonym"}
    assert "Customer.email" in marketing["fields"]
    # and only customers who consented to marketing and shared with the agency were read
    consents = session.scalars(
        select(models.Consent)
        .where(col(models.Consent.customer_id) == reader.id)
        .order_by(col(models.Consent.id))
    ).all()
    latest = {(c.purpose, c.recipient): c.status for c in consents}
    assert latest[("marketing", None)] == "GRANTED"
    assert latest[("third_party_sharing", None)] == "GRANTED"
    assert latest.get(("third_party_sharing", AGENCY), "GRANTED") == "GRANTED"
    # loading again adds nothing
    session.rollback()
    with session.begin():
        again = load_demo_partners(session, seed=5)
    assert (again.partners, again.sharing_consents, again.disclosures) == (0, 0, 0)


def test_demo_data_leaves_postgresql_with_planner_statistics(steward: CliRunner) -> None:
    # given an empty database
    url = str(steward.env["STEWARD_DATABASE_URL"])
    engine = create_engine(url)
    # when the demo data is loaded
    result = steward.invoke(cli, ["demo-data", "--customers", "30"])
    # then PostgreSQL can plan its pages now, not when autovacuum gets to the tables
    assert result.exit_code == 0, result.output
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            analyzed = connection.scalar(
                text("SELECT count(*) FROM pg_stats WHERE tablename = 'customer_order'")
            )
            assert analyzed
        else:  # SQLite keeps none: its row rules do not depend on them (store/hints.py)
            assert connection.scalar(text("SELECT count(*) FROM customer")) == 30
    engine.dispose()
