"""Recognition for the pipeline: when to take a descriptor, the worker that computes them,
and the events a REP-155 publisher needs.

When (per face track, counted in the track's frames):

- until the track has its person: a sample on its first frame and every ``SAMPLE_EVERY``
  frames after it (a decision needs ``confirm``/``new_after`` samples: a few frames), at
  most ``MAX_PENDING`` samples waiting per track;
- after that, to refine the person's embedding: a sample on a keyframe of the track
  (``keyframe`` True: the pipeline's new FaceVerse keyframes) at least ``refine_every``
  frames after its last sample, or, where there are no keyframes (landmark-only mode,
  ``keyframe`` None), every ``refine_every`` frames. One descriptor costs about a hundred
  milliseconds of a CPU core (dlib's ResNet at 150x150), so the refinement is kept rare.

Never every frame. The frame path only hands over references (the frame's image and the
face's landmarks); the descriptor worker's thread (below the frame path: SCHED_IDLE where
Linux allows it, like the keyframe worker) aligns the chips and runs dlib's network on all
the samples waiting, in one batch, and feeds the gallery. ``background=False`` computes
in the caller's thread (reproducible: tests, ``faceverse-ros run --sync-keyframes``).

Events (:meth:`Recognizer.poll_events`, for the ROS layer): a ``Match`` when a track gets
its person (confidence of identity.gallery) and a ``Match`` with confidence 0.0 when a
track that had one ends; the persons forgotten by :meth:`Recognizer.expire`.
"""
import dataclasses
import queue
import threading
from collections import deque
from typing import Callable, List, Optional

import numpy as np

from faceverse_ros.identity.gallery import Gallery, IdentitySettings

SAMPLE_EVERY = 3
MAX_PENDING = 4
DEFAULT_REFINE_EVERY = 60
#: most samples in one batch of the network
MAX_BATCH = 16
NICE = 10


@dataclasses.dataclass
class Match:
    face_id: int
    person_id: str
    confidence: float
    new: bool = False


@dataclasses.dataclass
class _Sample:
    face_id: int
    stamp: float
    rgb: np.ndarray
    landmarks: np.ndarray


class Recognizer:
    """Samples, worker and gallery of one pipeline (module doc).

    describe: a callable [(rgb, landmarks), ...] -> (N, 128) descriptors, made in the
    worker's thread by ``describe_factory`` (identity.descriptor.load_descriptor)."""

    def __init__(self, describe_factory: Callable[[], Callable], gallery: Optional[Gallery] = None,
                 settings: Optional[IdentitySettings] = None, background: bool = True,
                 refine_every: int = DEFAULT_REFINE_EVERY, log=print):
        self.gallery = gallery or Gallery(settings)
        self.refine_every = max(1, int(refine_every))
        self.log = log
        self._events: deque = deque()
        self._ended = set()
        self._pending = {}          # face id -> samples waiting
        self._lock = threading.Lock()
        self._factory = describe_factory
        self._describe = None
        self.samples_done = 0
        self.batches = 0
        self.error: Optional[str] = None
        self._closing = threading.Event()
        self._queue: "queue.Queue[Optional[_Sample]]" = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = None
        if background:
            self._thread = threading.Thread(target=self._run, name="faceverse_identity",
                                            daemon=True)
            self._thread.start()
        else:
            self._describe = describe_factory()

    # -- frame path -----------------------------------------------------------------------------
    def offer(self, face_id: int, stamp: float, rgb, landmarks, keyframe: Optional[bool] = False
              ) -> bool:
        """One finished frame of a live track; True when a sample was taken of it.
        keyframe: a new keyframe in this frame; None where there are no keyframes."""
        state = self.gallery.track(face_id)
        index = state.frames
        state.frames += 1
        if state.decided:
            take = (keyframe is None or keyframe) and \
                index - state.last_sample >= self.refine_every
        else:
            take = index % SAMPLE_EVERY == 0
        if not take:
            return False
        state.last_sample = index
        with self._lock:
            if face_id in self._ended or self._pending.get(face_id, 0) >= MAX_PENDING:
                return False
            self._pending[face_id] = self._pending.get(face_id, 0) + 1
        sample = _Sample(int(face_id), float(stamp), rgb, np.array(landmarks, dtype=np.float32))
        if self._thread is None:
            self._work([sample])
        else:
            self._idle.clear()
            self._queue.put(sample)
        return True

    def person_of(self, face_id: int) -> str:
        return self.gallery.person_of(face_id)

    def end(self, face_id: int):
        """The track ended: a 0.0 match for its person, if it had one."""
        with self._lock:
            self._ended.add(int(face_id))
            self._pending.pop(int(face_id), None)
        person = self.gallery.end_track(int(face_id))
        if person:
            self._events.append(Match(int(face_id), person, 0.0))

    def expire(self, now: float) -> List[str]:
        return self.gallery.expire(now)

    def poll_events(self) -> List[Match]:
        out = []
        while self._events:
            out.append(self._events.popleft())
        return out

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        """True once every sample handed in is done (at once without a thread)."""
        return self._idle.wait(timeout)

    # -- worker ---------------------------------------------------------------------------------
    def _run(self):
        from faceverse_ros.runtime.workers import lower_thread_priority

        try:
            self._describe = self._factory()
        except Exception as exc:  # noqa: BLE001 - said once; samples are then dropped
            self.error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            self.log(f"identity: face descriptor unavailable: {self.error}")
        lower_thread_priority(NICE, idle_class=True)
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._closing.set()
                    break
                batch.append(nxt)
            try:
                self._work(batch)
            except Exception as exc:  # noqa: BLE001 - one frame's samples lost, said
                self.log(f"identity: descriptors failed: {type(exc).__name__}: {exc}")
            if self._queue.empty():
                self._idle.set()
            if self._closing.is_set():
                return

    def _work(self, batch: List[_Sample]):
        with self._lock:
            live = [s for s in batch if s.face_id not in self._ended]
            for s in batch:
                if s.face_id in self._pending:
                    self._pending[s.face_id] = max(0, self._pending[s.face_id] - 1)
        if not live or self._describe is None:
            return
        descriptors = self._describe([(s.rgb, s.landmarks) for s in live])
        self.batches += 1
        self.samples_done += len(live)
        for s, d in zip(live, descriptors):
            with self._lock:  # end() waits: a track's 0.0 match comes after its decision
                if s.face_id in self._ended:
                    continue
                decision = self.gallery.add_sample(s.face_id, d, s.stamp)
                if decision is not None:
                    self._events.append(Match(decision.face_id, decision.person_id,
                                              decision.confidence, decision.new))

    def close(self, timeout: float = 30.0) -> bool:
        if self._thread is None:
            return True
        self._closing.set()
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()
