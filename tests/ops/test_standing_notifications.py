"""PostgreSQL announces every change to a token's standing; a replica keeps a standing only
while it hears them, and checks it heard everything before it uses one
(`store.notifications.Changes`, migration 0010).

Real PostgreSQL: the triggers fire in real transactions, the listener is a real connection,
and a broken listener is broken by the server (``pg_terminate_backend``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, text, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from auth.tokens.issuer import issue_token
from auth.tokens.keys import load_or_create
from store import models
from store.database import make_engine, session_factory, transaction
from store.notifications import STANDING_CHANNEL, Changes
from tests.support.operations import probe
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import jti_of

READER = "customers:read purpose:customer_support"


@pytest.fixture
def postgres() -> Iterator[Engine]:
    with fresh_postgres_database() as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
async def changes(postgres: Engine) -> AsyncIterator[Changes]:
    listener = Changes.for_engine(postgres, STANDING_CHANNEL)
    assert listener is not None
    await listener.start()
    yield listener
    listener.close()


async def _heard(changes: Changes, timeout: float = 5.0) -> int:
    """The generation once a barrier gives one (after a reconnection, say)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        generation = await changes.barrier()
        if generation is not None:
            return generation
        await asyncio.sleep(0.01)
    raise AssertionError("no generation within the timeout")


def _customer() -> models.Customer:
    return models.Customer(
        id=1, country="VN", preferred_language="vi-VN", first_name="Lan", email="l@example.com"
    )


def _partner(client_id: str, **fields: Any) -> models.Partner:
    return models.Partner(client_id=client_id, name=client_id.title(), **fields)


CHANGES: dict[str, Callable[[Session], object]] = {
    "a token revoked": lambda s: s.add(models.RevokedToken(jti="j-1")),
    "a client removed": lambda s: s.execute(
        update(models.OAuthClient).values(removed_at=models.utcnow())
    ),
    "a partner registered": lambda s: s.add(_partner("courier")),
    "a client limited to its documents": lambda s: s.add(
        models.TrustedDocumentsOnly(client_id="app")
    ),
    "a customer's subject linked": lambda s: s.execute(
        update(models.Customer).values(subject="sub-1")
    ),
    "a customer erased": lambda s: s.execute(delete(models.Customer)),
}


def _one_customer(engine: Engine) -> None:
    with transaction(session_factory(engine)) as session:
        session.add(_customer())


@pytest.mark.anyio
@pytest.mark.parametrize("change", list(CHANGES))
async def test_each_change_to_a_standing_is_counted_by_the_next_barrier(
    postgres: Engine, changes: Changes, change: str
) -> None:
    # given a listener, and a customer
    _one_customer(postgres)
    before = await _heard(changes)
    # when a change to what a standing is read from is made
    with transaction(session_factory(postgres)) as session:
        CHANGES[change](session)
        session.flush()
        # then nothing is counted before the commit
        assert await changes.barrier() == before
    # and the very next barrier after the commit counts it
    assert await changes.barrier() == before + 1


@pytest.mark.anyio
async def test_a_customers_other_columns_are_not_announced(
    postgres: Engine, changes: Changes
) -> None:
    # given a customer, and a listener
    _one_customer(postgres)
    before = await _heard(changes)
    # when a column that no standing reads changes
    with transaction(session_factory(postgres)) as session:
        session.execute(update(models.Customer).values(first_name="Mai", email="m@example.com"))
    # then nothing is announced: kept standings stay kept
    assert await changes.barrier() == before


@pytest.mark.anyio
async def test_barriers_in_flight_share_a_heartbeat_and_each_sees_what_came_before(
    postgres: Engine, changes: Changes
) -> None:
    # given a listener
    before = await _heard(changes)
    # when many requests ask at once (one of them gives up), and a change commits before the
    # last of them asks
    first = [asyncio.ensure_future(changes.barrier()) for _ in range(20)]
    await asyncio.sleep(0)
    first[3].cancel()
    with transaction(session_factory(postgres)) as session:
        session.add(models.RevokedToken(jti="j-2"))
    last = await changes.barrier()
    # then the last one counts the change, and none counts more than there was
    assert last == before + 1
    answers = await asyncio.gather(*first, return_exceptions=True)
    assert isinstance(answers.pop(3), asyncio.CancelledError)
    assert set(answers) <= {before, before + 1}


@pytest.mark.anyio
async def test_a_listener_whose_connection_dies_gives_no_generation_then_a_new_one(
    postgres: Engine, changes: Changes
) -> None:
    # given a listener that hears the channel
    before = await _heard(changes)
    # when the server ends its connection
    with postgres.begin() as connection:
        ended = connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'steward listener' AND datname = current_database()"
            )
        ).all()
    assert ended == [(True,)]
    # then the next barrier gives no generation (keep nothing), and once it listens again
    # one that no standing kept before can match
    assert await changes.barrier() is None
    assert changes.generation() is None
    assert await _heard(changes) > before


@pytest.mark.anyio
async def test_a_closed_listener_gives_no_generation(postgres: Engine, changes: Changes) -> None:
    await _heard(changes)
    changes.close()
    assert await changes.barrier() is None
    assert changes.generation() is None


@pytest.fixture
def served(key_file: Path) -> Iterator[tuple[TestClient, Settings, Engine]]:
    with fresh_postgres_database() as url:
        settings = Settings(database_url=url, key_file=key_file, rate_limit="100000/minute")
        writer = make_engine(url)
        with TestClient(create_app(settings)) as client:
            yield client, settings, writer
        writer.dispose()


def test_a_kept_standing_is_refused_at_once_after_each_change(
    served: tuple[TestClient, Settings, Engine],
) -> None:
    # given tokens whose standing the app keeps (each served twice), changed one at a time by
    # another connection, as the CLI or another replica would
    client, settings, writer = served
    keys = load_or_create(settings.key_file)

    def issued(client_id: str) -> str:
        return issue_token(settings.tokens, keys, scope=READER, subject="s", client_id=client_id)

    sessions = session_factory(writer)
    changes: list[Callable[[Session, str, str], None]] = [
        lambda session, token, _client: session.add(models.RevokedToken(jti=jti_of(token))),
        lambda session, _token, client: session.add(_partner(client, removed_at=models.utcnow())),
        lambda session, _token, client: session.add(models.TrustedDocumentsOnly(client_id=client)),
    ]
    refusals = [401, 401, 403]
    for round_ in range(15):
        for index, change in enumerate(changes):
            client_id = f"client-{round_}-{index}"
            token = issued(client_id)
            assert probe(client, token) == 200
            assert probe(client, token) == 200
            # when the change commits
            with transaction(sessions) as session:
                change(session, token, client_id)
            # then the very next request is refused (a client limited to its registered
            # documents may not send text: 403)
            assert probe(client, token) == refusals[index], (round_, index)


def test_a_partner_registered_until_a_time_is_read_every_time(
    served: tuple[TestClient, Settings, Engine],
) -> None:
    # given a partner registered until two seconds from now (time enough for two requests
    # on a loaded machine), whose token was served
    client, settings, writer = served
    keys = load_or_create(settings.key_file)
    until = models.utcnow() + timedelta(seconds=2)
    with transaction(session_factory(writer)) as session:
        session.add(_partner("courier", until=until))
    token = issue_token(settings.tokens, keys, scope=READER, subject="s", client_id="courier")
    assert probe(client, token) == 200
    assert probe(client, token) == 200
    # when that time passes, with no change announced
    time.sleep(max(0.0, (until - models.utcnow()).total_seconds()) + 0.1)
    # then its next request is refused
    assert probe(client, token) == 401
