"""Latest-frame-wins workers (no ROS, no tracking imports).

:class:`TwoStageRunner` runs two functions on the items handed in, in two
threads of its own, the newest item winning; :class:`InOrderRunner` puts every item
through one, none dropped, the results back in the caller's thread. :class:`PipelineWorker` puts a
pipeline's two halves (anything with ``detect_stage(rgb, stamp, intrinsics)``
and ``face_stage(staged)``, as tracking.pipeline.FacePipeline) on one: the
caller hands a :class:`FrameJob` in and gets each frame's :class:`FrameOutput`
out, in the worker's thread; nothing calls back into the caller but
``job.load``, ``job.intrinsics``, ``job.depth`` (all about the job's own frame) and the
result and error handlers.
"""
import dataclasses
import os
import queue
import threading
from typing import Any, Callable, Optional, Protocol

import numpy as np


class TwoStagePipeline(Protocol):
    """What a PipelineWorker runs (tracking.pipeline.FacePipeline is one)."""

    def detect_stage(self, rgb: np.ndarray, stamp: float, intrinsics: Any, depth: Any = None) -> Any:
        """The first half of a frame (detection); its result goes to face_stage."""

    def face_stage(self, staged: Any) -> Any:
        """The second half of a frame (the faces)."""


@dataclasses.dataclass
class FrameJob:
    """One frame handed to a PipelineWorker."""
    stamp: float                                # seconds: the frame's stamp
    load: Callable[[], Optional[np.ndarray]]    # -> the uint8 RGB image (decoded in the worker)
    intrinsics: Optional[Callable[[int, int], object]] = None   # (width, height) -> intrinsics
    tag: object = None                          # the caller's (e.g. the ROS header)
    received: float = 0.0                       # monotonic time the frame arrived
    depth: Optional[Callable[[], object]] = None  # -> the frame's depth image or None (worker)


@dataclasses.dataclass
class FrameOutput:
    """A processed frame: its job, its image and the pipeline's result."""
    job: FrameJob
    rgb: object
    result: object


class PipelineWorker:
    """A pipeline's detect_stage and face_stage on a TwoStageRunner (see module doc).

    on_result(FrameOutput) and on_error(stage, exception) run in the worker's threads
    ("first" covers load, intrinsics and detect_stage; "second" face_stage and on_result).
    """

    def __init__(self, pipeline: "TwoStagePipeline", on_result: Callable[["FrameOutput"], None],
                 on_error: Optional[Callable[[str, BaseException], None]] = None,
                 name: str = "faceverse"):
        self.pipeline = pipeline
        self._runner = TwoStageRunner(self._first, self._second, on_result=on_result,
                                      on_error=on_error, name=name)

    def _first(self, job: FrameJob):
        rgb = job.load()
        if rgb is None:
            return None
        height, width = rgb.shape[:2]
        intrinsics = job.intrinsics(width, height) if job.intrinsics is not None else None
        if job.depth is None:
            return job, rgb, self.pipeline.detect_stage(rgb, job.stamp, intrinsics)
        return job, rgb, self.pipeline.detect_stage(rgb, job.stamp, intrinsics, job.depth())

    def _second(self, item):
        job, rgb, staged = item
        return FrameOutput(job, rgb, self.pipeline.face_stage(staged))

    def submit(self, job: FrameJob) -> None:
        """Hand a frame in; never blocks (an older frame still waiting is dropped)."""
        self._runner.submit(job)

    @property
    def dropped(self) -> int:
        return self._runner.dropped

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        return self._runner.wait_idle(timeout)

    def close(self) -> None:
        self._runner.close()


def lower_thread_priority(nice: int, idle_class: bool = False) -> None:
    """Lower the calling thread's OS priority (Linux: per thread; a thread id is a
    PRIO_PROCESS target): into the SCHED_IDLE class when idle_class and the system allows
    it, else by ``nice`` (niceness at most 19). Nothing where the OS refuses or lacks it."""
    if idle_class and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return
        except OSError:
            pass
    if nice > 0 and hasattr(os, "setpriority"):
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid,
                           min(os.getpriority(os.PRIO_PROCESS, tid) + int(nice), 19))
        except OSError:
            pass


class TwoStageRunner:
    """Runs first(item) and second(first's result) in two threads it owns: item t+1's first
    stage overlaps item t's second stage; on_result(second's result) is called in the second
    thread when the result is not None.

    submit() never blocks: it puts the item in a slot of one, and an item still waiting there
    when a newer one comes is dropped (counted in `dropped`): the newest frame wins. Between
    the stages is a queue of one, so at most three frames are in flight and none goes stale.
    first() may return None to stop an item (e.g. a bad image). Exceptions from the stages
    and from on_result go to on_error(stage_name, exception) ("first", "second") and the
    runner goes on.

    nice > 0 lowers the OS priority (adds to the niceness) of the runner's two threads (Linux: per thread) so that
    work of lower value (the debug views) yields the cores to the parameter path.
    cooldown: a callable giving seconds to wait before the first stage takes its next item;
    items submitted meanwhile replace each other, so after the wait the newest is taken
    (a duty-cycle cap that drops frames but never the last one).
    on_taken: called in the first stage's thread each time it takes an item from the slot
    (the slot is then free: InOrderRunner hands its next item in at once).
    """

    def __init__(self, first: Callable[[Any], Any], second: Callable[[Any], Any],
                 on_result: Optional[Callable[[Any], None]] = None,
                 on_error: Optional[Callable[[str, BaseException], None]] = None,
                 name: str = "faceverse", nice: int = 0,
                 cooldown: Optional[Callable[[], float]] = None,
                 on_taken: Optional[Callable[[], None]] = None):
        self._first, self._second = first, second
        self._on_result = on_result
        self._on_error = on_error or (lambda stage, exc: None)
        self._slot: Optional[Any] = None
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._handover: "queue.Queue[Any]" = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self.dropped = 0
        self.idle = threading.Event()
        self.idle.set()
        self._busy = 0
        self._nice = int(nice)
        self._cooldown = cooldown
        self._on_taken = on_taken
        self._threads = [threading.Thread(target=self._run_first, name=f"{name}_first", daemon=True),
                         threading.Thread(target=self._run_second, name=f"{name}_second",
                                          daemon=True)]
        for thread in self._threads:
            thread.start()

    @property
    def slot_free(self) -> bool:
        """True when no submitted item is waiting for the first stage (submit would drop none)."""
        return self._slot is None

    def submit(self, item: object) -> None:
        """Hand an item in (never blocks; an older item still waiting is dropped)."""
        with self._lock:
            if self._slot is not None:
                self.dropped += 1
                self._busy -= 1
            self._slot = item
            self._busy += 1
            self.idle.clear()
        self._ready.set()

    def _done(self):
        with self._lock:
            self._busy -= 1
            if self._busy == 0:
                self.idle.set()

    def _run_first(self):
        lower_thread_priority(self._nice)
        while not self._stop.is_set():
            if not self._ready.wait(timeout=0.1):
                continue
            if self._cooldown is not None:
                pause = self._cooldown()
                if pause > 0 and self._stop.wait(pause):
                    break
            with self._lock:
                item, self._slot = self._slot, None
                self._ready.clear()
            if item is None:
                continue
            if self._on_taken is not None:
                self._on_taken()
            try:
                staged = self._first(item)
            except Exception as exc:  # noqa: BLE001 - reported, the runner goes on
                self._on_error("first", exc)
                staged = None
            if staged is None:
                self._done()
                continue
            while not self._stop.is_set():
                try:
                    self._handover.put(staged, timeout=0.1)
                    break
                except queue.Full:
                    continue

    def _run_second(self):
        lower_thread_priority(self._nice)
        while not self._stop.is_set():
            try:
                staged = self._handover.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                result = self._second(staged)
                if result is not None and self._on_result is not None:
                    self._on_result(result)
            except Exception as exc:  # noqa: BLE001 - reported, the runner goes on
                self._on_error("second", exc)
            self._done()

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        """True once every submitted item went through (or was dropped)."""
        return self.idle.wait(timeout)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5.0)


#: InOrderRunner.put's longest wait between checks of the slot (the first stage's take
#: wakes it earlier: a marker in the results queue)
SLOT_WAIT_S = 0.1
_TAKEN = object()


class InOrderRunner:
    """Every item through a TwoStageRunner, none dropped, the results back in the caller's
    thread in order: a file or a folder processed with detection of frame t+1 beside the
    face stage of frame t (the command line's run).

    put(item) blocks until the runner takes the item and returns the results that came
    out meanwhile; finish() waits for the rest. A stage's exception comes back in its
    item's place, after the results of the items before it, as a :class:`StageFailure`
    (its ``error`` is the exception); first() returning None stops its item.
    """

    def __init__(self, first: Callable[[Any], Any], second: Callable[[Any], Any],
                 name: str = "faceverse_run"):
        self._out: "queue.Queue[Any]" = queue.Queue()

        def first_or_failure(item):  # a first-stage failure goes through the second stage,
            try:                     # so that it comes back after the items before it
                staged = first(item)
                return None if staged is None else (True, staged)   # None: the item stops
            except Exception as exc:  # noqa: BLE001 - handed back to the caller
                return False, StageFailure("first", exc)

        def second_or_failure(staged):
            ok, value = staged
            return second(value) if ok else value

        self._runner = TwoStageRunner(first_or_failure, second_or_failure,
                                      on_result=self._out.put,
                                      on_error=lambda stage, exc: self._out.put(
                                          StageFailure(stage, exc)), name=name,
                                      on_taken=lambda: self._out.put(_TAKEN))

    def _ready(self, timeout=0.0):
        out = []
        try:
            out.append(self._out.get(timeout=timeout) if timeout else self._out.get_nowait())
            while True:
                out.append(self._out.get_nowait())
        except queue.Empty:
            pass
        return [r for r in out if r is not _TAKEN]

    def put(self, item: object) -> list:
        out = []
        while not self._runner.slot_free:  # the first stage has not taken the last item yet:
            out += self._ready(timeout=SLOT_WAIT_S)  # a result or the take wakes this at once
        self._runner.submit(item)
        return out + self._ready()

    def finish(self) -> list:
        out = []
        while not self._runner.wait_idle(0.005):
            out += self._ready()
        return out + self._ready()

    def close(self) -> None:
        self._runner.close()


@dataclasses.dataclass
class StageFailure:
    """An item that failed in an InOrderRunner stage ("first" or "second")."""
    stage: str
    error: BaseException


class FrameHistory:
    """The last ``size`` frames' records by stamp (thread-safe): results that describe an
    earlier frame (a delayed smoother, a track's flushed last frames) find its header and
    image here."""

    def __init__(self, size: int = 16):
        import collections

        self.size = int(size)
        self._lock = threading.Lock()
        self._items: "collections.OrderedDict[float, object]" = collections.OrderedDict()

    def add(self, stamp: float, record: object) -> None:
        with self._lock:
            self._items[stamp] = record
            self._items.move_to_end(stamp)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get(self, stamp: float, default: object = None) -> object:
        with self._lock:
            return self._items.get(stamp, default)

    def __len__(self):
        with self._lock:
            return len(self._items)
