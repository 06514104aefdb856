"""The cheap paths of issue 14: each must give what the slow path gives, or skip only
where that is safe.

- the landmark fit's constant part (identity folded in) is cached between fits: a fit
  after the identity changed must equal a fresh fitter's (a stale cache would not);
- the head pose's PnP refinement is skipped where the closed form reprojects well (a
  centred face) and still runs off-axis;
- the keyframe cost gate: hand-worked medians decide every-frame regression;
- the views runner's threads run at the lower OS priority asked for.
"""
import os
import threading
import time

import numpy as np
import pytest

from faceverse_ros.core import headpose
from faceverse_ros.core.camera import CameraIntrinsics
from faceverse_ros.core.fitting import LandmarkFitter
from faceverse_ros.core.projection import to_image
from faceverse_ros.runtime.workers import TwoStageRunner
from faceverse_ros.tracking.keyframes import KeyframeCost


def _coeffs(model, rng):
    c = np.zeros(model.n_coeffs, np.float32)
    s = model.slices
    c[s["id"]] = rng.normal(0, 0.5, model.n_id)
    c[s["exp"]] = rng.normal(0, 0.3, model.n_exp)
    c[s["angles"]] = rng.uniform(-0.2, 0.2, 3)
    return c


def test_fit_after_an_identity_change_equals_a_fresh_fitter(synthetic_model):
    rng = np.random.default_rng(3)
    box = np.array([40.0, 30.0, 290.0, 280.0])
    a, b = _coeffs(synthetic_model, rng), _coeffs(synthetic_model, rng)
    lm_b = to_image(synthetic_model.landmarks_from_coeffs(b).projected[0], box)[:, :2]
    start_b = b.copy()
    start_b[synthetic_model.slices["angles"]] += 0.05
    reused = LandmarkFitter(synthetic_model)
    lm_a = to_image(synthetic_model.landmarks_from_coeffs(a).projected[0], box)[:, :2]
    reused.fit(lm_a, box, a)                      # fills the cache with identity a
    got = reused.fit(lm_b, box, start_b)          # identity b: the cache must be rebuilt
    want = LandmarkFitter(synthetic_model).fit(lm_b, box, start_b)
    np.testing.assert_array_equal(got.coeffs, want.coeffs)
    assert got.rms_px == want.rms_px
    again = reused.fit(lm_b, box, start_b)        # same identity: the cached part, same answer
    np.testing.assert_array_equal(again.coeffs, want.coeffs)


def _count_pnp(monkeypatch):
    import cv2

    calls = []
    real = cv2.solvePnP

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cv2, "solvePnP", counting)
    return calls


def test_pnp_skipped_for_a_centred_face_only(synthetic_model, monkeypatch):
    calls = _count_pnp(monkeypatch)
    c = np.zeros(synthetic_model.n_coeffs, np.float32)
    cam = CameraIntrinsics.default(1280, 720)
    headpose.head_pose(synthetic_model, c, np.array([540.0, 260.0, 740.0, 460.0]), cam)
    assert calls == []  # centred on the principal point: the closed form is exact
    monkeypatch.setattr(headpose, "REFINE_MIN_ERROR", 0.0)  # always refine: it runs
    headpose.head_pose(synthetic_model, c, np.array([540.0, 260.0, 740.0, 460.0]), cam)
    assert calls == [1]


def test_keyframe_cost_gate_hand_worked():
    cost = KeyframeCost(window=5, min_samples=3, probe_every=4)
    for ms in (10.0, 12.0):
        cost.record(True, ms)
        cost.record(False, 11.0)
    assert not cost.regress_every_frame()        # 2 samples each: not measured yet
    cost.record(True, 30.0)                      # regress median of 10, 12, 30 = 12
    cost.record(False, 11.0)                     # fit median 11: fits are cheaper
    assert cost.medians() == (12.0, 11.0)
    assert not cost.regress_every_frame()
    cost.record(False, 20.0)
    cost.record(False, 20.0)                     # fits 11, 11, 11, 20, 20: median 11 still
    assert not cost.regress_every_frame()
    for _ in range(3):
        cost.record(False, 20.0)                 # window 5: 20 x 5, median 20 > 12
    answers = [cost.regress_every_frame() for _ in range(8)]
    assert answers == [True, True, True, False] * 2  # one probe fit in four
    cost.record(True, float("nan"))              # ignored
    assert cost.medians() == (12.0, 20.0)


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="needs per-thread priorities")
def test_views_runner_threads_run_niced():
    seen = {}
    got = threading.Event()

    def first(item):
        seen["first"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return item

    def second(item):
        seen["second"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        got.set()

    base = os.getpriority(os.PRIO_PROCESS, 0)
    runner = TwoStageRunner(first, second, nice=5, name="test_views")
    try:
        runner.submit(1)
        assert got.wait(10)
    finally:
        runner.close()
    assert seen["first"] == seen["second"] == min(base + 5, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # caller untouched
