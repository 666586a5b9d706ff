"""Every command in the README, run as written after ``make run``, prints what it shows.

The README's convention: each ```` ```sh ```` block is followed by a ```` ```text ```` block
of what it prints, where ``...`` stands for text that differs from run to run (a token, an
id, a time). The quick start's block (``make run``, ``make test``) is the exception: this
test starts the server with ``make run`` itself, and runs in ``make test-all`` (marked
``slow``: it takes a minute or two).

The blocks run in order in one shell, in the repository, as a reader pastes them: first the
``export BASE=…`` line that ``make run`` printed, then each block, unchanged; a variable one
block sets is there for the next. ``make run`` serves on a free port rather than 8000 (with
its database and keys in a temporary folder), so a command that named port 8000 instead of
``$BASE`` would fail; only the outputs the README shows are read for that port.
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
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```$", re.M | re.S)
"""A fenced block, at the margin or indented in a list item."""
QUICK_START = ("make run", "make test")
MARKER = "::steward-readme-block::"
DOCUMENTED = "127.0.0.1:8000"
EXPORT = re.compile(r"^export BASE=\S+ STEWARD_PUBLIC_URL=\S+$", re.M)


def blocks() -> list[tuple[str, str]]:
    """The README's shell blocks, each with the output it shows."""
    fences = [
        (match.group(2), _dedent(match.group(3), len(match.group(1))))
        for match in FENCE.finditer(README.read_text())
    ]
    found = []
    for index, (language, body) in enumerate(fences):
        if language != "sh" or any(command in body for command in QUICK_START):
            continue
        following = fences[index + 1] if index + 1 < len(fences) else ("", "")
        assert following[0] == "text", f"a ```sh block without its ```text output:\n{body}"
        found.append((body, following[1]))
    return found


def _dedent(body: str, indent: int) -> str:
    """A block's text as a reader copies it: without the indentation of its list item."""
    return "".join(
        line[indent:] if line[:indent].isspace() else line for line in body.splitlines(True)
    )


def shows(expected: str, printed: str) -> bool:
    """Whether ``printed`` is ``expected``, each ``...`` standing for any text."""
    pattern = ".*?".join(re.escape(part) for part in expected.strip().split("..."))
    return re.fullmatch(pattern, printed.strip(), re.S) is not None


def _environment(directory: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("STEWARD_", "MAKE", "MFLAGS")) and name != "BASE"
    }
    env["STEWARD_DATABASE_URL"] = f"sqlite:///{directory / 'steward.db'}"
    env["STEWARD_KEY_FILE"] = str(directory / "steward-keys.json")
    return env


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, dict[str, str]]]:
    """``make run PORT=…`` on a fresh database: its base URL, the ``export`` line it printed,
    and the environment of a second terminal (no ``STEWARD_PUBLIC_URL``, no ``BASE``)."""
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
        # What a reader pastes into the second terminal: the line make run printed.
        (line,) = EXPORT.findall((directory / "make-run.log").read_text())
        yield base, line, env
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


def test_make_run_serves_where_it_was_told_and_names_that_address(
    served: tuple[str, str, dict[str, str]],
) -> None:
    # given: make run PORT=… with STEWARD_PUBLIC_URL unset
    base, line, _env = served
    # when
    resource = httpx.get(f"{base}/.well-known/oauth-protected-resource").json()
    server = httpx.get(f"{base}/.well-known/oauth-authorization-server").json()
    root = httpx.get(f"{base}/", follow_redirects=False)
    # then: the metadata, and the line to paste, name the address served
    assert resource["resource"] == base
    assert server["issuer"] == base
    assert server["token_endpoint"] == f"{base}/oauth/token"
    assert (root.status_code, root.headers["location"]) == (302, "/graphql")
    assert line == f"export BASE={base} STEWARD_PUBLIC_URL={base}"


def test_readme_commands_name_no_port_of_their_own() -> None:
    # given / when
    commands = [body for body, _ in blocks()]
    # then: every request goes to $BASE, whatever port make run serves on
    assert commands
    assert [body for body in commands if re.search(r"(127\.0\.0\.1|localhost):\d", body)] == []


def test_make_run_prints_one_graphiql_url_whose_secret_opens_the_token_page(
    served: tuple[str, str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # given: make run PORT=…, and what it printed
    base, _line, _env = served
    log = next(tmp_path_factory.getbasetemp().glob("readme*/make-run.log")).read_text()
    urls = [line for line in log.splitlines() if "/graphql?token=" in line]
    # then: exactly one line names GraphiQL, on the address served, with the run's secret
    assert len(urls) == 1, log
    url = urls[0].split()[-1]
    assert url.startswith(f"{base}/graphql?token=")
    choice = {"scopes": ["customers:read"], "purpose": "customer_support"}
    origin = {"Origin": base}
    # and: without it, loopback alone mints nothing; with it (a cookie after the first
    # visit), the page mints a token
    assert httpx.post(f"{base}/dev/token", json=choice, headers=origin).status_code == 403
    with httpx.Client(follow_redirects=True) as browser:
        opened = browser.get(url, headers={"Accept": "text/html"})
        assert opened.status_code == 200
        assert str(opened.url) == f"{base}/graphql"
        minted = browser.post(f"{base}/dev/token", json=choice, headers=origin)
    assert minted.status_code == 200
    assert minted.json()["access_token"].startswith("eyJ")


def test_every_readme_command_prints_what_the_readme_shows(
    served: tuple[str, str, dict[str, str]],
) -> None:
    # given: the line make run printed, pasted into a second terminal, then the README's blocks
    base, line, env = served
    shown = [(body, out.replace(f"http://{DOCUMENTED}", base)) for body, out in blocks()]
    assert len(shown) >= 5
    script = f"set -euo pipefail\n{line}\n" + "".join(
        f"echo '{MARKER}'\n{body}\necho\n" for body, _ in shown
    )
    before = worktree_status()
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
    # and: the commands left no file in the repository
    assert worktree_status() == before


def worktree_status() -> str:
    """``git status --porcelain`` of the repository: changed and untracked files."""
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
