"""Fixtures every test folder uses: a real app over a real database, and signed tokens.

Every test that takes ``db_url`` runs on both databases: SQLite, and PostgreSQL through
``STEWARD_TEST_POSTGRES_URL`` (see `tests.support.postgres`; under CI it is required, so the
PostgreSQL run never skips).

Where things go (tests mirror the packages):

- ``tests/auth/``: tokens, keys, the external provider, the OAuth token endpoint, the CLI's
  token and client commands (`auth.tokens`).
- ``tests/policy/``: the policy table, row rules and what a caller may see (`auth.policy`).
- ``tests/privacy/``: the domain operations: audit, consent, erasure, export, legal
  requests, self-service, input validation (`privacy`).
- ``tests/graphql/``: queries, mutations and the exported schema (`schema`).
- ``tests/http/``: the HTTP protocol, CORS, GraphiQL, serving, fuzzing, the audit suite
  (`api`'s web side).
- ``tests/clients/``: people signing in from apps at a real OpenID provider: the web
  example in the browser, a native app, staff single sign-on (`tests.support.idp`).
- ``tests/ops/``: health, logs, metrics, replicas, the database engine, demo data, bench.
- ``tests/support/``: everything shared: callers, the seeded world, operations, PostgreSQL,
  tokens and the fake identity provider, server processes, the browser, the policy model.

A folder's own fixtures live in its ``conftest.py``; this file keeps only what every folder
needs. A fixture is defined in one place; a helper used by two folders goes to
``tests/support/``. Test modules are named without their folder's prefix
(``tests/privacy/test_erasure.py``, not ``test_privacy_erasure.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session
from sqlmodel import SQLModel
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.settings import Settings
from auth.tokens.issuer import issue_token
from auth.tokens.keys import load_or_create
from store.database import make_engine, session_factory, upgrade
from tests.support.auth import TokenFactory
from tests.support.executors import no_compiled_statement, strawberry_only
from tests.support.operations import Gql
from tests.support.postgres import fresh_postgres_database

pytest_plugins = ["tests.support.idp"]
"""The session's OpenID provider world (`tests.support.idp.idp_world`), for ``tests/clients/``."""


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'steward.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


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


BOTH_EXECUTORS = ("tests.policy.", "tests.privacy.")
"""Packages whose tests run against both executors: compiled reads, and Strawberry alone."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__
    if "executor" in metafunc.fixturenames and module.startswith(BOTH_EXECUTORS):
        metafunc.parametrize("executor", ["compiled", "strawberry"])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks ``postgres`` the PostgreSQL runs of tests that run on both databases, so that
    ``-m postgres`` (or ``-m "not postgres"``) selects every test of that database."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("db_url") == "postgresql":
            item.add_marker(pytest.mark.postgres)


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
        _env_file=None,
        database_url=db_url,
        key_file=key_file,
        public_url="http://testserver",
        compiled_reads=executor == "compiled",
    )


@pytest.fixture
def steward(settings: Settings) -> CliRunner:
    """Runs ``steward`` against the test database and keys."""
    return CliRunner(
        env={
            "STEWARD_DATABASE_URL": settings.database_url,
            "STEWARD_KEY_FILE": str(settings.key_file),
            "STEWARD_PUBLIC_URL": settings.public_url,
        }
    )


@pytest.fixture
def app(settings: Settings, executor: str) -> Iterator[Any]:
    """Steward; under ``executor="strawberry"``, provably without its compiler."""
    if executor == "compiled":
        yield create_app(settings)
        return
    reference = strawberry_only(settings)
    with no_compiled_statement(reference):
        yield reference


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


@pytest.fixture
def token(settings: Settings) -> TokenFactory:
    """Signs real access tokens with the built-in issuer's keys."""
    keys = load_or_create(settings.key_file)

    def make(scope: str, *, sub: str = "staff-1", client_id: str = "test-client") -> str:
        return issue_token(settings.tokens, keys, scope=scope, subject=sub, client_id=client_id)

    return make


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
