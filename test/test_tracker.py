"""IdTracker: stable ids, birth, removal, no reuse, assignment fallback, two real faces."""
from itertools import permutations

import cv2
import numpy as np
import pytest

from helpers import shared_path
from faceverse_ros.tracking import tracker as tracker_mod
from faceverse_ros.tracking.tracker import IdTracker, box_iou


def box(cx, cy, side=100.0):
    return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]


def test_iou_by_hand():
    # two 10x10 boxes overlapping in a 5x10 strip: 50 / (100 + 100 - 50) = 1/3
    np.testing.assert_allclose(box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30]]),
                               [[1 / 3, 0.0]])


def test_two_moving_faces_keep_their_ids_in_any_input_order():
    trk = IdTracker()
    first = trk.update([box(100, 100), box(400, 100)])
    assert first.ids == [0, 1] and first.ended == []
    for k in range(1, 20):
        a, b = box(100 + 8 * k, 100), box(400 - 8 * k, 100 + 2 * k)
        order = [b, a] if k % 2 else [a, b]
        res = trk.update(order)
        assert res.ids == ([1, 0] if k % 2 else [0, 1])
        assert res.ended == []
    assert sorted(trk.active_ids) == [0, 1]


def test_fast_motion_matched_by_centre_distance():
    trk = IdTracker(min_iou=0.3, max_center_distance=0.5, use_velocity=False)
    trk.update([box(100, 100)])
    # moved by 0.45 of the side: IoU = 0.55/1.45 = 0.38 -> matched by IoU
    assert trk.update([box(145, 100)]).ids == [0]
    # moved by 0.49 side diagonally: IoU ~ 0.43*0.43... low, centre distance 0.49 <= 0.5 -> same id
    assert trk.update([box(145 + 34.6, 100 + 34.6)]).ids == [0]
    # jumped 3 sides away: a new face
    assert trk.update([box(500, 500)]).ids == [1]


def test_birth_after_min_hits_and_removal_after_max_missed():
    trk = IdTracker(min_hits=3, max_missed=2)
    assert trk.update([box(100, 100)]).ids == [None]
    assert trk.update([box(102, 100)]).ids == [None]
    assert trk.update([box(104, 100)]).ids == [0]
    # missed for 2 frames: kept (coasting); matched again: same id
    assert trk.update([]).ended == []
    assert trk.update([]).ended == []
    assert trk.update([box(106, 100)]).ids == [0]
    # missed for 3 frames (> max_missed): ended on the third
    assert trk.update([]).ended == []
    assert trk.update([]).ended == []
    assert trk.update([]).ended == [0]
    assert trk.active_ids == []
    # the face comes back: a new tentative track, a new id when born, never 0 again
    ids = [trk.update([box(106, 100)]).ids[0] for _ in range(3)]
    assert ids == [None, None, 1]


def test_tentative_track_dropped_at_first_miss():
    trk = IdTracker(min_hits=2)
    assert trk.update([box(100, 100)]).ids == [None]
    assert trk.update([]).ended == []   # tentative: no id ever given, nothing ended
    assert trk.update([box(100, 100)]).ids == [None]
    assert trk.update([box(100, 100)]).ids == [0]


def test_ids_never_reused_after_reset():
    trk = IdTracker()
    assert trk.update([box(100, 100), box(300, 300)]).ids == [0, 1]
    assert sorted(trk.reset()) == [0, 1]
    assert trk.update([box(100, 100)]).ids == [2]


def test_bad_input_and_params():
    trk = IdTracker()
    with pytest.raises(ValueError, match=r"\(K, 4\)"):
        trk.update([[1, 2, 3]])
    with pytest.raises(ValueError, match="NaN"):
        trk.update([[0, 0, np.nan, 1]])
    with pytest.raises(ValueError, match="x1 >= x0"):
        trk.update([[10, 0, 0, 10]])
    with pytest.raises(ValueError, match="min_hits"):
        IdTracker(min_hits=0)
    with pytest.raises(ValueError, match="unknown"):
        trk.set_params(speed=3)
    trk.set_params(max_missed=0)
    assert trk.update([box(1, 1)]).ids == [0]
    assert trk.update([]).ended == [0]


def brute_force_cost(cost):
    n_rows, n_cols = cost.shape
    best = None
    if n_rows <= n_cols:
        for cols in permutations(range(n_cols), n_rows):
            total = sum(cost[r, c] for r, c in enumerate(cols))
            best = total if best is None else min(best, total)
    else:
        best = brute_force_cost(cost.T)
    return best


@pytest.mark.parametrize("use_scipy", [True, False])
def test_assignment_is_optimal_with_and_without_scipy(monkeypatch, use_scipy):
    if use_scipy and tracker_mod._scipy_lsa is None:
        pytest.skip("scipy not installed")
    if not use_scipy:
        monkeypatch.setattr(tracker_mod, "_scipy_lsa", None)
    rng = np.random.default_rng(3)
    for shape in [(1, 1), (2, 3), (3, 2), (4, 4), (5, 3), (3, 6)]:
        for _ in range(5):
            cost = rng.random(shape)
            pairs = tracker_mod._solve_assignment(cost)
            assert len(pairs) == min(shape)
            assert len({r for r, _ in pairs}) == len(pairs) == len({c for _, c in pairs})
            assert sum(cost[r, c] for r, c in pairs) == pytest.approx(brute_force_cost(cost))


def test_two_real_faces_side_by_side_get_two_stable_ids():
    from faceverse_ros.tracking.detector import FaceDetector

    a = cv2.imread(str(shared_path("testdata/faces/portrait_small.jpg")))
    b = cv2.imread(str(shared_path("testdata/faces/frontal_1080p.jpg")))
    h = 360
    a = cv2.resize(a, (round(a.shape[1] * h / a.shape[0]), h))
    b = cv2.resize(b, (round(b.shape[1] * h / b.shape[0]), h))
    pair = np.concatenate([a, b], axis=1)[:, :, ::-1]
    canvas_w = pair.shape[1] + 40
    trk = IdTracker()
    seen = {}
    with FaceDetector(max_faces=2, mode="video") as det:
        for k in range(8):
            dx, dy = 4 * k, 2 * (k % 3)
            canvas = np.zeros((h + 10, canvas_w, 3), np.uint8)
            canvas[dy:dy + h, dx:dx + pair.shape[1]] = pair
            found = det.detect(canvas, k / 30.0)
            assert len(found) == 2, f"frame {k}: {len(found)} faces"
            res = trk.update([d.box for d in found], k / 30.0)
            assert res.ended == [] and None not in res.ids
            assert len(set(res.ids)) == 2
            for d, face_id in zip(found, res.ids):
                side = "left" if (d.box[0] + d.box[2]) / 2 < a.shape[1] + dx else "right"
                seen.setdefault(face_id, set()).add(side)
    assert len(seen) == 2 and all(len(sides) == 1 for sides in seen.values())


# -- duplicate faces (issue 16) -----------------------------------------------------------------
# Measured with FaceDetector(max_faces=3): 10 frames of frontal_1080p.jpg, then the first frame of
# portrait_small.jpg reports the real face and a duplicate (IoU 0.416).
OLD_FACE = [665, 326, 1187, 848]            # the face of frontal_1080p.jpg
REAL_FACE, DUPLICATE = [107, 120, 306, 319], [63, 147, 341, 424]


def test_iou_of_the_measured_duplicate_by_hand():
    # overlap 199 x 172 = 34228; areas 199^2 = 39601 and 278 x 277 = 77006
    expected = 34228 / (39601 + 77006 - 34228)
    assert box_iou([REAL_FACE], [DUPLICATE])[0, 0] == pytest.approx(expected)
    assert 0.41 < expected < 0.42


def test_a_new_face_overlapping_a_kept_one_gets_no_id():
    trk = IdTracker()
    assert trk.update([OLD_FACE]).ids == [0]
    res = trk.update([REAL_FACE, DUPLICATE])
    assert res.ids == [1, None] and res.suppressed == [1]
    assert sorted(trk.active_ids) == [0, 1]      # the old face coasts; no track for the duplicate
    # next frame: only the real face; nothing is born late from the duplicate
    assert trk.update([REAL_FACE]).ids == [1]
    # switched off, the duplicate gets an id of its own (the bug)
    off = IdTracker(duplicate_iou=1.0)
    off.update([OLD_FACE])
    assert off.update([REAL_FACE, DUPLICATE]).ids == [1, 2]


def test_duplicate_of_a_tracked_face_is_suppressed_but_separate_faces_are_not():
    trk = IdTracker()
    trk.update([box(100, 100), box(400, 100)])
    # a third detection over the first face (IoU 0.6) and a real new face elsewhere
    res = trk.update([box(100, 100), box(400, 100), box(120, 110), box(700, 100)])
    assert res.ids == [0, 1, None, 2] and res.suppressed == [2]


def test_scene_change_frames_give_one_face_not_two():
    from faceverse_ros.tracking.detector import FaceDetector

    frontal = cv2.imread(str(shared_path("testdata/faces/frontal_1080p.jpg")))[:, :, ::-1].copy()
    portrait = cv2.imread(str(shared_path("testdata/faces/portrait_small.jpg")))[:, :, ::-1].copy()
    with FaceDetector(max_faces=1, mode="image") as single:
        expected = single.detect(portrait)
    assert len(expected) == 1
    trk = IdTracker()
    with FaceDetector(max_faces=3, mode="video") as det:
        for k in range(10):
            assert trk.update([d.box for d in det.detect(frontal, k / 30.0)]).ids == [0]
        found = det.detect(portrait, 10 / 30.0)
        res = trk.update([d.box for d in found])
    # the frames still show MediaPipe's duplicate (else this test shows nothing) ...
    assert len(found) == 2, f"the detector gave {len(found)} faces; the duplicate frame changed"
    # ... and exactly one face gets an id: the one the detector finds in the picture alone
    born = [d for d, i in zip(found, res.ids) if i is not None]
    assert len(born) == 1 and len(res.suppressed) == 1
    assert box_iou([born[0].box], [expected[0].box])[0, 0] > 0.9
