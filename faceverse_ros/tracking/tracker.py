"""Stable face ids across frames (detection-to-track assignment).

:class:`IdTracker` gives every detected face box an integer id that stays the
same while the face is tracked. (The name ``FaceTracker`` is left to the
pipeline object that runs detector -> regressor -> smoother -> renderer.)

Per frame, call :meth:`IdTracker.update` with the boxes (x0, y0, x1, y1) in
pixels of that frame's detections. The tracker

1. predicts each track's box (last box plus its smoothed per-frame velocity
   times the frames since it was last seen, when ``use_velocity``),
2. computes a cost for every (track, detection) pair:
   ``cost = (1 - IoU) + d / s`` with d the distance of the box centres and s
   the mean side of the two boxes, and accepts a pair only when
   ``IoU >= min_iou`` or ``d / s <= max_center_distance``,
3. solves the optimal one-to-one assignment of minimum total cost among the
   accepted pairs (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``
   when SciPy is importable; otherwise an exact search for small problems or
   greedy lowest-cost-first matching for large ones),
4. confirms ("births") a tentative track after ``min_hits`` consecutive
   matched frames and gives it the next unused id; ids are never reused
   within one tracker's life (across :meth:`reset` too),
5. removes a confirmed track after it went unmatched in more than
   ``max_missed`` consecutive frames, and a tentative track at its first miss,
6. suppresses duplicates: a detection that continues no track and overlaps a
   detection kept in this frame (a matched one, or an earlier new one in input
   order) with ``IoU > duplicate_iou`` (0.3, MediaPipe's own suppression
   threshold) starts no track and gets no id. MediaPipe's Face Mesh with
   several faces reports such a duplicate on the first frame after a scene
   change (its previous face region, rescaled onto the new face: IoU 0.42 in
   test_tracker's frames). Two tracked faces that cross keep both their ids.

``min_hits`` defaults to 1: a face gets its id in the first frame it is
detected (MediaPipe's face detector has few false positives, and the pipeline
wants results at once). Set 2 or 3 to suppress one-frame flickers.
``max_missed`` defaults to 5 frames (about 170 ms at 30 fps): a face lost for
a few frames (a blink of the detector, a hand passing) keeps its id.

Frames are counted in calls to ``update`` (one call per processed image), not
in time.
"""
from dataclasses import dataclass, field
from itertools import permutations
from typing import List, Optional

import numpy as np
import numpy.typing as npt

try:  # SciPy is optional: the fallback below is exact for small problems
    from scipy.optimize import linear_sum_assignment as _scipy_lsa
except Exception:  # pragma: no cover - depends on the environment
    _scipy_lsa = None

_INVALID = 1e9


def box_iou(a: np.ndarray, b: np.ndarray):
    """IoU matrix (len(a), len(b)) of boxes (x0, y0, x1, y1) in pixels."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _solve_assignment(cost):
    """Row/column pairs of a minimum-cost one-to-one assignment (rectangular)."""
    n_rows, n_cols = cost.shape
    if n_rows == 0 or n_cols == 0:
        return []
    if _scipy_lsa is not None:
        rows, cols = _scipy_lsa(cost)
        return list(zip(rows.tolist(), cols.tolist()))
    small, large = min(n_rows, n_cols), max(n_rows, n_cols)
    if large <= 7:  # exact: at most 7!/(7-k)! candidates
        best, best_pairs = None, []
        if n_rows <= n_cols:
            for cols in permutations(range(n_cols), n_rows):
                total = sum(cost[r, c] for r, c in enumerate(cols))
                if best is None or total < best:
                    best, best_pairs = total, list(enumerate(cols))
        else:
            for rows in permutations(range(n_rows), n_cols):
                total = sum(cost[r, c] for c, r in enumerate(rows))
                if best is None or total < best:
                    best, best_pairs = total, [(r, c) for c, r in enumerate(rows)]
        return best_pairs
    pairs, used_r, used_c = [], set(), set()  # greedy: cheapest pair first
    for flat in np.argsort(cost, axis=None, kind="stable"):
        r, c = divmod(int(flat), n_cols)
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
            if len(pairs) == small:
                break
    return pairs


@dataclass
class _Track:
    key: int                      # internal key (tentative and confirmed tracks)
    box: np.ndarray
    face_id: Optional[int] = None
    hits: int = 1                 # consecutive matched frames
    missed: int = 0               # consecutive unmatched frames
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))

    def predicted(self, use_velocity: bool):
        if not use_velocity:
            return self.box
        return self.box + self.velocity * (self.missed + 1)


@dataclass
class TrackResult:
    """Result of one :meth:`IdTracker.update`.

    ids: one entry per input box, in input order: the face id, or None while
        the face's track is not yet confirmed.
    ended: ids of confirmed tracks removed in this frame (reset their smoothers).
    """
    ids: List[Optional[int]]
    ended: List[int]
    suppressed: List[int] = field(default_factory=list)  # input indices dropped as duplicates


class IdTracker:
    """Assigns stable integer face ids to per-frame face boxes.

    min_iou: IoU at or above which a detection may continue a track.
    max_center_distance: centre distance, in units of the mean box side, at or
        below which a detection may continue a track even with a low IoU
        (fast motion).
    min_hits: consecutive matched frames before a track gets an id (>= 1).
    max_missed: unmatched frames a confirmed track survives (>= 0).
    use_velocity: predict the box with a constant-velocity model.
    first_id: the first id handed out.
    duplicate_iou: a new detection overlapping a kept one by more than this IoU
        is a duplicate (step 6 above); 1.0 turns the suppression off.
    """

    def __init__(self, min_iou=0.3, max_center_distance=0.5, min_hits=1, max_missed=5,
                 use_velocity: bool = True, first_id=0, duplicate_iou=0.3):
        self.set_params(min_iou=min_iou, max_center_distance=max_center_distance,
                        min_hits=min_hits, max_missed=max_missed, use_velocity=use_velocity,
                        duplicate_iou=duplicate_iou)
        self._next_id = int(first_id)
        self._next_key = 0
        self._tracks: List[_Track] = []

    def set_params(self, **params) -> None:
        """Change parameters at run time (same names as the constructor's)."""
        for name, value in params.items():
            if name == "min_iou":
                if not 0.0 <= float(value) <= 1.0:
                    raise ValueError(f"min_iou must be in [0, 1], got {value}")
                self.min_iou = float(value)
            elif name == "max_center_distance":
                if float(value) < 0:
                    raise ValueError(f"max_center_distance must be >= 0, got {value}")
                self.max_center_distance = float(value)
            elif name == "min_hits":
                if int(value) != value or value < 1:
                    raise ValueError(f"min_hits must be an integer >= 1, got {value}")
                self.min_hits = int(value)
            elif name == "max_missed":
                if int(value) != value or value < 0:
                    raise ValueError(f"max_missed must be an integer >= 0, got {value}")
                self.max_missed = int(value)
            elif name == "use_velocity":
                self.use_velocity = bool(value)
            elif name == "duplicate_iou":
                if not 0.0 <= float(value) <= 1.0:
                    raise ValueError(f"duplicate_iou must be in [0, 1], got {value}")
                self.duplicate_iou = float(value)
            else:
                raise ValueError(f"unknown IdTracker parameter {name!r}")

    @property
    def active_ids(self):
        """Ids of the confirmed tracks currently alive (seen or coasting)."""
        return [t.face_id for t in self._tracks if t.face_id is not None]

    def _costs(self, predicted, boxes):
        iou = box_iou(predicted, boxes)
        ca = (predicted[:, :2] + predicted[:, 2:]) / 2.0
        cb = (boxes[:, :2] + boxes[:, 2:]) / 2.0
        dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=-1)
        side_a = ((predicted[:, 2] - predicted[:, 0]) + (predicted[:, 3] - predicted[:, 1])) / 2.0
        side_b = ((boxes[:, 2] - boxes[:, 0]) + (boxes[:, 3] - boxes[:, 1])) / 2.0
        side = np.maximum((side_a[:, None] + side_b[None, :]) / 2.0, 1e-9)
        ndist = dist / side
        cost = (1.0 - iou) + ndist
        valid = (iou >= self.min_iou) | (ndist <= self.max_center_distance)
        return np.where(valid, cost, _INVALID), valid

    def update(self, boxes: npt.ArrayLike, stamp_s: Optional[float] = None) -> TrackResult:
        """Assign ids to this frame's boxes.

        boxes: (K, 4) array-like of (x0, y0, x1, y1) pixels, K >= 0.
        stamp_s: the image stamp (seconds); accepted for symmetry with the
            other stages, not used (frames are counted per call).
        Returns a :class:`TrackResult`.
        """
        arr = np.asarray(boxes, dtype=np.float64)
        if arr.size == 0:
            arr = arr.reshape(0, 4)
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise ValueError(f"boxes must have shape (K, 4) as (x0, y0, x1, y1), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("boxes contain NaN or infinite values")
        if np.any(arr[:, 2] < arr[:, 0]) or np.any(arr[:, 3] < arr[:, 1]):
            raise ValueError("boxes must satisfy x1 >= x0 and y1 >= y0")

        pairs = []
        if self._tracks and len(arr):
            predicted = np.stack([t.predicted(self.use_velocity) for t in self._tracks])
            cost, valid = self._costs(predicted, arr)
            pairs = [(r, c) for r, c in _solve_assignment(cost) if valid[r, c]]

        matched_tracks = {r for r, _ in pairs}
        ids: List[Optional[int]] = [None] * len(arr)
        for r, c in pairs:
            track = self._tracks[r]
            new_box = arr[c]
            step = (new_box - track.box) / (track.missed + 1)
            track.velocity = 0.5 * track.velocity + 0.5 * step
            track.box = new_box.copy()
            track.hits += 1
            track.missed = 0
            if track.face_id is None and track.hits >= self.min_hits:
                track.face_id = self._new_id()
            ids[c] = track.face_id

        ended: List[int] = []
        survivors = []
        for i, track in enumerate(self._tracks):
            if i in matched_tracks:
                survivors.append(track)
                continue
            track.missed += 1
            track.hits = 0
            if track.face_id is None or track.missed > self.max_missed:
                if track.face_id is not None:
                    ended.append(track.face_id)
                continue
            survivors.append(track)
        self._tracks = survivors

        matched_dets = {c for _, c in pairs}
        kept = sorted(matched_dets)
        suppressed = []
        for c in range(len(arr)):
            if c in matched_dets:
                continue
            if kept and box_iou(arr[c], arr[kept]).max() > self.duplicate_iou:
                suppressed.append(c)  # a duplicate of a face kept in this frame
                continue
            kept.append(c)
            track = _Track(key=self._next_key, box=arr[c].copy())
            self._next_key += 1
            if track.hits >= self.min_hits:
                track.face_id = self._new_id()
            ids[c] = track.face_id
            self._tracks.append(track)
        return TrackResult(ids=ids, ended=ended, suppressed=suppressed)

    def _new_id(self):
        face_id = self._next_id
        self._next_id += 1
        return face_id

    def reset(self) -> None:
        """Drop every track (e.g. the stream jumped); returns the ids that ended.

        Ids keep counting up: an id is never handed out twice by one tracker.
        """
        ended = self.active_ids
        self._tracks = []
        return ended
