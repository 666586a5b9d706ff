"""Signing in as a customer over HTTP: link codes, linking, unlinking, self-registration.

Every refusal is checked for its error, for what the tables still hold (read back), and for
the one access record it leaves. Customers' tokens come from the built-in issuer with a
``sub`` of the identity provider's kind (not a customer id).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy.orm import Session
from sqlmodel import col, select
from starlette.testclient import TestClient

from api.app import create_app
from api.cli import app as cli
from api.settings import Settings
from auth.policy import scopes as s
from auth.policy.purposes import Purpose
from privacy.errors import LimitUnavailable
from privacy.linking import (
    ALREADY_LINKED,
    CUSTOMER_LINKED,
    WRONG_CODE,
    WrongCodes,
    code_hash,
    normalise,
)
from store import models
from store.ids import to_global_id
from store.models import BUILTIN_ISSUER
from tests.support.auth import Provider, TokenFactory, app_client
from tests.support.callers import CUSTOMER, scope
from tests.support.operations import post
from tests.support.world import Person, Tables, seed

STAFF = scope(
    s.CUSTOMERS_READ,
    s.CUSTOMERS_READ_IDENTITY,
    s.CUSTOMERS_WRITE,
    s.CONSENTS_READ,
    s.AUDIT_READ,
    Purpose.CUSTOMER_SUPPORT.scope,
)
PURPOSE = "customer_support"
PERSON = "idp-user-7f3a"
"""The ``sub`` an identity provider gave a person who is not linked yet."""

CREATE_CODE = """
mutation Code($customerId: ID!) { createLinkCode(customerId: $customerId) { code expiresAt } }
"""
LINK = "mutation Link($code: String!) { linkMe(code: $code) { id firstName email } }"
UNLINK = "mutation Unlink($customerId: ID!) { unlinkCustomer(customerId: $customerId) { id } }"
ME = "query Me { me { id firstName } }"
UPDATE = """
mutation Update($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input)
  { id } }
"""
UPDATE_ME = "mutation UpdateMe($input: UpdateCustomerInput!) { updateMe(input: $input) { id } }"
REGISTER = """
mutation Register($input: RegisterMeInput!) {
  registerMe(input: $input) {
    id country firstName email
    consents { purpose status source noticeVersion language }
  }
}
"""
REGISTRATION = {
    "country": "VN",
    "preferredLanguage": "vi-VN",
    "firstName": "Hoa",
    "lastName": "Trần",
    "email": "hoa@example.vn",
    "consents": [
        {
            "purpose": "MARKETING",
            "granted": True,
            "source": "MOBILE",
            "noticeVersion": "2026-12",
            "language": "vi",
        },
        {
            "purpose": "ANALYTICS",
            "granted": False,
            "source": "MOBILE",
            "noticeVersion": "2026-12",
            "language": "vi",
        },
    ],
}


@pytest.fixture
def people(session: Any) -> tuple[Person, Person]:
    return seed(session)


@pytest.fixture
def tables(engine: Any) -> Tables:
    return Tables(engine)


def staff(client: TestClient, token: TokenFactory, query: str, variables: dict[str, Any]) -> Any:
    return post(client, token(STAFF), query, variables, purpose=PURPOSE)


def make_code(client: TestClient, token: TokenFactory, person: Person) -> str:
    body = staff(client, token, CREATE_CODE, {"customerId": person.id})
    assert "errors" not in body, body
    return str(body["data"]["createLinkCode"]["code"])


def link(client: TestClient, token: TokenFactory, code: str, sub: str = PERSON) -> Any:
    return post(client, token(CUSTOMER, sub=sub), LINK, {"code": code})


def error(body: Any) -> tuple[str, str]:
    (only,) = body["errors"]
    return only["extensions"]["code"], only["message"]


def link_of(tables: Tables, person: Person) -> tuple[str, str | None]:
    customer = tables.get(models.Customer, person.pk)
    return customer.subject_issuer, customer.subject


def default_of(person: Person) -> tuple[str, str]:
    return BUILTIN_ISSUER, person.id


def codes(tables: Tables) -> list[models.LinkCode]:
    return tables.all(select(models.LinkCode).order_by(col(models.LinkCode.id)))


def records_of(tables: Tables, root: str) -> list[models.AccessRecord]:
    return [r for r in tables.access_records() if f"Mutation.{root}" in r.fields]


# Linking with a code


def test_a_code_links_the_signed_in_person_to_the_customer(client, token, people, tables) -> None:
    # given a code staff made for Maryam
    maryam, _ = people
    made = staff(client, token, CREATE_CODE, {"customerId": maryam.id})["data"]["createLinkCode"]
    expires = dt.datetime.fromisoformat(made["expiresAt"])
    assert dt.timedelta(minutes=14) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=15)
    # when the person signed in at the provider enters it
    body = link(client, token, made["code"])
    # then they are Maryam, see her data, and `me` finds her from now on
    assert body["data"]["linkMe"] == {
        "id": maryam.id,
        "firstName": "مریم",
        "email": "maryam@example.com",
    }
    assert link_of(tables, maryam) == (BUILTIN_ISSUER, PERSON)
    me = post(client, token(CUSTOMER, sub=PERSON), ME)
    assert me["data"]["me"]["id"] == maryam.id
    # and the code is spent, stored only as its hash
    (stored,) = codes(tables)
    assert stored.used_at is not None
    assert stored.code_hash == code_hash(normalise(made["code"]) or "")
    assert made["code"] not in repr(stored.__dict__)
    # and both steps are audited, naming Maryam, never the code
    (created,) = records_of(tables, "createLinkCode")
    (linked,) = records_of(tables, "linkMe")
    assert created.customer_ids == [maryam.pk]
    assert created.subject == "staff-1"
    assert linked.customer_ids == [maryam.pk]
    assert linked.subject == PERSON
    assert all(made["code"] not in repr(r.__dict__) for r in tables.access_records())


def test_codes_are_forgiving_about_case_dashes_and_lookalikes(client, token, people) -> None:
    # given a code, typed in lower case, with spaces for dashes and O for 0, I for 1
    maryam, _ = people
    code = make_code(client, token, maryam)
    typed = code.replace("-", " ").lower().replace("0", "o").replace("1", "i")
    # when it is entered / then it links
    assert link(client, token, typed)["data"]["linkMe"]["id"] == maryam.id


def test_a_new_code_replaces_the_previous_one(client, token, people, tables) -> None:
    # given two codes made for the same customer
    maryam, _ = people
    first = make_code(client, token, maryam)
    second = make_code(client, token, maryam)
    # when the first is entered / then it is wrong; the second still works
    assert error(link(client, token, first)) == ("BAD_USER_INPUT", WRONG_CODE)
    assert link_of(tables, maryam) == default_of(maryam)
    assert link(client, token, second)["data"]["linkMe"]["id"] == maryam.id


def _expire(tables: Tables) -> None:
    """Move the codes' clock 16 minutes on: each was made, and expired, in the past."""
    with Session(tables.engine) as session, session.begin():
        for stored in session.scalars(select(models.LinkCode)):
            stored.created_at -= dt.timedelta(minutes=16)
            stored.expires_at -= dt.timedelta(minutes=16)


@pytest.mark.parametrize("kind", ["guessed", "reused", "expired"])
def test_wrong_used_and_expired_codes_get_one_message(
    client, token, people, tables, kind: str
) -> None:
    # given a code that is guessed, already used by someone else, or past its 15 minutes
    maryam, lan = people
    code = make_code(client, token, maryam)
    if kind == "guessed":
        code = "ABCD-EFGH-JKMN" if code != "ABCD-EFGH-JKMN" else "ABCD-EFGH-JKMP"
    elif kind == "reused":
        assert "errors" not in link(client, token, code, sub="someone-else")
    else:
        _expire(tables)
    before = (link_of(tables, maryam), link_of(tables, lan), len(codes(tables)))
    linked_before = len(records_of(tables, "linkMe"))
    # when the person enters it
    body = link(client, token, code)
    # then one message for all three, nothing changed, one access record
    assert error(body) == ("BAD_USER_INPUT", WRONG_CODE)
    assert body["errors"][0]["extensions"]["field"] == "code"
    assert body["data"] == {"linkMe": None}
    assert (link_of(tables, maryam), link_of(tables, lan), len(codes(tables))) == before
    assert post(client, token(CUSTOMER, sub=PERSON), ME)["data"]["me"] is None
    (record,) = records_of(tables, "linkMe")[linked_before:]
    assert record.subject == PERSON
    assert record.customer_ids == []


def test_a_code_for_a_customer_already_linked_is_refused(client, token, people, tables) -> None:
    # given Maryam linked to someone's sign-in
    maryam, _ = people
    assert "errors" not in link(client, token, make_code(client, token, maryam), sub="first")
    # when staff make another code for her / then it is refused, nothing stored
    body = staff(client, token, CREATE_CODE, {"customerId": maryam.id})
    assert error(body)[0] == "BAD_USER_INPUT"
    assert CUSTOMER_LINKED in error(body)[1]
    assert len(codes(tables)) == 1
    assert len(records_of(tables, "createLinkCode")) == 2


def test_a_code_whose_customer_got_linked_meanwhile_is_refused(
    client, token, people, tables
) -> None:
    # given a code for Maryam, and Maryam linked by staff to another sign-in before it is used
    maryam, _ = people
    code = make_code(client, token, maryam)
    linked = staff(client, token, UPDATE, {"id": maryam.id, "input": {"subject": "other-person"}})
    assert "errors" not in linked, linked
    # when the person enters the code
    body = link(client, token, code)
    # then it is refused, the link stays the other person's, the code stays unused
    assert error(body) == ("BAD_USER_INPUT", CUSTOMER_LINKED)
    assert link_of(tables, maryam) == (BUILTIN_ISSUER, "other-person")
    assert codes(tables)[0].used_at is None


def test_a_person_already_linked_cannot_link_again(client, token, people, tables) -> None:
    # given a person linked to Maryam, and a code for Lan
    maryam, lan = people
    assert "errors" not in link(client, token, make_code(client, token, maryam))
    code = make_code(client, token, lan)
    # when the person enters Lan's code
    body = link(client, token, code)
    # then it is refused, and nothing changed
    assert error(body) == ("BAD_USER_INPUT", ALREADY_LINKED)
    assert link_of(tables, lan) == default_of(lan)
    assert link_of(tables, maryam) == (BUILTIN_ISSUER, PERSON)
    assert codes(tables)[-1].used_at is None


def test_five_wrong_codes_an_hour_then_rate_limited(client, token, people, tables) -> None:
    # given a person who entered five wrong codes
    maryam, _ = people
    for attempt in range(5):
        assert error(link(client, token, f"WRNG-CODE-000{attempt}"))[1] == WRONG_CODE
    good = make_code(client, token, maryam)
    # when they enter even a right code
    body = link(client, token, good)
    # then they are refused for a while, nothing changed, the attempt audited
    code, _message = error(body)
    assert code == "RATE_LIMITED"
    assert body["errors"][0]["extensions"]["retryAfter"] > 0
    assert link_of(tables, maryam) == default_of(maryam)
    assert len(records_of(tables, "linkMe")) == 6
    # and someone else is not
    assert link(client, token, good, sub="another-person")["data"]["linkMe"]["id"] == maryam.id


def test_a_burst_of_guesses_at_once_gets_five_looked_at(client, token, people, tables) -> None:
    # given a person who sends ten codes at the same moment (none of them right)
    bearer = token(CUSTOMER, sub=PERSON)
    start = threading.Barrier(10)
    answers: list[str] = []

    def guess(n: int) -> None:
        start.wait()
        answers.append(error(post(client, bearer, LINK, {"code": f"WRNG-CODE-{n:04}"}))[0])

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then five are looked at and the rest refused unread, as if they had come one by one
    assert sorted(answers) == ["BAD_USER_INPUT"] * 5 + ["RATE_LIMITED"] * 5


def test_unlinking_gives_the_customer_back_its_default_link(client, token, people, tables) -> None:
    # given Maryam linked to a person
    maryam, _ = people
    assert "errors" not in link(client, token, make_code(client, token, maryam))
    # when staff unlink her, twice
    first = staff(client, token, UNLINK, {"customerId": maryam.id})
    again = staff(client, token, UNLINK, {"customerId": maryam.id})
    # then the person's tokens find nobody, and a new code can be made and used
    assert first["data"]["unlinkCustomer"]["id"] == again["data"]["unlinkCustomer"]["id"]
    assert link_of(tables, maryam) == default_of(maryam)
    assert post(client, token(CUSTOMER, sub=PERSON), ME)["data"]["me"] is None
    assert len(records_of(tables, "unlinkCustomer")) == 2
    assert link(client, token, make_code(client, token, maryam))["data"]["linkMe"]


def test_link_mutations_need_their_scopes(client, token, people, tables) -> None:
    maryam, _ = people
    # a customer cannot make codes; staff without me:write cannot link themselves
    bearer = token(CUSTOMER, sub=PERSON)
    made = post(client, bearer, CREATE_CODE, {"customerId": maryam.id}, purpose=PURPOSE, status=403)
    assert made["errors"][0]["extensions"]["code"] == "PURPOSE_NOT_PERMITTED"
    made = post(
        client,
        token(scope(s.CUSTOMERS_READ, Purpose.CUSTOMER_SUPPORT.scope)),
        CREATE_CODE,
        {"customerId": maryam.id},
        purpose=PURPOSE,
    )
    assert error(made)[0] == "FORBIDDEN"
    linked = post(client, token(STAFF), LINK, {"code": "ABCD-EFGH-JKMN"})
    assert error(linked)[0] == "FORBIDDEN"
    assert codes(tables) == []


# updateCustomer and updateMe


def test_staff_set_and_clear_a_customers_subject(client, token, people, tables) -> None:
    maryam, _ = people
    # when staff link Maryam to a subject of the built-in issuer, then back to her default
    body = staff(client, token, UPDATE, {"id": maryam.id, "input": {"subject": "sso-42"}})
    assert "errors" not in body, body
    assert link_of(tables, maryam) == (BUILTIN_ISSUER, "sso-42")
    assert post(client, token(CUSTOMER, sub="sso-42"), ME)["data"]["me"]["id"] == maryam.id
    staff(client, token, UPDATE, {"id": maryam.id, "input": {"subject": None}})
    assert link_of(tables, maryam) == default_of(maryam)


def test_staff_cannot_link_a_subject_that_another_customer_has(
    client, token, people, tables
) -> None:
    maryam, lan = people
    staff(client, token, UPDATE, {"id": maryam.id, "input": {"subject": "sso-42"}})
    body = staff(client, token, UPDATE, {"id": lan.id, "input": {"subject": "sso-42"}})
    assert error(body)[0] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == "input.subject"
    assert link_of(tables, lan) == default_of(lan)


@pytest.mark.parametrize("field", ["subject", "subjectIssuer"])
def test_customers_cannot_set_their_own_subject(client, token, people, tables, field) -> None:
    # given Maryam signed in with her built-in token
    maryam, _ = people
    # when she tries to move her own link (and change her name in the same call)
    body = post(
        client,
        token(CUSTOMER, sub=maryam.id),
        UPDATE_ME,
        {"input": {field: "someone-else", "firstName": "X"}},
    )
    # then it is refused and nothing changed
    assert error(body)[0] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == "input.subject"
    assert link_of(tables, maryam) == default_of(maryam)
    assert tables.get(models.Customer, maryam.pk).first_name == "مریم"


@pytest.mark.parametrize(
    "subject",
    [
        "auth0|64f1c2a9e1b2c3d4e5f6a7b8",
        "google-oauth2|104388871234567890123",
        "samlp|corp-ad|maryam@example.com",
        "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "https://idp.example.com/users/7#me",
        "x" * 255,
    ],
    ids=["auth0", "google via auth0", "saml via auth0", "entra id", "uri", "255 characters"],
)
def test_staff_link_the_subjects_real_providers_make(
    client, token, people, tables, subject: str
) -> None:
    # when staff link Maryam to a subject as her provider makes them (padded by a paste)
    maryam, _ = people
    body = staff(client, token, UPDATE, {"id": maryam.id, "input": {"subject": f" {subject} "}})
    # then it is stored as the provider's tokens carry it, and such a token is Maryam
    assert "errors" not in body, body
    assert link_of(tables, maryam) == (BUILTIN_ISSUER, subject)
    assert post(client, token(CUSTOMER, sub=subject), ME)["data"]["me"]["id"] == maryam.id


@pytest.mark.parametrize(
    "subject",
    ["", "   ", "x" * 256, "auth0|a\nb", "auth0|\u200ex", "کاربر"],
    ids=["empty", "spaces", "256 characters", "newline", "bidi mark", "not ascii"],
)
def test_subjects_no_provider_makes_are_refused(
    client, token, people, tables, subject: str
) -> None:
    # (a NUL never gets this far: any string argument holding one is refused with the request,
    # tests/graphql/test_bounds.py)
    maryam, _ = people
    body = staff(client, token, UPDATE, {"id": maryam.id, "input": {"subject": subject}})
    assert error(body)[0] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == "input.subject"
    assert link_of(tables, maryam) == default_of(maryam)


TOO_LONG = "p" * 256
"""A ``sub`` a provider may sign but no customer's link holds (OpenID Connect: at most 255)."""


def test_a_sign_in_too_long_to_link_is_refused_and_the_code_kept(
    client, token, people, tables
) -> None:
    # given a code for Maryam, entered by a person whose token's sub cannot be stored
    maryam, _ = people
    code = make_code(client, token, maryam)
    body = link(client, token, code, sub=TOO_LONG)
    # then a clear refusal (not a server error), nothing linked, the code still good
    assert error(body)[0] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == "code"
    assert link_of(tables, maryam) == default_of(maryam)
    assert codes(tables)[0].used_at is None
    assert "errors" not in link(client, token, code)


def test_a_sign_in_too_long_to_link_cannot_register(open_client, token, tables) -> None:
    body = register(open_client, token, sub=TOO_LONG)
    assert error(body)[0] == "BAD_USER_INPUT"
    assert customers(tables) == []
    assert tables.count(models.Consent) == 0


def test_a_code_entered_by_several_people_at_once_links_one(client, token, people, tables) -> None:
    # given a code for Maryam, entered at the same moment by four different sign-ins
    maryam, _ = people
    code = make_code(client, token, maryam)
    bearers = {f"person-{n}": token(CUSTOMER, sub=f"person-{n}") for n in range(4)}
    start = threading.Barrier(len(bearers))
    bodies: dict[str, Any] = {}

    def run(sub: str) -> None:
        start.wait()
        bodies[sub] = post(client, bearers[sub], LINK, {"code": code})

    threads = [threading.Thread(target=run, args=(sub,)) for sub in bearers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then exactly one is Maryam, the others got the one message, and the link is the winner's
    assert len(bodies) == len(bearers)
    (winner,) = [sub for sub, body in bodies.items() if "errors" not in body]
    for loser in bodies.keys() - {winner}:
        assert error(bodies[loser]) == ("BAD_USER_INPUT", WRONG_CODE)
    assert link_of(tables, maryam) == (BUILTIN_ISSUER, winner)


# Self-registration


@pytest.fixture
def open_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"self_registration": True})


@pytest.fixture
def open_client(open_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(open_settings)) as test_client:
        yield test_client


def register(client: TestClient, token: TokenFactory, sub: str = PERSON, **changes: Any) -> Any:
    return post(client, token(CUSTOMER, sub=sub), REGISTER, {"input": {**REGISTRATION, **changes}})


def customers(tables: Tables) -> list[models.Customer]:
    return tables.all(select(models.Customer).order_by(col(models.Customer.id)))


def test_registration_is_off_by_default(client, token, tables) -> None:
    # given a server with the default settings / when a person registers
    body = register(client, token)
    # then a clear refusal, nothing created, one access record
    code, message = error(body)
    assert code == "FORBIDDEN"
    assert "Self-registration is off" in message
    assert customers(tables) == []
    assert tables.count(models.Consent) == 0
    assert len(records_of(tables, "registerMe")) == 1


def test_a_person_registers_with_their_consents(open_client, token, tables) -> None:
    # when a signed-in person registers, choosing consents on a phone
    body = register(open_client, token)
    # then the customer exists, linked to them, with the consents and their evidence
    created = body["data"]["registerMe"]
    assert created["firstName"] == "Hoa"
    assert created["country"] == "VN"
    assert sorted(created["consents"], key=lambda c: c["purpose"]) == [
        {
            "purpose": "ANALYTICS",
            "status": "WITHDRAWN",
            "source": "MOBILE",
            "noticeVersion": "2026-12",
            "language": "vi",
        },
        {
            "purpose": "MARKETING",
            "status": "GRANTED",
            "source": "MOBILE",
            "noticeVersion": "2026-12",
            "language": "vi",
        },
    ]
    (customer,) = customers(tables)
    assert (customer.subject_issuer, customer.subject) == (BUILTIN_ISSUER, PERSON)
    assert created["id"] == to_global_id("Customer", customer.id or 0)
    me = post(open_client, token(CUSTOMER, sub=PERSON), ME)
    assert me["data"]["me"]["id"] == created["id"]
    (record,) = records_of(tables, "registerMe")
    assert record.customer_ids == [customer.id]


def test_registering_twice_is_refused(open_client, token, tables) -> None:
    assert "errors" not in register(open_client, token)
    before = (customers(tables), tables.count(models.Consent))
    body = register(open_client, token, firstName="Again")
    assert error(body)[0] == "BAD_USER_INPUT"
    assert [c.first_name for c in customers(tables)] == [c.first_name for c in before[0]]
    assert tables.count(models.Consent) == before[1]
    assert len(records_of(tables, "registerMe")) == 2


@pytest.mark.parametrize(
    ("choice", "field"),
    [
        ({"source": "CALL_CENTER"}, "input.consents.0.source"),
        ({"purpose": "BILLING"}, "input.consents.0.purpose"),
        ({"language": "not a language"}, "input.consents.0.language"),
        ({"noticeVersion": " "}, "input.consents.0.noticeVersion"),
    ],
)
def test_bad_sign_up_consents_create_nothing(open_client, token, tables, choice, field) -> None:
    consents = [{**REGISTRATION["consents"][0], **choice}]  # type: ignore[dict-item]
    body = register(open_client, token, consents=consents)
    assert error(body)[0] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == field
    assert customers(tables) == []
    assert tables.count(models.Consent) == 0


def test_a_registration_race_creates_one_customer(open_client, token, tables) -> None:
    # given two tabs of the same person registering at the same moment
    bearer = token(CUSTOMER, sub=PERSON)
    start = threading.Barrier(2)
    bodies: list[Any] = []

    def run() -> None:
        start.wait()
        bodies.append(post(open_client, bearer, REGISTER, {"input": REGISTRATION}))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then one customer, one success and one clean refusal
    assert len(bodies) == 2
    assert sorted("errors" in body for body in bodies) == [False, True], bodies
    (refused,) = [body for body in bodies if "errors" in body]
    assert error(refused)[0] == "BAD_USER_INPUT"
    assert len(customers(tables)) == 1
    assert tables.count(models.Consent) == 2


# Any code string


@given(code=st.text(max_size=80))
@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_no_code_string_is_a_server_error(client, token, code: str) -> None:
    response = client.post(
        "/graphql",
        json={"query": LINK, "variables": {"code": code}},
        headers={"Authorization": f"Bearer {token(CUSTOMER, sub='fuzzer')}"},
    )
    assert response.status_code in {200, 400}, response.text
    codes_seen = {e["extensions"]["code"] for e in response.json()["errors"]}
    assert codes_seen <= {"BAD_USER_INPUT", "RATE_LIMITED"}, response.text


def test_the_purpose_texts_file_names_every_purpose_in_every_language() -> None:
    import json

    import auth.policy

    data = json.loads((Path(auth.policy.__file__).parent / "purposes.json").read_text())
    assert set(data) == {"en", "fa", "vi"}
    for texts in data.values():
        assert set(texts) == {p.value for p in Purpose}
        assert all(t["title"].strip() and t["description"].strip() for t in texts.values())


# A person signed in at an external identity provider


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def external(settings: Settings, provider: Provider) -> Iterator[TestClient]:
    """The app trusting the built-in issuer and the provider, self-registration on."""
    configured = provider.settings(settings, self_registration=True)
    with app_client(configured, http=provider.http()) as test_client:
        yield test_client


def test_a_provider_sign_in_links_by_issuer_and_subject(
    external, provider, token, people, tables
) -> None:
    # given a code for Maryam, and a person signed in at the provider
    maryam, _ = people
    code = make_code(external, token, maryam)
    person = provider.token(sub="auth0|5f1c", scope=CUSTOMER)
    # when they enter it
    body = post(external, person, LINK, {"code": code})
    # then Maryam is linked to the provider's pair, not to the subject alone
    assert body["data"]["linkMe"]["id"] == maryam.id
    assert link_of(tables, maryam) == (Provider.ISSUER, "auth0|5f1c")
    assert post(external, person, ME)["data"]["me"]["id"] == maryam.id
    # and the same subject from the built-in issuer is nobody
    assert post(external, token(CUSTOMER, sub="auth0|5f1c"), ME)["data"]["me"] is None


def test_a_provider_sign_in_registers_once(external, provider, tables) -> None:
    # given a person signed in at the provider / when they register, twice
    person = provider.token(sub="kc-8d2e", scope=CUSTOMER)
    first = post(external, person, REGISTER, {"input": REGISTRATION})
    again = post(external, person, REGISTER, {"input": REGISTRATION})
    # then one customer, bound to the provider's pair
    assert "errors" not in first, first
    assert error(again)[0] == "BAD_USER_INPUT"
    (customer,) = customers(tables)
    assert (customer.subject_issuer, customer.subject) == (Provider.ISSUER, "kc-8d2e")


# Purposes in the customer's language

POLICY = """
query Policy($language: String) {
  policy(language: $language) { language purposes { id title description } }
}
"""


def purposes(client: TestClient, token: TokenFactory, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    headers = kwargs.pop("headers", None)
    body = post(client, token(CUSTOMER, sub=PERSON), POLICY, kwargs or None, headers=headers)
    policy = body["data"]["policy"]
    return policy["language"], {p["id"]: p for p in policy["purposes"]}


@pytest.mark.parametrize(
    ("arguments", "headers", "language"),
    [
        ({"language": "fa"}, None, "fa"),
        ({"language": "vi-VN"}, None, "vi"),
        ({}, {"Accept-Language": "de-CH, vi;q=0.9, fa;q=0.8"}, "vi"),
        ({}, {"Accept-Language": "fa-IR,fa;q=0.9,en-US;q=0.8"}, "fa"),
        ({"language": "en"}, {"Accept-Language": "fa"}, "en"),
        ({"language": "de"}, {"Accept-Language": "fa"}, "en"),
        ({}, {"Accept-Language": "fr, fa;q=0"}, "en"),
        ({}, None, "en"),
    ],
)
def test_policy_gives_purposes_in_the_customers_language(
    client, token, arguments, headers, language
) -> None:
    # when the policy is asked for in a language, or with an Accept-Language header
    chosen, texts = purposes(client, token, headers=headers, **arguments)
    # then its purposes come in that language (or English), from the one data file
    assert chosen == language
    for purpose in Purpose:
        assert texts[purpose.id]["title"] == purpose.text(language).title
        assert texts[purpose.id]["description"] == purpose.text(language).description


def test_the_texts_differ_by_language_and_follow_the_notices(client, token) -> None:
    _, persian = purposes(client, token, language="fa")
    _, vietnamese = purposes(client, token, language="vi")
    _, english = purposes(client, token)
    # the notices' own words: a written judicial order; disputes, payments or fraud
    assert "دستور کتبی مراجع قانونی و قضایی" in persian["legal_order"]["description"]
    assert (
        "tranh chấp, thanh toán hoặc gian lận" in vietnamese["fraud_investigation"]["description"]
    )
    assert (
        len(
            {
                persian["marketing"]["title"],
                vietnamese["marketing"]["title"],
                english["marketing"]["title"],
            }
        )
        == 3
    )


# Consent evidence

SET_MY_CONSENT = """
mutation Set($language: String) {
  setMyConsent(purpose: MARKETING, granted: true, noticeVersion: "2026-12", language: $language) {
    purpose status source noticeVersion language
  }
}
"""
RECORD_CONSENT = """
mutation Record($customerId: ID!) {
  recordConsent(customerId: $customerId, purpose: ANALYTICS, granted: true, source: PAPER,
                noticeVersion: "2025-03", language: "fa-ir") { noticeVersion language }
}
"""
EXPORT = "mutation Export($id: ID!) { exportCustomerData(id: $id) }"


def test_consents_carry_the_evidence_of_the_notice_into_the_export(
    client, token, people, tables
) -> None:
    # given a customer who grants marketing after reading the Persian notice, and staff who
    # record a paper consent
    maryam, _ = people
    mine = post(client, token(CUSTOMER, sub=maryam.id), SET_MY_CONSENT, {"language": "fa"})
    staffs = post(
        client,
        token(scope(s.CONSENTS_WRITE, s.CONSENTS_READ, Purpose.CUSTOMER_SUPPORT.scope)),
        RECORD_CONSENT,
        {"customerId": maryam.id},
        purpose=PURPOSE,
    )
    # then both records carry the notice's version and language (normalised)
    assert mine["data"]["setMyConsent"] == {
        "purpose": "MARKETING",
        "status": "GRANTED",
        "source": "WEB",
        "noticeVersion": "2026-12",
        "language": "fa",
    }
    assert staffs["data"]["recordConsent"] == {"noticeVersion": "2025-03", "language": "fa-IR"}
    # and the export holds them
    exported = post(client, token(s.PRIVACY_ADMIN), EXPORT, {"id": maryam.id})
    consents = exported["data"]["exportCustomerData"]["consents"]
    assert {(c["noticeVersion"], c["language"]) for c in consents} >= {
        ("2026-12", "fa"),
        ("2025-03", "fa-IR"),
    }


def test_bad_evidence_is_refused_and_nothing_recorded(client, token, people, tables) -> None:
    maryam, _ = people
    before = tables.count(models.Consent, maryam.pk)
    body = post(client, token(CUSTOMER, sub=maryam.id), SET_MY_CONSENT, {"language": "x" * 40})
    assert error(body)[0] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == "language"
    assert tables.count(models.Consent, maryam.pk) == before


# The operator's command


def test_the_cli_makes_a_code_that_links(steward, client, token, people, tables) -> None:
    # given an operator who makes a code for Maryam with the CLI
    maryam, lan = people
    result = steward.invoke(cli, ["customers", "link-code", maryam.id])
    assert result.exit_code == 0, result.output
    code, expiry = result.stdout.strip().split("\t")
    assert expiry.startswith("expires ")
    # when the person enters it / then they are Maryam
    assert link(client, token, code)["data"]["linkMe"]["id"] == maryam.id
    # and the creation is audited without the code
    (made,) = [r for r in tables.access_records() if r.client_id == "steward-cli"]
    assert made.operation_name == "steward customers link-code"
    assert made.customer_ids == [maryam.pk]
    assert code not in repr(made.__dict__)
    # and bad ids, or a customer already linked, are refused with nothing stored
    for bad in ("not-an-id", to_global_id("Order", lan.order_ids[0]), maryam.id):
        refused = steward.invoke(cli, ["customers", "link-code", bad])
        assert refused.exit_code == 2, refused.output
    assert len(codes(tables)) == 1


def test_wrong_codes_are_counted_across_replicas_in_redis(settings, token, people) -> None:
    # given two replicas sharing a Redis (STEWARD_TEST_REDIS_URL, never DB 0 implicitly)
    url = os.environ.get("STEWARD_TEST_REDIS_URL")
    if not url:
        pytest.skip("STEWARD_TEST_REDIS_URL is not set")
    shared = settings.model_copy(update={"redis_url": SecretStr(url)})
    person = f"replica-person-{secrets.token_hex(4)}"
    with app_client(shared) as one, app_client(shared) as two:
        # when a person enters three wrong codes on one and two on the other
        for attempt in range(5):
            replica = one if attempt < 3 else two
            assert error(link(replica, token, f"WRNG-CODE-000{attempt}", sub=person))[0] == (
                "BAD_USER_INPUT"
            )
        # then the next attempt is refused on either
        assert error(link(one, token, "WRNG-CODE-0009", sub=person))[0] == "RATE_LIMITED"
        assert error(link(two, token, "WRNG-CODE-0009", sub=person))[0] == "RATE_LIMITED"


def test_an_unreachable_redis_refuses_rather_than_counts_nothing(settings) -> None:
    # given a Redis that does not answer / when a person enters a code
    down = settings.model_copy(update={"redis_url": SecretStr("redis://127.0.0.1:1/15")})
    wrong = WrongCodes(down.attempts_storage)
    # then the limiter refuses, with a clear code, rather than let guesses through
    with pytest.raises(LimitUnavailable):
        wrong.attempt(("", "someone"))


def test_register_me_input_is_create_customer_input_without_the_link() -> None:
    from strawberry.types.base import get_object_definition

    from schema.mutations import CreateCustomerInput
    from schema.sign_in import RegisterMeInput

    def names(cls: type) -> set[str]:
        definition = get_object_definition(cls, strict=True)
        return {field.python_name for field in definition.fields}

    assert names(RegisterMeInput) == names(CreateCustomerInput) - {
        "subject",
        "subject_issuer",
    } | {"consents"}


HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


# (A NUL in any string argument is refused with the request: tests/graphql/test_bounds.py. A lone
# surrogate cannot be encoded as UTF-8 JSON: no client can send one.)
LANGUAGE_TEXT = st.text(
    alphabet=st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=40
)


@given(language=st.none() | LANGUAGE_TEXT, accept=st.none() | HEADER_TEXT)
@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_language_gets_a_policy_in_a_known_one(client, token, language, accept) -> None:
    headers = {} if accept is None else {"Accept-Language": accept}
    body = post(
        client, token(CUSTOMER, sub=PERSON), POLICY, {"language": language}, headers=headers
    )
    assert body["data"]["policy"]["language"] in {"en", "fa", "vi"}, body


def test_a_future_customers_id_cannot_be_taken_as_a_sign_in(
    client, open_client, token, people, tables
) -> None:
    # given a built-in token whose subject is the id the next customer will get
    maryam, _ = people
    future = to_global_id("Customer", 1000)
    # when it tries to link or to register / then both are refused, nothing changed
    linked = link(client, token, make_code(client, token, maryam), sub=future)
    registered = register(open_client, token, sub=future)
    assert error(linked)[0] == error(registered)[0] == "BAD_USER_INPUT"
    assert link_of(tables, maryam) == default_of(maryam)
    assert len(customers(tables)) == 2


def test_partners_never_decide_who_signs_in_as_a_customer(
    client, token, steward, people, tables
) -> None:
    # given a partner (a third party) holding customers:write
    maryam, _ = people
    added = steward.invoke(cli, ["partners", "add", "courier-x", "--name", "Courier X"])
    assert added.exit_code == 0, added.output
    bearer = token(STAFF, client_id="courier-x")
    # when it makes a code, unlinks, or sets a subject / then each is refused, nothing changed
    for query, variables in (
        (CREATE_CODE, {"customerId": maryam.id}),
        (UNLINK, {"customerId": maryam.id}),
    ):
        body = post(client, bearer, query, variables, purpose=PURPOSE)
        assert error(body)[0] == "FORBIDDEN", body
    body = post(
        client, bearer, UPDATE, {"id": maryam.id, "input": {"subject": "x"}}, purpose=PURPOSE
    )
    assert error(body)[0] in {"BAD_USER_INPUT", "NOT_FOUND"}
    assert codes(tables) == []
    assert link_of(tables, maryam) == default_of(maryam)


def test_demo_consents_from_apps_carry_their_evidence(steward, tables) -> None:
    loaded = steward.invoke(cli, ["demo-data", "--customers", "20"])
    assert loaded.exit_code == 0, loaded.output
    # the demo's own consent histories (the partners' sharing consents come without evidence)
    consents = tables.all(
        select(models.Consent).where(col(models.Consent.purpose).in_(["analytics", "marketing"]))
    )
    from_apps = [c for c in consents if c.source in {"WEB", "MOBILE"}]
    others = [c for c in consents if c.source not in {"WEB", "MOBILE"}]
    assert from_apps
    assert others
    assert all(c.notice_version and c.language in {"fa-IR", "vi-VN"} for c in from_apps)
    assert all(c.notice_version is None and c.language is None for c in others)


def test_no_log_line_holds_a_code(client, token, people, caplog) -> None:
    # given every logger at debug / when a code is made, mistyped and used
    maryam, _ = people
    with caplog.at_level(logging.DEBUG):
        code = make_code(client, token, maryam)
        link(client, token, code[:-1] + ("0" if code[-1] != "0" else "1"))
        link(client, token, code)
    # then no log line holds it, in any spelling
    logged = caplog.text.upper()
    assert code not in logged
    assert code.replace("-", "") not in logged
