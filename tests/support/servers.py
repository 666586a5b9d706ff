"""Real server processes and Redis, for the operations tests.

Every process started here is stopped in a ``finally`` block; every wait is bounded; every
address is on the loopback interface.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ROOT

REDIS_ENV = "STEWARD_TEST_REDIS_URL"
START_TIMEOUT = 40.0
STOP_TIMEOUT = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_or_skip() -> str:
    """The Redis of ``STEWARD_TEST_REDIS_URL``; skips without it (fails in CI).

    The URL must name its database (``redis://127.0.0.1:6379/15``): the tests write into
    it, and database 0, where Redis puts everything by default, is never used implicitly.
    Keys are the tests' own (a fresh client or subject each), so parallel workers and
    other users of that database do not meet them.
    """
    import redis
    from redis.connection import parse_url

    url = os.environ.get(REDIS_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{REDIS_ENV} must be set in CI: the Redis tests may not skip")
        pytest.skip(f"{REDIS_ENV} is not set")
    if "db" not in parse_url(url):
        pytest.fail(f"{REDIS_ENV} must name a database number, e.g. redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"{REDIS_ENV} is set, but Redis does not answer there: {error}")
    finally:
        client.close()
    return url


def server_env(**steward: str) -> dict[str, str]:
    """The environment of a child process: this one's, less every ``STEWARD_*`` and
    ``PROMETHEUS_*`` variable, plus ``STEWARD_<KEY>`` for each keyword."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STEWARD_", "PROMETHEUS_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update({f"STEWARD_{key.upper()}": value for key, value in steward.items()})
    return env


def steward(args: Sequence[str], env: dict[str, str], cwd: Path) -> str:
    """Run ``steward ARGS`` in a child process; returns its standard output."""
    done = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Server:
    """``steward serve`` in a child process on a free loopback port.

    Args:
        env: its environment (see :func:`server_env`).
        cwd: its working directory (a temporary one: no ``.env`` of the developer's).
        args: more ``serve`` options, e.g. ``["--workers", "2"]``.
    """

    env: dict[str, str]
    cwd: Path
    args: Sequence[str] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        """Start the process (without waiting for it to answer)."""
        self.log_path = self.cwd / f"server-{self.port}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from api.cli import main; main()",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    *self.args,
                ],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> Server:
        """Wait until ``/readyz`` answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited early:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.1)
        raise AssertionError(f"the server was not ready in {timeout} s:\n{self.log()}")

    def terminate(self) -> None:
        """Send SIGTERM (a graceful shutdown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited in time; returns the exit code."""
        if self.process is None:
            return None
        self.terminate()
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=STOP_TIMEOUT)

    def log(self) -> str:
        """What the process wrote so far."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines the process wrote (every line must be one)."""
        return [json.loads(line) for line in self.log().splitlines() if line.strip()]


@contextlib.contextmanager
def running(*servers: Server) -> Iterator[tuple[Server, ...]]:
    """Start the servers together, wait until each is ready, and stop them all at the end."""
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.stop()


def jti_of(token: str) -> str:
    """The ``jti`` claim of a JWT (read, not verified)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["jti"])


def graphql(
    base_url: str,
    token: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    purpose: str | None = None,
    operation_name: str | None = None,
) -> httpx.Response:
    """POST one operation to ``base_url``'s ``/graphql``, on a new connection."""
    headers = {"Authorization": f"Bearer {token}"}
    if purpose is not None:
        headers["X-Purpose"] = purpose
    body: dict[str, Any] = {"query": query, "variables": variables}
    if operation_name is not None:
        body["operationName"] = operation_name
    return httpx.post(f"{base_url}/graphql", json=body, headers=headers, timeout=30)


@contextlib.contextmanager
def served(app: Any, sock: socket.socket | None = None, **config: Any) -> Iterator[str]:
    """``app`` under uvicorn in a thread on a free loopback port (or on ``sock``, bound
    beforehand), with uvicorn's other ``config``; yields its base URL."""
    import threading

    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", access_log=False, **config
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock] if sock else None}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        if sock is not None:
            sock.close()
