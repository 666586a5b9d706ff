"""The consent ledger over HTTP: append-only, and a withdrawal holds from the very next request."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import select
from sqlmodel import col
from starlette.testclient import TestClient

from api.app import create_app
from auth.policy import scopes as s
from auth.policy.purposes import Purpose
from store import models
from tests.support.callers import CUSTOMER, MARKETER, scope
from tests.support.operations import LOOKUP, post
from tests.support.world import Tables

RECORD = """
mutation Record($customerId: ID!, $purpose: Purpose!, $granted: Boolean!) {
  recordConsent(customerId: $customerId, purpose: $purpose, granted: $granted,
                source: CALL_CENTER, policyVersion: "2026-02") { id status source policyVersion }
}
"""
SET_MINE = """
mutation Mine($purpose: Purpose!, $granted: Boolean!) {
  setMyConsent(purpose: $purpose, granted: $granted) { id status }
}
"""
LIST = "query List { customers(first: 10) { totalCount edges { node { id } } } }"
STAFF = scope(s.CUSTOMERS_READ, s.CONSENTS_READ, s.CONSENTS_WRITE, Purpose.CUSTOMER_SUPPORT.scope)


def ledger(tables: Tables, pk: int) -> list[tuple[Any, ...]]:
    rows = tables.all(
        select(models.Consent)
        .where(col(models.Consent.customer_id) == pk)
        .order_by(col(models.Consent.id))
    )
    return [(c.id, c.purpose, c.status, c.recorded_at, c.source, c.policy_version) for c in rows]


def test_the_ledger_is_append_only(gql, tables, people) -> None:
    # given a customer's ledger
    maryam, _ = people
    history = ledger(tables, maryam.pk)
    # when staff and the customer record changes, back and forth
    staff = gql(
        RECORD,
        {"customerId": maryam.id, "purpose": "ANALYTICS", "granted": True},
        scope=STAFF,
        purpose="customer_support",
    )["data"]["recordConsent"]
    assert (staff["source"], staff["policyVersion"]) == ("CALL_CENTER", "2026-02")
    for granted in (False, True, False):
        gql(SET_MINE, {"purpose": "MARKETING", "granted": granted}, scope=CUSTOMER, sub=maryam.id)
    # then every earlier record is unchanged and the new ones follow in order
    now = ledger(tables, maryam.pk)
    assert now[: len(history)] == history
    assert [(p, s) for _, p, s, *_ in now[len(history) :]] == [
        ("analytics", "GRANTED"),
        ("marketing", "WITHDRAWN"),
        ("marketing", "GRANTED"),
        ("marketing", "WITHDRAWN"),
    ]


def test_a_withdrawal_holds_from_the_very_next_request(gql, people) -> None:
    # given a marketer who sees a customer that granted marketing
    maryam, lan = people
    seen = gql(LOOKUP, {"id": maryam.id}, scope=MARKETER, purpose="marketing")
    assert seen["data"]["customer"]["email"] == "maryam@example.com"
    # when the customer withdraws
    gql(SET_MINE, {"purpose": "MARKETING", "granted": False}, scope=CUSTOMER, sub=maryam.id)
    # then the very next requests see neither them nor anything of theirs
    gone = gql(LOOKUP, {"id": maryam.id}, scope=MARKETER, purpose="marketing")
    assert gone["data"]["customer"] is None
    listed = gql(LIST, scope=MARKETER, purpose="marketing")["data"]["customers"]
    assert [edge["node"]["id"] for edge in listed["edges"]] == [lan.id]
    assert listed["totalCount"] == 1
    # and granting again brings them back at once
    gql(SET_MINE, {"purpose": "MARKETING", "granted": True}, scope=CUSTOMER, sub=maryam.id)
    back = gql(LOOKUP, {"id": maryam.id}, scope=MARKETER, purpose="marketing")
    assert back["data"]["customer"]["id"] == maryam.id


def test_a_withdrawal_holds_in_another_process_sharing_the_database(
    settings, client, token, people
) -> None:
    # given two app instances (as two processes would be) on one database
    maryam, _ = people
    marketer = token(MARKETER)
    with TestClient(create_app(settings)) as other:
        before = post(other, marketer, LOOKUP, {"id": maryam.id}, purpose="marketing")
        assert before["data"]["customer"]["id"] == maryam.id
        # when the customer withdraws through the first
        post(
            client,
            token(CUSTOMER, sub=maryam.id),
            SET_MINE,
            {"purpose": "MARKETING", "granted": False},
        )
        # then the second sees it on its next request: no cache anywhere serves the old state
        after = post(other, marketer, LOOKUP, {"id": maryam.id}, purpose="marketing")
        assert after["data"]["customer"] is None


def test_a_withdrawal_during_concurrent_reads(client, token, people) -> None:
    # given a marketer reading a consenting customer again and again, in another thread
    maryam, _ = people
    marketer = token(MARKETER)
    reads: list[tuple[float, float, bool]] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                started = time.monotonic()
                body = post(client, marketer, LOOKUP, {"id": maryam.id}, purpose="marketing")
                assert "errors" not in body, body
                reads.append((started, time.monotonic(), body["data"]["customer"] is not None))
        except BaseException as error:  # the main thread reports it
            failures.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        _wait(lambda: len(reads) >= 3 or bool(failures))
        # when the customer withdraws while those reads go on
        withdrawing = time.monotonic()
        post(
            client,
            token(CUSTOMER, sub=maryam.id),
            SET_MINE,
            {"purpose": "MARKETING", "granted": False},
        )
        withdrawn = time.monotonic()
        _wait(lambda: sum(start > withdrawn for start, _, _ in reads) >= 3 or bool(failures))
    finally:
        stop.set()
        reader.join(timeout=60)
    assert not failures, failures
    # then every read that began after the withdrawal answered no, every one that ended before
    # it began answered yes, and none failed
    assert all(not visible for start, _, visible in reads if start > withdrawn)
    assert all(visible for _, end, visible in reads if end < withdrawing)
    assert any(end < withdrawing for _, end, _ in reads)


def _wait(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
