"""The person gallery in memory: which person a face track is, from its descriptors.

A *person* has an id string (``<prefix><n>``, identity.person_ids), a running mean
descriptor (its embedding), the number of samples in it, when it was last seen (image
stamps, seconds), and, for enrolled persons, a name. A face *track* (one face id of the
tracker) is given descriptor samples (identity.worker computes them on the track's first
frames and on its keyframes) and is decided once:

- each sample is compared with every person not held by another live track (one person
  cannot be two faces of one frame). With d1 the smallest and d2 the second smallest
  distance, the sample *votes*

  * for the nearest person when ``d1 <= threshold`` and ``d2 - d1 >= margin``,
  * for "nobody known" when ``d1 > threshold`` (or the gallery is empty),
  * for nothing when the nearest is within the threshold but not clear of the second
    (ambiguous);

- the track is MATCHED to a person once ``confirm`` of its votes in a row name that
  person; it becomes a NEW person once ``new_after`` of its votes say "nobody known" (its
  embedding: the mean of the track's samples); until then its person is unknown (empty);
- a decided track keeps its person; its later samples within the threshold refine the
  person's embedding (a running mean over at most ``REFINE_WINDOW`` samples, so that the
  newest appearance counts and an old one fades), and mark the person seen;
- :meth:`Gallery.expire` forgets persons not seen for ``memory_s`` seconds and held by no
  live track, unless they are enrolled (named by the user, kept until forgotten).

Confidence of a face/person match (REP-155 ``IdsMatch.confidence``):
``1 - d / (2 * threshold)`` clipped to [0, 1], with d the mean distance of the track's
samples to the person: 1 for identical descriptors, 0.5 at the threshold (REP-155's
default ``/humans/match_threshold``), 0 at twice the threshold.

Thread-safety: every public method takes the gallery's lock (the frame path, the
descriptor worker and the ROS services call it).
"""
import dataclasses
import threading
from typing import Callable, Dict, List, Optional

import numpy as np

#: distance at or below which a sample may vote for a person. dlib documents 0.6 for its
#: model; on the shared test faces two different young men with glasses are 0.48-0.59
#: apart, one person's frames at most 0.34 (0.22 from their mean): doc/identity.md
DEFAULT_THRESHOLD = 0.4
#: the nearest person must be this much nearer than the second nearest
DEFAULT_MARGIN = 0.05
#: votes in a row for one person before the track is matched to them
DEFAULT_CONFIRM = 2
#: "nobody known" votes before the track becomes a new person
DEFAULT_NEW_AFTER = 3
#: seconds (image time) after which an unenrolled person not seen is forgotten
DEFAULT_MEMORY_S = 600.0
#: samples a person's running mean embedding is averaged over at most
REFINE_WINDOW = 50

UNKNOWN, MATCHED, NEW = "unknown", "matched", "new"


@dataclasses.dataclass
class Person:
    id: str
    embedding: np.ndarray           # (128,) float64 running mean descriptor
    samples: int = 1
    last_seen: float = 0.0          # image stamp, seconds
    name: str = ""                  # enrolled persons only
    model: Optional[object] = None  # identity.person_model.PersonModel (FaceVerse coefficients)

    @property
    def enrolled(self) -> bool:
        return bool(self.name)

    def refine(self, descriptor):
        self.samples += 1
        weight = 1.0 / min(self.samples, REFINE_WINDOW)
        self.embedding = (1.0 - weight) * self.embedding + weight * np.asarray(descriptor, float)


@dataclasses.dataclass
class TrackState:
    face_id: int
    samples: List[np.ndarray] = dataclasses.field(default_factory=list)
    votes: List[Optional[str]] = dataclasses.field(default_factory=list)  # person id, NEW, None
    person_id: str = ""
    status: str = UNKNOWN
    frames: int = 0                 # frames seen (the worker's sampling schedule)
    last_sample: int = 0            # the frame of the last sample taken
    distances: List[float] = dataclasses.field(default_factory=list)  # to its person

    @property
    def decided(self) -> bool:
        return self.status != UNKNOWN


@dataclasses.dataclass
class Decision:
    """A track got its person now (a match to publish)."""
    face_id: int
    person_id: str
    confidence: float
    new: bool                       # a new person (else a known one re-found)


@dataclasses.dataclass
class IdentitySettings:
    threshold: float = DEFAULT_THRESHOLD
    margin: float = DEFAULT_MARGIN
    confirm: int = DEFAULT_CONFIRM
    new_after: int = DEFAULT_NEW_AFTER
    memory_s: float = DEFAULT_MEMORY_S

    def __post_init__(self):
        if not 0.0 < self.threshold < 2.0:
            raise ValueError(f"identity threshold must be in (0, 2), got {self.threshold}")
        if self.margin < 0.0:
            raise ValueError(f"identity margin must be >= 0, got {self.margin}")
        if int(self.confirm) < 1 or int(self.new_after) < 1:
            raise ValueError("identity confirm and new_after must be >= 1")
        if self.memory_s < 0.0:
            raise ValueError(f"identity memory_s must be >= 0, got {self.memory_s}")


def confidence(distance: float, threshold: float) -> float:
    """Match confidence of a descriptor distance (module doc)."""
    return float(np.clip(1.0 - distance / (2.0 * threshold), 0.0, 1.0))


class Gallery:
    """Persons and the identity state of the live face tracks (module doc).

    new_id: a callable returning the next person id string (ids are never reused in a
    gallery's life: loaded persons' ids are skipped by the caller's counter)."""

    def __init__(self, settings: Optional[IdentitySettings] = None,
                 new_id: Optional[Callable[[], str]] = None):
        self.settings = settings or IdentitySettings()
        self._lock = threading.RLock()
        self.persons: Dict[str, Person] = {}
        self.tracks: Dict[int, TrackState] = {}
        self._counter = 0
        self._new_id = new_id or self._default_id

    def _default_id(self):
        self._counter += 1
        return f"p{self._counter}"

    # -- tracks ---------------------------------------------------------------------------------
    def track(self, face_id: int) -> TrackState:
        with self._lock:
            state = self.tracks.get(face_id)
            if state is None:
                state = self.tracks[face_id] = TrackState(face_id)
            return state

    def person_of(self, face_id: int) -> str:
        """The person id of a live track ('' while unknown or for no such track)."""
        with self._lock:
            state = self.tracks.get(face_id)
            return state.person_id if state is not None else ""

    def end_track(self, face_id: int) -> str:
        """The track ended: returns its person id ('' if none was decided)."""
        with self._lock:
            state = self.tracks.pop(face_id, None)
            return state.person_id if state is not None else ""

    def _held(self, except_face: int):
        return {s.person_id for f, s in self.tracks.items() if f != except_face and s.person_id}

    def add_sample(self, face_id: int, descriptor, stamp: float) -> Optional[Decision]:
        """One descriptor of a live track; returns a Decision when the track got its person
        with this sample."""
        d = np.asarray(descriptor, dtype=np.float64).reshape(-1)
        s = self.settings
        with self._lock:
            state = self.track(face_id)
            state.samples.append(d)
            if state.decided:
                person = self.persons.get(state.person_id)
                if person is None:  # forgotten by the user meanwhile: decide again
                    state.status, state.person_id, state.votes = UNKNOWN, "", []
                else:
                    dist = float(np.linalg.norm(person.embedding - d))
                    person.last_seen = max(person.last_seen, stamp)
                    if dist <= s.threshold:
                        state.distances.append(dist)
                        person.refine(d)
                    return None
            vote = self._vote(face_id, d)
            state.votes.append(vote)
            if vote is not None and vote != NEW and \
                    len(state.votes) >= s.confirm and all(v == vote for v in state.votes[-s.confirm:]):
                person = self.persons[vote]
                dists = [float(np.linalg.norm(person.embedding - x)) for x in state.samples]
                for x in state.samples[-s.confirm:]:
                    person.refine(x)
                person.last_seen = max(person.last_seen, stamp)
                state.status, state.person_id = MATCHED, vote
                state.distances = dists
                return Decision(face_id, vote, confidence(float(np.mean(dists)), s.threshold),
                                new=False)
            if sum(v == NEW for v in state.votes) >= s.new_after:
                samples = np.stack(state.samples)
                person = Person(self._new_id(), samples.mean(axis=0), len(samples), stamp)
                self.persons[person.id] = person
                dists = [float(np.linalg.norm(person.embedding - x)) for x in samples]
                state.status, state.person_id, state.distances = NEW, person.id, dists
                return Decision(face_id, person.id, confidence(float(np.mean(dists)), s.threshold),
                                new=True)
            return None

    def _vote(self, face_id, d) -> Optional[str]:
        held = self._held(face_id)
        candidates = [p for p in self.persons.values() if p.id not in held]
        if not candidates:
            return NEW
        dists = np.array([np.linalg.norm(p.embedding - d) for p in candidates])
        order = np.argsort(dists)
        d1 = dists[order[0]]
        d2 = dists[order[1]] if len(order) > 1 else np.inf
        if d1 > self.settings.threshold:
            return NEW
        if d2 - d1 >= self.settings.margin:
            return candidates[order[0]].id
        return None

    def match(self, descriptor, exclude=()):
        """(person id, distance) of the nearest person, or ('', inf) (no state changed)."""
        d = np.asarray(descriptor, dtype=np.float64).reshape(-1)
        with self._lock:
            best, best_d = "", float("inf")
            for p in self.persons.values():
                if p.id in exclude:
                    continue
                dist = float(np.linalg.norm(p.embedding - d))
                if dist < best_d:
                    best, best_d = p.id, dist
            return best, best_d

    # -- persons --------------------------------------------------------------------------------
    def confidence_of(self, face_id: int) -> float:
        with self._lock:
            state = self.tracks.get(face_id)
            if state is None or not state.decided or not state.distances:
                return 0.0
            return confidence(float(np.mean(state.distances)), self.settings.threshold)

    def tracked_persons(self) -> List[str]:
        with self._lock:
            return sorted({s.person_id for s in self.tracks.values() if s.person_id})

    def snapshot(self):
        """({person id: face id of its live track}, {person id: (enrolled, name)}), taken
        together under the lock (what a publisher of the persons needs)."""
        with self._lock:
            faces = {s.person_id: f for f, s in self.tracks.items() if s.person_id}
            persons = {pid: (p.enrolled, p.name) for pid, p in self.persons.items()}
            return faces, persons

    def known_persons(self) -> List[str]:
        with self._lock:
            return sorted(self.persons)

    def enroll(self, name: str, descriptors, stamp: float = 0.0) -> Person:
        """A named person from descriptors of their photos (added to the person of that
        name when there is one)."""
        name = str(name).strip()
        if not name:
            raise ValueError("a person to enrol needs a name")
        descs = np.asarray(descriptors, dtype=np.float64).reshape(-1, 128)
        if len(descs) == 0:
            raise ValueError(f"no face descriptors to enrol {name!r}")
        with self._lock:
            person = self.by_name(name)
            if person is None:
                person = Person(self._new_id(), descs.mean(axis=0), len(descs), stamp, name=name)
                self.persons[person.id] = person
            else:
                for d in descs:
                    person.refine(d)
            return person

    def by_name(self, name: str) -> Optional[Person]:
        with self._lock:
            for p in self.persons.values():
                if p.name == name:
                    return p
            return None

    def forget(self, name_or_id: str) -> List[str]:
        """Remove the person of this name (or id); returns the ids removed. Live tracks of
        that person become unknown again."""
        with self._lock:
            gone = [pid for pid, p in self.persons.items() if name_or_id in (p.name, pid)]
            for pid in gone:
                del self.persons[pid]
            for state in self.tracks.values():
                if state.person_id in gone:
                    state.status, state.person_id, state.votes = UNKNOWN, "", []
                    state.samples, state.distances = [], []
            return gone

    def add_person(self, person: Person):
        """A person read from a gallery file."""
        with self._lock:
            self.persons[person.id] = person

    def expire(self, now: float) -> List[str]:
        """Forget unenrolled persons unseen for memory_s (module doc); returns their ids."""
        with self._lock:
            held = {s.person_id for s in self.tracks.values()}
            gone = [pid for pid, p in self.persons.items()
                    if not p.enrolled and pid not in held
                    and now - p.last_seen > self.settings.memory_s]
            for pid in gone:
                del self.persons[pid]
            return gone
