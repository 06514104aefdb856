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
    real = cv2.solvePnPRefineLM

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cv2, "solvePnPRefineLM", counting)
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


def test_linear_update_tracks_a_small_motion_like_the_full_fit(synthetic_model):
    """One linearised solve about a fitted state recovers a small pose/expression change
    from exact landmarks nearly as well as the full fit (independent truth: the coefficients
    the landmarks were made from), and its box change is a pure re-expression."""
    from faceverse_ros.core.fast_update import LinearUpdate

    m = synthetic_model
    s = m.slices
    rng = np.random.default_rng(5)
    key = _coeffs(m, rng)
    box = np.array([40.0, 30.0, 290.0, 280.0])
    truth = key.copy()
    truth[s["angles"]] += np.array([0.02, -0.03, 0.01], np.float32)
    truth[s["trans"]] += np.array([0.01, 0.0, 0.02], np.float32)
    obs = to_image(m.landmarks_from_coeffs(truth).projected[0], box)[:, :2]
    fitter = LandmarkFitter(m)
    update = LinearUpdate(fitter)
    state = update.prepare(key, box, key[s["exp"]], 0.0)
    quick = update.update(state, obs, box)
    full = fitter.fit(obs, box, key, prior_exp=key[s["exp"]])
    err_quick = np.abs(quick.coeffs[s["angles"]] - truth[s["angles"]]).max()
    err_full = np.abs(full.coeffs[s["angles"]] - truth[s["angles"]]).max()
    moved = np.abs(truth[s["angles"]] - key[s["angles"]]).max()
    assert err_quick < 0.2 * moved          # most of the motion recovered in one solve
    assert err_quick < max(3 * err_full, 5e-3)
    assert quick.rms_px < 0.5 and update.acceptable(state, quick)
    # the same landmarks seen with another crop box: about the same image points (the
    # re-expression keeps the head origin's pixel and the scale, not the perspective)
    other = box + np.array([5.0, -4.0, 5.0, -4.0])
    moved_box = update.update(state, obs, other)
    again = to_image(m.landmarks_from_coeffs(moved_box.coeffs).projected[0], other)[:, :2]
    here = to_image(m.landmarks_from_coeffs(quick.coeffs).projected[0], box)[:, :2]
    np.testing.assert_allclose(again, here, atol=1.0)
    assert np.abs(again - here).mean() < 0.5
    # a far-off observation is flagged for the full fit
    far = obs + 25.0
    assert not update.acceptable(state, update.update(state, far * 1.2, box))


def test_linear_update_about_a_full_fit_is_its_first_order_response(synthetic_model):
    """Prepared from a full fit with that fit's landmarks: the same landmarks give back the
    fit itself (whatever its residual), and a small landmark change moves the pose the way
    a new full fit does (the fit is the independent reference)."""
    from faceverse_ros.core.fast_update import LinearUpdate

    m = synthetic_model
    s = m.slices
    rng = np.random.default_rng(11)
    truth = _coeffs(m, rng)
    box = np.array([40.0, 30.0, 290.0, 280.0])
    obs = to_image(m.landmarks_from_coeffs(truth).projected[0], box)[:, :2]
    obs = obs + rng.normal(0, 3.0, obs.shape)     # a residual the model cannot explain
    fitter = LandmarkFitter(m)
    start = truth.copy()
    start[s["angles"]] += 0.03
    fit = fitter.fit(obs, box, start, prior_exp=truth[s["exp"]])
    update = LinearUpdate(fitter, steps=1)   # the first-order response alone, no chord step
    state = update.prepare(fit.coeffs, box, truth[s["exp"]], fit.rms_px, fit=fit.linearisation)
    same = update.update(state, obs, box)
    np.testing.assert_allclose(same.coeffs, fit.coeffs, atol=1e-6)
    assert abs(same.rms_px - fit.rms_px) < 1e-3
    shifted = obs + np.array([2.0, -1.5])         # the face moved by a couple of pixels
    quick = update.update(state, shifted, box)
    again = fitter.fit(shifted, box, fit.coeffs, prior_exp=truth[s["exp"]])
    t = s["trans"]
    step_full = (again.coeffs[t] - fit.coeffs[t])[:2]   # image-plane motion (depth trades
    step_quick = (quick.coeffs[t] - fit.coeffs[t])[:2]  # against expression: not compared)
    assert np.linalg.norm(step_full) > 1e-4
    cos = step_quick @ step_full / (np.linalg.norm(step_quick) * np.linalg.norm(step_full))
    assert cos > 0.9
    # the shifted landmarks are explained about as well as by the new full fit
    assert quick.rms_px < again.rms_px + 0.1 * fit.rms_px
    assert update.acceptable(state, quick)
