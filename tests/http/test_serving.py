"""A serving process tunes its garbage collector once the application has started; the
application has no benchmark switch."""

from __future__ import annotations

import gc
import inspect
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from api.app import GC_THRESHOLD, create_app
from api.settings import Settings


@pytest.fixture
def collector() -> Iterator[None]:
    """Give the test process its collector back as it was."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector")
def test_a_serving_app_freezes_what_startup_built_and_widens_the_young_generation(
    settings: Settings,
) -> None:
    gc.unfreeze()
    app = create_app(settings, serving=True)
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == GC_THRESHOLD
        assert client.get("/healthz").status_code == 200


@pytest.mark.usefixtures("collector")
def test_an_app_in_a_process_it_does_not_own_leaves_the_collector_alone(
    settings: Settings,
) -> None:
    gc.unfreeze()
    threshold = gc.get_threshold()
    with TestClient(create_app(settings)):
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == threshold


def test_the_application_has_no_benchmark_switch() -> None:
    # benchmarks compose their own application (bench/app.py): a deployed one has every win
    assert list(inspect.signature(create_app).parameters) == ["settings", "http", "serving"]
