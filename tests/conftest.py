"""Fixtures: a real app over a real database (SQLite, and PostgreSQL when configured).

Every test that takes ``db_url`` runs on both databases. PostgreSQL is found through
``STEWARD_TEST_POSTGRES_URL``; under CI it is required, so the PostgreSQL run never skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session
from sqlmodel import SQLModel
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from auth.tokens.issuer import issue_token
from auth.tokens.keys import load_or_create
from store.database import make_engine, session_factory, upgrade

POSTGRES_ENV = "STEWARD_TEST_POSTGRES_URL"


def _postgres_server() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    if not url and os.environ.get("CI"):
        pytest.fail(f"{POSTGRES_ENV} must be set in CI: the PostgreSQL run may not skip")
    return url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'steward.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    server = _postgres_server()
    if not server:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    base = make_url(server)
    if base.drivername == "postgresql":
        base = base.set(drivername="postgresql+psycopg")
    name = f"steward_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    _empty(url)
    return url


def _empty(url: str) -> None:
    engine = create_engine(url)
    tables = [table.name for table in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608
    engine.dispose()


BOTH_EXECUTORS = ("test_policy_", "test_row_rules", "test_privacy_")
"""Modules whose tests run against both executors: compiled reads, and Strawberry alone."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rpartition(".")[2]
    if "executor" in metafunc.fixturenames and module.startswith(BOTH_EXECUTORS):
        metafunc.parametrize("executor", ["compiled", "strawberry"])


@pytest.fixture
def executor() -> str:
    """Which executor answers queries: ``compiled`` (the default) or ``strawberry``."""
    return "compiled"


@pytest.fixture(scope="session")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    load_or_create(path)
    return path


@pytest.fixture
def settings(db_url: str, key_file: Path, executor: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        key_file=key_file,
        public_url="http://testserver",
        compiled_reads=executor == "compiled",
    )


@pytest.fixture
def app(settings: Settings) -> Any:
    return create_app(settings)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url, pool_size=2, write_lock=False)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session


TokenFactory = Callable[..., str]


@pytest.fixture
def token(settings: Settings) -> TokenFactory:
    """Signs real access tokens with the built-in issuer's keys."""
    keys = load_or_create(settings.key_file)

    def make(scope: str, *, sub: str = "staff-1", client_id: str = "test-client") -> str:
        return issue_token(settings.tokens, keys, scope=scope, subject=sub, client_id=client_id)

    return make


Gql = Callable[..., Any]


@pytest.fixture
def gql(client: TestClient, token: TokenFactory) -> Gql:
    """Posts an operation with a token for ``scope`` and an optional purpose; returns the JSON."""

    def run(
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        scope: str,
        purpose: str | None = None,
        sub: str = "staff-1",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Any:
        sent = {"Authorization": f"Bearer {token(scope, sub=sub)}", **(headers or {})}
        if purpose is not None:
            sent["X-Purpose"] = purpose
        response = client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=sent
        )
        assert response.status_code == status, response.text
        return response.json()

    return run


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a thread; yields its base URL."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
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
        thread.join(timeout=10)
