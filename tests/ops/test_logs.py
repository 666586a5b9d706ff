"""Structured logs: one JSON line per request, with ids and purpose, never personal values.

The servers' whole output being JSON lines is checked on real processes in
``test_ops_replicas.py``; here the lines themselves, through the app in this process.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from api.logs import JsonFormatter, TextFormatter
from auth.policy import scopes as s
from auth.policy.purposes import Purpose
from store.database import upgrade
from tests.support.auth import TokenFactory
from tests.support.callers import scope
from tests.support.servers import Server, running, server_env

STAFF = scope(
    s.CUSTOMERS_READ, s.CUSTOMERS_READ_IDENTITY, s.CUSTOMERS_WRITE, Purpose.CUSTOMER_SUPPORT.scope
)
CREATE = """
mutation Create($input: CreateCustomerInput!) { createCustomer(input: $input) { id firstName } }
"""


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(record))
        for record in caplog.records
        if record.name == "steward.access"
    ]


def test_formatter_writes_one_json_object_per_line() -> None:
    # given a record with fields (one trying to replace a base key) and an exception
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "steward.x", logging.ERROR, __file__, 1, "failed %s", ("now",), exc_info
    )
    record.fields = {"request_id": "abc", "level": "forged", "status": 500}
    # when it is formatted
    line = JsonFormatter().format(record)
    # then it is one line of JSON with the base keys, the fields and the traceback
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "error"
    assert entry["message"] == "failed now"
    assert entry["logger"] == "steward.x"
    assert (entry["request_id"], entry["status"]) == ("abc", 500)
    assert entry["time"].endswith("Z")
    assert "ValueError: boom" in entry["exception"]


def test_the_text_format_writes_fields_as_key_value_pairs_not_python_reprs() -> None:
    # given an access record's fields: a list, an absent value, a value with spaces
    record = logging.LogRecord("steward.access", logging.INFO, __file__, 1, "request", (), None)
    record.fields = {
        "request_id": "r-1",
        "method": "POST",
        "status": 200,
        "duration_ms": 3.25,
        "client_id": None,
        "codes": ["FORBIDDEN", "NOT_FOUND"],
        "operation": "Deliveries of today",
        "redacted": 0,
        "cached": True,
    }
    # when it is formatted as text
    line = TextFormatter().format(record)
    # then one line: time, level, logger, message, and key=value pairs, the absent left out
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} INFO  steward\.access  request  .*", line)
    assert line.endswith(
        "  request  request_id=r-1 method=POST status=200 duration_ms=3.25 "
        'codes=FORBIDDEN,NOT_FOUND operation="Deliveries of today" redacted=0 cached=true'
    )
    for python in ("{", "[", "'", "None", "True"):
        assert python not in line


@pytest.mark.slow
def test_make_runs_development_server_logs_for_humans(tmp_path: Path) -> None:
    # given `steward serve` in development mode, as `make run` starts it, without --log-format
    url = f"sqlite:///{tmp_path / 'steward.db'}"
    upgrade(url)
    env = server_env(database_url=url, key_file=str(tmp_path / "keys.json"), dev_mode="true")
    server = Server(env, tmp_path)
    # when it serves a request and stops
    with running(server):
        assert httpx.post(f"{server.url}/graphql", json={"query": "{ __typename }"}).status_code
    # then it logged lines of text, the request's among them, and no JSON or Python repr
    lines = server.log().splitlines()
    assert lines
    assert not [line for line in lines if line.lstrip().startswith("{")]
    (request,) = [line for line in lines if "steward.access  request" in line]
    assert "method=POST route=/graphql status=401" in request
    assert "codes=UNAUTHENTICATED" in request
    assert "{" not in request
    assert "'" not in request


def test_one_line_per_request_without_tokens_or_personal_values(
    client: TestClient, token: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # given a staff member registering a customer
    staff = token(STAFF, client_id="crm-web")
    person = {
        "country": "IR",
        "preferredLanguage": "fa-IR",
        "firstName": "Shirin",
        "lastName": "Ahmadi",
    }
    # when the request is served
    with caplog.at_level(logging.INFO, logger="steward.access"):
        response = client.post(
            "/graphql",
            json={"query": CREATE, "variables": {"input": person}},
            headers={"Authorization": f"Bearer {staff}", "X-Purpose": "customer_support"},
        )
    assert response.status_code == 200
    # then exactly one line describes it: ids, purpose, operation, status, duration
    (line,) = _lines(caplog)
    assert line["message"] == "request"
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["client_id"] == "crm-web"
    assert line["purpose"] == "customer_support"
    assert line["operation"] == "Create"
    assert (line["method"], line["route"], line["status"]) == ("POST", "/graphql", 200)
    assert line["duration_ms"] > 0
    # and nothing of the token, the subject or the customer
    text = json.dumps(line, ensure_ascii=False)
    customer_id = response.json()["data"]["createCustomer"]["id"]
    for secret in (staff, "staff-1", "Shirin", "Ahmadi", customer_id):
        assert secret not in text


def test_refusals_are_logged_with_their_cause(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="steward.access"):
        response = client.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"Authorization": "Bearer not-a-jwt"},
        )
    assert response.status_code == 401
    (line,) = _lines(caplog)
    assert line["status"] == 401
    assert line["codes"] == ["INVALID_TOKEN"]
    assert line["auth_failure"] == "malformed"
    assert line["client_id"] is None
    assert "not-a-jwt" not in json.dumps(line)


def test_a_masked_failure_has_one_request_id_everywhere(
    client: TestClient,
    token: TokenFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a resolver that fails unexpectedly
    from schema import queries

    def broken() -> Any:
        raise RuntimeError("internal detail")

    monkeypatch.setattr(queries, "policy_document", broken)
    # when it runs
    with caplog.at_level(logging.INFO):
        response = client.post(
            "/graphql",
            json={"query": "query Policy { policy { purposes { id } } }"},
            headers={"Authorization": f"Bearer {token('customers:read')}"},
        )
    # then the response, its header, the error's log and the access log share one id
    assert response.status_code == 500
    request_id = response.json()["errors"][0]["extensions"]["requestId"]
    assert response.headers["x-request-id"] == request_id
    failure = next(r for r in caplog.records if r.name == "steward.graphql" and r.exc_info)
    assert request_id in failure.getMessage()
    (line,) = _lines(caplog)
    assert (line["request_id"], line["status"], line["codes"]) == (
        request_id,
        500,
        ["INTERNAL_SERVER_ERROR"],
    )


def test_probes_are_logged_at_debug_only(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="steward.access"):
        client.get("/healthz")
        client.get("/readyz")
    assert _lines(caplog) == []
