"""The README's walkthrough: ``make idp`` beside ``make run`` with ``examples/idp/steward.env``.

Both run as written (``set -a && . examples/idp/steward.env && set +a && make run``), on
free ports (the documented 8000, 8001 and 8080 read as those), on a fresh database; a member
of staff signs in at the provider and reads customers under ``customer_support``, and the
web example's page knows where the provider and Steward are.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support import ROOT
from tests.support.idp import Idp, require_provider, sign_in
from tests.support.servers import free_port

STEWARD_ENV = ROOT / "examples" / "idp" / "steward.env"
CUSTOMERS = "{ customers(first: 2) { totalCount edges { node { firstName } } } }"


def documented_settings(ports: dict[str, int], copy: Path) -> Path:
    """``examples/idp/steward.env`` copied to ``copy`` with ``ports`` for the README's."""
    text = STEWARD_ENV.read_text()
    for documented, port in ports.items():
        text = text.replace(documented, f"127.0.0.1:{port}")
    copy.write_text(text)
    return copy


@contextlib.contextmanager
def make(
    target: str, env: dict[str, str], log: Path, settings: Path | None = None, **variables: int
) -> Iterator[None]:
    """``make TARGET VAR=value…`` in its own session, stopped with SIGTERM at the end; with
    ``settings``, after ``set -a && . SETTINGS && set +a``, as the README says."""
    command = shlex.join(
        ["make", "--no-print-directory", target, *(f"{k}={v}" for k, v in variables.items())]
    )
    if settings is not None:
        command = f"set -a && . {shlex.quote(str(settings))} && set +a && exec {command}"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["sh", "-c", command],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


def wait_for(url: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer:\n{log.read_text()}")


def test_make_idp_beside_make_run(tmp_path: Path) -> None:
    require_provider()
    ports = {"127.0.0.1:8000": free_port(), "127.0.0.1:8001": free_port()}
    ports["127.0.0.1:8080"] = free_port()
    api, idp_port, web_port = ports.values()
    base = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("STEWARD_", "MAKE", "MFLAGS"))
    }
    steward_env = {
        **base,
        "STEWARD_DATABASE_URL": f"sqlite:///{tmp_path / 'steward.db'}",
        "STEWARD_KEY_FILE": str(tmp_path / "steward-keys.json"),
    }
    settings = documented_settings(ports, tmp_path / "steward.env")
    idp_log, run_log = tmp_path / "make-idp.log", tmp_path / "make-run.log"
    with (
        make("idp", base, idp_log, PORT=api, IDP_PORT=idp_port, WEB_PORT=web_port),
        make("run", steward_env, run_log, settings, PORT=api),
    ):
        wait_for(f"http://127.0.0.1:{idp_port}/.well-known/openid-configuration", idp_log)
        wait_for(f"http://127.0.0.1:{web_port}/config.json", idp_log)
        wait_for(f"http://127.0.0.1:{api}/readyz", run_log)
        # the example's page is configured for the provider and Steward
        config = httpx.get(f"http://127.0.0.1:{web_port}/config.json").json()
        assert config["issuer"] == f"http://127.0.0.1:{idp_port}"
        assert config["api"] == config["resource"] == f"http://127.0.0.1:{api}"
        # and Sam of support, signed in at the provider, reads customers under customer_support
        idp = Idp(resources=(config["resource"],), port=idp_port)
        token = sign_in(idp, "sam", resource=config["resource"], scope="openid")
        response = httpx.post(
            f"http://127.0.0.1:{api}/graphql",
            json={"query": CUSTOMERS},
            headers={"Authorization": f"Bearer {token}", "X-Purpose": "customer_support"},
        )
        body = response.json()
        assert "errors" not in body, body
        assert body["data"]["customers"]["totalCount"] == 200
        assert all(edge["node"]["firstName"] for edge in body["data"]["customers"]["edges"])
    # and stopping make idp stops the provider and the example's server (make returns first)
    for port in (idp_port, web_port):
        assert stops_answering(f"http://127.0.0.1:{port}/"), f"port {port} still answers"


def stops_answering(url: str) -> bool:
    """Whether ``url`` stops answering within 30 seconds: a process told to stop takes a
    moment to close its socket, and may outlive the ``make`` that started it by that much."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
        except httpx.TransportError:
            return True
        time.sleep(0.2)
    return False
