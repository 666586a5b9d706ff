"""Every command of ``docs/deploy.md`` runs as written, in an empty folder.

The page's ```` ```sh ```` blocks run in bash and its ```` ```python ```` block in the
project's Python, each in the order an operator meets them, with ``steward`` on ``PATH`` and
no ``STEWARD_*`` variable set but those a block sets itself. The key file is created first
and ``steward db upgrade`` (which the page names in its text, "Migrations on deploy") runs
next, as the page orders them before the first deploy. The replica's ``steward serve`` is
served on a free port instead of 8000 and stopped with SIGTERM once ``/readyz`` answered 200.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT
from tests.support.servers import free_port

DEPLOY = ROOT / "docs" / "deploy.md"
FENCE = re.compile(r"^ *```(\w*)\n(.*?)^ *```$", re.M | re.S)
SERVE = "steward serve "
DOCUMENTED_PORT = "--port 8000"


def blocks(language: str) -> list[str]:
    """The page's blocks in ``language``, dedented as a reader copies them."""
    found = []
    for match in FENCE.finditer(DEPLOY.read_text()):
        if match.group(1) == language:
            lines = match.group(2).splitlines()
            indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
            found.append("\n".join(line[indent:] for line in lines) + "\n")
    return found


def _environment() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("STEWARD_", "PROMETHEUS_", "MAKE", "MFLAGS"))
    }
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _bash(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    directory = tmp_path / "deploy"
    directory.mkdir()
    return directory


def test_the_key_file_is_created_without_a_database(folder: Path) -> None:
    # given the page's key-creation block, in an empty folder without any configuration
    [create] = [block for block in blocks("sh") if "steward-keys.json" in block]
    # when it runs as written
    done = _bash(create, folder)
    # then it succeeds quietly, creates the key file 0600 with one key, and no database
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    key_file = folder / "steward-keys.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(json.loads(key_file.read_text())["keys"]) == 1
    assert sorted(path.name for path in folder.iterdir()) == ["steward-keys.json"]
    # and run a second time it leaves the file as it was, and says so
    before = key_file.read_bytes()
    again = _bash(create, folder)
    assert again.returncode == 1
    assert "exists" in again.stderr
    assert key_file.read_bytes() == before


def test_the_rotation_snippet_appends_a_key_to_the_created_file(folder: Path) -> None:
    # given the key file, created as the page says
    [create] = [block for block in blocks("sh") if "steward-keys.json" in block]
    assert _bash(create, folder).returncode == 0
    first = json.loads((folder / "steward-keys.json").read_text())["keys"]
    # when the rotation snippet runs as written
    [rotate] = blocks("python")
    done = subprocess.run(
        [sys.executable, "-c", rotate],
        cwd=folder,
        env={**_environment(), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # then the set holds the old key first and a new one after it, still 0600
    assert done.returncode == 0, done.stderr
    keys = json.loads((folder / "steward-keys.json").read_text())["keys"]
    assert len(keys) == 2
    assert keys[0] == first[0]
    assert keys[1]["kid"] != first[0]["kid"]
    assert stat.S_IMODE((folder / "steward-keys.json").stat().st_mode) == 0o600


def test_every_shell_command_of_the_page_runs(folder: Path) -> None:
    # given an empty folder, the key file created first ("once, before the first deploy")
    # and the database migrated ("before the new replicas start"), as the page says
    shell = blocks("sh")
    [create] = [block for block in shell if "steward-keys.json" in block]
    [serve] = [block for block in shell if block.startswith(SERVE)]
    assert DOCUMENTED_PORT in serve
    for step in (create, "steward db upgrade"):
        done = _bash(step, folder)
        assert done.returncode == 0, f"$ {step}\n{done.stderr}"
    others = [block for block in shell if block is not create]
    assert len(others) >= 2
    for block in others:
        # when each other block runs as written
        if block is serve:
            _serve(block, folder)
            continue
        done = _bash(block, folder)
        # then it succeeds
        assert done.returncode == 0, f"$ {block}\n{done.stderr}"
        if "steward clients add" in block:
            assert set(json.loads(done.stdout)) == {"client_id", "client_secret"}


def _serve(block: str, folder: Path) -> None:
    """Run the replica's command on a free port; it serves, and exits 0 on SIGTERM."""
    port = free_port()
    command = block.replace(DOCUMENTED_PORT, f"--port {port}")
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=folder,
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        ready = False
        while not ready and time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                time.sleep(0.2)
        assert ready, f"$ {command}\ndid not become ready"
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
