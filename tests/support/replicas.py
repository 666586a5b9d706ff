"""Two real Steward servers on one PostgreSQL database, as a fleet behind a load balancer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api.settings import Settings
from auth.tokens.issuer import issue_token
from auth.tokens.keys import load_or_create
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import Server, redis_or_skip, running, server_env, steward

PUBLIC_URL = "https://steward.test"  # the load balancer terminates TLS


@dataclass
class Replicas:
    """Two servers and what a client of theirs needs."""

    a: Server
    b: Server
    env: dict[str, str]
    workdir: Path
    settings: Settings

    def token(self, scope: str, *, client_id: str = "staff-app", sub: str = "staff-1") -> str:
        """A token of the built-in issuer, signed with the replicas' shared key file."""
        keys = load_or_create(self.settings.key_file)
        return issue_token(
            self.settings.tokens, keys, scope=scope, subject=sub, client_id=client_id
        )

    def steward(self, *args: str) -> str:
        """Run the CLI against the replicas' database and key file."""
        return steward(args, self.env, self.workdir)


@contextmanager
def two_replicas(workdir: Path) -> Iterator[Replicas]:
    """Two servers sharing a fresh database, a key file (missing: both start at once) and
    Redis (skipped without it)."""
    key_file = workdir / "shared" / "keys.json"
    redis_url = redis_or_skip()
    with fresh_postgres_database() as url:
        env = server_env(
            database_url=url, key_file=str(key_file), public_url=PUBLIC_URL, redis_url=redis_url
        )
        a, b = Server(env, workdir), Server(env, workdir)
        with running(a, b):
            settings = Settings(
                _env_file=None, database_url=url, key_file=key_file, public_url=PUBLIC_URL
            )
            yield Replicas(a, b, env, workdir, settings)


def data_of(response: httpx.Response) -> dict[str, Any]:
    """The ``data`` of a response that must have succeeded."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]
