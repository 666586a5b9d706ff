"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: send it traffic).

Readiness checks, each reported by name:

- ``database``: through the app's own pool, within :data:`TIMEOUT`, the database answers and
  accepts writes: a PostgreSQL server in recovery or with read-only transactions (a standby,
  ``default_transaction_read_only``) fails every request, since every request writes its
  access record; on SQLite, a write rolled back at once;
- ``migrations``: the database is at the newest Alembic revision of this code, or at a newer
  one (a replica of a newer release stays unready until ``steward db upgrade`` has run; the
  replicas of the release before keep serving once it has);
- ``keys``: the built-in issuer's key set is loaded with a signing key (or the issuer is off);
- ``redis``: when ``STEWARD_REDIS_URL`` is set, Redis answers (rate limits refuse without it).

Probes log at ``debug`` only, a failed one too (the load balancer and ``/metrics`` see it;
every few seconds a warning per failed check would bury the requests' own lines).

An external identity provider is not a readiness check: its keys are fetched on demand and
kept when it is down, and taking every replica out of the load balancer would turn its outage
into Steward's.
"""

from __future__ import annotations

import logging

import anyio
import anyio.to_thread
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from joserfc.jwk import KeySet
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.ratelimit import RateLimiter
from store.database import alembic_config

__all__ = ["TIMEOUT", "Health"]

log = logging.getLogger("steward.health")

TIMEOUT = 3.0
"""Seconds each readiness check may take before it counts as failed."""


class ReadOnly(Exception):
    """The database answers but refuses writes."""


class Health:
    """The health endpoints of one app.

    Args:
        engine: the app's engine (its pool is what requests use).
        keys: the built-in issuer's keys; ``None`` when the issuer is off.
        limiter: the app's rate limiter; its Redis, if any, is checked.
    """

    def __init__(self, engine: Engine, keys: KeySet | None, limiter: RateLimiter) -> None:
        self.engine = engine
        self.keys = keys
        self.limiter = limiter
        scripts = ScriptDirectory.from_config(alembic_config(str(engine.url)))
        self.head = scripts.get_current_head()
        self.known = frozenset(script.revision for script in scripts.walk_revisions())

    def routes(self) -> list[Route]:
        """``/healthz`` and ``/readyz``."""
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
        ]

    async def healthz(self, _request: Request) -> Response:
        """200 while the process serves requests at all."""
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    async def readyz(self, _request: Request) -> Response:
        """200 when every check passes, else 503; the body names each check's result."""
        checks = {"database": False, "migrations": False, "keys": self._keys_loaded()}
        try:
            with anyio.fail_after(TIMEOUT):
                revision = await anyio.to_thread.run_sync(self._revision, abandon_on_cancel=True)
            checks["database"] = True
            checks["migrations"] = self._current(revision)
        except ReadOnly:
            log.debug("readiness: the database refuses writes")
        except Exception as error:
            log.debug("readiness: database unavailable (%s)", type(error).__name__)
        if self.limiter.pool is not None:  # Redis
            checks["redis"] = await self._redis()
        ready = all(checks.values())
        body = {"status": "ok" if ready else "unavailable", "checks": checks}
        return JSONResponse(
            body, status_code=200 if ready else 503, headers={"Cache-Control": "no-store"}
        )

    def _revision(self) -> str | None:
        """The database's migration; raises `ReadOnly` when it refuses writes."""
        with self.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                read_only = connection.execute(
                    text(
                        "SELECT pg_is_in_recovery()"
                        " OR current_setting('transaction_read_only') = 'on'"
                    )
                ).scalar_one()
            else:
                # The engine's transactions take SQLite's write lock up front; writing the
                # header's user version (unchanged, rolled back) fails on a read-only file.
                version = connection.execute(text("PRAGMA user_version")).scalar_one()
                try:
                    connection.exec_driver_sql(f"PRAGMA user_version = {int(version)}")
                    read_only = False
                except OperationalError:
                    read_only = True
                connection.rollback()
            if read_only:
                raise ReadOnly
            return MigrationContext.configure(connection).get_current_revision()

    def _current(self, revision: str | None) -> bool:
        """At this code's head, or at a revision this code does not know.

        An unknown revision was written by a newer release's ``steward db upgrade``: during a
        rolling deploy the old replicas keep serving on it (migrations are backward compatible
        for one release), rather than all leaving the load balancer at once.
        """
        return revision == self.head or (revision is not None and revision not in self.known)

    def _keys_loaded(self) -> bool:
        return self.keys is None or len(list(self.keys)) > 0

    async def _redis(self) -> bool:
        try:
            with anyio.fail_after(TIMEOUT):
                return await self.limiter.store_reachable()
        except Exception as error:
            log.debug("readiness: redis unavailable (%s)", type(error).__name__)
            return False
