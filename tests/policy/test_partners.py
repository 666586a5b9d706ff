"""Partners (SPEC section 8): registration, removal, consent per recipient, the purpose.

``steward partners add/list/remove`` and ``steward clients add --partner``; a removed partner's
tokens are refused from the next request on; ``third_party_sharing`` is consent-based and never
declarable; consent records name a recipient, which must be a registered partner.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli
from auth.policy.scopes import ALL_SCOPES
from store import models
from tests.support.auth import TokenFactory
from tests.support.callers import CUSTOMER
from tests.support.operations import post
from tests.support.world import seed as seed_people

COURIER = "courier-42"
READ = "customers:read customers:read:identity purpose:customer_support"
STAFF_WRITE = "customers:read consents:read consents:write purpose:customer_support"

CUSTOMERS = "query Customers { customers(first: 10) { totalCount edges { node { id } } } }"
RECORD = """
mutation Record($id: ID!, $purpose: Purpose!, $recipient: String) {
  recordConsent(customerId: $id, purpose: $purpose, granted: true, source: PAPER,
                recipient: $recipient) { id recipient }
}
"""
SET_MINE = """
mutation Mine($granted: Boolean!, $recipient: String) {
  setMyConsent(purpose: THIRD_PARTY_SHARING, granted: $granted, recipient: $recipient) {
    purpose status recipient
  }
}
"""
ERASE_ME = "mutation { eraseMe { status } }"
POLICY = """
query Policy {
  policy { purposes { id consentRequired declarable } rows { name description } }
}
"""


def consents(session: Session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(models.Consent)) or 0


# --- The CLI --------------------------------------------------------------------------------


def test_partners_add_list_and_remove(steward: CliRunner) -> None:
    # when two partners are registered, one for trusted documents only
    added = steward.invoke(cli, ["partners", "add", COURIER, "--name", "Tehran Express"])
    flagged = steward.invoke(
        cli, ["partners", "add", "azp-77", "--name", "Công ty Tiếp thị", "--trusted-documents-only"]
    )
    assert added.exit_code == 0, added.output
    assert flagged.exit_code == 0, flagged.output
    # then both are listed, with what they may run
    listed = steward.invoke(cli, ["partners", "list"]).stdout.splitlines()
    assert [line.split("\t")[0::3] for line in listed] == [
        [COURIER, "any-document"],
        ["azp-77", "trusted-documents-only"],
    ]
    assert listed[1].split("\t")[1] == "Công ty Tiếp thị"
    # when one is removed
    removed = steward.invoke(cli, ["partners", "remove", COURIER])
    # then it is no longer listed, and removing it again fails
    assert removed.exit_code == 0, removed.output
    assert [
        line.split("\t")[0]
        for line in steward.invoke(cli, ["partners", "list"]).stdout.splitlines()
    ] == ["azp-77"]
    again = steward.invoke(cli, ["partners", "remove", COURIER])
    assert again.exit_code == 1


@pytest.mark.parametrize(
    "name",
    ["x" * 201, "Courier\tLtd", "Courier\nLtd", "Courier\u200bLtd", "   "],
    ids=["too-long", "tab", "newline", "format-char", "blank"],
)
def test_a_bad_partner_name_is_refused_and_nothing_stored(
    steward: CliRunner, session: Session, name: str
) -> None:
    # when a partner is added with a name over 200 characters or with control characters
    result = steward.invoke(cli, ["partners", "add", COURIER, "--name", name])
    # then it is refused and nothing is stored
    assert result.exit_code != 0
    assert session.scalar(select(func.count()).select_from(models.Partner)) == 0


def test_a_name_of_200_characters_is_fine(steward: CliRunner) -> None:
    result = steward.invoke(cli, ["partners", "add", COURIER, "--name", "ن" * 200])
    assert result.exit_code == 0, result.output


def test_clients_add_partner_registers_both(steward: CliRunner, client: TestClient) -> None:
    # when a client is registered as a partner in one go
    result = steward.invoke(
        cli,
        [
            "clients",
            "add",
            "Mekong Couriers",
            "--scope",
            "customers:read purpose:customer_support",
            "--partner",
        ],
    )
    assert result.exit_code == 0, result.output
    client_id = json.loads(result.stdout)["client_id"]
    # then it is a partner, under the client's name
    listed = steward.invoke(cli, ["partners", "list"]).stdout
    assert listed.startswith(f"{client_id}\tMekong Couriers\t")


# --- Removal --------------------------------------------------------------------------------


def test_a_removed_partners_tokens_are_refused_from_the_next_request_on(
    steward: CliRunner, client: TestClient, token: TokenFactory
) -> None:
    # given a partner whose token was accepted (and is cached)
    steward.invoke(cli, ["partners", "add", COURIER, "--name", "Tehran Express"])
    partner = token(READ, sub=COURIER, client_id=COURIER)
    post(client, partner, CUSTOMERS, purpose="customer_support")
    # when it is removed
    assert steward.invoke(cli, ["partners", "remove", COURIER]).exit_code == 0
    # then its next request is refused, as for a removed client
    refused = post(client, partner, CUSTOMERS, purpose="customer_support", status=401)
    assert refused["errors"][0]["extensions"]["code"] == "INVALID_TOKEN"
    assert "partner" in refused["errors"][0]["message"]
    # and registering it again lets it in again
    steward.invoke(cli, ["partners", "add", COURIER, "--name", "Tehran Express"])
    post(client, partner, CUSTOMERS, purpose="customer_support")


# --- The purpose ----------------------------------------------------------------------------


def test_third_party_sharing_is_not_declarable(
    client: TestClient, token: TokenFactory, steward: CliRunner
) -> None:
    # then no token may hold its scope, and X-Purpose does not accept it
    assert "purpose:third_party_sharing" not in ALL_SCOPES
    refused = steward.invoke(
        cli, ["token", "--scope", "customers:read purpose:third_party_sharing"]
    )
    assert refused.exit_code != 0
    body = post(
        client, token("customers:read"), CUSTOMERS, purpose="third_party_sharing", status=400
    )
    assert body["errors"][0]["extensions"]["code"] == "UNKNOWN_PURPOSE"
    assert "third_party_sharing" not in body["errors"][0]["message"]


def test_the_policy_shows_the_purpose_and_the_partner_rule(client: TestClient, token) -> None:
    body = post(client, token("customers:read"), POLICY)
    purposes = {p["id"]: p for p in body["data"]["policy"]["purposes"]}
    assert purposes["third_party_sharing"] == {
        "id": "third_party_sharing",
        "consentRequired": True,
        "declarable": False,
    }
    rules = {rule["name"]: rule["description"] for rule in body["data"]["policy"]["rows"]}
    assert "third_party_sharing" in rules["partner"]
    assert "legal_order" in rules["partner"]


def test_steward_policy_prints_the_partner_rule(steward: CliRunner) -> None:
    output = steward.invoke(cli, ["policy"]).stdout
    assert "T third_party_sharing (consent required)" in output
    assert "partner: A partner (a third party) sees only the customers" in output


# --- Consent per recipient ------------------------------------------------------------------


def test_consents_name_a_registered_partner_or_nobody(
    client: TestClient, token: TokenFactory, session: Session, steward: CliRunner
) -> None:
    # given a registered partner and a customer
    steward.invoke(cli, ["partners", "add", COURIER, "--name", "Tehran Express"])
    maryam, _ = seed_people(session)
    staff = token(STAFF_WRITE)

    # when staff records a consent for the partner, and one for all partners
    def record(purpose: str, recipient: str | None) -> Any:
        variables = {"id": maryam.id, "purpose": purpose, "recipient": recipient}
        return post(client, staff, RECORD, variables, purpose="customer_support")

    one = record("THIRD_PARTY_SHARING", COURIER)
    every = record("THIRD_PARTY_SHARING", None)
    # then both are recorded, with their recipients
    assert one["data"]["recordConsent"]["recipient"] == COURIER
    assert every["data"]["recordConsent"]["recipient"] is None
    before = consents(session)
    # when the recipient is unknown, removed, or given for another purpose
    steward.invoke(cli, ["partners", "add", "gone-1", "--name", "Gone"])
    steward.invoke(cli, ["partners", "remove", "gone-1"])
    for purpose, recipient in [
        ("THIRD_PARTY_SHARING", "nobody-knows"),
        ("THIRD_PARTY_SHARING", "gone-1"),
        ("MARKETING", COURIER),
    ]:
        body = record(purpose, recipient)
        # then BAD_USER_INPUT on recipient, and nothing is recorded
        [error] = body["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "recipient"}
        assert recipient not in error["message"]
    assert consents(session) == before


def test_customers_grant_and_withdraw_per_partner(
    client: TestClient, token: TokenFactory, session: Session, steward: CliRunner
) -> None:
    # given a partner that sees every customer who consents, and a customer with a token of
    # their own
    steward.invoke(
        cli, ["partners", "add", COURIER, "--name", "Tehran Express", "--access", "consented"]
    )
    maryam, _ = seed_people(session)
    me = token(CUSTOMER, sub=maryam.id)
    courier = token(READ, sub=COURIER, client_id=COURIER)

    def courier_sees() -> bool:
        edges = post(client, courier, CUSTOMERS, purpose="customer_support")["data"]["customers"][
            "edges"
        ]
        return maryam.id in {edge["node"]["id"] for edge in edges}

    assert not courier_sees()
    # when the customer grants the courier
    granted = post(client, me, SET_MINE, {"granted": True, "recipient": COURIER})
    assert granted["data"]["setMyConsent"] == {
        "purpose": "THIRD_PARTY_SHARING",
        "status": "GRANTED",
        "recipient": COURIER,
    }
    # then the courier sees them from the next request on
    assert courier_sees()
    # when they withdraw for every partner
    post(client, me, SET_MINE, {"granted": False})
    # then no more
    assert not courier_sees()
    # and an unknown recipient is refused
    bad = post(client, me, SET_MINE, {"granted": True, "recipient": "who"})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_erasure_withdraws_sharing_with_every_partner(
    client: TestClient, token: TokenFactory, session: Session, steward: CliRunner
) -> None:
    # given a customer who shares with a partner
    steward.invoke(cli, ["partners", "add", COURIER, "--name", "Tehran Express"])
    maryam, _ = seed_people(session)
    me = token(CUSTOMER, sub=maryam.id)
    post(client, me, SET_MINE, {"granted": True, "recipient": COURIER})
    # when they erase themselves
    assert post(client, me, ERASE_ME)["data"]["eraseMe"]["status"] == "ERASED"
    # then the latest third_party_sharing record withdraws for every partner
    session.rollback()
    latest = session.scalars(
        select(models.Consent)
        .where(
            col(models.Consent.customer_id) == maryam.pk,
            col(models.Consent.purpose) == "third_party_sharing",
        )
        .order_by(models.Consent.id.desc())  # type: ignore[union-attr]
    ).first()
    assert latest is not None
    assert (latest.status, latest.recipient) == ("WITHDRAWN", None)
