"""Differential: the compiled read path and the Strawberry path answer every query alike.

Hypothesis draws operations (the policy property test's generator, plus ``me``, connections
with ``first``/``after``/``filter``/``orderBy``, variables and ``@skip``/``@include``) and
callers (any read scopes, any purpose, a legal order, a customer reading ``me``) over the
seeded data (an erased customer, withdrawn and re-granted consents). Each operation runs on
two apps over the same database — one with compiled reads, one with
``STEWARD_COMPILED_READS=false`` — and the responses must have equal ``data`` (key order
included), the same errors, the same redactions (order aside) and the same access record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session
from sqlmodel import col
from starlette.testclient import TestClient

from api.settings import Settings
from auth.policy import scopes as s
from auth.policy.purposes import DECLARABLE, Purpose
from store import models
from tests.policy.test_properties import Names, operations, scope_sets, selections
from tests.support.auth import TokenFactory
from tests.support.executors import no_compiled_statement, strawberry_only
from tests.support.policy_model import (
    AGENCY,
    COURIER,
    DISPATCH,
    IDLE,
    Field,
    Seeded,
    canonical,
    render,
    seed,
    seed_assignments,
)

CUSTOMER_PAGES = (
    "totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } "
    "edges { cursor node { id lastName email createdAt status } }",
    # no cursor, no hasNextPage: the page is read without positions
    "pageInfo { hasPreviousPage } edges { node { id lastName email createdAt status "
    "orders(first: 1) { edges { node { id number } } } } }",
)
ORDER_PAGES = (
    "totalCount pageInfo { hasNextPage endCursor __typename } "
    "edges { cursor node { id number status totalAmount placedAt paymentReference } }",
    "totalCount edges { node { id number status totalAmount placedAt paymentReference } }",
)
CURSORS = ["bzow", "bzox", "bzoy", "bzo5OQ=="]
"""Offsets 0, 1, 2 and 99."""


@pytest.fixture
def reference(settings: Settings) -> Iterator[TestClient]:
    """The same app with compiled reads off: everything runs on Strawberry, provably
    (`strawberry_only`, `no_compiled_statement`)."""
    app = strawberry_only(settings)
    with TestClient(app) as client, no_compiled_statement(app):
        yield client


def _arguments(draw: st.DataObject, kind: str) -> str:
    parts = [f"first: {draw.draw(st.integers(0, 5))}"]
    if draw.draw(st.booleans()):
        parts.append(f'after: "{draw.draw(st.sampled_from(CURSORS))}"')
    if kind == "customers":
        filters = draw.draw(
            st.lists(
                st.sampled_from(
                    [
                        "status: ACTIVE",
                        "status: ERASED",
                        'country: "vn"',
                        'email: "ava.karimi@example.ir"',
                        'lastName: "Trần"',
                        'createdAfter: "2025-03-02T00:00:00+00:00"',
                    ]
                ),
                max_size=2,
                unique=True,
            )
        )
        fields = ["CREATED_AT", "LAST_NAME", "EMAIL"]
    else:
        filters = draw.draw(
            st.lists(
                st.sampled_from(
                    [
                        "status: PAID",
                        "status: INSTALLED",
                        'customerId: "Q3VzdG9tZXI6Mw=="',
                        'placedAfter: "2025-03-05T00:00:00+00:00"',
                        'paymentReference: "PAY-881"',
                    ]
                ),
                max_size=2,
                unique=True,
            )
        )
        fields = ["PLACED_AT", "TOTAL_AMOUNT"]
    if filters:
        parts.append("filter: {" + ", ".join(filters) + "}")
    if draw.draw(st.booleans()):
        direction = draw.draw(st.sampled_from(["ASC", "DESC"]))
        parts.append(
            f"orderBy: {{field: {draw.draw(st.sampled_from(fields))}, direction: {direction}}}"
        )
    return ", ".join(parts)


def _extra_roots(draw: st.DataObject, names: Names) -> tuple[str, dict[str, Any], str]:
    """Root fields the property test does not draw: (text, variables, variable definitions)."""
    roots: list[str] = []
    variables: dict[str, Any] = {}
    definitions: list[str] = []
    if draw.draw(st.booleans()):
        children = draw.draw(selections("Customer", 2, names))
        roots.append(render([Field("me", children)], operation="").strip())
    for kind in draw.draw(st.lists(st.sampled_from(["customers", "orders"]), max_size=2)):
        page = draw.draw(st.sampled_from(CUSTOMER_PAGES if kind == "customers" else ORDER_PAGES))
        roots.append(f"p{len(roots)}: {kind}({_arguments(draw, kind)}) {{ {page} }}")
    if draw.draw(st.booleans()):
        variables.update(
            first=draw.draw(st.integers(0, 3)),
            show=draw.draw(st.booleans()),
            id=draw.draw(st.sampled_from(["Q3VzdG9tZXI6MQ==", "Q3VzdG9tZXI6NA==", "T3JkZXI6MQ=="])),
        )
        definitions.append("$first: Int!, $show: Boolean!, $id: ID!")
        roots.append(
            "v1: customers(first: $first) { edges { node { id email @include(if: $show) "
            "firstName @skip(if: $show) } } } v2: customer(id: $id) { id ageBand dateOfBirth }"
        )
    return " ".join(roots), variables, ", ".join(definitions)


def _operation(draw: st.DataObject, data: Seeded) -> tuple[str, dict[str, Any]]:
    names = Names()
    base = draw.draw(operations(data), label="operation")
    text = render(base)
    extra, variables, definitions = _extra_roots(draw, names)
    # The fragment names of `extra` come after those of `base`: render them together.
    head = "query Probe" + (f"({definitions})" if definitions else "")
    text = text.replace("query Probe {", f"{head} {{ {extra}", 1)
    return text, variables


STAFF_APP = "test-client"

Caller = tuple[frozenset[str], Purpose | None, str, str]
"""Scopes, purpose, subject and client id (a seeded partner's, or a staff app's)."""


def _callers(data: Seeded) -> st.SearchStrategy[Caller]:
    purposes = st.sampled_from(list(Purpose))
    # Mostly with the root fields' scopes: a root refused (FORBIDDEN) runs on Strawberry.
    roots = scope_sets.map(lambda granted: granted | {s.CUSTOMERS_READ, s.ORDERS_READ})
    staff = st.tuples(roots, purposes, st.just("staff-1"), st.just(STAFF_APP))
    anyone = st.tuples(scope_sets, purposes, st.just("staff-1"), st.just(STAFF_APP))
    own = st.tuples(
        roots.map(lambda granted: granted | {s.ME_READ}),
        st.sampled_from([None, Purpose.CUSTOMER_SUPPORT, Purpose.MARKETING]),
        st.just("ava-subject"),
        st.just(STAFF_APP),
    )
    # The seeded partners: their row rules (per-recipient consent; assignments, with and
    # without any, ended, and an expired consent) on every path.
    partner = st.tuples(
        roots,
        st.sampled_from(DECLARABLE),
        st.just("staff-1"),
        st.sampled_from([COURIER, AGENCY, DISPATCH, IDLE]),
    )
    return st.one_of(staff, staff, own, anyone, partner)


class Run:
    """Posts one operation to one app and takes what it wrote: its access record."""

    def __init__(self, session: Session, token: TokenFactory, data: Seeded) -> None:
        self.session = session
        self.token = token
        self.data = data

    def __call__(
        self,
        client: TestClient,
        query: str,
        variables: dict[str, Any],
        caller: Caller,
    ) -> tuple[int, Any, list[tuple[Any, ...]]]:
        granted, purpose, sub, client_id = caller
        scope = set(granted)
        headers = {"X-Legal-Reference": self.data.legal_reference}
        if purpose is not None:
            scope.add(purpose.scope)
            headers["X-Purpose"] = purpose.value
        bearer = self.token(" ".join(sorted(scope)), sub=sub, client_id=client_id)
        headers["Authorization"] = f"Bearer {bearer}"
        records, events = self._last(models.AccessRecord), self._last(models.UsageEvent)
        response = client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        written = self._written(records)
        self._forget(records, events)
        return response.status_code, json.loads(response.text), written

    def _last(self, model: Any) -> int:
        self.session.rollback()
        return int(self.session.scalar(select(func.coalesce(func.max(model.id), 0))) or 0)

    def _written(self, after: int) -> list[tuple[Any, ...]]:
        self.session.rollback()
        rows = self.session.scalars(
            select(models.AccessRecord).where(col(models.AccessRecord.id) > after)
        ).all()
        return [
            (
                r.client_id,
                r.subject,
                r.purpose,
                r.legal_reference,
                r.operation_name,
                sorted(r.customer_ids),
                sorted(r.fields),
                r.order_ids,
                r.forms,
            )
            for r in rows
        ]

    def _forget(self, records: int, events: int) -> None:
        """Remove what the request wrote, so that both apps read the same rows."""
        self.session.rollback()
        with self.session.begin():
            self.session.execute(
                delete(models.AccessRecordCustomer).where(
                    col(models.AccessRecordCustomer.access_record_id) > records
                )
            )
            self.session.execute(
                delete(models.AccessRecord).where(col(models.AccessRecord.id) > records)
            )
            self.session.execute(
                delete(models.UsageEvent).where(col(models.UsageEvent.id) > events)
            )


def _errors(body: Any) -> list[tuple[str, Any, Any]]:
    return sorted(
        (
            error.get("message", ""),
            json.dumps(error.get("path")),
            error.get("extensions", {}).get("code"),
        )
        for error in body.get("errors", [])
    )


def _failed() -> float:
    return (
        REGISTRY.get_sample_value("steward_compiled_fallbacks_total", {"reason": "failed"}) or 0.0
    )


def test_both_executors_answer_alike(
    client: TestClient, reference: TestClient, session: Session, token: TokenFactory
) -> None:
    # given the seeded rows, and two apps over them: compiled reads on and off
    data = seed(session)
    seed_assignments(session, data)
    run = Run(session, token, data)
    failed = _failed()
    compiled_runs: list[str] = []
    engine = client.app.state.engine  # type: ignore[attr-defined]

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "json_quote" in statement or "json_build_object" in statement:
            compiled_runs.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    examples = 0
    clean = 0  # answers without errors: those with errors are Strawberry's by design

    @settings(
        max_examples=120,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def check(draw: st.DataObject) -> None:
        nonlocal examples, clean
        examples += 1
        caller = draw.draw(_callers(data), label="caller")
        query, variables = _operation(draw, data)
        # when the same operation runs on both
        status, compiled, compiled_record = run(client, query, variables, caller)
        expected_status, expected, expected_record = run(reference, query, variables, caller)
        # then the answers are the same, key order included
        assert status == expected_status, query
        clean += status == 200 and "errors" not in expected
        assert json.dumps(compiled.get("data")) == json.dumps(expected.get("data")), query
        assert _errors(compiled) == _errors(expected), query
        redactions = compiled.get("extensions", {}).get("redactions", [])
        assert canonical(redactions) == canonical(
            expected.get("extensions", {}).get("redactions", [])
        ), query
        assert compiled_record == expected_record, query

    check()
    # and nothing the compiler took on failed to compile or to run; many ran compiled
    assert _failed() == failed
    assert len(compiled_runs) > clean / 2, (len(compiled_runs), clean, examples)


def test_the_compiled_path_answers_the_nested_page(
    client: TestClient, reference: TestClient, session: Session, token: TokenFactory
) -> None:
    # given a counter of the statements the compiled app runs
    data = seed(session)
    seed_assignments(session, data)
    statements: list[str] = []
    engine = client.app.state.engine  # type: ignore[attr-defined]

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    query = Path(__file__).with_name("compiled_nested_page.graphql").read_text()
    caller = (frozenset(s.ALL_SCOPES), Purpose.CUSTOMER_SUPPORT, "staff-1", STAFF_APP)
    # when the nested page is asked twice (the second time from the statement cache)
    run = Run(session, token, data)
    run(client, query, {}, caller)
    statements.clear()
    status, body, record = run(client, query, {}, caller)
    # then one statement built the JSON, and the answer is the reference's
    assert status == 200
    reads = [sql for sql in statements if "customer_order" in sql and "SAVEPOINT" not in sql]
    assert len(reads) == 1, statements
    assert body == run(reference, query, {}, caller)[1]
    assert record[0][5] == sorted(data.pk(name) for name in ("ava", "binh", "chi", "dara"))
