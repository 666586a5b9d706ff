"""Customers are linked to tokens by (iss, sub), never by sub alone (SPEC section 7).

Steward trusts its built-in issuer and an external provider, faked with a real JWKS; every
token is signed by a real key and sent to the app over HTTP.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session
from sqlmodel import col
from starlette.testclient import TestClient

from api.settings import Settings
from store import models
from store.database import alembic_config
from store.ids import to_global_id
from tests.support.auth import Provider, TokenFactory, app_client
from tests.support.callers import LEGAL
from tests.support.operations import post
from tests.support.world import Tables

STAFF = "customers:read customers:write purpose:customer_support"
CUSTOMER = "me:read me:write"

CREATE = """
mutation Create($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }
"""
ME = "query Me { me { id firstName } }"
UPDATE_ME = """
mutation UpdateMe { updateMe(input: {firstName: "Mallory"}) { id } }
"""
LEGAL_REQUEST = """
mutation Legal($ids: [ID!]!, $until: DateTime!) {
  createLegalRequest(reference: "CASE-7", authority: "Court", orderDocument: "ORD-7",
                     customerIds: $ids, validUntil: $until) { reference createdBy }
}
"""
CUSTOMERS = "query Customers { customers { edges { node { id } } } }"


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def client(settings: Settings, provider: Provider) -> Iterator[TestClient]:
    """The app trusting its built-in issuer and the external provider."""
    with app_client(provider.settings(settings), http=provider.http()) as client:
        yield client


def external(provider: Provider, scope: str, sub: str) -> str:
    """A token of the external provider, with the claims RFC 9068 requires."""
    return provider.token(scope=scope, sub=sub, jti=secrets.token_urlsafe(8))


def create(client: TestClient, token: TokenFactory, **fields: Any) -> Any:
    """``createCustomer`` by staff with a built-in token; returns the JSON body."""
    variables = {"input": {"country": "IR", "preferredLanguage": "fa-IR", **fields}}
    return post(client, token(STAFF), CREATE, variables, purpose="customer_support")


def created_id(body: Any) -> str:
    assert "errors" not in body, body
    return str(body["data"]["createCustomer"]["id"])


def bad_input(body: Any) -> str:
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    return str(error["extensions"]["field"])


def test_an_external_sub_equal_to_a_customer_id_reaches_no_customer(
    client: TestClient, token: TokenFactory, provider: Provider
) -> None:
    # given a customer linked by default: its global id under the built-in issuer
    customer_id = created_id(create(client, token, firstName="Maryam"))
    # when the external provider's token carries that global id as its sub
    impostor = external(provider, CUSTOMER, sub=customer_id)
    # then it is nobody: no record to read, none to change
    assert post(client, impostor, ME) == {"data": {"me": None}}
    body = post(client, impostor, UPDATE_ME)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # and the built-in token with that sub is the customer, unchanged
    own = post(client, token(CUSTOMER, sub=customer_id), ME)
    assert own["data"]["me"] == {"id": customer_id, "firstName": "Maryam"}


def test_an_explicit_subject_belongs_to_the_external_provider_by_default(
    client: TestClient, token: TokenFactory, provider: Provider
) -> None:
    # given a customer registered with the provider's subject
    customer_id = created_id(create(client, token, subject="alice-7"))
    # when the provider's token and a built-in token carry that sub
    theirs = post(client, external(provider, CUSTOMER, sub="alice-7"), ME)
    ours = post(client, token(CUSTOMER, sub="alice-7"), ME)
    # then only the provider's reaches the customer
    assert theirs["data"]["me"]["id"] == customer_id
    assert ours == {"data": {"me": None}}


def test_the_same_subject_may_be_linked_once_per_issuer(
    client: TestClient, token: TokenFactory, provider: Provider, settings: Settings
) -> None:
    # given the subject "sam" linked under the provider
    theirs = created_id(create(client, token, subject="sam", subjectIssuer=provider.ISSUER))
    # when it is linked again under the built-in issuer, and once more under the provider
    ours = created_id(create(client, token, subject="sam", subjectIssuer=settings.public_url))
    again = create(client, token, subject="sam", subjectIssuer=provider.ISSUER)
    # then each issuer's token reaches its own customer, and the repeat is bad input
    assert post(client, token(CUSTOMER, sub="sam"), ME)["data"]["me"]["id"] == ours
    assert post(client, external(provider, CUSTOMER, "sam"), ME)["data"]["me"]["id"] == theirs
    assert bad_input(again) == "input.subject"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"subject": "x", "subjectIssuer": "https://evil.example/"}, "input.subjectIssuer"),
        ({"subjectIssuer": "https://idp.example.com/"}, "input.subjectIssuer"),
    ],
    ids=["untrusted issuer", "issuer without subject"],
)
def test_a_subject_issuer_must_be_trusted_and_name_a_subject(
    client: TestClient, token: TokenFactory, engine: Engine, fields: dict[str, str], field: str
) -> None:
    body = create(client, token, **fields)
    assert bad_input(body) == field
    assert "evil" not in body["errors"][0]["message"]
    assert Tables(engine).count(models.Customer) == 0


def test_legal_request_creator_is_compared_by_issuer_and_subject(
    client: TestClient, token: TokenFactory, provider: Provider, engine: Engine
) -> None:
    # given a legal request registered by "officer" of the built-in issuer
    customer_id = created_id(create(client, token))
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    admin = token("privacy:admin customers:read", sub="officer")
    body = post(client, admin, LEGAL_REQUEST, {"ids": [customer_id], "until": until})
    assert body["data"]["createLegalRequest"]["createdBy"] == "officer"
    headers = {"X-Legal-Reference": "CASE-7"}
    # when "officer" of each issuer uses it
    ours = post(
        client,
        token(LEGAL, sub="officer"),
        CUSTOMERS,
        purpose="legal_order",
        headers=headers,
        status=403,
    )
    theirs = post(
        client,
        external(provider, LEGAL, sub="officer"),
        CUSTOMERS,
        purpose="legal_order",
        headers=headers,
    )
    # then only the creator itself is refused: the provider's "officer" is another person
    assert ours["errors"][0]["extensions"]["code"] == "INVALID_LEGAL_REFERENCE"
    assert theirs["data"]["customers"]["edges"] == [{"node": {"id": customer_id}}]


def test_taken_subjects_are_bad_input_and_change_nothing(
    client: TestClient, token: TokenFactory, engine: Engine
) -> None:
    # given a customer linked to "bob-1"
    created_id(create(client, token, subject="bob-1"))
    # when another customer is registered with that subject / then it is bad input
    assert bad_input(create(client, token, subject="bob-1", firstName="Eve")) == "input.subject"
    assert Tables(engine).count(models.Customer) == 1


def test_a_future_customers_default_subject_cannot_be_taken(
    client: TestClient, token: TokenFactory, engine: Engine, settings: Settings
) -> None:
    # given 99 customers: the next ones get the ids 100 and 101
    with Session(engine) as session, session.begin():
        session.add_all(models.Customer(country="IR", preferred_language="fa") for _ in range(99))
    future = to_global_id("Customer", 101)
    # when staff link the 101st customer's default subject to someone else
    body = create(client, token, subject=future, subjectIssuer=settings.public_url)
    # then it is refused, and the customers 100 and 101 are created as usual
    assert bad_input(body) == "input.subject"
    created = [created_id(create(client, token)) for _ in range(2)]
    assert created == [to_global_id("Customer", 100), future]


def test_a_subject_linked_concurrently_is_bad_input(
    client: TestClient, token: TokenFactory, settings: Settings
) -> None:
    # given another transaction that links "carol" and commits only once the request waits
    created_id(create(client, token, subject="warm-up"))  # the app's connection is open
    inserted = threading.Event()
    other = threading.Thread(target=_link_concurrently, args=(settings.database_url, inserted))
    other.start()
    assert inserted.wait(timeout=10)
    # when staff register "carol" meanwhile (its check finds nothing committed)
    body = create(client, token, subject="carol")
    other.join(timeout=30)
    # then the unique index decides, and the loser is told so, not a 500
    assert bad_input(body) == "input.subject"


def _link_concurrently(url: str, inserted: threading.Event) -> None:
    engine = create_engine(url)
    with engine.connect() as connection, connection.begin():
        connection.execute(
            models.table_of(models.Customer)
            .insert()
            .values(
                country="VN",
                preferred_language="vi",
                status="ACTIVE",
                subject="carol",
                subject_issuer=Provider.ISSUER,
                created_at=models.utcnow(),
                updated_at=models.utcnow(),
            )
        )
        inserted.set()
        if engine.dialect.name == "postgresql":  # the request's insert waits on the index
            _wait_for_a_lock_wait(engine)
        else:  # SQLite: the request waits for the write lock
            time.sleep(0.3)
    engine.dispose()


def _wait_for_a_lock_wait(engine: Engine) -> None:
    deadline = time.monotonic() + 10
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            if connection.execute(query).scalar_one():
                return
            time.sleep(0.02)
    raise AssertionError("the request never waited on the unique index")


def test_migration_links_existing_subjects_to_the_builtin_issuer(
    settings: Settings, token: TokenFactory, tmp_path: Any
) -> None:
    from alembic import command

    # given a database of the first schema, with a customer linked by its default subject
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0001")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO customer (id, subject, status, country, preferred_language, "
                "created_at, updated_at) VALUES (1, :subject, 'ACTIVE', 'IR', 'fa', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"subject": to_global_id("Customer", 1)},
        )
    # when it is migrated
    command.upgrade(alembic_config(url), "head")
    with Session(engine) as session:
        stored = session.scalars(select(col(models.Customer.subject_issuer))).one()
    engine.dispose()
    # then the link is the built-in issuer's, and its tokens reach the customer
    assert stored == models.BUILTIN_ISSUER
    with app_client(settings.model_copy(update={"database_url": url})) as migrated:
        me = post(migrated, token(CUSTOMER, sub=to_global_id("Customer", 1)), ME)
    assert me["data"]["me"]["id"] == to_global_id("Customer", 1)
