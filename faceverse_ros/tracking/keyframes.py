"""When to run the ResNet regressor (a keyframe) and when to fit landmarks instead.

Per face id, :class:`KeyframeScheduler` answers "does this frame need the
ResNet?" (:meth:`~KeyframeScheduler.should_regress`). It says yes:

1. on the first frame of a face (an id it has not seen, or one that was
   :meth:`~KeyframeScheduler.end`-ed or :meth:`~KeyframeScheduler.reset`: a
   lost face starts over);
2. every ``interval`` frames: with interval N the regressed frames are 0, N,
   2N, ... counted from the last regression (interval 1: every frame);
3. when the last landmark fit drifted: its RMS residual (image pixels,
   :attr:`faceverse_ros.core.fitting.FitResult.rms_px`) exceeded ``drift_px``
   (drift_px > 0; None or 0 disables this trigger);
4. when the last landmark fit failed (recorded without an RMS, or with a
   non-finite one) or was requested with :meth:`~KeyframeScheduler.request`.

The caller then calls :meth:`~KeyframeScheduler.record` once per frame and
face with what it did. The residual of a regressed frame does not trigger
(the network and the detector may disagree by a constant offset on real
faces; re-regressing would not change that); it is kept for inspection.

Pure bookkeeping: no clock, no threads, no ROS.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Dict, Hashable, Iterable, Optional

DEFAULT_INTERVAL = 5        #: frames between regressions (6 Hz at 30 fps)
DEFAULT_DRIFT_PX = 3.0      #: fit RMS (image px) above which the next frame regresses


@dataclass
class FaceSchedule:
    """Per-face state: ``since`` frames recorded since the last regression
    (0 right after it), ``last_rms_px`` of the last record, ``forced`` when
    the next frame must regress (drift, failed fit or request), and counts."""

    since: int = 0
    last_rms_px: Optional[float] = None
    forced: Optional[str] = None
    regressions: int = 0
    fits: int = 0


class KeyframeScheduler:
    """Decide per face whether a frame runs the regressor (see module doc).

    interval: regress every ``interval`` frames (int >= 1; 1 = always).
    drift_px: regress on the next frame when a fit's RMS residual exceeds
        this many image pixels (> 0), None or 0 to disable.
    """

    def __init__(self, interval: int = DEFAULT_INTERVAL, drift_px: Optional[float] = DEFAULT_DRIFT_PX):
        whole = isinstance(interval, numbers.Integral) or (
            isinstance(interval, numbers.Real) and math.isfinite(interval) and float(interval).is_integer())
        if isinstance(interval, bool) or not whole or int(interval) < 1:
            raise ValueError(f"interval must be a whole number of frames >= 1, got {interval!r}")
        if drift_px is not None:
            drift_px = float(drift_px)
            if math.isnan(drift_px) or drift_px < 0:
                raise ValueError(f"drift_px must be >= 0 pixels (0 or None disables it), got {drift_px!r}")
            if drift_px == 0 or math.isinf(drift_px):
                drift_px = None
        self.interval = int(interval)
        self.drift_px = drift_px
        self._faces: Dict[Hashable, FaceSchedule] = {}

    # ----------------------------------------------------------------- queries
    def should_regress(self, face_id: Hashable) -> bool:
        """True when this face's current frame must run the regressor."""
        return self.reason(face_id) is not None

    def reason(self, face_id: Hashable) -> Optional[str]:
        """Why the frame must regress ("first", "interval", "drift", "fit_failed",
        "requested"), or None when a landmark fit will do."""
        st = self._faces.get(face_id)
        if st is None:
            return "first"
        if st.forced is not None:
            return st.forced
        if st.since + 1 >= self.interval:
            return "interval"
        return None

    def state(self, face_id: Hashable) -> Optional[FaceSchedule]:
        """A copy of the face's state, or None for an unknown face."""
        st = self._faces.get(face_id)
        return None if st is None else FaceSchedule(**vars(st))

    def __contains__(self, face_id: Hashable) -> bool:
        return face_id in self._faces

    @property
    def face_ids(self):
        """Ids of the faces being scheduled."""
        return list(self._faces)

    # ----------------------------------------------------------------- updates
    def record(self, face_id: Hashable, regressed: bool, rms_px: Optional[float] = None) -> None:
        """Record what was done for this face's frame.

        regressed: True when the regressor ran (a new keyframe), False when
            the coefficients came from a landmark fit.
        rms_px: the fit's RMS residual in image pixels
            (``FitResult.rms_px``). For a fit, None or a non-finite value
            means the fit failed: the next frame regresses. Ignored for the
            drift test when regressed.

        Raises ValueError for a fit on a face that has no keyframe yet.
        """
        st = self._faces.get(face_id)
        if regressed:
            if st is None:
                st = self._faces[face_id] = FaceSchedule()
            st.since = 0
            st.forced = None
            st.regressions += 1
            st.last_rms_px = None if rms_px is None else float(rms_px)
            return
        if st is None:
            raise ValueError(f"face {face_id!r} has no keyframe: its first frame must be regressed "
                             "(should_regress() says so)")
        st.since += 1
        st.fits += 1
        rms = None if rms_px is None else float(rms_px)
        st.last_rms_px = rms
        if rms is None or not math.isfinite(rms):
            st.forced = "fit_failed"
        elif self.drift_px is not None and rms > self.drift_px:
            st.forced = "drift"
        else:
            st.forced = None

    def request(self, face_id: Hashable) -> None:
        """Make this face's next frame regress (no effect on an unknown face,
        whose next frame regresses anyway)."""
        st = self._faces.get(face_id)
        if st is not None:
            st.forced = "requested"

    def end(self, face_id: Hashable) -> None:
        """Forget a face (lost or its track ended): if the id comes back, its
        first frame regresses. Unknown ids are ignored."""
        self._faces.pop(face_id, None)

    def retain(self, face_ids: Iterable[Hashable]) -> None:
        """End every face whose id is not in ``face_ids`` (the faces of this frame)."""
        keep = set(face_ids)
        for fid in [f for f in self._faces if f not in keep]:
            del self._faces[fid]

    def reset(self) -> None:
        """Forget every face (e.g. after a stream restart or a jump in time)."""
        self._faces.clear()

    def __repr__(self):
        return f"KeyframeScheduler(interval={self.interval}, drift_px={self.drift_px}, faces={len(self._faces)})"
