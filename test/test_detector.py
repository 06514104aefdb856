"""MediaPipe detector on the shared test data (legacy Face Mesh and Tasks API)."""
import cv2
import numpy as np
import pytest

from helpers import shared_path
from faceverse_ros.tracking.detector import Detection, DetectorError, FaceDetector
from faceverse_ros.tracking.tracker import IdTracker

# Face centres marked by hand on the photos (pixels), with a tolerance of 10 %
# of the image's short side. emma.jpg holds three pictures of one person:
# two faces seen from the front/three-quarter and one profile (optional).
FACES = {
    "emma.jpg": [(550, 730), (3200, 600)],
    "frontal_1080p.jpg": [(925, 570)],
    "portrait_small.jpg": [(210, 215)],
}


def load_rgb(name):
    img = cv2.imread(str(shared_path(f"testdata/faces/{name}")))
    assert img is not None, name
    return img[:, :, ::-1].copy()


def read_video():
    cap = cv2.VideoCapture(str(shared_path("testdata/video/talking_256.mp4")))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame[:, :, ::-1].copy())
    cap.release()
    return frames


def check_detection(det, image_shape):
    h, w = image_shape[:2]
    assert isinstance(det, Detection)
    assert det.landmarks.shape == (478, 3) and np.all(np.isfinite(det.landmarks))
    lo, hi = det.landmarks[:, :2].min(axis=0), det.landmarks[:, :2].max(axis=0)
    x0, y0, x1, y1 = det.box
    # the squared box covers every landmark and is square with side max(w, h) of the raw box
    assert x0 <= lo[0] + 1e-9 and y0 <= lo[1] + 1e-9 and x1 >= hi[0] - 1e-9 and y1 >= hi[1] - 1e-9
    assert (x1 - x0) == pytest.approx(y1 - y0)
    assert (x1 - x0) == pytest.approx(max(hi - lo))
    # plausible size: a face fills between 5 % and 95 % of the short image side
    assert 0.05 * min(h, w) < (x1 - x0) < 0.95 * min(h, w)
    assert 0.0 <= det.confidence <= 1.0
    assert det.eyes.shape == (4,) and np.all(np.isfinite(det.eyes))


def near(det, centre, shape):
    tol = 0.1 * min(shape[:2])
    c = (det.box[:2] + det.box[2:]) / 2  # the squared box keeps the landmarks' centre
    return np.linalg.norm(c - np.asarray(centre)) < tol


@pytest.mark.parametrize("name", sorted(FACES))
def test_each_photo_face_found(name):
    img = load_rgb(name)
    with FaceDetector(mode="image", max_faces=3) as det:
        found = det.detect(img, 0.0)
    for d in found:
        check_detection(d, img.shape)
    for centre in FACES[name]:
        match = [d for d in found if near(d, centre, img.shape)]
        assert len(match) == 1, (name, centre)
        if name != "emma.jpg":
            # eyes of a face seen from the front stay small (emma's turned faces
            # foreshorten one eye, where the original's formula gives values > 1)
            assert np.all(np.abs(match[0].eyes) < 0.6), match[0].eyes
    with FaceDetector(mode="image", max_faces=1) as det:
        one = det.detect(img, 0.0)
    assert len(one) == 1
    assert any(near(one[0], c, img.shape) for c in FACES[name] + [(1890, 540)])


@pytest.mark.parametrize("kind", ["blank", "noise", "gradient"])
def test_no_face_gives_nothing(kind):
    rng = np.random.default_rng(1)
    if kind == "blank":
        img = np.full((480, 640, 3), 128, np.uint8)
    elif kind == "noise":
        img = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    else:
        ramp = np.linspace(0, 255, 640, dtype=np.float64)
        img = np.stack([np.tile(ramp, (480, 1)), np.tile(ramp[::-1], (480, 1)),
                        np.full((480, 640), 90.0)], axis=-1).astype(np.uint8)
    for mode in ("image", "video"):
        with FaceDetector(mode=mode) as det:
            assert det.detect(img, 0.0) == []
            assert det.detect(img, 0.04) == []


def test_video_every_frame_one_face_one_id():
    frames = read_video()
    assert len(frames) == 316
    tracker = IdTracker()
    ids = set()
    with FaceDetector(mode="video") as det:
        for i, frame in enumerate(frames):
            found = det.detect(frame, i / 30.0)
            assert len(found) == 1, f"frame {i}: {len(found)} faces"
            check_detection(found[0], frame.shape)
            result = tracker.update([found[0].box], i / 30.0)
            assert result.ended == []
            ids.add(result.ids[0])
    assert ids == {0}


def test_tasks_backend_image_and_video_stamps():
    task = shared_path("models/face_landmarker.task")
    img = load_rgb("portrait_small.jpg")
    with FaceDetector(mode="image") as legacy:
        ref = legacy.detect(img)[0]
    with FaceDetector("tasks", task_path=task, mode="image") as det:
        found = det.detect(img, 0.0)
    assert len(found) == 1
    check_detection(found[0], img.shape)
    # the two MediaPipe models agree on where the face is (box corners within 5 % of its side)
    side = ref.box[2] - ref.box[0]
    np.testing.assert_allclose(found[0].box, ref.box, atol=0.05 * side)
    # VIDEO mode: repeated, sub-millisecond and backwards stamps must not raise
    with FaceDetector("tasks", task_path=task, mode="video") as det:
        for stamp in (0.0, 0.0, 0.0334, 0.0336, 0.01, 5.0, 4.0, 4.1):
            assert len(det.detect(img, stamp)) == 1


def test_tasks_backend_needs_a_model_file(tmp_path):
    with pytest.raises(ValueError, match="task_path"):
        FaceDetector("tasks")
    with pytest.raises(FileNotFoundError, match="face_landmarker.task"):
        FaceDetector("tasks", task_path=tmp_path / "missing.task")


@pytest.mark.parametrize("bad, message", [
    (np.zeros((64, 64, 3), np.float32), "uint8"),
    (np.zeros((64, 64), np.uint8), "shape"),
    (np.zeros((64, 64, 4), np.uint8), "shape"),
    (np.zeros((0, 64, 3), np.uint8), "empty"),
    ([[0, 0, 0]], "numpy array"),
])
def test_bad_images(bad, message):
    with FaceDetector() as det:
        with pytest.raises(ValueError, match=message):
            det.detect(bad, 0.0)


def test_bad_arguments_and_close():
    with pytest.raises(ValueError, match="backend"):
        FaceDetector("dlib")
    with pytest.raises(ValueError, match="mode"):
        FaceDetector(mode="stream")
    with pytest.raises(ValueError, match="max_faces"):
        FaceDetector(max_faces=0)
    det = FaceDetector()
    with pytest.raises(ValueError, match="stamp"):
        det.detect(np.zeros((32, 32, 3), np.uint8), float("nan"))
    det.close()
    det.close()
    with pytest.raises(DetectorError, match="closed"):
        det.detect(np.zeros((32, 32, 3), np.uint8), 0.0)


def test_tasks_backend_gives_blendshapes_legacy_none():
    task = shared_path("models/face_landmarker.task")
    img = load_rgb("portrait_small.jpg")
    with FaceDetector("tasks", task_path=task, mode="image") as det:
        face = det.detect(img)[0]
    assert face.blendshapes.shape == (52,) and face.blendshapes.dtype == np.float32
    assert np.all((face.blendshapes >= 0) & (face.blendshapes <= 1))
    with FaceDetector("tasks", task_path=task, mode="image", blendshapes=False) as det:
        assert det.detect(img)[0].blendshapes is None
    with FaceDetector("legacy", mode="image") as det:
        assert det.detect(img)[0].blendshapes is None


def _no_data_dirs(monkeypatch, tmp_path):
    """Every data folder the search looks in points into an empty tmp folder."""
    import faceverse_ros.paths as paths

    monkeypatch.delenv("FACEVERSE_DATA", raising=False)
    monkeypatch.setattr(paths, "ros_share_data", lambda: tmp_path / "share" / "data")
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")


def test_auto_choice_order(monkeypatch, tmp_path):
    import shutil

    from faceverse_ros.tracking.detector import find_task_file

    task = shared_path("models/face_landmarker.task")
    _no_data_dirs(monkeypatch, tmp_path)
    assert find_task_file() is None
    with FaceDetector("auto", mode="image") as det:
        assert det.backend == "legacy" and not det.blendshapes
        assert "no face_landmarker.task" in det.choice and "blendshapes" in det.choice
        assert det.detect(load_rgb("portrait_small.jpg"))[0].blendshapes is None
    # the ROS share data folder, then ./data before it, then $FACEVERSE_DATA first
    for place in (tmp_path / "share" / "data", tmp_path / "cwd" / "data", tmp_path / "env"):
        place.mkdir(parents=True)
        shutil.copy(task, place / "face_landmarker.task")
        if place.name == "data":
            assert find_task_file().resolve() == (place / "face_landmarker.task").resolve()
    monkeypatch.setenv("FACEVERSE_DATA", str(tmp_path / "env"))
    assert find_task_file() == tmp_path / "env" / "face_landmarker.task"
    with FaceDetector("auto", mode="image") as det:
        assert det.backend == "tasks" and det.blendshapes
        assert str(tmp_path / "env" / "face_landmarker.task") in det.choice
        assert det.detect(load_rgb("portrait_small.jpg"))[0].blendshapes.shape == (52,)
    # an explicit path wins, a folder holding the file works, a missing one is an error
    assert find_task_file(task) == task
    assert find_task_file(task.parent) == task
    with pytest.raises(FileNotFoundError, match="face_landmarker.task"):
        FaceDetector("auto", task_path=tmp_path / "nowhere.task")
