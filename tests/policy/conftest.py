"""Fixtures of the policy tests: the policy model's seeded dataset."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.support.policy_model import Seeded, seed


@pytest.fixture
def data(session: Session) -> Seeded:
    """Four customers that exercise every rule (see `tests.support.policy_model.seed`)."""
    return seed(session)
