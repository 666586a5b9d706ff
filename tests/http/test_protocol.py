"""GraphQL over HTTP and hostile input: every refusal has its status and code."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from auth.policy import scopes as s
from auth.policy.purposes import Purpose
from tests.support.callers import scope
from tests.support.servers import redis_or_skip

SCOPE = scope(s.CUSTOMERS_READ, s.CUSTOMERS_WRITE, Purpose.CUSTOMER_SUPPORT.scope)
GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture
def auth(token: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(SCOPE)}"}


def code_of(response: Any) -> str:
    return response.json()["errors"][0]["extensions"]["code"]  # type: ignore[no-any-return]


def test_get_runs_queries(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get("/graphql", params={"query": "{ __typename }"}, headers=auth)
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}
    assert response.headers["content-type"].startswith("application/json")


def test_graphql_response_media_type_when_accepted(
    client: TestClient, auth: dict[str, str]
) -> None:
    response = client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={**auth, "Accept": GRAPHQL_RESPONSE}
    )
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)


def test_mutation_over_get_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    query = 'mutation { createCustomer(input: {country: "IR", preferredLanguage: "fa"}) { id } }'
    response = client.get(
        "/graphql", params={"query": query}, headers={**auth, "X-Purpose": "customer_support"}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert code_of(response) == "METHOD_NOT_ALLOWED"


def test_other_methods_are_refused(client: TestClient, auth: dict[str, str]) -> None:
    response = client.put("/graphql", json={"query": "{ __typename }"}, headers=auth)
    assert response.status_code == 405
    assert code_of(response) == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ("query=%7B__typename%7D", "application/x-www-form-urlencoded"),
        (
            "--x\r\nContent-Disposition: form-data; name=query\r\n\r\n{a}\r\n--x--",
            "multipart/form-data; boundary=x",
        ),
        ("{ __typename }", "text/plain"),
        ('{"query": "{ __typename }"}', ""),
    ],
)
def test_non_json_bodies_are_refused(
    client: TestClient, auth: dict[str, str], content: str, content_type: str
) -> None:
    headers = {**auth, "Content-Type": content_type} if content_type else auth
    response = client.post("/graphql", content=content.encode(), headers=headers)
    assert response.status_code == 415
    assert code_of(response) == "UNSUPPORTED_MEDIA_TYPE"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe\x00garbage",
        b'[{"query": "{ __typename }"}]',
        b'{"variables": {}}',
        b'"text"',
    ],
)
def test_malformed_bodies_are_bad_requests(
    client: TestClient, auth: dict[str, str], body: bytes
) -> None:
    response = client.post(
        "/graphql", content=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert code_of(response) == "BAD_REQUEST"


def test_oversized_bodies_and_variables_are_refused(
    client: TestClient, auth: dict[str, str]
) -> None:
    huge = {"query": "query($v: String) { __typename }", "variables": {"v": "x" * (1024 * 1024)}}
    response = client.post("/graphql", json=huge, headers=auth)
    assert response.status_code == 413
    assert code_of(response) == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(("accept", "status"), [(GRAPHQL_RESPONSE, 400), ("application/json", 200)])
def test_parse_and_validation_failures(
    client: TestClient, auth: dict[str, str], accept: str, status: int
) -> None:
    headers = {**auth, "Accept": accept}
    parse = client.post("/graphql", json={"query": "{ customers( }"}, headers=headers)
    assert (parse.status_code, code_of(parse)) == (status, "GRAPHQL_PARSE_FAILED")
    invalid = client.post("/graphql", json={"query": "{ nothingHere }"}, headers=headers)
    assert (invalid.status_code, code_of(invalid)) == (status, "GRAPHQL_VALIDATION_FAILED")


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ customer { id } }", None),
        ("{ customerz(first: 1) { totalCount } }", None),
        ("{ customers(firts: 1) { totalCount } }", None),
        ("{ customers(filter: {status: ACTIV}) { totalCount } }", None),
        (
            "query($s: CustomerStatus) { customers(filter: {status: $s}) { totalCount } }",
            {"s": "ACTIV"},
        ),
        ("{ customers { edges { node { emial } } } }", None),
    ],
)
def test_errors_never_suggest_names(
    client: TestClient, auth: dict[str, str], query: str, variables: Any
) -> None:
    response = client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={**auth, "X-Purpose": "customer_support"},
    )
    assert "errors" in response.json()
    assert "Did you mean" not in response.text
    assert "ACTIVE" not in response.text


def _nested(depth: int) -> str:
    inner = "id"
    for _ in range(depth):
        inner = f"orders {{ edges {{ node {{ customer {{ {inner} }} }} }} }}"
    return f"{{ customers {{ edges {{ node {{ {inner} }} }} }} }}"


@pytest.mark.parametrize(
    "query",
    [
        _nested(3),
        "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }",
        "{ " + "__typename " * 5001 + "}",
        "{ __typename " + "@include(if: true) " * 51 + "}",
        "query Q { ...F0 } "
        + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(20))
        + " fragment F20 on Query { __typename }",
    ],
    ids=["depth", "aliases", "tokens", "directives", "fragment-bomb"],
)
def test_documents_over_the_limits_are_refused(
    client: TestClient, auth: dict[str, str], query: str
) -> None:
    response = client.post(
        "/graphql", json={"query": query}, headers={**auth, "X-Purpose": "customer_support"}
    )
    assert response.status_code == 400, response.text
    assert code_of(response) == "QUERY_TOO_COMPLEX"


def test_unexpected_failures_are_masked(
    client: TestClient,
    auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a resolver that fails with internal details
    from schema import queries

    def broken() -> Any:
        raise RuntimeError("SELECT secret FROM customer -- internal detail")

    monkeypatch.setattr(queries, "policy_document", broken)
    # when it runs
    with caplog.at_level(logging.ERROR, logger="steward.graphql"):
        response = client.post(
            "/graphql", json={"query": "{ policy { purposes { id } } }"}, headers=auth
        )
    # then the caller gets a generic error with a request id, and the log has the details
    assert response.status_code == 500
    error = response.json()["errors"][0]
    assert error["message"] == "Internal server error."
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "secret" not in response.text
    request_id = error["extensions"]["requestId"]
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_flood_from_one_caller_is_rate_limited(settings: Settings, token: Any) -> None:
    # given a limit of 3 requests a minute per client and subject
    limited = settings.model_copy(update={"rate_limit": "3/minute"})
    with TestClient(create_app(limited)) as client:
        first = {"Authorization": f"Bearer {token(SCOPE, sub='agent-1')}"}
        other = {"Authorization": f"Bearer {token(SCOPE, sub='agent-2')}"}
        statuses = [
            client.post("/graphql", json={"query": "{ __typename }"}, headers=first).status_code
            for _ in range(5)
        ]
        # then the fourth is refused with Retry-After, and another subject has its own bucket
        assert statuses == [200, 200, 200, 429, 429]
        refused = client.post("/graphql", json={"query": "{ __typename }"}, headers=first)
        assert code_of(refused) == "RATE_LIMITED"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert (
            client.post("/graphql", json={"query": "{ __typename }"}, headers=other).status_code
            == 200
        )


@pytest.mark.redis
def test_rate_limits_are_shared_through_redis(settings: Settings, token: Any) -> None:
    # given two replicas sharing one Redis, and a limit of 3 a minute
    import uuid

    shared = settings.model_copy(
        update={"rate_limit": "3/minute", "redis_url": SecretStr(redis_or_skip())}
    )
    caller = {"Authorization": f"Bearer {token(SCOPE, sub=f'agent-{uuid.uuid4().hex}')}"}
    with TestClient(create_app(shared)) as one, TestClient(create_app(shared)) as two:
        # when one caller spreads its requests over both
        statuses = [
            replica.post("/graphql", json={"query": "{ __typename }"}, headers=caller).status_code
            for replica in (one, two, one, two)
        ]
    # then the window is counted once, across replicas
    assert statuses == [200, 200, 200, 429]


def test_unreachable_redis_fails_closed(settings: Settings, token: Any) -> None:
    broken = settings.model_copy(update={"redis_url": SecretStr("redis://127.0.0.1:1/0")})
    with TestClient(create_app(broken)) as client:
        response = client.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"Authorization": f"Bearer {token(SCOPE)}"},
        )
    assert response.status_code == 503
    assert code_of(response) == "SERVICE_UNAVAILABLE"


def test_introspection_and_graphiql_can_be_turned_off(settings: Settings, token: Any) -> None:
    closed = settings.model_copy(update={"introspection": False, "graphiql": False})
    auth = {"Authorization": f"Bearer {token(SCOPE)}"}
    with TestClient(create_app(closed)) as client:
        introspection = client.post(
            "/graphql", json={"query": "{ __schema { types { name } } }"}, headers=auth
        )
        page = client.get("/graphql", headers={"Accept": "text/html"})
    assert code_of(introspection) == "GRAPHQL_VALIDATION_FAILED"
    assert introspection.json().get("data") is None
    assert page.status_code != 200
    assert "graphiql" not in page.text.lower()


def test_an_anonymous_caller_learns_nothing_about_the_schema(client: TestClient) -> None:
    for query in ("{ __schema { types { name } } }", "{ customerz }", "{ customers( }"):
        response = client.post("/graphql", json={"query": query})
        assert response.status_code == 401
        assert response.json() == {
            "errors": [
                {
                    "message": response.json()["errors"][0]["message"],
                    "extensions": {"code": "UNAUTHENTICATED"},
                }
            ]
        }
        assert "customer" not in response.text.lower()


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("X-Purpose", ["customer_support", "legal_order"]),
        ("X-Purpose", ["customer_support", "customer_support"]),
        ("X-Legal-Reference", ["court-order-1", "court-order-2"]),
    ],
)
def test_a_purpose_header_sent_twice_is_refused(
    client: TestClient, auth: dict[str, str], name: str, values: list[str]
) -> None:
    # given a request that sends a purpose header twice (the first would have been accepted)
    headers = [*auth.items(), ("X-Purpose", "customer_support")]
    headers = [h for h in headers if h[0] != name] + [(name, value) for value in values]
    # when it asks for customer data
    response = client.post(
        "/graphql", json={"query": "{ customers { totalCount } }"}, headers=headers
    )
    # then it is refused as a bad request, whichever header came first
    assert response.status_code == 400
    assert code_of(response) == "BAD_REQUEST"
    assert name in response.json()["errors"][0]["message"]
