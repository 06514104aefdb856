"""Temporal smoothing of per-face results on the image-stamp time axis.

Three kinds of smoother, made by :func:`make_smoother`:

- ``"original"``: the FaceVerse V4 tracker's averaging (spec 7), reproduced
  exactly as a *centred 3-tap mean*: the value reported for frame k is the
  mean of frames k-1, k and k+1. Because frame k+1 is needed, the output for
  frame k comes out of :meth:`~CentredMeanSmoother.update` when frame k+1
  arrives: **the returned sample carries the earlier stamp** (one frame of
  delay per stage). In the original, the box (and the eye values) go through
  one such stage; the network then runs on the delayed frame's crop and its
  coefficients go through a second stage, which makes two frames of delay in
  all (:meth:`FaceSmoother.smooth_box` then :meth:`FaceSmoother.smooth_coeffs`
  reproduce that chain). At the start of a run, frame 0 is reported when
  frame 1 arrives, with the mean of frames 0 and 1 (its neighbourhood inside
  the run); :meth:`~CentredMeanSmoother.flush` reports the last pending frame
  with the mean of the last two. At a gap the buffers restart.
- ``"one_euro"`` (default): the One Euro filter (Casiez, Roussel, Vogel, CHI
  2012), an adaptive first-order low-pass whose cutoff rises with the
  signal's speed: ``cutoff = min_cutoff + beta * |speed|``, with the speed
  itself low-passed at ``d_cutoff``; all cutoffs in Hz, used with the actual
  time step between image stamps (not a nominal frame rate). No frame delay:
  the sample returned carries the stamp given. A box is filtered as its
  centre and its width/height (two parameter sets: the size changes slowly),
  with speeds in box sides per second (scale-free, so the same constants
  suit near and far faces). The head rotation (the three Euler angles of the
  621 vector, ``R = Rz(a2) @ Ry(a1) @ Rx(a0)``) is filtered on the rotation
  manifold: as a unit quaternion kept on the same hemisphere as the previous
  estimate (sign continuity), moved toward the new measurement by spherical
  linear interpolation with the One Euro weight, renormalised, and converted
  back to Euler angles (each angle unwrapped to within pi of the measured
  one); its speed is the norm of the low-passed angular velocity vector
  (rad/s).
- ``"none"``: passes values through unchanged (stamps too).

A *gap* resets a smoother: a stamp more than ``max_gap_s`` seconds after the
previous one, a stamp that does not increase (a repeated or earlier stamp,
e.g. a bag replay that looped), or an explicit ``reset()`` (e.g. when the id
tracker ended the face). After a reset the first value passes through (One
Euro) or starts a new window (original).

Parameters can be changed at run time with ``set_params(**kw)``; the filter
state is kept (a changed ``kind`` in :class:`FaceSmoother` restarts all faces).

All samples are :class:`Sample` ``(stamp, value)`` with ``stamp`` in seconds
and ``value`` a float64 numpy array.
"""
import math
from collections import deque, namedtuple
from typing import Dict, List, Optional

import numpy as np

Sample = namedtuple("Sample", "stamp value")

KINDS = ("original", "one_euro", "none")

# Defaults tuned with bench/bench_smoothing.py at 30 fps (see its output and
# docstring). One Euro trades noise during motion for lag: these settings are
# much steadier than the original when the face is still and follow motion
# with less delay, but pass more noise while the face moves.
# Box centre, speed in box sides per second: on the real talking_256.mp4 box
# track, 0.96x the original's jitter at the same 35 ms lag; on a still
# synthetic box 0.44x its jitter with 2-6 ms of lag instead of 22-34 ms.
DEFAULT_BOX = dict(min_cutoff=1.0, beta=64.0, d_cutoff=1.0)
# Box width and height (scale changes slowly), speed in box sides per second.
DEFAULT_BOX_SIZE = dict(min_cutoff=0.5, beta=8.0, d_cutoff=1.0)
# Coefficients (id/exp/tex/gamma/trans blocks), speed in coefficient units/s.
# Tuned on synthetic signals only (noise 0.02, ramps of 2 units/s): the real
# regressor's noise is unknown without its weights.
DEFAULT_COEFFS = dict(min_cutoff=0.5, beta=4.0, d_cutoff=1.0)
# Head rotation, speed = norm of the low-passed angular velocity in rad/s
# (synthetic: noise 0.01 rad, ramps of 1 rad/s).
DEFAULT_ROTATION = dict(min_cutoff=0.5, beta=4.0, d_cutoff=1.0)
# Eye values (spec 6 units, radians by the model's convention), units/s.
# Tuned on the detector's real eye values of talking_256.mp4, which move all
# the time (saccades) and are noisy: there no One Euro setting beat the
# original's 3-frame mean at equal lag; this one has 26 ms of lag instead of
# 33 ms for 1.08x its jitter (the goal is NOT reached for the eyes).
DEFAULT_EYES = dict(min_cutoff=3.0, beta=1.0, d_cutoff=0.5)
# The 52 MediaPipe blendshape weights (in [0, 1]), speed in weight units/s. On the
# Face Landmarker's weights of talking_256.mp4 this halves the frame-to-frame
# jitter and keeps blinks and the jaw (jawOpen vs lip opening r = 0.86 instead of
# 0.87 raw; mean blink on closed-eye frames 0.60 instead of 0.61).
DEFAULT_BLENDSHAPES = dict(min_cutoff=2.0, beta=5.0, d_cutoff=1.0)
DEFAULT_MAX_GAP_S = 0.5

# Coefficient blocks of the 621 vector (spec 1): [start, stop).
ANGLES_SLICE = (611, 614)
TRANS_SLICE = (614, 617)
EYES_SLICE = (617, 621)
NUM_COEFFS = 621


# --------------------------------------------------------------------------
# Rotations (quaternions are (x, y, z, w); R = Rz(a2) @ Ry(a1) @ Rx(a0))
# --------------------------------------------------------------------------
def quat_multiply(q, r):
    """Hamilton product q * r of (x, y, z, w) quaternions."""
    x1, y1, z1, w1 = q
    x2, y2, z2, w2 = r
    return np.array([
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
    ])


def quat_conjugate(q):
    """Inverse of a unit quaternion (x, y, z, w)."""
    return np.array([-q[0], -q[1], -q[2], q[3]], dtype=np.float64)


def rotation_vector(q):
    """Axis times angle (radians, angle in [0, pi]) of a unit quaternion (x, y, z, w)."""
    v = np.asarray(q[:3], dtype=np.float64)
    w = float(q[3])
    if w < 0:
        v, w = -v, -w
    n = float(np.linalg.norm(v))
    if n < 1e-12:
        return 2.0 * v  # small-angle limit
    return v / n * (2.0 * math.atan2(n, w))


def euler_to_quat(angles):
    """Unit quaternion (x, y, z, w) of R = Rz(a[2]) @ Ry(a[1]) @ Rx(a[0]), radians."""
    a0, a1, a2 = (float(v) for v in angles)
    qx = np.array([math.sin(a0 / 2), 0.0, 0.0, math.cos(a0 / 2)])
    qy = np.array([0.0, math.sin(a1 / 2), 0.0, math.cos(a1 / 2)])
    qz = np.array([0.0, 0.0, math.sin(a2 / 2), math.cos(a2 / 2)])
    return quat_multiply(quat_multiply(qz, qy), qx)


def quat_to_matrix(q):
    """3x3 rotation matrix of a (x, y, z, w) quaternion (normalised first)."""
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_euler(rot):
    """Angles (a0, a1, a2) with rot = Rz(a2) @ Ry(a1) @ Rx(a0); a1 in [-pi/2, pi/2]."""
    r = np.asarray(rot, dtype=np.float64)
    a1 = math.asin(max(-1.0, min(1.0, -r[2, 0])))
    if abs(r[2, 0]) < 1.0 - 1e-9:
        a0 = math.atan2(r[2, 1], r[2, 2])
        a2 = math.atan2(r[1, 0], r[0, 0])
    else:  # gimbal lock: only a0 -/+ a2 is defined; put it all in a2
        a0 = 0.0
        a2 = math.atan2(-r[0, 1], r[1, 1])
    return np.array([a0, a1, a2])


def quat_to_euler(q):
    """Euler angles (a0, a1, a2) of R = Rz(a2) @ Ry(a1) @ Rx(a0) from a quaternion."""
    return matrix_to_euler(quat_to_matrix(q))


def slerp(q0, q1, t):
    """Spherical linear interpolation from q0 (t=0) to q1 (t=1), shortest arc."""
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:  # nearly parallel: normalised linear interpolation is exact enough
        out = q0 + t * (q1 - q0)
        return out / np.linalg.norm(out)
    theta = math.acos(dot)
    s = math.sin(theta)
    out = (math.sin((1 - t) * theta) * q0 + math.sin(t * theta) * q1) / s
    return out / np.linalg.norm(out)


def _alpha(cutoff_hz, dt):
    """Smoothing weight of a first-order low-pass with the given cutoff for step dt."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


def _as_vector(value, name="value"):
    x = np.array(value, dtype=np.float64, copy=True)
    if x.ndim == 0:
        x = x.reshape(1)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _as_stamp(stamp):
    try:
        t = float(stamp)
    except (TypeError, ValueError):
        raise ValueError(f"stamp must be a number of seconds, got {stamp!r}") from None
    if not math.isfinite(t):
        raise ValueError(f"stamp must be finite, got {t}")
    return t


# --------------------------------------------------------------------------
# Single-signal smoothers
# --------------------------------------------------------------------------
class _Base:
    """Shared gap logic and parameter handling."""
    delay_frames = 0
    _param_names = ("max_gap_s",)

    def __init__(self, max_gap_s=DEFAULT_MAX_GAP_S):
        self.max_gap_s = DEFAULT_MAX_GAP_S
        self._last_stamp = None
        self.set_params(max_gap_s=max_gap_s)

    def set_params(self, **params):
        """Change parameters at run time; the filter state is kept."""
        for name, value in params.items():
            if name not in self._param_names:
                raise ValueError(f"unknown parameter {name!r} for {type(self).__name__}; "
                                 f"expected one of {self._param_names}")
            value = float(value)
            if not math.isfinite(value) or value < 0 or (name != "beta" and value == 0):
                raise ValueError(f"{name} must be a finite number > 0 (beta >= 0), got {value}")
            setattr(self, name, value)

    def params(self):
        """Current parameters as a dict."""
        return {name: getattr(self, name) for name in self._param_names}

    def _is_gap(self, stamp):
        return self._last_stamp is not None and (
            stamp <= self._last_stamp or stamp - self._last_stamp > self.max_gap_s)

    def reset(self):
        """Forget the state (the next value starts a new run)."""
        self._last_stamp = None

    def flush(self) -> List[Sample]:
        """Samples still pending (only the delayed smoother has any); then reset."""
        self.reset()
        return []


class PassthroughSmoother(_Base):
    """kind "none": returns every value unchanged with its own stamp."""

    def update(self, stamp, value, scale=None) -> Optional[Sample]:
        t = _as_stamp(stamp)
        self._last_stamp = t
        return Sample(t, _as_vector(value))


class CentredMeanSmoother(_Base):
    """kind "original": centred 3-tap mean, reported one frame late (see module doc).

    ``update(stamp_k, x_k)`` returns ``Sample(stamp_{k-1}, mean(x_{k-2}, x_{k-1}, x_k))``
    (restricted to frames of the current run), or None for the first frame of
    a run. A gap discards the previous run's pending frame: call
    :meth:`flush` first to get it.
    """
    delay_frames = 1

    def __init__(self, max_gap_s=DEFAULT_MAX_GAP_S):
        super().__init__(max_gap_s=max_gap_s)
        self._buf = deque(maxlen=3)

    def reset(self):
        super().reset()
        self._buf.clear()

    def update(self, stamp, value, scale=None) -> Optional[Sample]:
        t = _as_stamp(stamp)
        x = _as_vector(value)
        if self._is_gap(t) or (self._buf and self._buf[-1][1].shape != x.shape):
            self.reset()
        self._last_stamp = t
        self._buf.append((t, x))
        n = len(self._buf)
        if n == 1:
            return None
        values = np.stack([v for _, v in self._buf])
        middle = self._buf[0] if n == 2 else self._buf[1]
        return Sample(middle[0], values.mean(axis=0))

    def flush(self) -> List[Sample]:
        out = []
        if self._buf:
            last = list(self._buf)[-2:]
            out.append(Sample(last[-1][0], np.stack([v for _, v in last]).mean(axis=0)))
        self.reset()
        return out


class OneEuroSmoother(_Base):
    """kind "one_euro" for vectors: element-wise One Euro filter.

    min_cutoff: cutoff (Hz) at zero speed; lower = smoother when still.
    beta: cutoff increase per unit of speed (speed in value units per second,
        divided by ``scale`` when update() gets one); higher = less lag in motion.
    d_cutoff: cutoff (Hz) of the speed estimate's own low-pass.
    max_gap_s: a larger step between stamps restarts the filter.
    """
    _param_names = ("min_cutoff", "beta", "d_cutoff", "max_gap_s")

    def __init__(self, min_cutoff=1.0, beta=0.0, d_cutoff=1.0, max_gap_s=DEFAULT_MAX_GAP_S):
        self.min_cutoff, self.beta, self.d_cutoff = 1.0, 0.0, 1.0
        super().__init__(max_gap_s=max_gap_s)
        self.set_params(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff)
        self._x = None
        self._dx = None

    def reset(self):
        super().reset()
        self._x = None
        self._dx = None

    def update(self, stamp, value, scale=None) -> Sample:
        """Filter one value; ``scale`` (> 0, scalar or per element) divides the speed."""
        t = _as_stamp(stamp)
        x = _as_vector(value)
        if self._x is not None and (self._is_gap(t) or self._x.shape != x.shape):
            self.reset()
        if self._x is None:
            self._x, self._dx, self._last_stamp = x.copy(), np.zeros_like(x), t
            return Sample(t, x)
        dt = t - self._last_stamp
        self._last_stamp = t
        speed = (x - self._x) / dt
        self._dx = self._dx + _alpha(self.d_cutoff, dt) * (speed - self._dx)
        rate = np.abs(self._dx)
        if scale is not None:
            s = np.asarray(scale, dtype=np.float64)
            if np.any(~np.isfinite(s)) or np.any(s <= 0):
                raise ValueError(f"scale must be finite and > 0, got {scale}")
            rate = rate / s
        cutoff = self.min_cutoff + self.beta * rate
        self._x = self._x + _alpha(cutoff, dt) * (x - self._x)
        return Sample(t, self._x.copy())


class RotationOneEuroSmoother(OneEuroSmoother):
    """kind "one_euro" for a head rotation given as the 3 Euler angles (radians).

    Filters the unit quaternion of ``R = Rz(a2) @ Ry(a1) @ Rx(a0)`` (see the
    module doc); speed = norm of the low-passed angular velocity (rad/s).
    ``quaternion`` holds the last filtered quaternion (x, y, z, w), always on
    the hemisphere of the previous one.
    """

    def update(self, stamp, value, scale=None) -> Sample:
        t = _as_stamp(stamp)
        angles = _as_vector(value, "angles")
        if angles.shape != (3,):
            raise ValueError(f"rotation smoother needs 3 Euler angles, got shape {angles.shape}")
        q = euler_to_quat(angles)
        if self._x is not None and self._is_gap(t):
            self.reset()
        if self._x is None:
            self._x, self._dx, self._last_stamp = q, np.zeros(3), t
            return Sample(t, angles)
        dt = t - self._last_stamp
        self._last_stamp = t
        if np.dot(q, self._x) < 0.0:  # sign continuity: same hemisphere as the estimate
            q = -q
        # angular velocity (rad/s, camera-side axes) from the estimate to the
        # measurement, low-passed as a signed vector so that noise averages out
        # before its norm drives the cutoff
        omega = rotation_vector(quat_multiply(q, quat_conjugate(self._x))) / dt
        self._dx = self._dx + _alpha(self.d_cutoff, dt) * (omega - self._dx)
        cutoff = self.min_cutoff + self.beta * float(np.linalg.norm(self._dx))
        self._x = slerp(self._x, q, float(_alpha(cutoff, dt)))
        out = quat_to_euler(self._x)
        out = out + 2.0 * math.pi * np.round((angles - out) / (2.0 * math.pi))
        return Sample(t, out)

    @property
    def quaternion(self):
        """Last filtered unit quaternion (x, y, z, w), or None before the first update."""
        return None if self._x is None else self._x.copy()


def make_smoother(kind="one_euro", rotation=False, **params):
    """A single-signal smoother.

    kind: "original" (centred 3-tap mean, one frame late), "one_euro" or "none".
    rotation: True for the 3 Euler angles of the head rotation (One Euro on
        quaternions; "original" averages the angles linearly, as the original did).
    params: the smoother's parameters (``max_gap_s`` for all; ``min_cutoff``,
        ``beta``, ``d_cutoff`` for one_euro, accepted and ignored by the other
        kinds so that one parameter set serves whichever kind is selected).
    """
    unknown = set(params) - set(OneEuroSmoother._param_names)
    if unknown:
        raise ValueError(f"unknown smoother parameter(s) {sorted(unknown)}; "
                         f"expected some of {OneEuroSmoother._param_names}")
    if kind == "one_euro":
        return RotationOneEuroSmoother(**params) if rotation else OneEuroSmoother(**params)
    if kind in ("original", "none"):
        gap = {k: v for k, v in params.items() if k == "max_gap_s"}
        return CentredMeanSmoother(**gap) if kind == "original" else PassthroughSmoother(**gap)
    raise ValueError(f"unknown smoother kind {kind!r}; expected one of {KINDS}")


# --------------------------------------------------------------------------
# Whole-face smoother
# --------------------------------------------------------------------------
BoxSample = namedtuple("BoxSample", "stamp box eyes")
FaceState = namedtuple("FaceState", "stamp box coeffs eyes")


class _CoeffSmoother:
    """The 621 vector: blocks with their own smoothers (one_euro) or one stage (original/none)."""

    def __init__(self, kind, params, angles_slice, eyes_slice, num_coeffs):
        self.kind = kind
        self.num_coeffs = num_coeffs
        self.angles = slice(*angles_slice)
        self.eyes = slice(*eyes_slice)
        mask = np.ones(num_coeffs, dtype=bool)
        mask[self.angles] = False
        mask[self.eyes] = False
        self.rest = np.flatnonzero(mask)
        if kind == "one_euro":
            self.parts = {
                "coeffs": make_smoother(kind, **params["coeffs"]),
                "rotation": make_smoother(kind, rotation=True, **params["rotation"]),
                "eyes": make_smoother(kind, **params["eyes"]),
            }
        else:
            self.parts = {"coeffs": make_smoother(kind, **params["coeffs"])}

    def update(self, stamp, coeffs):
        c = _as_vector(coeffs, "coeffs")
        if c.shape != (self.num_coeffs,):
            raise ValueError(f"coeffs must have shape ({self.num_coeffs},), got {c.shape}")
        if self.kind != "one_euro":
            return self.parts["coeffs"].update(stamp, c)
        out = np.empty_like(c)
        out[self.rest] = self.parts["coeffs"].update(stamp, c[self.rest]).value
        out[self.angles] = self.parts["rotation"].update(stamp, c[self.angles]).value
        out[self.eyes] = self.parts["eyes"].update(stamp, c[self.eyes]).value
        return Sample(_as_stamp(stamp), out)

    def flush(self):
        return self.parts["coeffs"].flush() if self.kind != "one_euro" else []


def _box_to_centre_size(b):
    return np.array([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]), np.array([b[2] - b[0], b[3] - b[1]])


def _centre_size_to_box(c, size):
    return np.array([c[0] - size[0] / 2.0, c[1] - size[1] / 2.0,
                     c[0] + size[0] / 2.0, c[1] + size[1] / 2.0])


class _BoxSmoother:
    """A box (x0, y0, x1, y1) filtered as its centre and its size, speeds in sides/s.

    The centre follows head motion; the size changes only with distance, so
    its own (usually lower) cutoffs remove scale jitter, which the crop and
    so the regressor are most sensitive to. Both are linear in the corners,
    so the original's 3-frame mean of corners is reproduced exactly.
    """

    def __init__(self, kind, centre_params, size_params):
        self.centre = make_smoother(kind, **centre_params)
        self.size = make_smoother(kind, **size_params)

    def update(self, stamp, box):
        c, size = _box_to_centre_size(box)
        side = max(float(size.max()), 1e-6)
        out_c = self.centre.update(stamp, c, scale=side)
        out_s = self.size.update(stamp, size, scale=side)
        if out_c is None or out_s is None:
            return None
        return Sample(out_c.stamp, _centre_size_to_box(out_c.value, out_s.value))

    def flush(self):
        cs, ss = self.centre.flush(), self.size.flush()
        return [Sample(c.stamp, _centre_size_to_box(c.value, s.value)) for c, s in zip(cs, ss)]


class _FaceState:
    def __init__(self, owner):
        self.box = _BoxSmoother(owner.kind, owner._params["box"], owner._params["box_size"])
        self.box_eyes = make_smoother(owner.kind, **owner._params["eyes"])
        self.coeffs = _CoeffSmoother(owner.kind, owner._params, owner.angles_slice,
                                     owner.eyes_slice, owner.num_coeffs)
        self.blendshapes = make_smoother(owner.kind, **owner._params["blendshapes"])

    def smoothers(self):
        yield "box", self.box.centre
        yield "box_size", self.box.size
        yield "eyes", self.box_eyes
        yield "blendshapes", self.blendshapes
        for part, sm in self.coeffs.parts.items():
            yield part, sm


class FaceSmoother:
    """Smooths each face's box, eye values and 621 coefficients, per face id.

    kind: "one_euro" (default), "original" or "none", for every part.
    box, box_size, coeffs, rotation, eyes: dicts overriding that part's
        parameters (``min_cutoff``, ``beta``, ``d_cutoff`` in Hz / per unit
        speed, ``max_gap_s``); defaults ``DEFAULT_BOX`` (the box centre, speed
        in box sides/s), ``DEFAULT_BOX_SIZE`` (its width and height, sides/s),
        ``DEFAULT_COEFFS`` (id, exp, tex, gamma, trans), ``DEFAULT_ROTATION``
        (rad/s, quaternion filter), ``DEFAULT_EYES`` (eye values, both the
        detector's and the coefficients' 617:621).
    blendshapes: the same for the 52 blendshape weights (``DEFAULT_BLENDSHAPES``,
        :meth:`smooth_blendshapes`).
    max_gap_s: default gap for every part (seconds).
    angles_slice, trans_slice, eyes_slice, num_coeffs: the coefficient layout
        (spec 1 defaults); ``trans_slice`` is smoothed with the ``coeffs``
        parameters and is accepted so that the layout is stated in one place.

    Two ways to use it:

    - :meth:`update` with everything of one frame: returns a
      :class:`FaceState` for ``stamp`` (one_euro/none) or for the previous
      frame's stamp (original: both box and coefficients one frame late), or
      None while the original's window fills;
    - the original's two-stage chain: :meth:`smooth_box` (box and eye values,
      one frame late with "original"), run the regressor on the frame whose
      stamp it returned, then :meth:`smooth_coeffs` (one more frame late).

    :attr:`delay_frames` is the delay of one stage in frames (1 for
    "original", 0 otherwise).
    """

    def __init__(self, kind="one_euro", box=None, box_size=None, coeffs=None, rotation=None,
                 eyes=None, blendshapes=None,
                 max_gap_s=DEFAULT_MAX_GAP_S, angles_slice=ANGLES_SLICE,
                 trans_slice=TRANS_SLICE, eyes_slice=EYES_SLICE, num_coeffs=NUM_COEFFS):
        if kind not in KINDS:
            raise ValueError(f"unknown smoother kind {kind!r}; expected one of {KINDS}")
        for name, sl in (("angles_slice", angles_slice), ("trans_slice", trans_slice),
                         ("eyes_slice", eyes_slice)):
            start, stop = sl
            if not 0 <= start < stop <= num_coeffs:
                raise ValueError(f"{name} {sl} does not fit in {num_coeffs} coefficients")
        if angles_slice[1] - angles_slice[0] != 3:
            raise ValueError(f"angles_slice must hold 3 angles, got {angles_slice}")
        self.kind = kind
        self.angles_slice = tuple(angles_slice)
        self.trans_slice = tuple(trans_slice)
        self.eyes_slice = tuple(eyes_slice)
        self.num_coeffs = int(num_coeffs)
        self._params = {
            "box": dict(DEFAULT_BOX, max_gap_s=max_gap_s),
            "box_size": dict(DEFAULT_BOX_SIZE, max_gap_s=max_gap_s),
            "coeffs": dict(DEFAULT_COEFFS, max_gap_s=max_gap_s),
            "rotation": dict(DEFAULT_ROTATION, max_gap_s=max_gap_s),
            "eyes": dict(DEFAULT_EYES, max_gap_s=max_gap_s),
            "blendshapes": dict(DEFAULT_BLENDSHAPES, max_gap_s=max_gap_s),
        }
        for part, override in (("box", box), ("box_size", box_size), ("coeffs", coeffs),
                               ("rotation", rotation), ("eyes", eyes),
                               ("blendshapes", blendshapes)):
            if override:
                self._update_param_dict(part, override)
        self._faces: Dict[int, _FaceState] = {}

    # -- parameters -------------------------------------------------------
    def _update_param_dict(self, part, params):
        allowed = ("min_cutoff", "beta", "d_cutoff", "max_gap_s")
        for name in params:
            if name not in allowed:
                raise ValueError(f"unknown smoothing parameter {name!r}; expected one of {allowed}")
        trial = OneEuroSmoother(**dict(self._params[part], **params))  # validates values
        self._params[part] = trial.params()

    @property
    def delay_frames(self):
        return 1 if self.kind == "original" else 0

    def params(self):
        """Current settings: {"kind": ..., "box": {...}, "box_size": ..., "coeffs": ..., ...}."""
        return dict(kind=self.kind, **{k: dict(v) for k, v in self._params.items()})

    def set_params(self, kind=None, part=None, **params):
        """Change settings at run time.

        kind: a new smoother kind (restarts every face's filters).
        part: "box", "box_size", "coeffs", "rotation", "eyes", "blendshapes", or None
            for all.
        params: ``min_cutoff``, ``beta``, ``d_cutoff``, ``max_gap_s`` (the
            filters keep their state; "original"/"none" only use max_gap_s).
        """
        parts = list(self._params) if part is None else [part]
        for p in parts:
            if p not in self._params:
                raise ValueError(f"unknown part {p!r}; expected one of {tuple(self._params)}")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown smoother kind {kind!r}; expected one of {KINDS}")
        for p in parts:
            if params:
                self._update_param_dict(p, params)
        if kind is not None and kind != self.kind:
            self.kind = kind
            self._faces.clear()
            return
        for state in self._faces.values():
            for p, sm in state.smoothers():
                if p in parts:
                    mine = {k: v for k, v in self._params[p].items() if k in sm._param_names}
                    sm.set_params(**mine)

    # -- faces ------------------------------------------------------------
    def _face(self, face_id):
        if face_id not in self._faces:
            self._faces[face_id] = _FaceState(self)
        return self._faces[face_id]

    @property
    def face_ids(self):
        return list(self._faces)

    def smooth_box(self, face_id, stamp, box, eyes=None) -> Optional[BoxSample]:
        """Stage 1: the squared box (x0, y0, x1, y1) in pixels and the 4 eye values.

        Returns a BoxSample for ``stamp`` (or for the previous frame with
        "original"), or None while the original's window fills.
        """
        state = self._face(face_id)
        b = _as_vector(box, "box")
        if b.shape != (4,):
            raise ValueError(f"box must have 4 values (x0, y0, x1, y1), got shape {b.shape}")
        if b[2] < b[0] or b[3] < b[1]:
            raise ValueError(f"box must satisfy x1 >= x0 and y1 >= y0, got {b.tolist()}")
        out = state.box.update(stamp, b)
        out_eyes = None
        if eyes is not None:
            e = _as_vector(eyes, "eyes")
            out_eyes = state.box_eyes.update(stamp, e)
            if out_eyes is not None:
                out_eyes = out_eyes.value
        if out is None:
            return None
        return BoxSample(out.stamp, out.value, out_eyes)

    def smooth_blendshapes(self, face_id, stamp, values) -> Optional[Sample]:
        """The 52 blendshape weights of a detection, smoothed with the face's kind (one
        stage, like the box: with "original" the sample is the previous frame's); the
        result is clipped to [0, 1]."""
        out = self._face(face_id).blendshapes.update(stamp, _as_vector(values, "blendshapes"))
        if out is None:
            return None
        return Sample(out.stamp, np.clip(out.value, 0.0, 1.0))

    def smooth_coeffs(self, face_id, stamp, coeffs) -> Optional[Sample]:
        """Stage 2: the 621 coefficients (Euler angles filtered as a rotation)."""
        return self._face(face_id).coeffs.update(stamp, coeffs)

    def update(self, face_id, stamp, box=None, coeffs=None, eyes=None) -> Optional[FaceState]:
        """Smooth one frame's results for one face (any of box/coeffs/eyes may be None).

        Returns a FaceState(stamp, box, coeffs, eyes) whose stamp is ``stamp``
        (one_euro/none) or the previous frame's (original), with None for the
        parts not given; None while the original's window fills.
        """
        state = self._face(face_id)
        t = _as_stamp(stamp)
        out_stamp, out_box, out_eyes, out_coeffs = t, None, None, None
        pending = False
        if box is not None:
            s = self.smooth_box(face_id, t, box, eyes)
            if s is None:
                pending = True
            else:
                out_stamp, out_box, out_eyes = s.stamp, s.box, s.eyes
        elif eyes is not None:
            s = state.box_eyes.update(t, _as_vector(eyes, "eyes"))
            if s is None:
                pending = True
            else:
                out_stamp, out_eyes = s.stamp, s.value
        if coeffs is not None:
            s = self.smooth_coeffs(face_id, t, coeffs)
            if s is None:
                pending = True
            else:
                out_stamp, out_coeffs = s.stamp, s.value
        if pending:
            return None
        return FaceState(out_stamp, out_box, out_coeffs, out_eyes)

    def end(self, face_id) -> List[FaceState]:
        """The face ended (tracker removal): flush its pending frames and forget it.

        Returns the pending results as FaceState objects in stamp order (only
        "original" has any: the last frame of each stage, with the mean of
        the last two frames), else an empty list.
        """
        state = self._faces.pop(face_id, None)
        if state is None:
            return []
        pending = {}
        for name, samples in (("box", state.box.flush()), ("eyes", state.box_eyes.flush()),
                              ("coeffs", state.coeffs.flush())):
            for sample in samples:
                pending.setdefault(sample.stamp, {})[name] = sample.value
        return [FaceState(stamp, parts.get("box"), parts.get("coeffs"), parts.get("eyes"))
                for stamp, parts in sorted(pending.items())]

    def reset(self, face_id=None):
        """Forget one face's filters (or every face's when face_id is None)."""
        if face_id is None:
            self._faces.clear()
        else:
            self._faces.pop(face_id, None)
