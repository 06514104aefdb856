"""KeyframeScheduler: first frame, interval, drift trigger, failed fits, lost faces."""
import math

import pytest

from faceverse_ros.tracking.keyframes import KeyframeScheduler


def run(sched, face, frames, rms=0.5):
    """Drive the scheduler like the pipeline does; return the regressed frame numbers."""
    out = []
    for i in range(frames):
        if sched.should_regress(face):
            sched.record(face, True)
            out.append(i)
        else:
            sched.record(face, False, rms(i) if callable(rms) else rms)
    return out


@pytest.mark.parametrize("interval, expected", [
    (1, list(range(12))),
    (2, [0, 2, 4, 6, 8, 10]),
    (3, [0, 3, 6, 9]),
    (5, [0, 5, 10]),
    (20, [0]),
])
def test_interval_regresses_first_frame_then_every_nth(interval, expected):
    assert run(KeyframeScheduler(interval=interval, drift_px=None), "a", 12) == expected


def test_first_frame_and_unknown_faces():
    s = KeyframeScheduler(interval=4, drift_px=2.0)
    assert s.should_regress(7) and s.reason(7) == "first"
    assert 7 not in s
    with pytest.raises(ValueError, match="no keyframe"):
        s.record(7, False, 0.1)  # a fit without a keyframe is a caller error
    s.record(7, True)
    assert 7 in s and not s.should_regress(7) and s.reason(7) is None


def test_drift_trigger_only_above_threshold_and_only_for_fits():
    s = KeyframeScheduler(interval=100, drift_px=2.0)
    s.record("f", True, rms_px=50.0)           # a regression's residual never triggers
    assert not s.should_regress("f")
    s.record("f", False, 2.0)                   # equal to the threshold: not above it
    assert not s.should_regress("f")
    s.record("f", False, 2.01)
    assert s.should_regress("f") and s.reason("f") == "drift"
    s.record("f", True)
    assert not s.should_regress("f")
    # a drifting fit in the middle of an interval moves the next keyframe earlier
    regressed = run(KeyframeScheduler(interval=4, drift_px=1.0), "g", 12, rms=lambda i: 5.0 if i == 2 else 0.2)
    assert regressed == [0, 3, 7, 11]


def test_drift_disabled_with_zero_or_none():
    for d in (0, None, 0.0):
        s = KeyframeScheduler(interval=100, drift_px=d)
        s.record(1, True)
        s.record(1, False, 1e6)
        assert not s.should_regress(1)


def test_failed_fit_forces_regression():
    for bad in (None, math.nan, math.inf):
        s = KeyframeScheduler(interval=100, drift_px=None)
        s.record(0, True)
        s.record(0, False, bad)
        assert s.reason(0) == "fit_failed"


def test_end_reset_retain_and_request():
    s = KeyframeScheduler(interval=10, drift_px=None)
    for f in ("a", "b", "c"):
        s.record(f, True)
        s.record(f, False, 0.1)
    assert not any(s.should_regress(f) for f in "abc")
    s.end("a")                                  # lost: comes back as a first frame
    assert s.reason("a") == "first"
    s.end("never-seen")                         # harmless
    s.retain(["b"])                             # only b is in this frame
    assert s.face_ids == ["b"] and s.reason("c") == "first"
    s.request("b")
    assert s.reason("b") == "requested"
    s.record("b", True)
    assert not s.should_regress("b")
    s.reset()
    assert s.face_ids == [] and s.should_regress("b")


def test_faces_are_independent():
    s = KeyframeScheduler(interval=3, drift_px=1.0)
    s.record(1, True)
    s.record(2, True)
    s.record(1, False, 0.1)
    s.record(2, False, 9.0)                     # only face 2 drifts
    assert not s.should_regress(1) and s.should_regress(2)
    st = s.state(1)
    assert (st.since, st.fits, st.regressions, st.last_rms_px) == (1, 1, 1, 0.1)
    st.since = 99                               # a copy: the scheduler is unaffected
    assert s.state(1).since == 1


@pytest.mark.parametrize("kwargs", [dict(interval=0), dict(interval=2.5), dict(interval=True), dict(interval="3"),
                                    dict(drift_px=-1.0), dict(drift_px=math.nan)])
def test_bad_settings(kwargs):
    with pytest.raises(ValueError):
        KeyframeScheduler(**kwargs)
