"""Smoothers: original's exact means and delays, One Euro, rotations, gaps, live parameters."""
import math

import numpy as np
import pytest

from faceverse_ros.core.rotations import euler_to_quat, matrix_to_euler, quat_to_matrix
from faceverse_ros.tracking.face_smoothing import SmootherSettings, TrackSmoother
from faceverse_ros.tracking.smoothing import OneEuroSmoother, RotationOneEuroSmoother, make_smoother

EYES = [0.1, 0.2, 0.1, 0.2]

FPS = 30.0


def rot_zyx(a):
    """R = Rz(a2) @ Ry(a1) @ Rx(a0), written out independently of the module."""
    cx, sx = math.cos(a[0]), math.sin(a[0])
    cy, sy = math.cos(a[1]), math.sin(a[1])
    cz, sz = math.cos(a[2]), math.sin(a[2])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def geodesic(r1, r2):
    c = (np.trace(r1.T @ r2) - 1) / 2
    return math.acos(max(-1.0, min(1.0, c)))


# ---------------------------------------------------------------- original
def expected_centred(xs, k):
    """Mean of frames k-1..k+1 that exist (plain Python loop)."""
    window = [xs[j] for j in (k - 1, k, k + 1) if 0 <= j < len(xs)]
    return sum(window) / len(window)


def test_original_exact_means_and_one_frame_delay():
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=4) for _ in range(7)]
    stamps = [k / FPS for k in range(7)]
    sm = make_smoother("original")
    assert sm.delay_frames == 1
    outputs = [sm.update(t, x) for t, x in zip(stamps, xs)]
    assert outputs[0] is None
    for k in range(1, 7):  # update k returns frame k-1
        assert outputs[k].stamp == stamps[k - 1]
        np.testing.assert_allclose(outputs[k].value, expected_centred(xs, k - 1), atol=1e-12)
    tail = sm.flush()
    assert len(tail) == 1 and tail[0].stamp == stamps[6]
    np.testing.assert_allclose(tail[0].value, (xs[5] + xs[6]) / 2, atol=1e-12)
    assert sm.flush() == []


def test_original_two_stage_chain_is_two_frames_late():
    """Box stage then coefficient stage, as the original pipeline runs them."""
    rng = np.random.default_rng(1)
    boxes = [np.array([10.0, 20.0, 110.0, 120.0]) + rng.normal(size=4) for _ in range(8)]
    coeffs = [rng.normal(size=621) for _ in range(8)]
    fs = TrackSmoother(SmootherSettings(kind="original"))
    coeff_out = []
    for k in range(8):
        b = fs.smooth_box(k / FPS, boxes[k], EYES)
        if k == 0:
            assert b is None
            continue
        assert b.stamp == pytest.approx((k - 1) / FPS)
        np.testing.assert_allclose(b.box, expected_centred(boxes, k - 1), atol=1e-12)
        # the regressor runs on frame k-1 (the stamp returned) -> coefficients of frame k-1
        c = fs.smooth_coeffs(b.stamp, coeffs[k - 1])
        coeff_out.append((k, c))
    assert coeff_out[0][1] is None  # frame 0's coefficients wait for frame 1's
    for k, c in coeff_out[1:]:
        assert c.stamp == pytest.approx((k - 2) / FPS)  # two frames behind the newest image
        np.testing.assert_allclose(c.value, expected_centred(coeffs[:k], k - 2), atol=1e-12)


def test_original_gap_restarts_the_window():
    sm = make_smoother("original", max_gap_s=0.1)
    xs = [np.array([float(v)]) for v in (1, 2, 3, 100, 200)]
    stamps = [0.0, 1 / FPS, 2 / FPS, 1.0, 1.0 + 1 / FPS]   # gap of ~0.93 s before 100
    out = [sm.update(t, x) for t, x in zip(stamps, xs)]
    assert out[3] is None                                    # a new run starts
    assert out[4].stamp == 1.0 and out[4].value[0] == pytest.approx(150.0)  # no 1, 2, 3 mixed in


# ---------------------------------------------------------------- one euro
def test_one_euro_first_order_step_with_actual_dt():
    # beta = 0: a plain low-pass with cutoff fc; after one step of dt the output
    # moves by alpha = 1 / (1 + 1 / (2 pi fc dt)) of the jump (hand formula).
    for dt in (1 / 30, 1 / 10):
        sm = OneEuroSmoother(min_cutoff=2.0, beta=0.0)
        sm.update(0.0, [0.0])
        out = sm.update(dt, [1.0])
        alpha = 1.0 / (1.0 + 1.0 / (2 * math.pi * 2.0 * dt))
        assert out.stamp == dt and out.value[0] == pytest.approx(alpha)


def test_one_euro_reduces_noise_on_a_constant():
    rng = np.random.default_rng(2)
    noise = rng.normal(scale=1.0, size=(300, 3))
    sm = make_smoother("one_euro", min_cutoff=1.0, beta=0.05, d_cutoff=1.0)
    out = np.array([sm.update(k / FPS, 5.0 + noise[k]).value for k in range(300)])
    err_in = np.sqrt((noise[30:] ** 2).mean())
    err_out = np.sqrt(((out[30:] - 5.0) ** 2).mean())
    assert err_out < 0.4 * err_in
    jitter_in = np.sqrt((np.diff(noise[30:], 2, axis=0) ** 2).mean())
    jitter_out = np.sqrt((np.diff(out[30:], 2, axis=0) ** 2).mean())
    assert jitter_out < 0.2 * jitter_in  # a 3-tap mean gives (2/3) / sqrt(6) = 0.27


def test_one_euro_follows_fast_motion_better_with_beta():
    t = np.arange(60) / FPS
    ramp = 100.0 * t  # units per second
    lags = []
    for beta in (0.0, 1.0):
        sm = OneEuroSmoother(min_cutoff=1.0, beta=beta)
        out = np.array([sm.update(ti, [xi]).value[0] for ti, xi in zip(t, ramp)])
        lags.append(ramp[-1] - out[-1])
    assert lags[1] < 0.2 * lags[0]


def test_one_euro_gap_and_backwards_stamp_reset():
    sm = OneEuroSmoother(min_cutoff=0.5, beta=0.0, max_gap_s=0.2)
    for k in range(10):
        sm.update(k / FPS, [0.0])
    assert sm.update(10 / FPS, [10.0]).value[0] < 5.0      # smoothed
    assert sm.update(2.0, [10.0]).value[0] == 10.0          # after a 1.7 s gap: raw value
    assert sm.update(2.1, [20.0]).value[0] < 20.0
    assert sm.update(2.1, [30.0]).value[0] == 30.0          # repeated stamp: restart
    assert sm.update(1.0, [40.0]).value[0] == 40.0          # backwards: restart


def test_none_passes_through():
    sm = make_smoother("none")
    out = sm.update(0.5, [1.0, 2.0])
    assert out.stamp == 0.5 and list(out.value) == [1.0, 2.0]


# ---------------------------------------------------------------- rotations
def test_euler_quaternion_conventions():
    rng = np.random.default_rng(4)
    for _ in range(20):
        a = rng.uniform(-1.4, 1.4, size=3)
        np.testing.assert_allclose(quat_to_matrix(euler_to_quat(a)), rot_zyx(a), atol=1e-12)
        np.testing.assert_allclose(matrix_to_euler(rot_zyx(a)), a, atol=1e-9)


def test_quaternion_sign_continuity_across_pi_wrap():
    # a head rotation near pi about z, whose angle wraps from +pi to -pi
    zs = np.linspace(3.0, 3.3, 31)
    wrapped = (zs + math.pi) % (2 * math.pi) - math.pi
    assert wrapped[0] > 0 > wrapped[-1]
    sm = RotationOneEuroSmoother(min_cutoff=1.0, beta=0.5)
    prev_q = None
    for k, z in enumerate(wrapped):
        a = np.array([0.1, -0.05, z])
        out = sm.update(k / FPS, a)
        q = sm.quaternion
        if prev_q is not None:
            assert np.dot(q, prev_q) > 0.99             # no sign flip between estimates
        prev_q = q
        # the estimate stays near the measurement: never swings through identity
        assert geodesic(rot_zyx(out.value), rot_zyx(a)) < 0.15
        assert abs(out.value[2] - z) < 0.2              # angle unwrapped toward the input
    # the raw quaternions do flip sign across the wrap: the test exercises it
    assert np.dot(euler_to_quat([0.1, -0.05, wrapped[0]]),
                  euler_to_quat([0.1, -0.05, wrapped[-1]])) < 0


def test_rotation_filter_reduces_noise():
    rng = np.random.default_rng(5)
    truth = np.array([0.2, -0.3, 0.1])
    sm = make_smoother("one_euro", rotation=True, min_cutoff=1.0, beta=0.1)
    err_in, err_out = [], []
    for k in range(200):
        a = truth + rng.normal(scale=0.02, size=3)
        out = sm.update(k / FPS, a)
        if k >= 30:
            err_in.append(geodesic(rot_zyx(a), rot_zyx(truth)))
            err_out.append(geodesic(rot_zyx(out.value), rot_zyx(truth)))
    assert np.mean(err_out) < 0.5 * np.mean(err_in)


# ---------------------------------------------------------------- face smoother
def test_track_smoother_blocks():
    """one_euro: every block but the eyes filtered (the eyes are smoothed once, in stage 1)."""
    rng = np.random.default_rng(6)
    fs = TrackSmoother()
    base = rng.normal(size=621)
    base[611:614] = [0.1, 0.2, 0.3]
    for k in range(40):
        noisy = base + rng.normal(scale=0.01, size=621)
        b = fs.smooth_box(k / FPS, [10 + k, 10, 110 + k, 110], EYES)
        c = fs.smooth_coeffs(k / FPS, noisy)
        assert b.stamp == c.stamp == k / FPS
    assert b.box.shape == (4,) and c.value.shape == (621,) and b.eyes.shape == (4,)
    assert np.abs(c.value[:617] - base[:617]).max() < 0.03       # filtered: noise 0.01 -> below
    np.testing.assert_array_equal(c.value[617:], noisy[617:])    # eyes passed through here
    assert fs.flush_box() == [] and fs.flush_coeffs() == []      # one_euro has nothing pending


def _one_euro_two_samples(a, b, dt, min_cutoff, beta, d_cutoff):
    """The One Euro output after a first sample a and a second b, dt later (Casiez et al.
    2012 written out: alpha = 1 / (1 + tau / dt), tau = 1 / (2 pi fc); the speed estimate
    starts at 0)."""
    def alpha(fc):
        return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * fc * dt))

    dx = alpha(d_cutoff) * (b - a) / dt
    return a + alpha(min_cutoff + beta * np.abs(dx)) * (b - a)


def test_held_blocks_filter_at_keyframe_rate_and_hold_between():
    """one_euro with keyframe flags: identity, texture and lighting (the blocks only keyframes
    solve) take a value only at a new keyframe and hold in between; at the second keyframe
    they are the One Euro step worked out by hand over the keyframe spacing; the expression
    block is filtered frame by frame exactly as without flags; a gap restarts them raw."""
    from faceverse_ros.core.layout import V4
    from faceverse_ros.tracking.smoothing import DEFAULT_COEFFS

    sl = V4.slices
    held = np.r_[sl["id"], sl["tex"], sl["gamma"]]
    rng = np.random.default_rng(11)
    key_a, key_b = rng.normal(size=V4.total), rng.normal(size=V4.total)
    flagged, plain = TrackSmoother(), TrackSmoother()
    outs, exp_plain = [], []
    for k in range(10):
        c = (key_a if k < 5 else key_b).copy()
        c[sl["exp"]] = rng.normal(size=V4.size("exp"))    # per-frame values change every frame
        outs.append(flagged.smooth_coeffs(k / FPS, c, keyframe=k in (0, 5)).value)
        exp_plain.append(plain.smooth_coeffs(k / FPS, c).value[sl["exp"]])
    for k in range(5):
        np.testing.assert_array_equal(outs[k][held], key_a[held])  # the first keyframe, held
        np.testing.assert_allclose(outs[k][sl["exp"]], exp_plain[k], rtol=1e-12, atol=1e-12)
    want = _one_euro_two_samples(key_a[held], key_b[held], 5 / FPS, **DEFAULT_COEFFS)
    for k in range(5, 10):
        np.testing.assert_allclose(outs[k][held], want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(outs[9][sl["exp"]], exp_plain[9], rtol=1e-12, atol=1e-12)
    # a gap between frames (over max_gap_s) restarts the held blocks with the frame's value
    later = flagged.smooth_coeffs(10.0, key_a, keyframe=False).value
    np.testing.assert_array_equal(later[held], key_a[held])


def test_track_smoother_original_flushes_last_frame():
    fs = TrackSmoother(SmootherSettings(kind="original"))
    boxes = [np.array([k, k, k + 10.0, k + 10.0]) for k in range(3)]
    for k in range(3):
        fs.smooth_box(k / FPS, boxes[k], np.full(4, float(k)))
        fs.smooth_coeffs(k / FPS, np.full(621, float(k)))
    box_tail, coeff_tail = fs.flush_box(), fs.flush_coeffs()
    assert len(box_tail) == 1 and box_tail[0].stamp == 2 / FPS
    np.testing.assert_allclose(box_tail[0].box, (boxes[1] + boxes[2]) / 2)
    np.testing.assert_allclose(box_tail[0].eyes, np.full(4, 1.5))
    assert len(coeff_tail) == 1 and coeff_tail[0].stamp == 2 / FPS
    np.testing.assert_allclose(coeff_tail[0].value, np.full(621, 1.5))


def test_set_params_live_and_validation():
    settings = SmootherSettings(box={"min_cutoff": 0.5, "beta": 0.0})
    fs = TrackSmoother(settings)
    for k in range(10):
        fs.smooth_box(k / FPS, [0, 0, 100, 100], EYES)
    slow = fs.smooth_box(10 / FPS, [10, 0, 110, 100], EYES).box[0]
    settings.set(part="box", min_cutoff=50.0)              # state kept, response faster
    assert settings.params()["box"]["min_cutoff"] == 50.0
    fast = fs.smooth_box(11 / FPS, [20, 0, 120, 100], EYES).box[0]
    assert slow < 5.0 and fast > 15.0
    settings.set(kind="none")
    np.testing.assert_allclose(fs.smooth_box(1.0, [1, 2, 3, 4], EYES).box, [1, 2, 3, 4])
    assert fs.kind == "none"
    with pytest.raises(ValueError, match="unknown smoothing parameter"):
        settings.set(gain=2)
    with pytest.raises(ValueError, match="min_cutoff"):
        settings.set(min_cutoff=-1)
    with pytest.raises(ValueError, match="kind"):
        SmootherSettings(kind="kalman")
    with pytest.raises(ValueError, match="NaN"):
        fs.smooth_box(2.0, [0, 0, np.nan, 1], EYES)
    with pytest.raises(ValueError, match="621"):
        fs.smooth_coeffs(2.0, np.zeros(620))


def test_box_filtered_as_centre_and_size():
    """A box whose size jitters around a fixed centre keeps that centre exactly."""
    rng = np.random.default_rng(7)
    fs = TrackSmoother()
    sizes = []
    for k in range(60):
        half = 50.0 + rng.normal(scale=1.0)
        st = fs.smooth_box(k / FPS, [200 - half, 100 - half, 200 + half, 100 + half], EYES)
        np.testing.assert_allclose((st.box[:2] + st.box[2:]) / 2, [200.0, 100.0], atol=1e-9)
        sizes.append(st.box[2] - st.box[0])
    assert np.std(np.diff(sizes[20:])) < 0.3 * 2.0 * math.sqrt(2)  # size noise reduced
    with pytest.raises(ValueError, match="x1 >= x0"):
        fs.smooth_box(3.0, [10, 0, 0, 10], EYES)


def test_blendshapes_smoothed_in_stage_one_with_the_box():
    rng = np.random.default_rng(9)
    weights = [np.clip(0.4 + rng.normal(scale=0.05, size=52), 0, 1) for _ in range(6)]
    box, eyes = [10, 10, 110, 110], np.zeros(4)
    # original: the centred 3-frame mean, one frame late, of the same frame as the box
    fs = TrackSmoother(SmootherSettings(kind="original"))
    out = [fs.smooth_box(k / FPS, box, eyes, w) for k, w in enumerate(weights)]
    assert out[0] is None
    for k in range(1, 6):
        assert out[k].stamp == (k - 1) / FPS
        np.testing.assert_allclose(out[k].blendshapes, expected_centred(weights, k - 1), atol=1e-12)
    tail = fs.flush_box()
    np.testing.assert_allclose(tail[0].blendshapes, (weights[4] + weights[5]) / 2, atol=1e-12)
    # one_euro: the first value passes, then a step of 0.5 comes out times the first-order
    # weight alpha = 1 / (1 + tau / dt), tau = 1 / (2 pi min_cutoff) (beta 0: fixed cutoff)
    settings = SmootherSettings(blendshapes={"min_cutoff": 1.0, "beta": 0.0, "d_cutoff": 1.0})
    fs = TrackSmoother(settings)
    np.testing.assert_array_equal(fs.smooth_box(0.0, box, eyes, np.zeros(52)).blendshapes, 0.0)
    step = fs.smooth_box(1 / FPS, box, eyes, np.full(52, 0.5)).blendshapes
    alpha = 1.0 / (1.0 + FPS / (2 * math.pi * 1.0))
    np.testing.assert_allclose(step, 0.5 * alpha, atol=1e-12)
    settings.set(part="blendshapes", min_cutoff=1000.0)      # a runtime change reaches it
    assert fs.smooth_box(2 / FPS, box, eyes, np.full(52, 0.5)).blendshapes[0] > 0.49
    # a frame without blendshapes gives none and restarts their filter; values stay in [0, 1]
    assert fs.smooth_box(3 / FPS, box, eyes).blendshapes is None
    np.testing.assert_array_equal(fs.smooth_box(4 / FPS, box, eyes, np.full(52, 1.0)).blendshapes, 1.0)
    with pytest.raises(ValueError, match="part"):
        settings.set(part="blendshape", beta=1.0)
