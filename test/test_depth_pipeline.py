"""The pipeline fuses a registered depth image into the published head position.

A head of chosen eye distance at a chosen place (test/depth_scene.py) is what the
"detector" sees (its landmarks are handed in); the depth image is that head rendered.
"""
import numpy as np
import pytest

from depth_scene import INTRINSICS, SIZE, Head, to_16uc1
from faceverse_ros.landmarks.boxes import landmark_box, square_box
from faceverse_ros.core.depth import DepthImage
from faceverse_ros.tracking.detector import Detection
from faceverse_ros.tracking.pipeline import FacePipeline, PipelineConfig

RGB = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)


def _pipeline(head, smoothing="none", **config):
    pipe = FacePipeline(PipelineConfig(smoothing={"kind": smoothing}, **config),
                        log=lambda m: None)
    lm = head.landmarks()
    det = Detection(landmarks=lm, box=square_box(landmark_box(lm)), confidence=0.9,
                    eyes=np.zeros(4))
    pipe.detector.detect = lambda rgb, stamp: [det]
    return pipe


def _run(pipe, depths, start=0):
    out = []
    for k, depth in enumerate(depths):
        result = pipe.process(RGB, (start + k) / 30.0, INTRINSICS, depth=depth)
        out.append(result)
    return out


def test_landmark_only_position_follows_depth_then_keeps_the_persons_scale():
    distance = 2.0
    head = Head(70.0, (0.2, -0.1, distance), yaw=0.2)
    pipe = _pipeline(head, landmark_only=True)
    depth = DepthImage(to_16uc1(head.depth(wall_m=3.0)), "16UC1", "camera_color_optical_frame")
    try:
        with_depth = _run(pipe, [depth] * 8)
        without = _run(pipe, [None] * 8, start=8)
    finally:
        pipe.close()
    for r in with_depth:
        (face,) = r.faces
        assert face.stamp == r.stamp and face.depth_measured and face.depth_confidence > 0.5
        assert np.linalg.norm(face.pose.position - head.position) <= 0.02 * distance
    mono_error = None
    for r in without:
        (face,) = r.faces
        assert not face.depth_measured and face.depth_confidence == 0.0
        assert np.linalg.norm(face.pose.position - head.position) <= 0.03 * distance
    # the 63 mm assumption alone would be 10 % short: what the kept scale avoids
    fresh = _pipeline(head, landmark_only=True)
    try:
        (face,) = _run(fresh, [None])[0].faces
        mono_error = face.pose.position[2] / distance - 1.0
    finally:
        fresh.close()
    assert mono_error == pytest.approx(63.0 / 70.0 - 1.0, abs=0.02)


def test_bad_depth_is_noted_and_the_position_stays_finite_and_kept():
    distance = 1.5
    head = Head(56.0, (0.0, 0.0, distance))
    pipe = _pipeline(head, landmark_only=True)
    good = DepthImage(to_16uc1(head.depth(wall_m=2.5)), "16UC1")
    bad = {
        "depth_empty": DepthImage(np.zeros((480, 640), np.uint16), "16UC1"),
        "depth_nan": DepthImage(np.full((240, 320), np.nan, np.float32), "32FC1"),
        "depth_size": DepthImage(to_16uc1(head.depth(size=(640, 360), wall_m=2.5)), "16UC1"),
        "implausible": DepthImage(np.full((480, 640), 600, np.uint16), "16UC1"),
    }
    try:
        _run(pipe, [good] * 6)
        notes = {}
        for k, (name, depth) in enumerate(bad.items()):
            (result,) = _run(pipe, [depth], start=6 + k)
            notes[name] = [key for key, _ in result.notes]
            (face,) = result.faces
            assert np.all(np.isfinite(face.pose.position)) and not face.depth_measured
            assert np.linalg.norm(face.pose.position - head.position) <= 0.03 * distance, name
    finally:
        pipe.close()
    assert notes == {"depth_empty": ["depth_empty"], "depth_nan": ["depth_empty"],
                     "depth_size": ["depth_size"], "implausible": ["implausible"]}


def test_faceverse_position_is_moved_to_the_measured_depth(synthetic_assets):
    distance = 1.2
    head = Head(63.0, (0.05, 0.0, distance))
    pipe = _pipeline(head, model_path=str(synthetic_assets.model_path),
                     checkpoint_path=str(synthetic_assets.checkpoint_path),
                     keyframe_background=False)
    depth = DepthImage(to_16uc1(head.depth(wall_m=2.0)), "16UC1")
    try:
        results = _run(pipe, [None, depth, depth, None])
    finally:
        pipe.close()
    faces = [r.faces[0] for r in results]
    # the synthetic model places its face somewhere: depth moves it along its ray to the truth
    assert not faces[0].depth_measured
    for face in faces[1:3]:
        assert face.depth_measured
        assert face.pose.position[2] == pytest.approx(distance, rel=0.02)
        translation = face.pose.model_translation
        assert np.all(np.isfinite(translation))
    assert not faces[3].depth_measured
    assert faces[3].pose.position[2] == pytest.approx(distance, rel=0.03)   # kept


def test_depth_measured_positions_are_smoothed_as_before():
    """Noisy depth (sigma 1 % of range, a new draw each frame) on a still head: the One Euro
    smoother gives less position jitter than none, around the same true distance."""
    from depth_scene import degrade

    distance = 1.5
    head = Head(63.0, (0.0, 0.0, distance))
    clean = head.depth(wall_m=2.5)
    depths = [DepthImage(degrade(clean, holes=0.2, noise=0.01, seed=k).astype(np.float32),
                         "32FC1") for k in range(30)]
    jitter = {}
    for kind in ("none", "one_euro"):
        pipe = _pipeline(head, smoothing=kind, landmark_only=True)
        try:
            z = np.array([r.faces[0].pose.position[2] for r in _run(pipe, depths)])[5:]
        finally:
            pipe.close()
        assert np.median(z) == pytest.approx(distance, rel=0.02)
        jitter[kind] = np.std(np.diff(z))
    assert jitter["none"] > 0
    assert jitter["one_euro"] < 0.7 * jitter["none"], jitter


@pytest.mark.parametrize("eye_mm", [56.0, 70.0])
@pytest.mark.parametrize("distance", [0.5, 1.0, 4.0])
def test_published_position_with_depth_at_every_distance(eye_mm, distance):
    head = Head(eye_mm, (-0.1 * distance, 0.05 * distance, distance), yaw=-0.25, pitch=0.1)
    pipe = _pipeline(head, landmark_only=True)
    depth = DepthImage(to_16uc1(head.depth(wall_m=distance + 1.0)), "16UC1")
    try:
        measured, colour = _run(pipe, [depth, None])
    finally:
        pipe.close()
    tolerance = max(0.02 * distance, 0.015)
    (face,) = measured.faces
    assert face.depth_measured
    assert np.linalg.norm(face.pose.position - head.position) <= tolerance
    (kept,) = colour.faces   # the next frame without depth keeps this person's scale
    assert np.linalg.norm(kept.pose.position - head.position) <= 0.03 * distance
