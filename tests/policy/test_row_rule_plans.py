"""Row rules cost what the page costs, not what the tables hold (SPEC section 6, v5).

A consent rule ("the latest record is GRANTED") written as a join lets PostgreSQL read the
whole ledger before the first row of a page; an order page under ``order_fulfillment`` let
SQLite, without statistics, read and sort every order in fulfillment. The plans of the
statements each executor sends are checked here, not their times: the rules are looked up for
the rows the page meets (PostgreSQL: a ``SubPlan``, never a semi or anti join), and SQLite
walks the orders in the page's order.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from api.demo import load_demo_data
from api.demo_partners import COURIER, load_demo_partners
from auth.policy.scopes import ALL_SCOPES
from store.database import session_factory, transaction
from tests.support.auth import TokenFactory
from tests.support.operations import Gql

PAGES = {
    "orders": "{ orders(first: 20) { edges { node { id number status placedAt } } } }",
    "orders with customers": (
        "{ orders(first: 20) { edges { node { id number customer { firstName } } } } }"
    ),
    "customers": "{ customers(first: 20) { edges { node { id firstName lastName } } } }",
}


def _statements(
    app: Any, gql: Gql, query: str, purpose: str, headers: dict[str, str] | None = None
) -> list[tuple[str, Any]]:
    """The reads one request sends that apply a row rule (they name the ledger or orders)."""
    sent: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and (
            "consent" in statement or "customer_order" in statement
        ):
            sent.append((statement, parameters))

    event.listen(app.state.engine, "before_cursor_execute", note)
    try:
        answer = gql(query, scope=" ".join(ALL_SCOPES), purpose=purpose, headers=headers)
    finally:
        event.remove(app.state.engine, "before_cursor_execute", note)
    assert "errors" not in answer, answer
    assert answer["data"]
    return [(sql, parameters) for sql, parameters in sent if "access_record" not in sql]


def _plan(engine: Engine, sql: str, parameters: Any) -> str:
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        if engine.dialect.name == "postgresql":
            cursor.execute("EXPLAIN " + sql, parameters)
            return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("EXPLAIN QUERY PLAN " + sql, parameters)
        return "\n".join(row[-1] for row in cursor.fetchall())
    finally:
        connection.close()


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("purpose", ["analytics", "marketing", "order_fulfillment"])
def test_row_rules_are_looked_up_for_the_rows_a_page_meets(
    app: Any, engine: Engine, gql: Gql, page: str, purpose: str
) -> None:
    # given a demo database without statistics
    with transaction(session_factory(engine)) as session:
        load_demo_data(session, customers=60, seed=1)
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
    # when a page is read under a purpose with a row rule
    statements = _statements(app, gql, PAGES[page], purpose)
    # then no statement joins a rule's table as a whole
    assert statements
    for sql, parameters in statements:
        plan = _plan(engine, sql, parameters)
        if engine.dialect.name == "postgresql":
            assert "Semi Join" not in plan, plan
            assert "Anti Join" not in plan, plan
        else:
            assert "SCAN consent" not in plan, plan
            assert "ix_customer_order_status (status=?)" not in plan, plan


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("purpose", ["customer_support", "order_fulfillment"])
def test_the_assignment_rule_is_looked_up_for_the_rows_a_page_meets(
    app: Any, engine: Engine, gql: Gql, token: TokenFactory, page: str, purpose: str
) -> None:
    # given the demo courier (assigned access) over a demo database without statistics
    with transaction(session_factory(engine)) as session:
        load_demo_data(session, customers=60, seed=1)
        load_demo_partners(session, seed=1)
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
    courier = token(" ".join(ALL_SCOPES), sub=COURIER, client_id=COURIER)
    # when it reads a page
    statements = _statements(
        app, gql, PAGES[page], purpose, headers={"Authorization": f"Bearer {courier}"}
    )
    # then its assignments, like consents, are looked up per row, through their index
    assert statements
    for sql, parameters in statements:
        plan = _plan(engine, sql, parameters)
        if engine.dialect.name == "postgresql":
            assert "Semi Join" not in plan, plan
            assert "Anti Join" not in plan, plan
            assert "Seq Scan on order_assignment" not in plan, plan
        else:
            assert "SCAN consent" not in plan, plan
            assert "SCAN order_assignment" not in plan, plan
