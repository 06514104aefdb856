"""Keyframes off the critical path: the ResNet and the full fit in a thread of their own.

A keyframe costs one ResNet pass (tens of milliseconds on a CPU) and, to linearise the
landmark update about it, one full landmark fit: together several frames' worth of the
per-frame work. Done inline, every keyframe frame waits for them (the live p95 latency
is then a keyframe's, not a frame's). Here a keyframe is a job instead:

1. the frame that is due a keyframe (tracking.keyframes schedule) hands its crop, crop
   box and landmarks to :class:`KeyframeWorker` and is itself solved by the landmark
   update about the track's current state, like any frame between keyframes;
2. the worker's thread (at a lower OS priority than the frame path, below, with one ONNX
   Runtime thread of its own, so that it takes the cores only when the frame path leaves
   them)
   regresses the crop, fits that frame's landmarks (identity, texture and lighting from
   the network; pose and expression fitted, starting from the frame's own solution, or
   from the network's values where that start fails, with the network's expression as
   the prior) and prepares the linear update about the fit
   (core.fast_update);
3. the first frame of the track after the job is done takes the new state: its values,
   and those of the frames after it, hold the new keyframe's identity, texture and
   lighting (``MODE_LANDMARK_FIT``: "held from the last keyframe").

A track has at most one job in flight; a keyframe due while one runs waits for it. A job
still running two keyframe intervals after it was handed in (the cores have no time to
spare, e.g. offline at full speed) doubles the track's interval and goes on
(tracking.keyframes: KeyframeSchedule.slower); at the longest interval it is waited for by
the frame path, briefly (its core is then free for this thread), and one still not done
then is cancelled and the frame makes its keyframe itself, inline (tracking.solver: the
lag of a keyframe is bounded). The track's first frame (nothing to update from) is
regressed inline too.

Priority: the worker thread runs in Linux's SCHED_IDLE class where it may (it then gets a
core only when no normal thread wants one, and gives it back at once when one does),
else at niceness +NICE.

Yielding the GIL: the worker's Python parts (the network's input and output, the fit, the
linear prepare: about ten milliseconds a keyframe on a small CPU) hold the GIL. Run while the
frame path works, each of them takes the GIL from it at every point where the frame path
lets it go (a NumPy or OpenCV call), and an idle-class thread holding the GIL may wait for a
core meanwhile, which stalls the frame that wanted the GIL (doc/performance.md). So the
worker waits, before
each Python part, until the frame path is idle (:class:`FramePathActivity`: the pipeline's
face stage marks itself busy), at most ``YIELD_MAX_S``; offline the frame path is rarely
idle and the parts then go ahead after that wait.

Closing: ``close()`` skips the jobs still queued and the rest of the one in flight at its
next Python part, and waits for the thread (at most ``CLOSE_WAIT_S``; it returns False if
the thread is still running then). The thread's startup work, its own ONNX Runtime session,
runs before it lowers its priority: built in the idle class, that session could still be
loading when a short run (one image) closes, on a core its frame path kept busy, and a
process that exits while a thread is inside ONNX Runtime may abort ("terminate called
without an active exception").

Results depend on thread timing (which frame takes the state): runs on the same input
can differ slightly. ``keyframe.background: false`` keeps every keyframe inline and the
output reproducible.
"""
import contextlib
import dataclasses
import queue
import threading
import time
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Protocol, Tuple

import numpy as np

if TYPE_CHECKING:
    from faceverse_ros.core.model import FaceVerseModel
    from faceverse_ros.core.fast_update import LinearUpdate
    from faceverse_ros.core.fitting import LandmarkFitter

#: added to the worker thread's niceness (Linux, per thread): below the frame path
NICE = 10
#: SCHED_IDLE where Linux allows it (faster than niceness: doc/performance.md)
IDLE_CLASS = True
#: LM steps of the keyframe's fit at most (the frame path's full fits: 10)
FIT_ITERATIONS = 4
#: how long the worker waits for the frame path to go idle before each of its Python parts
#: (module doc), seconds; then it goes ahead
YIELD_MAX_S = 0.02
#: how long close() waits for the worker's thread, seconds (module doc: "Closing")
CLOSE_WAIT_S = 120.0


class Predictor(Protocol):
    """A regressor engine: (B, 256, 256, 3) uint8 crops -> (B, n_coeffs) coefficients."""

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """The coefficients of each crop."""


class FramePathActivity:
    """Whether the frame path is working on a frame (thread-safe): ``busy()`` is a context
    the pipeline's face stage runs in (nested or from several threads: busy while any is
    in), ``idle()`` one inside it that lets the worker go (the frame path waits for the
    worker there); the worker calls ``wait_idle``."""

    def __init__(self):
        self._lock = threading.Lock()
        self._count = 0
        self._idle = threading.Event()
        self._idle.set()

    def _add(self, step):
        with self._lock:
            self._count += step
            if self._count > 0:
                self._idle.clear()
            else:
                self._idle.set()

    @contextlib.contextmanager
    def busy(self):
        self._add(1)
        try:
            yield
        finally:
            self._add(-1)

    @contextlib.contextmanager
    def idle(self):
        self._add(-1)
        try:
            yield
        finally:
            self._add(1)

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        """True once the frame path is idle; False after ``timeout`` seconds (None:
        YIELD_MAX_S) of it busy."""
        return self._idle.wait(YIELD_MAX_S if timeout is None else timeout)


def others_cpu_share(job) -> float:
    """The share of the process's CPUs (runtime.threads.cpu_count) that the process used,
    apart from the job's own thread time, from the job's hand-in to now: the frames' (and
    the views') use of the CPUs while the keyframe ran: low on a live camera, high on a
    file processed at full speed."""
    from faceverse_ros.runtime.threads import cpu_count

    wall = time.perf_counter() - job.handed_in[0]
    if wall <= 0.0:
        return 0.0
    used = time.process_time() - job.handed_in[1] - job.cpu_s
    return max(0.0, used) / (wall * cpu_count())


@dataclasses.dataclass
class KeyframeJob:
    """One track's keyframe in flight. ``done`` is set when ``state``/``error`` are final."""
    stamp: float                    # the frame the keyframe is of
    crop: np.ndarray                # (256, 256, 3) uint8
    crop_box: np.ndarray            # (4,) the crop's true box, image px
    landmarks: np.ndarray           # (478, 3) image px of that frame
    start: Optional[np.ndarray] = None      # the frame's own solution: its pose and expression
    start_box: Optional[np.ndarray] = None  # start the fit (crop box of start's translation)
    frames_waited: int = 0          # frames solved while the job was in flight
    handed_in: tuple = dataclasses.field(default_factory=lambda: (time.perf_counter(),
                                                                  time.process_time()))
    #                                 (wall, process CPU) seconds when it went in
    cpu_s: float = 0.0              # the worker thread's CPU time on it
    cancelled: bool = False         # the frame path took the keyframe over: skip it
    prior: Optional[object] = None  # the track's person's model (identity.person_model)
    coeffs: Optional[np.ndarray] = None     # the network's values
    fit_coeffs: Optional[np.ndarray] = None  # after the fit (the state's base)
    state: Optional[object] = None  # core.fast_update.LinearState about fit_coeffs
    rms_px: Optional[float] = None
    regress_ms: float = 0.0
    error: Optional[str] = None
    done: threading.Event = dataclasses.field(default_factory=threading.Event)


class _Closed(Exception):
    """The worker is closing: the job in flight stops at its next Python part."""


class KeyframeWorker:
    """Runs KeyframeJobs in one thread (module doc).

    regressor_for: a callable returning the Regressor to use now (called in the worker's
    thread per job: the pipeline's may change, e.g. engine auto's int8 switch); model:
    the FaceVerseModel (the worker builds its own LandmarkFitter: a fitter keeps buffers).
    """

    def __init__(self, model: "FaceVerseModel", regressor_for: Callable[[], "Predictor"], nice: int = NICE,
                 activity: Optional[FramePathActivity] = None):
        from faceverse_ros.core.fast_update import LinearUpdate
        from faceverse_ros.core.fitting import LandmarkFitter

        self.model = model
        self._regressor_for = regressor_for
        # the fit starts from the frame's own solution: a few steps absorb the new identity
        self._fitter = LandmarkFitter(model, iterations=FIT_ITERATIONS)
        self._update = LinearUpdate(self._fitter)
        self._nice = int(nice)
        self.activity = activity if activity is not None else FramePathActivity()
        self._jobs: "queue.Queue[Optional[KeyframeJob]]" = queue.Queue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faceverse_keyframes",
                                        daemon=True)
        self._thread.start()

    def submit(self, job: KeyframeJob) -> KeyframeJob:
        self._jobs.put(job)
        return job

    def close(self) -> bool:
        """Stop the thread (module doc: "Closing"); False if it is still running after
        CLOSE_WAIT_S."""
        self._closing.set()
        self._jobs.put(None)
        self._thread.join(timeout=CLOSE_WAIT_S)
        return not self._thread.is_alive()

    def _run(self):
        from faceverse_ros.runtime.workers import lower_thread_priority

        try:  # the worker's own session now, not on the first keyframe (module doc)
            self._regressor_for()
        except Exception:  # noqa: BLE001 - a job will report it
            pass
        lower_thread_priority(self._nice, idle_class=IDLE_CLASS)
        while True:
            job = self._jobs.get()
            if job is None:
                return
            start = time.thread_time()
            try:
                self._work(job)
            except _Closed:
                job.error = "closed"
            except Exception as exc:  # noqa: BLE001 - the job says it failed, the worker goes on
                job.error = f"{type(exc).__name__}: {exc}"
            job.cpu_s = time.thread_time() - start
            job.done.set()

    def _pause(self):
        """Before each Python part: yield to the frame path; stop the job when closing."""
        if self._closing.is_set():
            raise _Closed
        self.activity.wait_idle()
        if self._closing.is_set():
            raise _Closed

    def _work(self, job: KeyframeJob):
        if job.cancelled:  # the frame path did this keyframe itself (tracking.solver)
            job.error = "cancelled"
            return
        pause = self._pause
        pause()
        t = time.perf_counter()
        coeffs = self._regressor_for().predict(job.crop[None])[0]
        job.regress_ms = (time.perf_counter() - t) * 1000.0
        if job.prior is not None:
            from faceverse_ros.identity.person_model import with_person_prior

            coeffs = with_person_prior(job.prior, coeffs, self.model.slices)
        finish_keyframe(job, coeffs, self._fitter, self._update, pause=pause)


def finish_keyframe(job: KeyframeJob, coeffs: np.ndarray, fitter: "LandmarkFitter",
                    update: "LinearUpdate", pause: Optional[Callable[[], None]] = None) -> None:
    """The rest of a keyframe once the network's values are known: fit the job's landmarks
    (identity, texture, lighting from the network; pose and expression from the job's start,
    else from the network's values where that start fails; the network's expression as the
    prior) and prepare the linear update about the fit. Fills job.coeffs, fit_coeffs, rms_px,
    state, or job.error. fitter/update: the caller's (a fitter keeps buffers). pause: called
    before each fit and before the prepare (the worker's yield to the frame path)."""
    pause = pause if pause is not None else (lambda: None)
    if not np.all(np.isfinite(coeffs)):
        job.error = "the regressor returned NaN/inf"
        return
    slices = fitter.model.slices
    exp = slices["exp"]
    job.coeffs = coeffs
    box = job.crop_box.astype(np.float64)
    starts: List[Tuple[np.ndarray, Optional[np.ndarray]]] = [(coeffs, box)]  # the network's own
    if job.start is not None:  # first: the network's identity etc. with the frame's pose
        init = np.array(coeffs, dtype=np.float32)
        for name in ("exp", "angles", "trans"):
            init[slices[name]] = job.start[slices[name]]
        starts.insert(0, (init, job.start_box))
    res, why = None, "the landmark fit of the keyframe diverged"
    for init, init_box in starts:
        pause()
        try:
            res = fitter.fit(job.landmarks, box, init, prior_exp=coeffs[exp], init_box=init_box)
        except ValueError as exc:  # e.g. the new identity puts the start behind the camera
            res, why = None, f"the landmark fit of the keyframe failed ({exc})"
            continue
        if res.status != "diverged":
            break
    if res is None or res.status == "diverged":
        job.error = why
        return
    job.fit_coeffs, job.rms_px = res.coeffs, float(res.rms_px)
    if update is None:  # no linear update configured: the next frames fit in full
        return
    pause()
    job.state = update.prepare(res.coeffs, box, coeffs[exp], res.rms_px,
                               fit=res.linearisation)


class WorkerRegressor:
    """The worker's own single-threaded ONNX Runtime session for the pipeline's current
    CPU ONNX model (so that its thread's priority covers the whole pass), made once per
    model file; any other regressor (torch, CUDA) is shared as it is."""

    def __init__(self, current: Callable[[], object]):
        self._current = current
        self._own: Dict[str, object] = {}

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
