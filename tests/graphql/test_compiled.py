"""Compiled reads: hostile input only ever reaches the database as bind parameters.

Every argument the compiler binds (ids, cursors, filters, page sizes, through literals and
variables) is fed quotes, SQL, NUL bytes and 200-digit numbers; each answer must be the
Strawberry path's (``STEWARD_COMPILED_READS=false``), never a 500, and no value may appear in
the text of a statement. A statement the database refuses falls back to Strawberry; for good
only once it failed with different values, not for one request's values nor for a transient
fault (SPEC section 7, v5). The switch itself turns the compiler off.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from auth.policy.scopes import ALL_SCOPES
from store import models
from tests.support.auth import TokenFactory
from tests.support.executors import json_statements, no_compiled_statement, strawberry_only
from tests.support.policy_model import seed

HUGE = "9" * 200
HOSTILE = [
    "'; DROP TABLE customer; --",
    'x" OR "1"="1',
    "a\x00b",
    HUGE,
    base64.b64encode(f"Customer:{HUGE}".encode()).decode(),
    base64.b64encode(b"Order:1'--").decode(),
    base64.b64encode(f"o:{HUGE}".encode()).decode(),
]
QUERIES = [
    ("query Q($v: ID!) { customer(id: $v) { id email } }", "v"),
    ("query Q($v: ID!) { order(id: $v) { id number } }", "v"),
    ("query Q($v: ID!) { node(id: $v) { id } }", "v"),
    ("query Q($v: String) { customers(first: 2, after: $v) { edges { cursor } } }", "v"),
    ("query Q($v: String) { customers(filter: {email: $v}) { totalCount } }", "v"),
    ("query Q($v: String) { customers(filter: {lastName: $v}) { totalCount } }", "v"),
    ("query Q($v: String) { customers(filter: {country: $v}) { totalCount } }", "v"),
    ("query Q($v: ID) { orders(filter: {customerId: $v}) { totalCount } }", "v"),
    ("query Q($v: String) { orders(filter: {paymentReference: $v}) { totalCount } }", "v"),
    ("query Q($v: DateTime) { orders(filter: {placedAfter: $v}) { totalCount } }", "v"),
    ("query Q($v: Int!) { orders(first: $v) { totalCount } }", "v"),
    ("query Q($v: CustomerStatus) { customers(filter: {status: $v}) { totalCount } }", "v"),
]


@pytest.fixture
def reference(settings: Settings) -> Iterator[TestClient]:
    app = strawberry_only(settings)
    with TestClient(app) as client, no_compiled_statement(app):
        yield client


def _post(client: TestClient, token: str, query: str, variables: dict[str, Any]) -> Any:
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "customer_support"}
    response = client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body = json.loads(response.text)
    for error in body.get("errors", []):
        error.get("extensions", {}).pop("requestId", None)
    return response.status_code, body


def test_hostile_arguments_are_bound_never_spliced(
    client: TestClient, reference: TestClient, session: Session, token: TokenFactory
) -> None:
    # given the seeded rows and the statements the compiled app sends
    seed(session)
    customers = session.scalar(select(func.count()).select_from(models.Customer))
    session.rollback()
    sent: list[str] = []
    event.listen(
        client.app.state.engine,  # type: ignore[attr-defined]
        "before_cursor_execute",
        lambda _c, _cur, statement, *_a: sent.append(statement),
    )
    bearer = token(" ".join(ALL_SCOPES))
    for query, name in QUERIES:
        for value in [*HOSTILE, 7, -1]:
            # when a hostile value goes through the argument
            compiled = _post(client, bearer, query, {name: value})
            expected = _post(reference, bearer, query, {name: value})
            # then both paths give the same answer (out-of-range ids are the reference's to
            # answer: SPEC section 7, issue 14), and the compiler adds no server error
            assert compiled == expected, (query, value)
    # and no value ever became part of a statement's text
    for statement in sent:
        for value in HOSTILE:
            assert value not in statement
    session.rollback()
    assert session.scalar(select(func.count()).select_from(models.Customer)) == customers


def test_the_switch_turns_the_compiler_off(
    client: TestClient, settings: Settings, session: Session, token: TokenFactory
) -> None:
    # given the seeded rows, and the same app with compiled reads switched off
    seed(session)
    session.commit()
    off = settings.model_copy(update={"compiled_reads": False})
    app = create_app(off)
    # then it has no compiler
    assert app.state.execution.compiled is None
    bearer = token(" ".join(ALL_SCOPES))
    query = "query Q($v: ID!) { customer(id: $v) { id email } }"
    with TestClient(app) as reference:
        ids = [base64.b64encode(f"Customer:{n}".encode()).decode() for n in (1, 2)]
        for value in ids:
            # when both answer the same queries
            with json_statements(client.app.state.engine) as compiled:  # type: ignore[attr-defined]
                on = _post(client, bearer, query, {"v": value})
            with json_statements(app.state.engine) as strawberry:
                answered = _post(reference, bearer, query, {"v": value})
            # then only the app with the switch on built JSON in the database
            assert compiled, "the detector must see the compiler's statement"
            assert strawberry == []
            assert answered == on


PAGE = "query Q($n: Int!) { customers(first: $n) { totalCount edges { node { id email } } } }"


def _break(client: TestClient, when: Callable[[Any], bool], error: str = "DataError") -> list[str]:
    """Make the database refuse the compiled statements whose parameters ``when`` picks, with
    the driver's ``error``; the compiled statements sent, refused or not, are listed."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    sent: list[str] = []

    def broken(*arguments: Any) -> None:
        statement, parameters = arguments[2], arguments[3]
        if " AS c0" in statement:
            sent.append(statement)
            if when(parameters):
                raise getattr(engine.dialect.loaded_dbapi, error)("refused")

    event.listen(engine, "before_cursor_execute", broken)
    return sent


def _has(value: int) -> Callable[[Any], bool]:
    def check(parameters: Any) -> bool:
        values = parameters.values() if isinstance(parameters, dict) else parameters
        return value in list(values)

    return check


def test_a_statement_that_fails_with_different_values_falls_back_for_good(
    client: TestClient,
    reference: TestClient,
    session: Session,
    token: TokenFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a compiled statement the database refuses, whatever the values
    seed(session)
    session.rollback()
    sent = _break(client, lambda _parameters: True)
    bearer = token(" ".join(ALL_SCOPES))
    before = _failed()
    # when the query is asked with one value, then others
    answers = [_post(client, bearer, PAGE, {"n": n}) for n in (3, 3, 4, 5, 6)]
    # then Strawberry answers each time, as the reference does
    assert answers == [_post(reference, bearer, PAGE, {"n": n}) for n in (3, 3, 4, 5, 6)]
    assert answers[0][1]["data"]["customers"]["totalCount"] > 0
    # and the statement was given up once it failed with a second value: once, in one line
    assert len(sent) == 3
    assert _failed() == before + 1
    warnings = [r for r in caplog.records if r.name == "steward.compiled" and r.levelno >= 30]
    assert len(warnings) == 1
    assert warnings[0].exc_info is None


def test_a_failure_with_one_request_s_values_keeps_the_compiled_path(
    client: TestClient, reference: TestClient, session: Session, token: TokenFactory
) -> None:
    # given a compiled statement the database refuses for one value only
    seed(session)
    session.rollback()
    sent = _break(client, _has(3))
    bearer = token(" ".join(ALL_SCOPES))
    before = _failed()
    # when that value is sent again and again, then another one
    for _ in range(3):
        assert _post(client, bearer, PAGE, {"n": 3}) == _post(reference, bearer, PAGE, {"n": 3})
    answer = _post(client, bearer, PAGE, {"n": 4})
    # then the other value is still answered by the compiled statement
    assert answer == _post(reference, bearer, PAGE, {"n": 4})
    assert len(sent) == 4
    assert _failed() == before


def test_a_transient_fault_keeps_the_compiled_path(
    client: TestClient, reference: TestClient, session: Session, token: TokenFactory
) -> None:
    # given a database that cancels the compiled statements (a statement timeout) for a while
    seed(session)
    session.rollback()
    sent = _break(client, lambda _parameters: len(sent) <= 2, error="OperationalError")
    bearer = token(" ".join(ALL_SCOPES))
    before = _failed()
    # when the query comes with two values during the fault, then after it
    answers = [_post(client, bearer, PAGE, {"n": n}) for n in (3, 4, 5)]
    # then Strawberry answered during the fault, and the compiled statement after it
    assert answers == [_post(reference, bearer, PAGE, {"n": n}) for n in (3, 4, 5)]
    assert len(sent) == 3
    assert _failed() == before


def _failed() -> float:
    return (
        REGISTRY.get_sample_value("steward_compiled_fallbacks_total", {"reason": "failed"}) or 0.0
    )
