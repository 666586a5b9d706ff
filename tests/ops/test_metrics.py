"""``/metrics``: Prometheus metrics for tokens with metrics:read, never a personal value."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from api.app import create_app
from api.metrics import MULTIPROC_ENV, OperationLabels, multiprocess_dir
from api.settings import Settings
from auth.policy import scopes as s
from auth.policy.purposes import Purpose
from tests.support.auth import TokenFactory
from tests.support.callers import scope
from tests.support.operations import CREATE_CUSTOMER
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import Server, graphql, running, server_env

STAFF = scope(
    s.CUSTOMERS_READ,
    s.CUSTOMERS_READ_IDENTITY,
    s.CUSTOMERS_WRITE,
    s.CONSENTS_WRITE,
    Purpose.CUSTOMER_SUPPORT.scope,
    Purpose.MARKETING.scope,
)
PAGE = "query CustomerPage { customers(first: 10) { edges { node { id firstName email } } } }"
ANONYMOUS = "{ customers(first: 1) { totalCount } }"
LOOKUP = "query Lookup($id: ID!) { customer(id: $id) { id firstName lastName email } }"


def scrape(client: TestClient | httpx.Client, token: str) -> str:
    """The exposition, as a scraper with a metrics:read token gets it."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.text


def value(exposition: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    total = 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def post(client: TestClient, token: str, query: str, purpose: str | None = None, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if purpose:
        headers["X-Purpose"] = purpose
    return client.post("/graphql", json={"query": query, **kw}, headers=headers)


@pytest.fixture
def scraper(token: TokenFactory) -> str:
    return token("metrics:read", sub="prometheus", client_id="prometheus")


def test_metrics_need_a_token_with_metrics_read(client: TestClient, token: TokenFactory) -> None:
    # anonymous: 401 with a challenge naming the resource metadata
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "resource_metadata=" in anonymous.headers["www-authenticate"]
    # a bad token: 401 invalid_token
    forged = client.get("/metrics", headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401
    assert 'error="invalid_token"' in forged.headers["www-authenticate"]
    # a good token without metrics:read: 403 insufficient_scope
    staff = client.get("/metrics", headers={"Authorization": f"Bearer {token(STAFF)}"})
    assert staff.status_code == 403
    assert staff.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert 'error="insufficient_scope", scope="metrics:read"' in staff.headers["www-authenticate"]
    assert "steward_" not in staff.text
    # metrics:read: the Prometheus text format
    allowed = client.get("/metrics", headers={"Authorization": f"Bearer {token('metrics:read')}"})
    assert allowed.status_code == 200
    assert allowed.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE steward_requests_total counter" in allowed.text


def test_requests_and_latency_by_operation(
    client: TestClient, token: TokenFactory, scraper: str
) -> None:
    staff = token(STAFF)
    before = scrape(client, scraper)
    # when a named operation runs twice and an unnamed one once
    for _ in range(2):
        assert post(client, staff, PAGE, "customer_support").status_code == 200
    assert post(client, staff, ANONYMOUS, "customer_support").status_code == 200
    # and one request is refused before its document is read
    assert post(client, "bad", PAGE, "customer_support").status_code == 401
    after = scrape(client, scraper)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # then each is counted under its operation, purpose and status, with its latency
    page = {"route": "/graphql", "operation": "CustomerPage"}
    assert delta("steward_requests_total", **page, purpose="customer_support", status="200") == 2
    assert delta("steward_request_duration_seconds_count", **page) == 2
    assert delta("steward_request_duration_seconds_sum", **page) > 0
    assert delta("steward_requests_total", route="/graphql", operation="anonymous") == 1
    assert delta("steward_requests_total", route="/graphql", operation="unknown", status="401") == 1


def test_operation_names_are_bounded() -> None:
    # given room for two names
    labels = OperationLabels(limit=2)
    # then the first two names keep their value, later ones collapse, and so do nameless ones
    assert [labels.label(name) for name in ("A", "B", "C", "A", "D")] == [
        "A",
        "B",
        "other",
        "A",
        "other",
    ]
    assert labels.label("") == "anonymous"
    assert labels.label(None) == "unknown"


def test_redactions_by_field_and_reason(
    client: TestClient, token: TokenFactory, scraper: str
) -> None:
    # given three customers, and a caller without customers:read:contact
    staff = token(STAFF)
    for index in range(3):
        customer = {"country": "IR", "preferredLanguage": "fa-IR", "firstName": f"N{index}"}
        body = post(
            client, staff, CREATE_CUSTOMER, "customer_support", variables={"input": customer}
        )
        assert "errors" not in body.json(), body.text
    before = scrape(client, scraper)
    # when it reads their emails
    body = post(client, staff, PAGE, "customer_support").json()
    after = scrape(client, scraper)
    # then every hidden value is counted by field and reason, as extensions.redactions says
    (entry,) = [e for e in body["extensions"]["redactions"] if e["field"] == "Customer.email"]
    labels = {"field": "Customer.email", "reason": entry["reason"]}
    counted = value(after, "steward_redactions_total", **labels) - value(
        before, "steward_redactions_total", **labels
    )
    assert entry["reason"] == "MISSING_SCOPE"
    assert counted == entry["count"] == 3


def test_authentication_failures_by_cause(
    client: TestClient, token: TokenFactory, scraper: str
) -> None:
    before = scrape(client, scraper)
    # when callers come without a token, with a malformed one and with a wrong audience
    post(client, "", PAGE)
    client.post("/graphql", json={"query": PAGE})
    post(client, "garbage", PAGE)
    settings = client.app.state.settings  # type: ignore[attr-defined]
    from auth.tokens.issuer import issue_token
    from auth.tokens.keys import load_or_create

    elsewhere = settings.model_copy(update={"audience": "another-api"})
    foreign = issue_token(
        elsewhere.tokens,
        load_or_create(settings.key_file),
        scope="customers:read",
        subject="x",
        client_id="y",
    )
    post(client, foreign, PAGE)
    after = scrape(client, scraper)
    # then each cause is counted on its own
    for cause, count in (("missing_token", 2), ("malformed", 1), ("wrong_audience", 1)):
        name = "steward_authentication_failures_total"
        assert value(after, name, cause=cause) - value(before, name, cause=cause) == count


def test_rate_limit_refusals(settings: Settings, token: TokenFactory, scraper: str) -> None:
    limited = settings.model_copy(update={"rate_limit": "2/minute"})
    with TestClient(create_app(limited)) as client:
        before = scrape(client, scraper)
        caller = token(STAFF, sub=f"busy-{uuid.uuid4().hex[:6]}")
        statuses = [post(client, caller, ANONYMOUS, "customer_support").status_code for _ in "xyz"]
        after = scrape(client, scraper)
    assert statuses == [200, 200, 429]
    name = "steward_rate_limit_refusals_total"
    assert value(after, name, reason="limited") - value(before, name, reason="limited") == 1
    assert value(after, "steward_graphql_errors_total", code="RATE_LIMITED") >= 1


def test_database_pool_usage(client: TestClient, scraper: str) -> None:
    # given the app's pool, and a connection taken out of it as a request would
    exposition = scrape(client, scraper)
    assert value(exposition, "steward_db_pool_size") >= 1
    idle = value(exposition, "steward_db_pool_checked_out")
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect():
        # then it counts as checked out while held, and no longer once returned
        held = value(scrape(client, scraper), "steward_db_pool_checked_out")
    returned = value(scrape(client, scraper), "steward_db_pool_checked_out")
    assert (held - idle, returned - idle) == (1, 0)


def test_no_personal_value_ever_becomes_a_label(
    client: TestClient, token: TokenFactory, scraper: str
) -> None:
    # given customers with distinctive personal values, sent and read in every way a client
    # might: variables, literals in the document, lookups under every purpose, redactions,
    # and an operationName naming no operation of the document (operation names themselves
    # are the client's code, not data: only names of operations that validated are labels)
    staff = token(STAFF + " customers:read:contact")
    secrets = {"firstName": "Parisa", "lastName": "Tehrani", "email": "parisa.t@example.ir"}
    customer = {"country": "IR", "preferredLanguage": "fa-IR", **secrets}
    created = post(
        client, staff, CREATE_CUSTOMER, "customer_support", variables={"input": customer}
    )
    customer_id = created.json()["data"]["createCustomer"]["id"]
    for purpose in ("customer_support", "marketing", "analytics", None):
        post(client, staff, LOOKUP, purpose, variables={"id": customer_id})
    by_email = (
        f'query ByEmail {{ customers(filter: {{email: "{secrets["email"]}"}}) {{ totalCount }} }}'
    )
    post(client, staff, by_email, "customer_support")
    post(client, staff, PAGE, "customer_support", operationName="Parisa_Tehrani")
    # when the metrics are scraped
    exposition = scrape(client, scraper)
    # then no value, id or token appears in them
    for secret in (*secrets.values(), customer_id, staff):
        assert secret not in exposition
    # and every label value is from Steward's own vocabulary or an operation's name
    labels = re.findall(r'(\w+)="([^"]*)"', exposition)
    allowed = re.compile(r"[A-Za-z0-9_./:+-]*")
    assert all(allowed.fullmatch(v) for _, v in labels)


def test_multiprocess_dir_is_made_for_several_workers_and_removed() -> None:
    assert MULTIPROC_ENV not in os.environ
    with multiprocess_dir(1) as none:
        assert none is None
        assert MULTIPROC_ENV not in os.environ
    with multiprocess_dir(2) as folder:
        assert folder is not None
        assert folder.is_dir()
        assert os.environ[MULTIPROC_ENV] == str(folder)
    assert MULTIPROC_ENV not in os.environ
    assert not folder.exists()


@pytest.mark.postgres
def test_workers_of_one_server_report_together(tmp_path: Path) -> None:
    # given `steward serve --workers 2` with its multiprocess metrics in a folder of ours
    metrics_dir = tmp_path / "metrics"
    with fresh_postgres_database() as url:
        env = server_env(
            database_url=url, key_file=str(tmp_path / "keys.json"), public_url="https://s.test"
        )
        env[MULTIPROC_ENV] = str(metrics_dir)
        (metrics_dir).mkdir()
        (metrics_dir / "counter_999999.db").write_bytes(b"stale from a previous run")
        server = Server(env, tmp_path, args=["--workers", "2"])
        with running(server):
            settings = Settings(
                _env_file=None,
                database_url=url,
                key_file=tmp_path / "keys.json",
                public_url="https://s.test",
            )
            from auth.tokens.issuer import issue_token
            from auth.tokens.keys import load_or_create

            keys = load_or_create(tmp_path / "keys.json")

            def token(scope: str) -> str:
                return issue_token(settings.tokens, keys, scope=scope, subject="s", client_id="c")

            staff, reader = token(STAFF), token("metrics:read")
            # when 40 requests arrive, each on a new connection
            sent = 40
            for _ in range(sent):
                answer = graphql(server.url, staff, PAGE, purpose="customer_support")
                assert answer.status_code == 200
            # then any scrape, whichever worker answers it, counts all of them
            with httpx.Client(base_url=server.url, timeout=10) as http:
                for _ in range(4):
                    exposition = scrape(http, reader)
                    counted = value(exposition, "steward_requests_total", operation="CustomerPage")
                    assert counted == sent
                    assert value(exposition, "steward_db_pool_size") == 2 * 10
            # and both workers served some: each wrote its own file
            pids = {
                match.group(1)
                for file in metrics_dir.iterdir()
                if (match := re.fullmatch(r"counter_(\d+)\.db", file.name))
            }
            assert len(pids) == 2, pids
            assert "999999" not in pids  # the previous run's files were cleared
