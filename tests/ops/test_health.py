"""``/healthz``, ``/readyz`` and graceful shutdown."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from auth.tokens.issuer import issue_token
from auth.tokens.keys import load_or_create
from store.database import upgrade
from tests.support.operations import PROBE
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import (
    Server,
    graphql,
    redis_or_skip,
    running,
    server_env,
)


def _ready(settings: Settings) -> tuple[int, dict[str, Any]]:
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.headers["cache-control"] == "no-store"
    return response.status_code, response.json()


def test_healthz_answers_while_the_process_lives(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_each_check(client: TestClient) -> None:
    # given a migrated database and a loaded key set / when readiness is asked
    response = client.get("/readyz")
    # then every check passes, each named
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": True, "migrations": True, "keys": True},
    }


def test_readyz_is_unavailable_while_migrations_are_pending(
    settings: Settings, tmp_path: Path
) -> None:
    # given a reachable database that `steward db upgrade` has not migrated yet
    empty = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'new.db'}"})
    # when readiness is asked / then the replica is not ready, and says why
    status, body = _ready(empty)
    assert status == 503
    assert body["checks"] == {"database": True, "migrations": False, "keys": True}


def test_readyz_stays_ready_on_a_database_migrated_by_a_newer_release(
    settings: Settings, tmp_path: Path
) -> None:
    # given a database that a newer release's `steward db upgrade` took past this code's head
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe0002'"))
    engine.dispose()
    # when this (older) replica is asked / then it keeps serving during the rolling deploy
    status, body = _ready(settings.model_copy(update={"database_url": url}))
    assert status == 200
    assert body["checks"]["migrations"] is True


@pytest.mark.postgres
def test_readyz_on_a_postgresql_database_not_migrated_yet(settings: Settings) -> None:
    with fresh_postgres_database(migrate=False) as url:
        status, body = _ready(settings.model_copy(update={"database_url": url}))
    assert status == 503
    assert body["checks"] == {"database": True, "migrations": False, "keys": True}


def test_readyz_is_unavailable_when_the_database_is_unreachable(settings: Settings) -> None:
    # given a database server that refuses connections (nothing listens on port 1)
    unreachable = settings.model_copy(
        update={"database_url": "postgresql+psycopg://steward@127.0.0.1:1/steward"}
    )
    # when readiness is asked / then it fails fast, without details of the error
    started = time.monotonic()
    status, body = _ready(unreachable)
    assert status == 503
    assert body == {
        "status": "unavailable",
        "checks": {"database": False, "migrations": False, "keys": True},
    }
    assert time.monotonic() - started < 10


@pytest.mark.redis
def test_readyz_checks_redis_when_it_is_configured(settings: Settings) -> None:
    # given the local Redis for shared rate limits / then readiness includes it
    shared = settings.model_copy(update={"redis_url": SecretStr(redis_or_skip())})
    status, body = _ready(shared)
    assert (status, body["checks"]["redis"]) == (200, True)
    # and a Redis that does not answer makes the replica unready (requests would get 503)
    broken = settings.model_copy(update={"redis_url": SecretStr("redis://127.0.0.1:1/0")})
    status, body = _ready(broken)
    assert (status, body["checks"]["redis"]) == (503, False)


@pytest.mark.postgres
def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    # given a server, and a request held in flight by a lock on a table it must read
    with fresh_postgres_database() as url:
        env = server_env(
            database_url=url,
            key_file=str(tmp_path / "keys.json"),
            public_url="https://steward.test",
        )
        server = Server(env, tmp_path, args=["--graceful-timeout", "20"])
        locker = create_engine(url)
        answers: list[httpx.Response | BaseException] = []
        try:
            with running(server), locker.connect() as lock:
                token = _token(url, tmp_path / "keys.json")
                lock.execute(text("LOCK TABLE revoked_token IN ACCESS EXCLUSIVE MODE"))

                def call() -> None:
                    try:
                        answers.append(
                            graphql(server.url, token, PROBE, purpose="customer_support")
                        )
                    except BaseException as error:  # reported by the assertions below
                        answers.append(error)

                caller = threading.Thread(target=call, daemon=True)
                caller.start()
                _wait_for_a_blocked_query(locker)
                # when the server is told to stop
                server.terminate()
                # then it takes no new connections but is still running
                _wait_until_refused(server.url)
                time.sleep(1.0)  # well past uvicorn's first look at its open connections
                assert server.process is not None
                assert server.process.poll() is None
                assert not answers
                # and once the lock goes, the request in flight completes, then the server exits
                lock.rollback()
                caller.join(timeout=30)
                (answer,) = answers
                assert isinstance(answer, httpx.Response), answer
                assert answer.status_code == 200, answer.text
                assert answer.json()["data"]["customers"]["totalCount"] == 0
                # (uvicorn re-raises the signal once it has shut down cleanly)
                assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
                assert "Waiting for connections to close" in server.log()
        finally:
            locker.dispose()


@pytest.mark.postgres
def test_sigterm_answers_a_request_on_a_kept_alive_connection_503_not_a_reset(
    tmp_path: Path,
) -> None:
    # given a server, a kept-alive connection that was served once, and a request held in
    # flight by a lock (so that the shutdown waits)
    with fresh_postgres_database() as url:
        env = server_env(
            database_url=url,
            key_file=str(tmp_path / "keys.json"),
            public_url="https://steward.test",
        )
        server = Server(env, tmp_path, args=["--graceful-timeout", "20"])
        locker = create_engine(url)
        answers: list[httpx.Response | BaseException] = []
        try:
            with running(server), locker.connect() as lock:
                token = _token(url, tmp_path / "keys.json")
                host, port = server.url.removeprefix("http://").split(":")
                kept = socket.create_connection((host, int(port)), timeout=10)
                kept.sendall(KEPT_ALIVE_PROBE)
                assert _read_response(kept)[0] == 200
                lock.execute(text("LOCK TABLE revoked_token IN ACCESS EXCLUSIVE MODE"))

                def call() -> None:
                    try:
                        answers.append(
                            graphql(server.url, token, PROBE, purpose="customer_support")
                        )
                    except BaseException as error:  # reported by the assertions below
                        answers.append(error)

                caller = threading.Thread(target=call, daemon=True)
                caller.start()
                _wait_for_a_blocked_query(locker)
                # when the server is told to stop, and then the kept-alive connection sends
                server.terminate()
                _wait_until_refused(server.url)
                time.sleep(0.5)  # past uvicorn's shutdown of its open connections
                kept.sendall(KEPT_ALIVE_PROBE)
                # then it is answered 503 SHUTTING_DOWN with Connection: close, and closed
                status, headers, body = _read_response(kept)
                assert status == 503
                assert headers["connection"] == "close"
                assert headers["retry-after"]
                assert json.loads(body)["errors"][0]["extensions"]["code"] == "SHUTTING_DOWN"
                assert kept.recv(1024) == b""
                kept.close()
                # and the request in flight still completes, then the server exits
                lock.rollback()
                caller.join(timeout=30)
                (answer,) = answers
                assert isinstance(answer, httpx.Response), answer
                assert answer.status_code == 200, answer.text
                assert server.process is not None
                assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
        finally:
            locker.dispose()


KEPT_ALIVE_PROBE = b"GET /healthz HTTP/1.1\r\nHost: steward\r\n\r\n"


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response (status, lower-cased headers, body) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed without a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        assert chunk, "the connection closed in the middle of a response"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _token(url: str, key_file: Path) -> str:
    settings = Settings(
        _env_file=None,
        database_url=url,
        key_file=key_file,
        public_url="https://steward.test",
    )
    return issue_token(
        settings.tokens,
        load_or_create(key_file),
        scope="customers:read purpose:customer_support",
        subject="staff-1",
        client_id="support-desk",
    )


def _wait_for_a_blocked_query(engine: Any) -> None:
    # Its own connection, one transaction per look: pg_stat_activity is a per-transaction snapshot.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            waiting = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the request never reached the database")


def _wait_until_refused(base_url: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base_url}/healthz", timeout=1)
        # A connection the kernel accepted just before uvicorn closed its socket is reset.
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
            return
        time.sleep(0.05)
    raise AssertionError("the server still accepts connections after SIGTERM")
