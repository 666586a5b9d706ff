"""The in-memory moving window of the rate limiter (`api.ratelimit.MovingWindows`)."""

from __future__ import annotations

from api.ratelimit import MovingWindows

CALLER = ("app", "agent-1")


def test_a_full_window_refuses_until_its_oldest_hit_leaves() -> None:
    # given at most 3 hits a minute, hit at 0, 10 and 20 s
    windows = MovingWindows(3, 60)
    assert [windows.hit(CALLER, t) for t in (0.0, 10.0, 20.0)] == [None, None, None]
    # then a fourth at 30 s waits for the hit at 0 s to leave the window: 30 s
    assert windows.hit(CALLER, 30.0) == 30.0
    # and a refused hit is not counted: at 60 s there is room for one, not two
    assert windows.hit(CALLER, 60.5) is None
    assert windows.hit(CALLER, 60.6) is not None


def test_each_caller_has_its_own_window() -> None:
    windows = MovingWindows(1, 60)
    assert windows.hit(CALLER, 0.0) is None
    assert windows.hit(("app", "agent-2"), 0.0) is None
    assert windows.hit(CALLER, 1.0) == 59.0


def test_callers_idle_for_a_window_are_forgotten() -> None:
    # given a thousand callers who each hit once
    windows = MovingWindows(5, 60)
    for n in range(1000):
        windows.hit(("app", f"agent-{n}"), 0.0)
    # when a window later one caller hits again
    windows.hit(CALLER, 61.0)
    # then only that caller's hits are kept
    assert len(windows._hits) == 1
