"""The 52 blendshape names and values: the model's own categories, the published array, the
acceptance numbers on the shared video (bench/eval_blendshapes.py)."""
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from helpers import ROOT, shared_path
from faceverse_ros.landmarks.blendshapes import (BLENDSHAPE_NAMES, NUM_BLENDSHAPES, as_dict,
                                                eye_aspect_ratio, from_categories, from_dict,
                                                mouth_opening, strongest)

sys.path.insert(0, str(ROOT / "bench"))


def _model_categories():
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    opts = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(shared_path("models/face_landmarker.task"))),
        running_mode=vision.RunningMode.IMAGE, output_face_blendshapes=True)
    img = cv2.imread(str(shared_path("testdata/faces/portrait_small.jpg")))[:, :, ::-1].copy()
    with vision.FaceLandmarker.create_from_options(opts) as lmk:
        res = lmk.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=img))
    return res.face_blendshapes[0]


def test_names_are_the_models_category_order():
    cats = _model_categories()
    assert NUM_BLENDSHAPES == 52 == len(cats)
    assert [c.index for c in cats] == list(range(52))
    assert tuple(c.category_name for c in cats) == BLENDSHAPE_NAMES
    values = from_categories(cats)
    np.testing.assert_allclose(values, [c.score for c in cats], rtol=1e-6)


def test_published_blendshapes_are_the_models_scores_by_name():
    """FaceVerseParams.blendshapes as the node fills it (pipeline -> face_to_msg): the value at
    the index of each name is the score MediaPipe's own FaceLandmarker gives that category."""
    pytest.importorskip("rclpy", reason="the message classes need the built package")
    from faceverse_ros.ros.messages import face_to_msg
    from faceverse_ros.tracking.config import PipelineConfig
    from faceverse_ros.tracking.pipeline import FacePipeline

    cats = _model_categories()
    rgb = cv2.imread(str(shared_path("testdata/faces/portrait_small.jpg")))[:, :, ::-1].copy()
    pipe = FacePipeline(PipelineConfig(landmark_only=True, detector="tasks",
                                       task_path=str(shared_path("models/face_landmarker.task")),
                                       smoothing={"kind": "none"}), log=lambda m: None)
    try:
        faces = pipe.process(rgb, 0.0).faces
    finally:
        pipe.close()
    msg = face_to_msg(faces[0], rgb.shape[1::-1])
    assert len(msg.blendshapes) == 52
    for c in cats:
        assert msg.blendshapes[BLENDSHAPE_NAMES.index(c.category_name)] == pytest.approx(
            c.score, abs=1e-5), c.category_name
    assert max(c.score for c in cats) > 0.3     # some expression shows: the order matters


def test_from_categories_places_by_name_and_rejects_other_models():
    cats = [SimpleNamespace(index=51 - i, category_name=n, score=i / 100.0)
            for i, n in enumerate(reversed(BLENDSHAPE_NAMES))]
    v = from_categories(cats)
    assert v[BLENDSHAPE_NAMES.index("noseSneerRight")] == pytest.approx(0.0)
    assert v[BLENDSHAPE_NAMES.index("_neutral")] == pytest.approx(0.51)
    with pytest.raises(ValueError, match="unknown"):
        from_categories(cats[:-1] + [SimpleNamespace(index=0, category_name="smile", score=1.0)])
    with pytest.raises(ValueError, match="missing"):
        from_categories(cats[:-1])


def test_dict_round_trip_and_strongest():
    v = np.zeros(52, np.float32)
    v[BLENDSHAPE_NAMES.index("jawOpen")] = 0.7
    v[BLENDSHAPE_NAMES.index("eyeBlinkLeft")] = 0.4
    v[BLENDSHAPE_NAMES.index("mouthSmileRight")] = 0.2
    v[0] = 0.9   # _neutral is skipped
    d = as_dict(v)
    assert list(d) == list(BLENDSHAPE_NAMES) and d["jawOpen"] == pytest.approx(0.7)
    np.testing.assert_array_equal(from_dict(d), v)
    top = strongest(v, 3)
    assert [n for n, _ in top] == ["jawOpen", "eyeBlinkLeft", "mouthSmileRight"]
    assert strongest(v, 1, skip_neutral=False)[0][0] == "_neutral"
    with pytest.raises(ValueError):
        as_dict(v[:10])
    with pytest.raises(ValueError, match="missing"):
        from_dict({"jawOpen": 1.0})


def test_landmark_measures_hand_worked():
    lm = np.zeros((478, 3))
    lm[33, :2], lm[263, :2] = (0, 0), (100, 0)           # outer eye corners 100 px apart
    for a, b in ((13, 14), (82, 87), (312, 317)):
        lm[a, :2], lm[b, :2] = (50, 80), (50, 92)        # lips 12 px apart
    assert mouth_opening(lm) == pytest.approx(0.12)
    lm[133, :2] = (30, 0)                                # right eye 30 px wide
    for k, (u, v) in enumerate(((159, 145), (158, 153), (160, 144))):
        lm[u, :2], lm[v, :2] = (10 + k, -4), (10 + k, 5)  # lids 9 px apart
    lm[362, :2] = (70, 0)                                # left eye 30 px wide, lids 3 px apart
    for k, (u, v) in enumerate(((386, 374), (385, 380), (387, 373))):
        lm[u, :2], lm[v, :2] = (80 + k, -1), (80 + k, 2)
    assert eye_aspect_ratio(lm, "right") == pytest.approx(0.3)
    assert eye_aspect_ratio(lm, "left") == pytest.approx(0.1)
    assert eye_aspect_ratio(lm) == pytest.approx(0.2)


@pytest.fixture(scope="module")
def evaluation():
    from eval_blendshapes import evaluate

    return evaluate(shared_path("testdata/video/talking_256.mp4"),
                    shared_path("models/face_landmarker.task"))


def test_every_frame_has_52_weights_in_unit_range(evaluation):
    assert evaluation["frames"] == 316 and evaluation["faces"] == 316
    assert evaluation["shape"] == (316, 52)
    assert 0.0 <= evaluation["min"] and evaluation["max"] <= 1.0


def test_jaw_open_follows_the_lips(evaluation):
    # measured 0.87 on this video (bench/eval_blendshapes.py); the bar is 0.7
    assert evaluation["r_jaw_mouth"] >= 0.7


def test_blink_follows_the_eyelids(evaluation):
    # measured 0.61 against 0.15: closed eyes are blinks
    assert evaluation["n_low"] >= 10
    assert evaluation["blink_low_ear"] > evaluation["blink_high_ear"] + 0.2


def test_left_is_the_persons_left(evaluation):
    # each eyeBlink weight follows its own eye's aspect ratio (negatively) more closely
    own, other = evaluation["r_blink_left"]
    assert own < other < 0
    own, other = evaluation["r_blink_right"]
    assert own < other < 0
