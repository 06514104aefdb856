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
  all (faceverse_ros.tracking.face_smoothing.TrackSmoother's two stages
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
state is kept (a changed ``kind`` restarts a face's filters: see
faceverse_ros.tracking.face_smoothing).

All samples are :class:`Sample` ``(stamp, value)`` with ``stamp`` in seconds
and ``value`` a float64 numpy array.
"""
import math
from collections import deque, namedtuple
from typing import List, Optional, Tuple

import numpy as np

from faceverse_ros.core.rotations import euler_to_quat, quat_conjugate, quat_multiply, quat_to_euler, \
    rotation_vector, slerp

Sample = namedtuple("Sample", "stamp value")

KINDS = ("original", "one_euro", "none")

# Defaults tuned with bench/bench_smoothing.py at 30 fps (its results: doc/performance.md).
# One Euro trades noise during motion for lag: these settings are much steadier than
# the original when the face is still and follow motion with less delay, but pass
# more noise while the face moves.
# Box centre, speed in box sides per second.
DEFAULT_BOX = dict(min_cutoff=1.0, beta=64.0, d_cutoff=1.0)
# Box width and height (scale changes slowly), speed in box sides per second.
DEFAULT_BOX_SIZE = dict(min_cutoff=0.5, beta=8.0, d_cutoff=1.0)
# Coefficients (id/exp/tex/gamma/trans blocks), speed in coefficient units/s; tuned on
# synthetic signals only: the real regressor's noise is unknown without its weights.
DEFAULT_COEFFS = dict(min_cutoff=0.5, beta=4.0, d_cutoff=1.0)
# Head rotation, speed = norm of the low-passed angular velocity in rad/s (synthetic
# signals).
DEFAULT_ROTATION = dict(min_cutoff=0.5, beta=4.0, d_cutoff=1.0)
# Eye angles (radians, landmarks.eyes.eye_gaze), units/s; tuned on the detector's real
# eye values, which move all the time (saccades) and are noisy: a little less lag than the
# original's 3-frame mean for a little more jitter.
DEFAULT_EYES = dict(min_cutoff=3.0, beta=1.0, d_cutoff=0.5)
# The 52 MediaPipe blendshape weights (in [0, 1]), speed in weight units/s: less
# frame-to-frame jitter while blinks and the jaw keep their size.
DEFAULT_BLENDSHAPES = dict(min_cutoff=2.0, beta=5.0, d_cutoff=1.0)
DEFAULT_MAX_GAP_S = 0.5



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
    _param_names: Tuple[str, ...] = ("max_gap_s",)

    def __init__(self, max_gap_s: float = DEFAULT_MAX_GAP_S):
        self.max_gap_s = DEFAULT_MAX_GAP_S
        self._last_stamp = None
        self.set_params(max_gap_s=max_gap_s)

    def set_params(self, **params) -> None:
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

    def reset(self) -> None:
        """Forget the state (the next value starts a new run)."""
        self._last_stamp = None

    def flush(self) -> List[Sample]:
        """Samples still pending (only the delayed smoother has any); then reset."""
        self.reset()
        return []


class PassthroughSmoother(_Base):
    """kind "none": returns every value unchanged with its own stamp."""

    def update(self, stamp: float, value: np.ndarray, scale: Optional[float] = None) -> Optional[Sample]:
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

    def __init__(self, max_gap_s: float = DEFAULT_MAX_GAP_S):
        super().__init__(max_gap_s=max_gap_s)
        self._buf: "deque[Tuple[float, np.ndarray]]" = deque(maxlen=3)

    def reset(self) -> None:
        super().reset()
        self._buf.clear()

    def update(self, stamp: float, value: np.ndarray, scale: Optional[float] = None) -> Optional[Sample]:
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

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0,
                 max_gap_s: float = DEFAULT_MAX_GAP_S):
        self.min_cutoff, self.beta, self.d_cutoff = 1.0, 0.0, 1.0
        super().__init__(max_gap_s=max_gap_s)
        self.set_params(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff)
        self._x: Optional[np.ndarray] = None
        self._dx: Optional[np.ndarray] = None

    def reset(self) -> None:
        super().reset()
        self._x = None
        self._dx = None

    def starts_over(self, stamp: float, shape) -> bool:
        """True when update(stamp, a value of this shape) starts the filter anew (its
        output is then the value itself): no state yet, a gap, or another shape."""
        return self._x is None or self._is_gap(_as_stamp(stamp)) or self._x.shape != tuple(shape)

    def update(self, stamp: float, value: np.ndarray, scale: Optional[float] = None) -> Sample:
        """Filter one value; ``scale`` (> 0, scalar or per element) divides the speed."""
        t = _as_stamp(stamp)
        x = _as_vector(value)
        if self.starts_over(t, x.shape):
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

    def update(self, stamp: float, value: np.ndarray, scale: Optional[float] = None) -> Sample:
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


def make_smoother(kind="one_euro", rotation: bool = False, **params):
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
