"""Every command in the README, run as written after ``make run``, prints what it shows.

The README's convention: each ```` ```sh ```` block is followed by a ```` ```text ```` block
of what it prints, where ``...`` stands for text that differs from run to run (a token, an
id, a time). The quick start's block (``make run``, ``make test``) is the exception: this
test starts the server with ``make run`` itself, and runs in ``make test-all`` (marked
``slow``: it takes a minute or two).

The blocks run in order in one shell, in the repository, as a reader pastes them: a variable
one block sets is there for the next. ``make run`` serves on a free port rather than 8000,
with its database and keys in a temporary folder, so the README's ``127.0.0.1:8000`` is
read as that port, and the commands' ``steward token`` names the same issuer.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT
from tests.support.servers import free_port

# One worker runs this module: its module-scoped servers start once (pytest-xdist's loadgroup).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("readme")]

README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
QUICK_START = ("make run", "make test")
MARKER = "::steward-readme-block::"
DOCUMENTED = "127.0.0.1:8000"


def blocks() -> list[tuple[str, str]]:
    """The README's shell blocks, each with the output it shows."""
    fences = [(match.group(1), match.group(2)) for match in FENCE.finditer(README.read_text())]
    found = []
    for index, (language, body) in enumerate(fences):
        if language != "sh" or any(command in body for command in QUICK_START):
            continue
        following = fences[index + 1] if index + 1 < len(fences) else ("", "")
        assert following[0] == "text", f"a ```sh block without its ```text output:\n{body}"
        found.append((body, following[1]))
    return found


def shows(expected: str, printed: str) -> bool:
    """Whether ``printed`` is ``expected``, each ``...`` standing for any text."""
    pattern = ".*?".join(re.escape(part) for part in expected.strip().split("..."))
    return re.fullmatch(pattern, printed.strip(), re.S) is not None


def _environment(directory: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("STEWARD_", "MAKE", "MFLAGS"))
    }
    env["STEWARD_DATABASE_URL"] = f"sqlite:///{directory / 'steward.db'}"
    env["STEWARD_KEY_FILE"] = str(directory / "steward-keys.json")
    return env


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """``make run PORT=…`` on a fresh database; its base URL and the commands' environment."""
    directory = tmp_path_factory.mktemp("readme")
    port = free_port()
    env = _environment(directory)
    log = (directory / "make-run.log").open("w")
    server = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (directory / "make-run.log").read_text()
            assert time.monotonic() < deadline, "make run did not serve in time"
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        # The server names its own address; the CLI's tokens must name the same issuer.
        yield base, {**env, "STEWARD_PUBLIC_URL": base}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


def test_make_run_serves_where_it_was_told_and_names_that_address(
    served: tuple[str, dict[str, str]],
) -> None:
    # given: make run PORT=… with STEWARD_PUBLIC_URL unset
    base, _env = served
    # when
    resource = httpx.get(f"{base}/.well-known/oauth-protected-resource").json()
    server = httpx.get(f"{base}/.well-known/oauth-authorization-server").json()
    root = httpx.get(f"{base}/", follow_redirects=False)
    # then
    assert resource["resource"] == base
    assert server["issuer"] == base
    assert server["token_endpoint"] == f"{base}/oauth/token"
    assert (root.status_code, root.headers["location"]) == (302, "/graphql")


def test_every_readme_command_prints_what_the_readme_shows(
    served: tuple[str, dict[str, str]],
) -> None:
    # given
    base, env = served
    port = base.rsplit(":", 1)[1]
    shown = [
        (
            body.replace(DOCUMENTED, f"127.0.0.1:{port}"),
            out.replace(DOCUMENTED, f"127.0.0.1:{port}"),
        )
        for body, out in blocks()
    ]
    assert len(shown) >= 5
    script = "set -euo pipefail\n" + "".join(
        f"echo '{MARKER}'\n{body}\necho\n" for body, _ in shown
    )
    # when
    run = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    # then
    printed = run.stdout.split(f"{MARKER}\n")[1:]
    assert run.returncode == 0, f"{run.stderr}\n{run.stdout}"
    assert len(printed) == len(shown)
    for (body, expected), output in zip(shown, printed, strict=True):
        assert shows(expected, output), f"$ {body}\nprinted:\n{output}\nREADME shows:\n{expected}"
