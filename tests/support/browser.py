"""A live Steward on loopback and Debian's Chromium, for the end-to-end GraphiQL tests.

Playwright drives the system's Chromium (``/usr/bin/chromium``, which ``.ci/run`` installs
with apt-get); it never downloads a browser of its own.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.app import create_app
from api.demo import load_demo_data
from api.demo_partners import load_demo_partners
from api.settings import Settings
from store.database import make_engine, session_factory, transaction, upgrade

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> Path:
    """Debian's Chromium; skipped where it is missing, except in CI, which installs it."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


def demo_database(
    directory: Path, *, customers: int = 200, seed: int = 1, partners: bool = False
) -> str:
    """A migrated SQLite database in ``directory`` holding demo data; its URL.

    The defaults are ``steward demo-data``'s, so the data is what ``make run`` shows;
    ``partners``: its demo partners too, with their consents and disclosures.
    """
    url = f"sqlite:///{directory / 'steward.db'}"
    upgrade(url)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        load_demo_data(session, customers=customers, seed=seed)
        if partners:
            load_demo_partners(session, seed=seed)
    engine.dispose()
    return url


@contextmanager
def running_steward(
    directory: Path, *, sock: socket.socket | None = None, partners: bool = False, **settings: Any
) -> Iterator[str]:
    """Steward served by uvicorn on 127.0.0.1 (a free port) in a thread; yields its base URL.

    ``public_url`` is the server's own address, so its tokens name it as their issuer.
    ``sock``: a socket already bound on loopback, when others must know the URL beforehand;
    ``partners``: the demo partners too (`demo_database`).
    """
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = Settings(
        _env_file=None,
        database_url=demo_database(directory, partners=partners),
        key_file=directory / "keys.json",
        public_url=base,
        **settings,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config), lifespan="on", ws="none", log_level="warning", access_log=False
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
