"""Fixtures of the privacy tests: the seeded world and its tables."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.support.world import Person, Tables, seed


@pytest.fixture
def people(session: Session) -> tuple[Person, Person]:
    """The two seeded customers (IR, then VN)."""
    return seed(session)


@pytest.fixture
def tables(engine: Engine) -> Tables:
    """Direct reads of the tables."""
    return Tables(engine)
