"""Database faults: unreachable, silent, too slow, read-only; one log line for each failure.

PostgreSQL is taken away through a TCP proxy in front of the shared server (never the server
itself); SQLite through a write lock another connection holds. Timeouts are set small here
(connect 2 s, the least PostgreSQL's client takes; statement 1 s; pool 1 s), so the deadline
of a request is 3 s.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, make_url, text
from starlette.testclient import TestClient

from api.app import create_app
from api.demo import load_demo_data
from api.settings import Settings
from auth.tokens import clients
from auth.tokens.issuer import issue_token
from auth.tokens.keys import load_or_create
from store.database import make_engine, session_factory, transaction, upgrade
from tests.support.faults import Mode, proxy_to
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import Server, running, served, server_env

PUBLIC_URL = "http://127.0.0.1:8000"  # Authlib's token endpoint wants https or loopback
PROBE = "query Probe { customers(first: 1) { totalCount } }"
READ = "query Read { customers(first: 3) { edges { node { id country } } } }"
READER = "customers:read purpose:customer_support metrics:read"
CLIENT_SCOPE = "customers:read"
DEADLINE = 3.0
BOUND = 10.0
"""Seconds within which a refused request must have been answered: the deadline and slack."""


def _settings(url: str, key_file: Path, **more: Any) -> Settings:
    return Settings(
        _env_file=None,
        database_url=url,
        key_file=key_file,
        public_url=PUBLIC_URL,
        database_connect_timeout=2,
        database_statement_timeout=1,
        database_pool_timeout=1,
        **more,
    )


def _token(settings: Settings, scope: str = READER) -> str:
    keys = load_or_create(settings.key_file)
    return issue_token(settings.tokens, keys, scope=scope, subject="ops-1", client_id="ops")


def _graphql(base: str, token: str) -> httpx.Response:
    return httpx.post(
        f"{base}/graphql",
        json={"query": PROBE},
        headers={"Authorization": f"Bearer {token}", "X-Purpose": "customer_support"},
        timeout=20,
    )


def _metrics(base: str, token: str) -> httpx.Response:
    return httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=20)


def _token_request(base: str, client: tuple[str, str]) -> httpx.Response:
    basic = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
    return httpx.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
        timeout=20,
    )


def _timed(call: Any, *args: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call(*args)
    return response, time.monotonic() - started


def _assert_graphql_unavailable(response: httpx.Response | httpx2.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    assert "SELECT" not in error["message"]


def _assert_oauth_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["error"] == "temporarily_unavailable"
    assert set(body) <= {"error", "error_description"}


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["blackhole", "refuse"])
def test_requests_get_503_within_the_deadline_when_postgresql_is_out_of_reach(
    mode: Mode, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with fresh_postgres_database() as url, proxy_to(url) as proxy:
        # given a server whose pool already holds connections through the proxy
        settings = _settings(proxy.url(url), key_file)
        app = create_app(settings)
        with transaction(app.state.sessions) as session:
            client = clients.register(session, "ops-client", CLIENT_SCOPE)
        token = _token(settings)
        with served(app) as base:
            assert _graphql(base, token).status_code == 200
            assert _token_request(base, client).status_code == 200
            assert _metrics(base, token).status_code == 200
            # when the network to the database goes silent, or refuses
            proxy.set(mode)
            caplog.clear()
            with caplog.at_level(logging.INFO):
                answers = [
                    _timed(_graphql, base, token),
                    _timed(_token_request, base, client),
                    _timed(_metrics, base, token),
                ]
            # then each endpoint answers 503 in its own shape, within the deadline
            (graphql, graphql_took), (oauth, oauth_took), (scrape, scrape_took) = answers
            _assert_graphql_unavailable(graphql)
            _assert_oauth_unavailable(oauth)
            _assert_graphql_unavailable(scrape)
            assert max(graphql_took, oauth_took, scrape_took) < BOUND
            # and each failure is one log line with its cause, no traceback
            _assert_one_line_per_failure(caplog, 3)
            # and once the database is back, so is the service
            proxy.set("pass")
            assert _graphql(base, token).status_code == 200


@pytest.mark.postgres
def test_a_statement_over_the_timeout_is_cancelled_with_503(key_file: Path) -> None:
    with fresh_postgres_database() as url:
        settings = _settings(url, key_file)
        token = _token(settings)
        locker = create_engine(url)
        try:
            with TestClient(create_app(settings)) as web, locker.connect() as lock:
                # given a table every request reads, locked by someone else
                lock.execute(text("LOCK TABLE revoked_token IN ACCESS EXCLUSIVE MODE"))
                # when a request waits for it / then PostgreSQL cancels it after 1 s: 503
                started = time.monotonic()
                response = web.post(
                    "/graphql",
                    json={"query": PROBE},
                    headers={"Authorization": f"Bearer {token}", "X-Purpose": "customer_support"},
                )
                _assert_graphql_unavailable(response)
                assert time.monotonic() - started < BOUND
                lock.rollback()
        finally:
            locker.dispose()


def test_sqlite_waits_for_the_write_lock_no_longer_than_the_statement_timeout(
    tmp_path: Path, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # given a SQLite database whose write lock another process holds
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    upgrade(url)
    settings = _settings(url, key_file)
    token = _token(settings)
    holder = sqlite3.connect(make_url(url).database or "", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with TestClient(create_app(settings)) as web, caplog.at_level(logging.INFO):
            # when a request needs the database
            started = time.monotonic()
            response = web.post(
                "/graphql",
                json={"query": PROBE},
                headers={"Authorization": f"Bearer {token}", "X-Purpose": "customer_support"},
            )
            took = time.monotonic() - started
        # then it is refused as unavailable after the statement timeout (not SQLite's 30 s)
        assert response.status_code == 503, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"
        assert took < BOUND
        _assert_one_line_per_failure(caplog, 1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_redis_failures_log_their_cause(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # given rate limits in a Redis that refuses connections (nothing listens on port 1)
    broken = settings.model_copy(update={"redis_url": SecretStr("redis://127.0.0.1:1/0")})
    token = _token(broken)
    with TestClient(create_app(broken)) as web, caplog.at_level(logging.INFO):
        # when a request is counted
        response = web.post(
            "/graphql",
            json={"query": PROBE},
            headers={"Authorization": f"Bearer {token}", "X-Purpose": "customer_support"},
        )
    # then it is refused, and its one log line says why Redis failed, not only that the
    # store did
    assert response.status_code == 503
    lines = [r for r in caplog.records if r.name.startswith("steward")]
    (line,) = lines
    assert line.name == "steward.access"
    assert "redis.exceptions.ConnectionError" in line.fields["fault"]  # type: ignore[attr-defined]
    assert line.exc_info is None


def _assert_one_line_per_failure(caplog: pytest.LogCaptureFixture, failures: int) -> None:
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in warnings if r.exc_info], [r.getMessage() for r in warnings]
    access = [r for r in warnings if r.name == "steward.access"]
    assert len(access) == failures, [r.getMessage() for r in warnings]
    assert len(warnings) == failures, [r.getMessage() for r in warnings]
    for record in access:
        fields = record.fields  # type: ignore[attr-defined]
        assert fields["status"] == 503
        assert fields["codes"] == ["DATABASE_UNAVAILABLE"]
        assert fields["fault"]


@pytest.mark.parametrize("broken", ["empty", "a directory"])
def test_serve_exits_with_one_message_when_the_key_file_is_unusable(
    tmp_path: Path, broken: str
) -> None:
    # given a key file that is empty, or not a file at all
    key_file = tmp_path / "keys.json"
    if broken == "empty":
        key_file.write_bytes(b"")
    else:
        key_file.mkdir()
    url = f"sqlite:///{tmp_path / 'steward.db'}"
    upgrade(url)
    server = Server(server_env(database_url=url, key_file=str(key_file)), tmp_path)
    server.args = ["--workers", "2"]
    # when `steward serve` starts
    server.start()
    try:
        assert server.process is not None
        try:
            code: int | None = server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None  # workers started over and over
    finally:
        server.stop()
    # then it exits at once, with one line that names the key file
    assert code == 1, server.log()
    (record,) = server.log_records()
    assert record["level"] == "critical"
    assert "STEWARD_KEY_FILE" in record["message"]
    assert str(key_file) in record["message"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_graceful_shutdown_timeout_answers_unfinished_requests_with_a_graphql_503(
    tmp_path: Path, database: str
) -> None:
    with contextlib.ExitStack() as stack:
        # given a server with 1 s of graceful shutdown, and a request held in flight by a lock
        if database == "sqlite":
            url = f"sqlite:///{tmp_path / 'steward.db'}"
            upgrade(url)
        else:
            url = stack.enter_context(fresh_postgres_database())
        key_file = tmp_path / "keys.json"
        # The Strawberry path: its transaction takes SQLite's write lock, so the lock holds
        # the request (a compiled read takes none, and this one writes no access record).
        env = server_env(
            database_url=url,
            key_file=str(key_file),
            public_url=PUBLIC_URL,
            compiled_reads="false",
        )
        server = Server(env, tmp_path, args=["--graceful-timeout", "1"])
        stack.enter_context(running(server))
        settings = _settings(url, key_file)
        stack.enter_context(_locked(url))
        answers: list[httpx.Response | BaseException] = []

        def call() -> None:
            try:
                answers.append(_graphql(server.url, _token(settings)))
            except BaseException as error:  # reported by the assertions below
                answers.append(error)

        caller = threading.Thread(target=call, daemon=True)
        caller.start()
        time.sleep(1.0)  # the request is waiting for the lock
        # when the server is told to stop and the request outlives the graceful timeout
        server.terminate()
        caller.join(timeout=20)
        # then the request gets Steward's 503, GraphQL-shaped, not uvicorn's text/plain 500
        (answer,) = answers
        assert isinstance(answer, httpx.Response), answer
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        assert int(answer.headers["retry-after"]) > 0
        assert answer.json()["errors"][0]["extensions"]["code"] == "SHUTTING_DOWN"
        assert server.process is not None
        server.process.wait(timeout=20)
        assert "Exception in ASGI application" not in server.log()


@contextlib.contextmanager
def _locked(url: str) -> Iterator[None]:
    """Hold a lock that every request waits for: SQLite's write lock, or a table's."""
    if url.startswith("sqlite"):
        holder = sqlite3.connect(make_url(url).database or "", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    locker = create_engine(url)
    try:
        with locker.connect() as lock:
            lock.execute(text("LOCK TABLE revoked_token IN ACCESS EXCLUSIVE MODE"))
            yield
            lock.rollback()
    finally:
        locker.dispose()


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_readyz_is_unready_while_the_database_refuses_writes(
    tmp_path: Path, key_file: Path, database: str
) -> None:
    with contextlib.ExitStack() as stack:
        # given a migrated database that is ready
        if database == "sqlite":
            path = tmp_path / "steward.db"
            url = f"sqlite:///{path}"
            upgrade(url)
        else:
            url = stack.enter_context(fresh_postgres_database())
        engine = make_engine(url)
        with transaction(session_factory(engine)) as session:
            load_demo_data(session, customers=3, seed=1)
        engine.dispose()
        settings = _settings(url, key_file)
        with TestClient(create_app(settings)) as web:
            assert web.get("/readyz").status_code == 200
        # when it turns read-only (a standby, or writes refused)
        if database == "sqlite":
            read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
        else:
            read_only = url
            admin = create_engine(
                make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT"
            )
            name = make_url(url).database
            with admin.connect() as connection:
                connection.execute(
                    text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
                )
            admin.dispose()
        settings = _settings(read_only, key_file)
        token = _token(settings)
        with TestClient(create_app(settings)) as web:
            ready = web.get("/readyz")
            data = web.post(
                "/graphql",
                json={"query": READ},
                headers={"Authorization": f"Bearer {token}", "X-Purpose": "customer_support"},
            )
        # then the replica is unready, as every request that reads customers fails (its
        # access record cannot be written)
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["database"] is False
        _assert_graphql_unavailable(data)
