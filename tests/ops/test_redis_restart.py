"""Rate limits in a Redis that restarts: a private ``redis-server`` on a free port, restarted.

Never the shared Redis on 6379: the server here is this test's own, started and stopped by it.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.support.auth import TokenFactory
from tests.support.operations import probe
from tests.support.servers import free_port

READER = "customers:read purpose:customer_support"
STEWARD_LOGGERS = ("steward", "api", "auth", "schema")
"""The loggers ``steward serve`` writes (others print only warnings and above)."""
RECOVERY = 1.0
"""Seconds after Redis answers again within which every request is served again."""


class PrivateRedis:
    """``redis-server`` on a free loopback port, in memory only, in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                *(executable, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.2)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    assert time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _concurrently(web: TestClient, callers: list[str]) -> list[int]:
    """Four requests from each caller, four at a time: several pooled connections in use."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda caller: probe(web, caller), callers * 4))


def test_a_restarted_redis_serves_the_next_request(
    settings: Settings,
    token: TokenFactory,
    private_redis: PrivateRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given rate limits in a private Redis, and pooled connections to it, used
    shared = settings.model_copy(update={"redis_url": SecretStr(private_redis.url)})
    callers = [token(READER, sub=f"staff-{number}") for number in range(3)]
    with TestClient(create_app(shared)) as web:
        assert _concurrently(web, callers) == [200] * 12
        # when Redis stops: requests are refused, each with one log line that says why
        private_redis.stop()
        with caplog.at_level(logging.DEBUG):
            assert [probe(web, caller) for caller in callers] == [503, 503, 503]
            readiness = web.get("/readyz")
        assert readiness.status_code == 503
        assert readiness.json()["checks"]["redis"] is False
        ours = [r for r in caplog.records if r.name.startswith(STEWARD_LOGGERS)]
        lines = [r for r in ours if r.levelno >= logging.INFO]
        assert [r.name for r in lines] == ["steward.access"] * 3, [r.getMessage() for r in lines]
        assert all("ConnectionError" in r.fields["fault"] for r in lines)  # type: ignore[attr-defined]
        # and the failed probe logged at debug only
        assert not [r for r in ours if r.levelno > logging.DEBUG and r not in lines]
        # and Redis starts again, on the same port, with none of the pooled connections alive
        private_redis.start()
        answered = time.monotonic()
        # then every request is served again at once, also on each pooled connection that
        # died (it is tried once more, on a new one)
        statuses = _concurrently(web, callers)
        assert time.monotonic() - answered < RECOVERY
        assert statuses == [200] * 12
        assert web.get("/readyz").status_code == 200
