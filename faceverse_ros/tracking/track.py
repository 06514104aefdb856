"""A face track: everything the pipeline keeps about one face between frames.

:class:`FaceTrack` owns the face's smoothers (a TrackSmoother), its keyframe
schedule, the last raw coefficients with their crop box, the expression of
its last keyframe, and the few recent frames of the face (detection,
smoothed box and eyes, the image and its intrinsics) that a delayed smoother
output needs so that everything reported about a frame is of that frame.

One call each:

- start: ``FaceTrack(face_id, settings, ...)``;
- update: :meth:`FaceTrack.update` (stage 1: returns the :class:`TrackFrame`
  that needs coefficients, possibly an earlier frame with "original"), then
  :meth:`FaceTrack.complete` with that frame's coefficients (stage 2: returns
  the finished frames). The pipeline splits update in two to run the
  regressor on all faces of a frame in one batch;
- end: :meth:`FaceTrack.end` flushes the pending smoothed samples (only
  "original" has any: the track's last frames), solving their coefficients
  with the callable it is given, and returns the finished frames.
"""
import dataclasses
from collections import OrderedDict
from typing import TYPE_CHECKING, Callable, List, Optional, Tuple

import numpy as np

from faceverse_ros.core.layout import V4
from faceverse_ros.tracking.face_depth import TrackDepth
from faceverse_ros.tracking.face_smoothing import SmootherSettings, TrackSmoother
from faceverse_ros.tracking.keyframes import (DEFAULT_DRIFT_PX, DEFAULT_INTERVAL,
                                              DEFAULT_MAX_INTERVAL, KeyframeSchedule)

if TYPE_CHECKING:
    from faceverse_ros.core.camera import CameraIntrinsics
    from faceverse_ros.tracking.detector import Detection
    from faceverse_ros.tracking.face_depth import DepthFusion

HISTORY = 4  # frames kept per track: the original's two stages need the frame two back


@dataclasses.dataclass
class TrackFrame:
    """One frame of one face: what stage 1 gives stage 2, and stage 2's result."""
    stamp: float
    detection: "Detection"      # this frame's detection
    box: Optional[np.ndarray]   # smoothed squared box (image px); None until stage 1 ran
    eyes: Optional[np.ndarray]  # smoothed eye angles (landmarks.eyes.eye_gaze); None until stage 1
    rgb: np.ndarray             # the frame's image
    intrinsics: "CameraIntrinsics"   # of the frame
    crop_box: Optional[np.ndarray] = None   # filled by complete(): the crop the values are for
    mode: Optional[int] = None
    fit_rms_px: Optional[float] = None
    coeffs: Optional[np.ndarray] = None     # smoothed coefficients (complete())
    blendshapes: Optional[np.ndarray] = None  # smoothed (52,) weights, None without them
    keyframe: bool = False      # identity, texture, lighting from a keyframe new in this frame
    depth: object = None        # core.depth.DepthImage matched to the frame, or None
    depth_fusion: Optional["DepthFusion"] = None  # applied (complete())


@dataclasses.dataclass
class Solution:
    """Coefficients of one TrackFrame (raw, before stage-2 smoothing)."""
    coeffs: np.ndarray
    crop_box: Optional[np.ndarray]
    mode: int
    fit_rms_px: Optional[float] = None
    keyframe: bool = False      # a new keyframe's identity, texture, lighting (see TrackFrame)
    depth: Optional["DepthFusion"] = None   # applied to the translation


class FaceTrack:
    """One face's state (see module doc)."""

    def __init__(self, face_id: int, settings: Optional[SmootherSettings] = None,
                 keyframe_interval: int = DEFAULT_INTERVAL,
                 keyframe_drift_px: float = DEFAULT_DRIFT_PX, layout=V4,
                 keyframe_max_interval: int = DEFAULT_MAX_INTERVAL):
        self.face_id = face_id
        self.layout = layout
        self.smoother = TrackSmoother(settings, layout)
        self.keyframes = KeyframeSchedule(keyframe_interval, keyframe_drift_px,
                                          keyframe_max_interval)
        self.last_coeffs: Optional[np.ndarray] = None   # raw coefficients of the last solution
        self.last_crop_box: Optional[np.ndarray] = None
        self.key_exp: Optional[np.ndarray] = None       # expression of the last keyframe
        self.linear = None      # core.fast_update.LinearState about the last full fit
        self.keyframe_job = None  # tracking.keyframe_worker.KeyframeJob in flight
        # identity on: the track's person's identity.person_model.PersonModel (a prior for
        # the identity and albedo of its keyframes); None while the person is unknown
        self.person_prior = None
        # (coeffs, crop box) of a background keyframe just taken
        self._anchor: Optional[Tuple[np.ndarray, np.ndarray]] = None
        # (coeffs, crop box) of the last keyframe's own landmark fit
        self.key_fit: Optional[Tuple[np.ndarray, np.ndarray]] = None
        self._new_keyframe = False
        self.depth = TrackDepth()  # the person's scale from depth (tracking.face_depth)
        self._frames: "OrderedDict[float, TrackFrame]" = OrderedDict()
        self._pending: "OrderedDict[float, TrackFrame]" = OrderedDict()  # solved, smoothing

    # -- stage 1 ------------------------------------------------------------------------------
    def update(self, stamp: float, detection: "Detection", rgb: np.ndarray,
               intrinsics: "CameraIntrinsics", depth=None) -> Optional[TrackFrame]:
        """Record this frame's detection (and its matched depth image, or None); smooth box
        and eyes. Returns the frame whose coefficients are needed now (this one, or the
        previous one with "original"), or None while the original's window fills."""
        stamp = float(stamp)
        self._frames[stamp] = TrackFrame(stamp, detection, None, None, rgb, intrinsics,
                                         depth=depth)
        while len(self._frames) > HISTORY:
            self._frames.popitem(last=False)
        sample = self.smoother.smooth_box(stamp, detection.box, detection.eyes,
                                          getattr(detection, "blendshapes", None))
        return None if sample is None else self._boxed(sample)

    def _boxed(self, sample):
        frame = self._frames.get(sample.stamp)
        if frame is None:  # cannot happen with HISTORY >= 2 (one frame of delay)
            return None
        frame.box, frame.eyes = np.asarray(sample.box), np.asarray(sample.eyes)
        frame.blendshapes = None if sample.blendshapes is None else \
            np.asarray(sample.blendshapes, dtype=np.float32)
        return frame

    # -- stage 2 ------------------------------------------------------------------------------
    def complete(self, frame: TrackFrame, solution: Optional[Solution]) -> List[TrackFrame]:
        """Stage 2 for ``frame`` with its coefficients (None: no solution, the frame is
        dropped). Returns the frames finished now (each with smoothed coeffs of that frame)."""
        if solution is None:
            return []
        coeffs = np.array(solution.coeffs, dtype=np.float32)
        self.last_coeffs = coeffs.copy()
        self.last_crop_box = None if solution.crop_box is None else \
            np.asarray(solution.crop_box, dtype=np.float64)
        frame.crop_box = self.last_crop_box
        frame.mode, frame.fit_rms_px = solution.mode, solution.fit_rms_px
        frame.keyframe = bool(solution.keyframe)
        frame.depth_fusion = solution.depth
        self._anchor = None
        self._pending[frame.stamp] = frame
        return self._finish(self.smoother.smooth_coeffs(frame.stamp, coeffs,
                                                        keyframe=frame.keyframe))

    def _finish(self, sample) -> List[TrackFrame]:
        if sample is None:
            return []
        done = self._pending.pop(sample.stamp, None)
        for stamp in [s for s in self._pending if s < sample.stamp]:
            del self._pending[stamp]  # older frames the smoother skipped (a gap)
        if done is None:
            return []
        coeffs = np.asarray(sample.value).astype(np.float32)
        coeffs[self.layout.eyes] = done.eyes  # the stage-1 eyes of this same frame
        done.coeffs = coeffs
        return [done]

    def keyframe_recorded(self, regressed: bool, rms_px: Optional[float] = None,
                          exp: Optional[np.ndarray] = None) -> None:
        """Tell the schedule what solved the frame (exp: the keyframe's expression)."""
        self.keyframes.record(regressed, rms_px)
        if regressed:
            self.linear = None  # a new keyframe: the next fit is a full one
        if regressed and exp is not None:
            self.key_exp = np.array(exp, dtype=np.float32)

    def restart_keyframes(self) -> None:
        """After a bad output: the next frame regresses from scratch."""
        self.keyframes.restart()
        self.last_coeffs = None
        self.linear = None
        self.keyframe_job = self._anchor = self.key_fit = None
        self._new_keyframe = False

    def take_keyframe(self, job) -> None:
        """A finished background keyframe (tracking.keyframe_worker.KeyframeJob): its fit's
        linear state replaces the track's, its network expression is the new prior, and a
        full fit needed before the next solution starts from its fit."""
        self.key_exp = np.array(job.coeffs[self.layout.slices["exp"]], dtype=np.float32)
        anchor = np.array(job.fit_coeffs, dtype=np.float32)
        box = np.asarray(job.crop_box, dtype=np.float64)
        self.key_fit = (anchor.copy(), box)
        if self.last_coeffs is not None and self.last_crop_box is not None:
            # the job's fit and its linear state are of a frame some frames old: the frame
            # taking the keyframe fits in full, from the last solution's pose and expression
            # with the keyframe's identity, texture and lighting, so the handover does not
            # step back to that older frame
            for name in ("exp", "angles", "trans"):
                sl = self.layout.slices[name]
                anchor[sl] = self.last_coeffs[sl]
            box = self.last_crop_box
            self.linear = None
        else:
            self.linear = job.state
        self._anchor = (anchor, box)
        self._new_keyframe = True

    def fit_start(self):
        """(coefficients, crop box) a full landmark fit starts from: a keyframe just taken,
        else the last solution."""
        return self._anchor if self._anchor is not None else (self.last_coeffs, self.last_crop_box)

    def fit_starts(self):
        """The starts a full fit tries in turn: fit_start(), then the last keyframe's own fit
        (a start known to put the face in front of the crop camera with the keyframe's
        identity, for when the last solution's pose does not, e.g. after a new identity)."""
        first = self.fit_start()
        if self.key_fit is None or first[0] is None:
            return [first]
        return [first, self.key_fit]

    def pop_new_keyframe(self) -> bool:
        """True once after take_keyframe: the solution being made holds the new keyframe."""
        new, self._new_keyframe = self._new_keyframe, False
        return new

    # -- end ----------------------------------------------------------------------------------
    def end(self, solve: Callable[[List[TrackFrame]], List[Optional[Solution]]]) -> List[TrackFrame]:
        """The track ended: flush stage 1 (solving the flushed frames with ``solve``, a
        batched solver of TrackFrames), then stage 2. Returns the finished frames in stamp
        order; the track is then spent."""
        out = []
        flushed = [f for f in (self._boxed(s) for s in self.smoother.flush_box()) if f is not None]
        if flushed:
            for frame, solution in zip(flushed, solve(flushed)):
                out += self.complete(frame, solution)
        for sample in self.smoother.flush_coeffs():
            out += self._finish(sample)
        self._frames.clear()
        self._pending.clear()
        return sorted(out, key=lambda f: f.stamp)
