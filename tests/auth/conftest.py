"""Fixtures of the auth tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """The async tests run on asyncio (the app's loop)."""
    return "asyncio"
