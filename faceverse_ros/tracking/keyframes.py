"""When to run the ResNet regressor (a keyframe) and when to fit landmarks instead.

One :class:`KeyframeSchedule` per face track (faceverse_ros.tracking.track
owns it) answers "does this frame need the ResNet?" (:meth:`~KeyframeSchedule.should_regress`).
It says yes:

1. on the track's first frame (a new track starts with a new schedule: a
   lost face starts over);
2. every ``interval`` frames: with interval N the regressed frames are 0, N,
   2N, ... counted from the last regression (interval 1: every frame);
3. when the last landmark fit drifted: its RMS residual (image pixels,
   :attr:`faceverse_ros.core.fitting.FitResult.rms_px`) exceeded ``drift_px``
   (drift_px > 0; None or 0 disables this trigger);
4. when the last landmark fit failed (recorded without an RMS, or with a
   non-finite one) or was asked for with :meth:`~KeyframeSchedule.request`.

The caller then calls :meth:`~KeyframeSchedule.record` once per frame with
what it did. The residual of a regressed frame does not trigger (the network
and the detector may disagree by a constant offset on real faces;
re-regressing would not change that).

Background keyframes (tracking.keyframe_worker) that the cores have no time for stretch
the interval: :meth:`~KeyframeSchedule.slower` (a job still running two intervals after it
went in, or one done while the rest of the process kept most CPUs busy: tracking.solver)
doubles the schedule's ``current`` interval, up to ``max_interval``;
:meth:`~KeyframeSchedule.faster` (a job done before the next one was due, with CPUs to
spare) halves it, down to ``interval``. A live camera on a CPU with time to spare keeps ``interval``; a file
processed at full speed, where every core is busy with the frames, gets fewer keyframes
instead of frames that wait for them.

The defaults below are the package's one set of keyframe defaults (the
pipeline configuration and the node parameters use them): the ResNet every
5 frames (the fast setting on a CPU; :class:`KeyframeCost` makes it every frame
while a regression costs no more than a fit), stretched to at most 40 frames, no drift
trigger.

Pure bookkeeping: no clock, no threads, no ROS.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional

DEFAULT_INTERVAL = 5        #: frames between regressions (1: the ResNet on every frame)
DEFAULT_DRIFT_PX = 0.0      #: fit RMS (image px) above which the next frame regresses; 0 = off
#: longest interval late background keyframes stretch it to (module doc): 1.3 s at 30 fps
DEFAULT_MAX_INTERVAL = 40


def check_settings(interval, drift_px):
    """Validated (interval, drift_px or None); ValueError for bad values."""
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
    return int(interval), drift_px


class KeyframeSchedule:
    """One face's keyframe schedule (see module doc).

    interval: regress every ``interval`` frames (int >= 1; 1 = always).
    drift_px: regress on the next frame when a fit's RMS residual exceeds
        this many image pixels (> 0), None or 0 to disable.
    max_interval: the longest ``current`` interval slower() stretches to (below
        ``interval``: ``interval``, no stretching).
    Counts: ``regressions``, ``fits``; ``since`` = frames recorded since the
    last regression; ``last_rms_px`` of the last record; ``current`` = the interval
    in force.
    """

    def __init__(self, interval: int = DEFAULT_INTERVAL,
                 drift_px: Optional[float] = DEFAULT_DRIFT_PX,
                 max_interval: int = DEFAULT_MAX_INTERVAL):
        self.interval, self.drift_px = check_settings(interval, drift_px)
        try:
            longest, _ = check_settings(max_interval, None)
        except ValueError:
            raise ValueError(f"max_interval must be a whole number of frames >= 1, got "
                             f"{max_interval!r}") from None
        self.max_interval = max(self.interval, longest)
        self.current = self.interval
        self.started = False
        self.since = 0
        self.last_rms_px: Optional[float] = None
        self.forced: Optional[str] = None
        self.regressions = 0
        self.fits = 0
        self._phase = 0

    def stagger(self, frames: int) -> None:
        """Hold the keyframe after the first one back by `frames` frames, and with it every
        later one: faces tracked together key-frame in different frames instead of all in
        the same one."""
        self._phase = max(0, int(frames))

    def should_regress(self) -> bool:
        """True when the current frame must run the regressor."""
        return self.reason() is not None

    def reason(self) -> Optional[str]:
        """Why the frame must regress ("first", "interval", "drift", "fit_failed",
        "requested"), or None when a landmark fit will do."""
        if not self.started:
            return "first"
        if self.forced is not None:
            return self.forced
        if self.since + 1 >= self.current:
            return "interval"
        return None

    def slower(self) -> None:
        """A background keyframe was late or took CPU the frames wanted: double the
        current interval, at most max_interval."""
        self.current = min(2 * self.current, self.max_interval)

    def faster(self) -> None:
        """A background keyframe was done before the next was due: halve the current
        interval, at least interval."""
        self.current = max(self.current // 2, self.interval)

    def record(self, regressed: bool, rms_px: Optional[float] = None) -> None:
        """Record what was done for this frame.

        regressed: True when the regressor ran (a new keyframe), False when
            the coefficients came from a landmark fit.
        rms_px: the fit's RMS residual in image pixels. For a fit, None or a
            non-finite value means the fit failed: the next frame regresses.
            Ignored for the drift test when regressed.

        Raises ValueError for a fit before the first keyframe.
        """
        rms = None if rms_px is None else float(rms_px)
        self.last_rms_px = rms
        if regressed:
            self.since = 0 if self.started else -self._phase
            self.started = True
            self.forced = None
            self.regressions += 1
            return
        if not self.started:
            raise ValueError("a fit without a keyframe: the track's first frame must be regressed "
                             "(should_regress() says so)")
        self.since += 1
        self.fits += 1
        if rms is None or not math.isfinite(rms):
            self.forced = "fit_failed"
        elif self.drift_px is not None and rms > self.drift_px:
            self.forced = "drift"
        else:
            self.forced = None

    def request(self) -> None:
        """Make the next frame regress."""
        if self.started:
            self.forced = "requested"

    def restart(self) -> None:
        """Start over: the next frame is a first frame (e.g. after a NaN output)."""
        self.started = False
        self.forced = None
        self.since = 0
        self.current = self.interval

    def __repr__(self):
        return (f"KeyframeSchedule(interval={self.interval}, current={self.current}, "
                f"max_interval={self.max_interval}, drift_px={self.drift_px}, "
                f"regressions={self.regressions}, fits={self.fits})")


class KeyframeCost:
    """Keyframe interval chosen by cost: when a keyframe (crop + ResNet, per face)
    costs no more than a landmark fit, fitting saves nothing and loses accuracy, so every
    frame regresses.

    The pipeline records what each took (milliseconds per face); :meth:`regress_every_frame`
    is True once both have ``min_samples`` and the median regression is <= the median fit.
    While it is True, one call in ``probe_every`` answers False so that a fit now and then
    keeps the fit's cost measured (costs change with load and face size). One per pipeline;
    pure bookkeeping.
    """

    def __init__(self, window: int = 30, min_samples: int = 5, probe_every: int = 60):
        from collections import deque

        self._regress: "deque[float]" = deque(maxlen=int(window))
        self._fit: "deque[float]" = deque(maxlen=int(window))
        self.min_samples = int(min_samples)
        self.probe_every = int(probe_every)
        self._calls = 0

    def record(self, regressed: bool, ms_per_face: float) -> None:
        if math.isfinite(ms_per_face) and ms_per_face >= 0:
            (self._regress if regressed else self._fit).append(float(ms_per_face))

    @staticmethod
    def _median(values):
        s = sorted(values)
        n = len(s)
        return 0.5 * (s[(n - 1) // 2] + s[n // 2])

    def medians(self):
        """(median regression ms, median fit ms), None where not measured yet."""
        return (self._median(self._regress) if self._regress else None,
                self._median(self._fit) if self._fit else None)

    def cheaper_to_regress(self) -> bool:
        if len(self._regress) < self.min_samples or len(self._fit) < self.min_samples:
            return False
        reg, fit = self.medians()
        return reg <= fit

    def regress_every_frame(self) -> bool:
        if not self.cheaper_to_regress():
            return False
        self._calls += 1
        return self._calls % self.probe_every != 0
