"""One face's smoothers (box, eyes, coefficients) and the settings all faces share.

:class:`SmootherSettings` holds the kind and the per-part parameters. It is
the only object other threads touch: :meth:`SmootherSettings.set` (e.g. a ROS
parameter change on the executor thread) validates, stores under a lock and
bumps a version; each :class:`TrackSmoother` (owned by one face track, used
by the worker threads only) picks the change up at its next update: new
parameters keep the filter state, a new kind restarts the face's filters.

Two stages per face, as in FaceVerse V4 (see faceverse_ros.tracking.smoothing):

1. :meth:`TrackSmoother.smooth_box`: the squared box (centre and size), the
   detector's four eye values (the ``eyes`` parameters) and, when the detector
   gives them, its 52 blendshape weights (``blendshapes``, clipped to [0, 1]).
   The eye values and blendshapes are smoothed here only, once.
2. :meth:`TrackSmoother.smooth_coeffs`: the coefficient vector: the rotation
   angles on quaternions (``rotation``), every other block except the eyes
   with ``coeffs`` (with "original"/"none" one smoother for the whole vector);
   the eyes block of its output is to be replaced by the stage-1 eyes of the
   output's frame (the face track does so). With "one_euro" and the caller
   saying which frames hold a new keyframe (``keyframe=``), the blocks that only
   keyframes solve (``HELD_BLOCKS``: identity, texture, lighting; the frames
   between hold them from the last keyframe) are filtered at keyframe rate, with
   the ``coeffs`` parameters: their filter takes a value only at a new keyframe
   and the output holds between keyframes, so they do not creep frame by frame
   toward a value that does not change (identity and albedo then change at
   keyframes only, and a mesh cache keyed on them hits). They restart
   with the per-frame blocks (a gap between frames), not because keyframes
   are far apart.

With "original" each stage reports the previous frame (the returned stamp
says which); :meth:`TrackSmoother.flush_box` / :meth:`TrackSmoother.flush_coeffs`
give the pending last frame when the track ends.
"""
import threading
from collections import namedtuple
from typing import List, Mapping, Optional

import numpy as np

from faceverse_ros.core.layout import V4
from faceverse_ros.tracking.smoothing import DEFAULT_BLENDSHAPES, DEFAULT_BOX, DEFAULT_BOX_SIZE, \
    DEFAULT_COEFFS, DEFAULT_EYES, DEFAULT_MAX_GAP_S, DEFAULT_ROTATION, KINDS, OneEuroSmoother, Sample, \
    _as_stamp, _as_vector, make_smoother

BoxSample = namedtuple("BoxSample", "stamp box eyes blendshapes", defaults=(None,))
PARTS = ("box", "box_size", "coeffs", "rotation", "eyes", "blendshapes")
_DEFAULTS = {"box": DEFAULT_BOX, "box_size": DEFAULT_BOX_SIZE, "coeffs": DEFAULT_COEFFS,
             "rotation": DEFAULT_ROTATION, "eyes": DEFAULT_EYES,
             "blendshapes": DEFAULT_BLENDSHAPES}
_PARAM_NAMES = ("min_cutoff", "beta", "d_cutoff", "max_gap_s")
#: coefficient blocks solved only on keyframes (module doc), where the layout has them
HELD_BLOCKS = ("id", "tex", "gamma")
#: the held blocks' filter sees one sample per keyframe: its own gap bound is this long
#: (seconds); the per-frame blocks' gap restarts it
_HELD_GAP_S = 1e6


class SmootherSettings:
    """Thread-safe smoother kind and parameters, shared by every face track.

    kind: "one_euro" (default), "original" or "none", for every part.
    box, box_size, coeffs, rotation, eyes, blendshapes: dicts overriding that part's
        parameters (``min_cutoff``, ``beta``, ``d_cutoff`` in Hz / per unit of
        speed, ``max_gap_s``); defaults in faceverse_ros.tracking.smoothing.
    max_gap_s: default gap for every part (seconds).
    """

    def __init__(self, kind: str = "one_euro", box: Optional[Mapping[str, float]] = None,
                 box_size: Optional[Mapping[str, float]] = None,
                 coeffs: Optional[Mapping[str, float]] = None,
                 rotation: Optional[Mapping[str, float]] = None,
                 eyes: Optional[Mapping[str, float]] = None,
                 blendshapes: Optional[Mapping[str, float]] = None,
                 max_gap_s: float = DEFAULT_MAX_GAP_S):
        self._lock = threading.Lock()
        self.version = 0
        self._kind = "one_euro"
        self._params = {part: dict(_DEFAULTS[part], max_gap_s=max_gap_s) for part in PARTS}
        self.set(kind=kind)
        for part, override in (("box", box), ("box_size", box_size), ("coeffs", coeffs),
                               ("rotation", rotation), ("eyes", eyes),
                               ("blendshapes", blendshapes)):
            if override:
                self.set(part=part, **override)

    @property
    def kind(self):
        return self._kind

    def snapshot(self):
        """(version, kind, {part: params}) as one consistent copy."""
        with self._lock:
            return self.version, self._kind, {k: dict(v) for k, v in self._params.items()}

    def params(self):
        """Current settings: {"kind": ..., "box": {...}, "box_size": ..., ...}."""
        _, kind, params = self.snapshot()
        return dict(kind=kind, **params)

    def set(self, kind=None, part=None, **params):
        """Change settings (any thread): a kind, and/or parameters of one part
        (``part`` None: every part). ValueError for unknown names or bad values."""
        parts = list(PARTS) if part is None else [part]
        for p in parts:
            if p not in PARTS:
                raise ValueError(f"unknown part {p!r}; expected one of {PARTS}")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown smoother kind {kind!r}; expected one of {KINDS}")
        for name in params:
            if name not in _PARAM_NAMES:
                raise ValueError(f"unknown smoothing parameter {name!r}; expected one of "
                                 f"{_PARAM_NAMES}")
        with self._lock:
            new = {p: OneEuroSmoother(**dict(self._params[p], **params)).params()  # validates
                   for p in parts} if params else {}
            self._params.update(new)
            if kind is not None:
                self._kind = kind
            self.version += 1


def _box_to_centre_size(b):
    return np.array([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]), np.array([b[2] - b[0], b[3] - b[1]])


def _centre_size_to_box(c, size):
    return np.array([c[0] - size[0] / 2.0, c[1] - size[1] / 2.0,
                     c[0] + size[0] / 2.0, c[1] + size[1] / 2.0])


class _Stage:
    """The smoothers of one stage, rebuilt or re-tuned when the shared settings change.
    Each stage syncs on its own: stage 1 and stage 2 of a face run in different threads."""

    def __init__(self, settings, parts):
        self.settings, self.parts = settings, parts
        self.kind, self.version, self.filters = None, None, {}

    @staticmethod
    def _params(params, part):
        if part == "held":  # the keyframe-rate filter of the held blocks (module doc)
            return dict(params["coeffs"], max_gap_s=_HELD_GAP_S)
        return params[part]

    def sync(self):
        if self.settings.version == self.version:
            return self.filters
        version, kind, params = self.settings.snapshot()
        if kind != self.kind:
            self.kind = kind
            self.filters = {part: make_smoother(kind, rotation=(part == "rotation"),
                                                **self._params(params, part))
                            for part in self.parts
                            if part not in ("rotation", "held") or kind == "one_euro"}
        else:
            for part, sm in self.filters.items():
                sm.set_params(**{k: v for k, v in self._params(params, part).items()
                                 if k in sm._param_names})
        self.version = version
        return self.filters


class TrackSmoother:
    """The smoothers of one face (see module doc): stage 1 used by one thread, stage 2 by
    one (possibly another) thread.

    layout: the coefficient layout (faceverse_ros.core.layout), V4 by default.
    """

    def __init__(self, settings: Optional[SmootherSettings] = None, layout=V4):
        self.settings = settings if settings is not None else SmootherSettings()
        self.layout = layout
        self._angles, self._eyes = layout.angles, layout.eyes
        if self._angles.stop - self._angles.start != 3:
            raise ValueError(f"the angles block must hold 3 angles, got {self._angles}")
        mask = np.ones(layout.total, dtype=bool)
        mask[self._angles] = False
        mask[self._eyes] = False
        self._rest = np.flatnonzero(mask)
        held = np.zeros(layout.total, dtype=bool)
        for name in HELD_BLOCKS:
            if name in layout.slices:
                held[layout.slices[name]] = True
        self._held = np.flatnonzero(held & mask)
        self._per_frame = np.flatnonzero(mask & ~held)
        self._held_out = None
        self._stage1 = _Stage(self.settings, ("box", "box_size", "eyes", "blendshapes"))
        self._stage2 = _Stage(self.settings, ("coeffs", "rotation", "held"))

    @property
    def kind(self):
        """The kind stage 1 last ran with (the settings' kind before the first frame)."""
        return self._stage1.kind or self.settings.kind

    # -- stage 1 ------------------------------------------------------------------------------
    def smooth_box(self, stamp: float, box: np.ndarray, eyes: np.ndarray,
                   blendshapes: Optional[np.ndarray] = None) -> Optional[BoxSample]:
        """The squared box (x0, y0, x1, y1) in pixels, the 4 eye values and (optional) the
        52 blendshape weights of one frame.

        Returns a BoxSample for ``stamp`` (or for the previous frame with
        "original"), or None while the original's window fills. Its blendshapes are
        None when the frame it describes had none (a frame without them restarts their
        filter: the weights then come from another detector or none at all).
        """
        f = self._stage1.sync()
        b = _as_vector(box, "box")
        if b.shape != (4,):
            raise ValueError(f"box must have 4 values (x0, y0, x1, y1), got shape {b.shape}")
        if b[2] < b[0] or b[3] < b[1]:
            raise ValueError(f"box must satisfy x1 >= x0 and y1 >= y0, got {b.tolist()}")
        e = _as_vector(eyes, "eyes")
        c, size = _box_to_centre_size(b)
        side = max(float(size.max()), 1e-6)
        out_c = f["box"].update(stamp, c, scale=side)
        out_s = f["box_size"].update(stamp, size, scale=side)
        out_e = f["eyes"].update(stamp, e)
        out_b = None
        if blendshapes is None:
            f["blendshapes"].reset()
        else:
            out_b = f["blendshapes"].update(stamp, _as_vector(blendshapes, "blendshapes"))
        if out_c is None:
            return None
        weights = None
        if out_b is not None and out_b.stamp == out_c.stamp:
            weights = np.clip(out_b.value, 0.0, 1.0)
        return BoxSample(out_c.stamp, _centre_size_to_box(out_c.value, out_s.value), out_e.value,
                         weights)

    def flush_box(self) -> List[BoxSample]:
        """The pending stage-1 frame ("original" only), then stage 1 restarts."""
        f = self._stage1.filters
        if not f:
            return []
        cs, ss, es = f["box"].flush(), f["box_size"].flush(), f["eyes"].flush()
        bs = {b.stamp: np.clip(b.value, 0.0, 1.0) for b in f["blendshapes"].flush()}
        return [BoxSample(c.stamp, _centre_size_to_box(c.value, s.value), e.value, bs.get(c.stamp))
                for c, s, e in zip(cs, ss, es)]

    # -- stage 2 ------------------------------------------------------------------------------
    def smooth_coeffs(self, stamp: float, coeffs: np.ndarray, keyframe: Optional[bool] = None) -> Optional[Sample]:
        """The coefficient vector of one frame (see module doc for the eyes block).

        keyframe: whether this frame holds a new keyframe's identity, texture and lighting
        (the held blocks then filter at keyframe rate, module doc); None: every block is
        filtered frame by frame.
        """
        f = self._stage2.sync()
        c = _as_vector(coeffs, "coeffs")
        if c.shape != (self.layout.total,):
            raise ValueError(f"coeffs must have shape ({self.layout.total},), got {c.shape}")
        if "rotation" not in f:
            return f["coeffs"].update(stamp, c)
        t = _as_stamp(stamp)
        out = c.copy()
        if keyframe is None or not len(self._held):
            self._held_out = None
            out[self._rest] = f["coeffs"].update(t, c[self._rest]).value
        else:
            frame_sm, held_sm = f["coeffs"], f["held"]
            restart = frame_sm.starts_over(t, self._per_frame.shape)
            out[self._per_frame] = frame_sm.update(t, c[self._per_frame]).value
            if restart:
                held_sm.reset()
            if keyframe or restart or self._held_out is None:
                self._held_out = held_sm.update(t, c[self._held]).value
            out[self._held] = self._held_out
        out[self._angles] = f["rotation"].update(t, c[self._angles]).value
        return Sample(t, out)

    def flush_coeffs(self) -> List[Sample]:
        """The pending stage-2 frame ("original" only), then stage 2 restarts."""
        f = self._stage2.filters
        out = f["coeffs"].flush() if f else []
        for part in ("rotation", "held"):
            if part in f:
                f[part].reset()
        self._held_out = None
        return out
