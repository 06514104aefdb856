"""Keyframes off the critical path (issue 14): the ResNet and the full fit in a thread of their own.

A keyframe costs one ResNet pass (tens of milliseconds on a CPU) and, to linearise the
landmark update about it, one full landmark fit: together several frames' worth of the
per-frame work. Done inline, every keyframe frame waits for them (the live p95 latency
is then a keyframe's, not a frame's). Here a keyframe is a job instead:

1. the frame that is due a keyframe (tracking.keyframes schedule) hands its crop, crop
   box and landmarks to :class:`KeyframeWorker` and is itself solved by the landmark
   update about the track's current state, like any frame between keyframes;
2. the worker's thread (at a lower OS priority than the frame path, one ONNX Runtime
   thread of its own, so that it takes the cores only when the frame path leaves them)
   regresses the crop, fits that frame's landmarks (identity, texture and lighting from
   the network; pose and expression fitted, starting from the frame's own solution, with
   the network's expression as the prior) and prepares the linear update about the fit
   (core.fast_update);
3. the first frame of the track after the job is done takes the new state: its values,
   and those of the frames after it, hold the new keyframe's identity, texture and
   lighting (``MODE_LANDMARK_FIT``: "held from the last keyframe").

A track has at most one job in flight; a keyframe due while one runs waits for it. A job
still running one keyframe interval after it was handed in makes the next frame wait for
it (tracking.solver: the lag of a keyframe is bounded; offline at full speed this is what
gives the worker its share of the cores). The track's first frame (nothing to update
from) is still regressed inline.

Results depend on thread timing (which frame takes the state): runs on the same input
can differ slightly. ``keyframe.background: false`` keeps every keyframe inline and the
output reproducible.
"""
import dataclasses
import os
import queue
import threading
import time
from typing import Callable, Optional

import numpy as np

#: added to the worker thread's niceness (Linux, per thread): below the frame path
NICE = 10


@dataclasses.dataclass
class KeyframeJob:
    """One track's keyframe in flight. ``done`` is set when ``state``/``error`` are final."""
    stamp: float                    # the frame the keyframe is of
    crop: np.ndarray                # (256, 256, 3) uint8
    crop_box: np.ndarray            # (4,) the crop's true box, image px
    landmarks: np.ndarray           # (478, 3) image px of that frame
    start: Optional[np.ndarray] = None      # the frame's own solution: its pose and expression
    start_box: Optional[np.ndarray] = None  # start the fit (crop box of start's translation)
    submitted: float = 0.0          # perf_counter at submit
    frames_waited: int = 0          # frames solved while the job was in flight
    coeffs: Optional[np.ndarray] = None     # the network's values
    fit_coeffs: Optional[np.ndarray] = None  # after the fit (the state's base)
    state: Optional[object] = None  # core.fast_update.LinearState about fit_coeffs
    rms_px: Optional[float] = None
    regress_ms: float = 0.0
    fit_ms: float = 0.0
    error: Optional[str] = None
    done: threading.Event = dataclasses.field(default_factory=threading.Event)


class KeyframeWorker:
    """Runs KeyframeJobs in one thread (module doc).

    regressor_for: a callable returning the Regressor to use now (called in the worker's
    thread per job: the pipeline's may change, e.g. engine auto's int8 switch); model:
    the FaceVerseModel (the worker builds its own LandmarkFitter: a fitter keeps buffers).
    """

    def __init__(self, model, regressor_for: Callable[[], object], nice: int = NICE):
        from faceverse_ros.core.fast_update import LinearUpdate
        from faceverse_ros.core.fitting import LandmarkFitter

        self.model = model
        self._regressor_for = regressor_for
        self._fitter = LandmarkFitter(model)
        self._update = LinearUpdate(self._fitter)
        self._exp = model.slices["exp"]
        self._moving = [model.slices[name] for name in ("exp", "angles", "trans")]
        self._nice = int(nice)
        self._jobs: "queue.Queue[Optional[KeyframeJob]]" = queue.Queue()
        self.completed = 0
        self._thread = threading.Thread(target=self._run, name="faceverse_keyframes",
                                        daemon=True)
        self._thread.start()

    def submit(self, job: KeyframeJob) -> KeyframeJob:
        job.submitted = time.perf_counter()
        self._jobs.put(job)
        return job

    def close(self):
        self._jobs.put(None)
        self._thread.join(timeout=5.0)

    def _lower_priority(self):
        if self._nice > 0 and hasattr(os, "setpriority"):
            try:
                tid = threading.get_native_id()
                os.setpriority(os.PRIO_PROCESS, tid,
                               min(os.getpriority(os.PRIO_PROCESS, tid) + self._nice, 19))
            except OSError:
                pass

    def _run(self):
        self._lower_priority()
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._work(job)
            except Exception as exc:  # noqa: BLE001 - the job says it failed, the worker goes on
                job.error = f"{type(exc).__name__}: {exc}"
            self.completed += 1
            job.done.set()

    def _work(self, job: KeyframeJob):
        t = time.perf_counter()
        coeffs = self._regressor_for().predict(job.crop[None])[0]
        t2 = time.perf_counter()
        job.regress_ms = (t2 - t) * 1000.0
        if not np.all(np.isfinite(coeffs)):
            job.error = "the regressor returned NaN/inf"
            return
        job.coeffs = coeffs
        box = job.crop_box.astype(np.float64)
        init, init_box = coeffs, box
        if job.start is not None:  # the network's identity, texture, lighting; the frame's pose
            init = np.array(coeffs, dtype=np.float32)
            for block in self._moving:
                init[block] = job.start[block]
            init_box = job.start_box
        res = self._fitter.fit(job.landmarks, box, init, prior_exp=coeffs[self._exp],
                               init_box=init_box)
        if res.status == "diverged":
            job.error = "the landmark fit of the keyframe diverged"
            return
        job.fit_coeffs, job.rms_px = res.coeffs, float(res.rms_px)
        job.state = self._update.prepare(res.coeffs, box, coeffs[self._exp], res.rms_px,
                                         fit_landmarks=job.landmarks)
        job.fit_ms = (time.perf_counter() - t2) * 1000.0


class WorkerRegressor:
    """The worker's own single-threaded ONNX Runtime session for the pipeline's current
    CPU ONNX model (so that its thread's priority covers the whole pass), made once per
    model file; any other regressor (torch, CUDA) is shared as it is."""

    def __init__(self, current: Callable[[], object]):
        self._current = current
        self._own = {}

    def __call__(self):
        from faceverse_ros.core.regressor import Regressor

        reg = self._current()
        path = getattr(reg, "onnx_path", None)
        if reg.engine != "onnx" or not str(reg.device).startswith("cpu") or path is None:
            return reg
        own = self._own.get(str(path))
        if own is None:
            own = self._own[str(path)] = Regressor(path, engine="onnx", device="cpu", threads=1,
                                                   head_sizes=reg.head_sizes,
                                                   ort_spinning=False)
        return own
