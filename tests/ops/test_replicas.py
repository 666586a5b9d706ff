"""Two replicas on one PostgreSQL database: a change through one holds on the other at once.

Two real ``steward serve`` processes share the database, the key file, the public URL and
Redis, as replicas behind a load balancer do. Each scenario first lets replica B serve the
caller (warming whatever B caches), then changes something through replica A or the CLI, and
checks B's very next request.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.settings import Settings
from auth.policy import scopes as s
from auth.policy.purposes import Purpose
from auth.tokens.issuer import issue_token
from auth.tokens.keys import generate, load_or_create
from tests.support.callers import PRIVACY_ADMIN, scope
from tests.support.operations import CREATE_CUSTOMER, PROBE
from tests.support.postgres import fresh_postgres_database
from tests.support.replicas import PUBLIC_URL, Replicas, data_of, two_replicas
from tests.support.servers import (
    Server,
    graphql,
    jti_of,
    redis_or_skip,
    running,
    server_env,
    steward,
)

# One worker runs this module: its module-scoped servers start once (pytest-xdist's loadgroup).
pytestmark = pytest.mark.xdist_group("replicas")

STAFF = scope(
    s.CUSTOMERS_READ,
    s.CUSTOMERS_READ_IDENTITY,
    s.CUSTOMERS_READ_CONTACT,
    s.CUSTOMERS_WRITE,
    s.CONSENTS_READ,
    s.CONSENTS_WRITE,
    Purpose.CUSTOMER_SUPPORT.scope,
    Purpose.MARKETING.scope,
)

CONSENT = """
mutation Consent($customerId: ID!, $granted: Boolean!) {
  recordConsent(customerId: $customerId, purpose: MARKETING, granted: $granted, source: WEB) {
    status
  }
}
"""
MARKETING_LIST = "query Offers { customers(first: 100) { edges { node { id firstName } } } }"
LOOKUP = "query One($id: ID!) { customer(id: $id) { id status firstName email } }"
ERASE = 'mutation Erase($id: ID!) { eraseCustomer(id: $id, reason: "customer asked") { status } }'
POLICY = "query Policy { policy { purposes { id } } }"


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    with two_replicas(tmp_path_factory.mktemp("replicas")) as running_pair:
        yield running_pair


def _create_customer(replicas: Replicas, token: str, **fields: str) -> str:
    customer = {
        "country": "VN",
        "preferredLanguage": "vi-VN",
        "firstName": "Lan",
        "lastName": "Nguyễn",
        "email": f"lan.{uuid.uuid4().hex[:8]}@example.vn",
        **fields,
    }
    data = data_of(
        graphql(
            replicas.a.url, token, CREATE_CUSTOMER, {"input": customer}, purpose="customer_support"
        )
    )
    return str(data["createCustomer"]["id"])


def _marketing_ids(server: Server, token: str) -> set[str]:
    data = data_of(graphql(server.url, token, MARKETING_LIST, purpose="marketing"))
    return {edge["node"]["id"] for edge in data["customers"]["edges"]}


@pytest.mark.postgres
def test_replicas_share_one_key_set_and_accept_each_others_tokens(replicas: Replicas) -> None:
    # given two replicas that started at once with a missing key file
    keys = json.loads(replicas.settings.key_file.read_text())
    # then there is one key set, both publish it
    jwks_a = httpx.get(f"{replicas.a.url}/.well-known/jwks.json", timeout=10).json()
    jwks_b = httpx.get(f"{replicas.b.url}/.well-known/jwks.json", timeout=10).json()
    assert jwks_a == jwks_b
    assert [key["kid"] for key in jwks_a["keys"]] == [key["kid"] for key in keys["keys"]]
    # and a token that one replica's token endpoint issues is accepted by the other
    registered = json.loads(
        replicas.steward("clients", "add", "reporting", "--scope", "customers:read")
    )
    credentials = (registered["client_id"], registered["client_secret"])
    for issuer, verifier in ((replicas.a, replicas.b), (replicas.b, replicas.a)):
        response = httpx.post(
            f"{issuer.url}/oauth/token",
            data={"grant_type": "client_credentials", "scope": "customers:read"},
            auth=credentials,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        assert data_of(graphql(verifier.url, token, POLICY))


@pytest.mark.postgres
def test_consent_withdrawal_holds_on_the_other_replica(replicas: Replicas) -> None:
    # given a customer who consented to marketing, seen under marketing through replica B
    staff = replicas.token(STAFF)
    customer = _create_customer(replicas, staff)
    consent = {"customerId": customer, "granted": True}
    data_of(graphql(replicas.a.url, staff, CONSENT, consent, purpose="customer_support"))
    assert customer in _marketing_ids(replicas.b, staff)
    # when the consent is withdrawn through replica A
    consent["granted"] = False
    withdrawn = data_of(
        graphql(replicas.a.url, staff, CONSENT, consent, purpose="customer_support")
    )
    assert withdrawn["recordConsent"]["status"] == "WITHDRAWN"
    # then B's very next request under marketing no longer finds the customer
    assert customer not in _marketing_ids(replicas.b, staff)
    lookup = data_of(graphql(replicas.b.url, staff, LOOKUP, {"id": customer}, purpose="marketing"))
    assert lookup["customer"] is None


@pytest.mark.postgres
def test_erasure_holds_on_the_other_replica(replicas: Replicas) -> None:
    # given a customer whose name replica B shows under customer support
    staff = replicas.token(STAFF)
    customer = _create_customer(replicas, staff, firstName="Huong")
    before = data_of(
        graphql(replicas.b.url, staff, LOOKUP, {"id": customer}, purpose="customer_support")
    )
    assert before["customer"]["firstName"] == "Huong"
    # when a privacy administrator erases the customer through replica A
    admin = replicas.token(PRIVACY_ADMIN, sub="dpo-1")
    erased = data_of(graphql(replicas.a.url, admin, ERASE, {"id": customer}))
    assert erased["eraseCustomer"]["status"] == "ERASED"
    # then B's very next request shows an erased customer without personal values
    after = graphql(replicas.b.url, staff, LOOKUP, {"id": customer}, purpose="customer_support")
    seen = data_of(after)["customer"]
    assert seen["status"] == "ERASED"
    assert seen["firstName"] is None
    assert seen["email"] is None


@pytest.mark.postgres
def test_client_removal_holds_on_the_other_replica(replicas: Replicas) -> None:
    # given a registered client whose token replica B has accepted (and cached)
    registered = json.loads(
        replicas.steward(
            "clients", "add", "courier", "--scope", "customers:read purpose:customer_support"
        )
    )
    credentials = (registered["client_id"], registered["client_secret"])
    response = httpx.post(
        f"{replicas.a.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=credentials,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    data_of(graphql(replicas.b.url, token, PROBE, purpose="customer_support"))
    # when the client is removed with the CLI
    assert "removed" in replicas.steward("clients", "remove", registered["client_id"])
    # then both replicas refuse its token from the next request on
    for server in (replicas.b, replicas.a):
        refused = graphql(server.url, token, PROBE, purpose="customer_support")
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "INVALID_TOKEN"
    # and neither issues it a new token
    again = httpx.post(
        f"{replicas.b.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=credentials,
        timeout=30,
    )
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client"


@pytest.mark.postgres
def test_revocation_holds_on_the_other_replica(replicas: Replicas) -> None:
    # given a token from `steward token` that both replicas have accepted (and cached)
    token = replicas.steward("token", "--scope", STAFF, "--client-id", "support-desk").strip()
    for server in (replicas.a, replicas.b):
        data_of(graphql(server.url, token, PROBE, purpose="customer_support"))
    # when it is revoked with the CLI
    replicas.steward("revoke", jti_of(token))
    # then both replicas refuse it from the next request on
    for server in (replicas.b, replicas.a):
        refused = graphql(server.url, token, PROBE, purpose="customer_support")
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "INVALID_TOKEN"
        assert "revoked" in refused.headers["www-authenticate"]


@pytest.mark.postgres
def test_logs_are_json_lines_without_tokens_or_personal_values(replicas: Replicas) -> None:
    # given requests that carry a token and personal values in their variables
    staff = replicas.token(STAFF, client_id="logging-check")
    email = f"private.{uuid.uuid4().hex[:8]}@example.vn"
    customer = _create_customer(replicas, staff, firstName="Thảo", email=email)
    response = graphql(replicas.b.url, staff, LOOKUP, {"id": customer}, purpose="customer_support")
    data_of(response)
    request_id = response.headers["x-request-id"]
    time.sleep(0.2)  # the log line is written once the response has gone
    # then each replica's output is JSON lines, B's holding one line for that request
    records = replicas.b.log_records()
    line = next(r for r in records if r.get("request_id") == request_id)
    assert line["logger"] == "steward.access"
    assert line["client_id"] == "logging-check"
    assert line["purpose"] == "customer_support"
    assert line["operation"] == "One"
    assert line["status"] == 200
    assert line["duration_ms"] > 0
    for server in (replicas.a, replicas.b):
        text = server.log()
        assert server.log_records()
        assert staff not in text
        assert staff.split(".")[2] not in text  # not even the signature
        for value in (email, "Thảo", "Nguyễn", customer):
            assert value not in text


@pytest.mark.postgres
@pytest.mark.redis
def test_rate_limits_are_shared_through_redis(tmp_path: Path) -> None:
    # given two replicas that count requests in the local Redis, 4 a minute per caller
    redis_url = redis_or_skip()
    client_id = f"rate-{uuid.uuid4().hex[:10]}"
    with fresh_postgres_database() as url:
        key_file = tmp_path / "keys.json"
        env = server_env(
            database_url=url,
            key_file=str(key_file),
            public_url=PUBLIC_URL,
            redis_url=redis_url,
            rate_limit="4/minute",
        )
        a, b = Server(env, tmp_path), Server(env, tmp_path)
        try:
            with running(a, b):
                settings = Settings(
                    _env_file=None,
                    database_url=url,
                    key_file=key_file,
                    public_url=PUBLIC_URL,
                )
                token = issue_token(
                    settings.tokens,
                    load_or_create(key_file),
                    scope="customers:read purpose:customer_support",
                    subject="analyst",
                    client_id=client_id,
                )
                # when the caller spends its 4 requests on both replicas
                for server in (a, b, a, b):
                    data_of(graphql(server.url, token, PROBE, purpose="customer_support"))
                # then each replica refuses the 5th, whichever gets it
                for server in (a, b):
                    refused = graphql(server.url, token, PROBE, purpose="customer_support")
                    assert refused.status_code == 429
                    assert int(refused.headers["retry-after"]) >= 1
                    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        finally:
            _forget_rate_limits(redis_url, client_id)


def _forget_rate_limits(redis_url: str, client_id: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
    try:
        for key in client.scan_iter(match=f"*{client_id}*"):
            client.delete(key)
    finally:
        client.close()


def test_processes_creating_the_key_file_at_once_end_with_one_key_set(tmp_path: Path) -> None:
    # given several processes told to load a key file that does not exist yet
    path = tmp_path / "shared" / "keys.json"
    go = tmp_path / "go"
    script = (
        "import sys, time, pathlib\n"
        "from auth.tokens.keys import load_or_create\n"
        "go = pathlib.Path(sys.argv[2])\n"
        "deadline = time.monotonic() + 30\n"
        "while not go.exists() and time.monotonic() < deadline:\n"
        "    time.sleep(0.001)\n"
        "print(' '.join(k.kid for k in load_or_create(pathlib.Path(sys.argv[1]))))\n"
    )
    env = server_env()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path), str(go)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    try:
        time.sleep(1.0)  # let every interpreter start and wait
        # when they are released at the same moment
        go.touch()
        outputs = [process.communicate(timeout=60) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    # then they all loaded the same single key, and one file holds it
    assert all(process.returncode == 0 for process in processes), outputs
    kids = {out.strip() for out, _err in outputs}
    assert len(kids) == 1
    assert len(next(iter(kids)).split()) == 1
    assert [p.name for p in path.parent.iterdir()] == ["keys.json"]
    assert json.loads(path.read_text())["keys"][0]["kid"] == next(iter(kids))


@pytest.mark.postgres
def test_key_rotation_in_two_rolling_restarts_refuses_no_token(tmp_path: Path) -> None:
    # A replica reads the key file when it starts, so during a rolling restart replicas that
    # loaded the file before and after an edit serve side by side. Each such replica is
    # started here from a copy of the file as it was at its start.
    with fresh_postgres_database() as url:
        k1, k2 = generate().as_dict(private=True), generate().as_dict(private=True)
        versions = {
            "before": [k1],
            "K2 appended": [k1, k2],  # step 1: published everywhere, not signing yet
            "K2 first": [k2, k1],  # step 2: signing
        }
        servers: dict[str, Server] = {}
        for name, keys in versions.items():
            key_file = tmp_path / name.replace(" ", "-") / "keys.json"
            key_file.parent.mkdir()
            key_file.write_text(json.dumps({"keys": keys}))
            key_file.chmod(0o600)
            env = server_env(database_url=url, key_file=str(key_file), public_url=PUBLIC_URL)
            servers[name] = Server(env, tmp_path)
        registered = json.loads(
            steward(["clients", "add", "app", "--scope", "customers:read"], env, tmp_path)
        )
        credentials = (registered["client_id"], registered["client_secret"])
        with running(*servers.values()):
            before, appended, first = servers.values()
            # step 1 half-way: old and new replicas both sign with K1 and accept each other
            _assert_cross_accepted([before, appended], credentials, signer=str(k1["kid"]))
            # step 2 half-way: K2-signed tokens are accepted by the replicas of step 1
            _assert_cross_accepted(
                [first], credentials, signer=str(k2["kid"]), verifiers=[appended]
            )
            _assert_cross_accepted(
                [appended], credentials, signer=str(k1["kid"]), verifiers=[first]
            )
            # whereas prepending K2 in one step would have had replicas refuse each other
            token = _token_from(first, credentials)
            refused = graphql(before.url, token, POLICY)
            assert refused.status_code == 401
            assert refused.json()["errors"][0]["extensions"]["code"] == "INVALID_TOKEN"


def _token_from(issuer: Server, credentials: tuple[str, str]) -> str:
    response = httpx.post(
        f"{issuer.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=credentials,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _assert_cross_accepted(
    issuers: list[Server],
    credentials: tuple[str, str],
    *,
    signer: str,
    verifiers: list[Server] | None = None,
) -> None:
    for issuer in issuers:
        token = _token_from(issuer, credentials)
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        assert header["kid"] == signer
        for verifier in verifiers or issuers:
            answer = graphql(verifier.url, token, POLICY)
            assert answer.status_code == 200, answer.text
