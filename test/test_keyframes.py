"""KeyframeSchedule: first frame, interval, drift trigger, failed fits, requests, restarts."""
import math

import pytest

from faceverse_ros.tracking.keyframes import KeyframeSchedule


def run(sched, frames, rms=0.5):
    """Drive the schedule like the pipeline does; return the regressed frame numbers."""
    out = []
    for i in range(frames):
        if sched.should_regress():
            sched.record(True)
            out.append(i)
        else:
            sched.record(False, rms(i) if callable(rms) else rms)
    return out


@pytest.mark.parametrize("interval, expected", [
    (1, list(range(12))),
    (2, [0, 2, 4, 6, 8, 10]),
    (3, [0, 3, 6, 9]),
    (5, [0, 5, 10]),
    (20, [0]),
])
def test_interval_regresses_first_frame_then_every_nth(interval, expected):
    assert run(KeyframeSchedule(interval=interval, drift_px=None), 12) == expected


def test_first_frame():
    s = KeyframeSchedule(interval=4, drift_px=2.0)
    assert s.should_regress() and s.reason() == "first"
    with pytest.raises(ValueError, match="without a keyframe"):
        s.record(False, 0.1)  # a fit without a keyframe is a caller error
    s.record(True)
    assert not s.should_regress() and s.reason() is None


def test_drift_trigger_only_above_threshold_and_only_for_fits():
    s = KeyframeSchedule(interval=100, drift_px=2.0)
    s.record(True, rms_px=50.0)           # a regression's residual never triggers
    assert not s.should_regress()
    s.record(False, 2.0)                   # equal to the threshold: not above it
    assert not s.should_regress()
    s.record(False, 2.01)
    assert s.should_regress() and s.reason() == "drift"
    s.record(True)
    assert not s.should_regress()
    # a drifting fit in the middle of an interval moves the next keyframe earlier
    regressed = run(KeyframeSchedule(interval=4, drift_px=1.0), 12, rms=lambda i: 5.0 if i == 2 else 0.2)
    assert regressed == [0, 3, 7, 11]


def test_drift_disabled_with_zero_or_none():
    for d in (0, None, 0.0):
        s = KeyframeSchedule(interval=100, drift_px=d)
        s.record(True)
        s.record(False, 1e6)
        assert not s.should_regress()


def test_failed_fit_forces_regression():
    for bad in (None, math.nan, math.inf):
        s = KeyframeSchedule(interval=100, drift_px=None)
        s.record(True)
        s.record(False, bad)
        assert s.reason() == "fit_failed"


def test_request_restart_and_counts():
    s = KeyframeSchedule(interval=10, drift_px=None)
    s.request()                                 # before the first keyframe: still "first"
    assert s.reason() == "first"
    s.record(True)
    s.record(False, 0.1)
    assert (s.since, s.fits, s.regressions, s.last_rms_px) == (1, 1, 1, 0.1)
    s.request()
    assert s.reason() == "requested"
    s.record(True)
    assert not s.should_regress()
    s.restart()
    assert s.reason() == "first"


@pytest.mark.parametrize("kwargs", [dict(interval=0), dict(interval=2.5), dict(interval=True), dict(interval="3"),
                                    dict(drift_px=-1.0), dict(drift_px=math.nan)])
def test_bad_settings(kwargs):
    with pytest.raises(ValueError):
        KeyframeSchedule(**kwargs)


def test_late_keyframes_stretch_the_interval_and_timely_ones_shrink_it():
    """slower() doubles the interval in force up to max_interval, faster() halves it down to
    interval; the frames asked to regress follow it (hand-worked: 5 -> 10 -> 20 -> 40)."""
    s = KeyframeSchedule(interval=5, drift_px=0, max_interval=40)
    assert s.current == 5
    assert run(s, 11, rms=1.0) == [0, 5, 10]
    currents = []
    for _ in range(4):
        s.slower()
        currents.append(s.current)
    assert currents == [10, 20, 40, 40]
    # since = 0 after frame 10's keyframe: the next is 40 frames later
    assert run(s, 41, rms=1.0) == [39]
    currents = []
    for _ in range(4):
        s.faster()
        currents.append(s.current)
    assert currents == [20, 10, 5, 5]
    s.slower()
    s.restart()  # a new start takes the configured interval again
    assert s.current == 5


def test_max_interval_at_or_below_the_interval_stretches_nothing():
    s = KeyframeSchedule(interval=5, drift_px=0, max_interval=3)
    assert s.max_interval == 5
    s.slower()
    assert s.current == 5
    with pytest.raises(ValueError, match="max_interval"):
        KeyframeSchedule(interval=5, max_interval=0)
