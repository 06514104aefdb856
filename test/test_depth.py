"""Depth images make the head position measured (core.depth, landmarks.landmark_depth,
tracking.face_depth, pipeline).

The truth is a head of chosen size at a chosen place (test/depth_scene.py: an ellipsoid
skull with a face relief that is not the package's template), rendered into a registered
depth image; the landmarks are that face's projection.
"""
import numpy as np
import pytest

from depth_scene import INTRINSICS, SIZE, Head, degrade, to_16uc1
from faceverse_ros.core.depth import DepthDecodeError, DepthImage, depth_pixel, depth_to_metres
from faceverse_ros.landmarks.landmark_depth import measure_face
from faceverse_ros.landmarks.landmark_pose import estimate_head_pose
from faceverse_ros.tracking.face_depth import PLAUSIBLE_SCALE, TrackDepth


def _tolerance(distance, share):
    return max(share * distance, 0.015)


# -- decoding (REP-118) -------------------------------------------------------------------------
def test_16uc1_is_millimetres_and_zero_is_no_measurement():
    out = depth_to_metres(np.array([[0, 1, 1500, 65535]], np.uint16), "16UC1")
    assert np.isnan(out[0, 0])
    np.testing.assert_allclose(out[0, 1:], [0.001, 1.5, 65.535], rtol=1e-6)
    assert out.dtype == np.float32


def test_32fc1_is_metres_and_nan_inf_zero_negative_are_no_measurement():
    raw = np.array([[np.nan, np.inf, -np.inf, 0.0, -1.0, 2.25]], np.float32)
    out = depth_to_metres(raw, "32FC1")
    assert np.isnan(out[0, :5]).all() and out[0, 5] == pytest.approx(2.25)
    assert not np.isnan(raw[0, 5])   # the input is not changed


@pytest.mark.parametrize("encoding", ["mono16", "rgb8", "16SC1", ""])
def test_other_encodings_are_refused_with_the_reason(encoding):
    with pytest.raises(DepthDecodeError, match="16UC1 or 32FC1"):
        DepthImage(np.zeros((4, 4), np.uint16), encoding)


def test_depth_image_checks_its_pixels():
    with pytest.raises(DepthDecodeError, match="float32"):
        DepthImage(np.zeros((4, 4), np.float64), "32FC1")
    with pytest.raises(DepthDecodeError, match="one channel"):
        DepthImage(np.zeros((4, 4, 3), np.uint16), "16UC1")
    assert not DepthImage(np.zeros((4, 4), np.uint16), "16UC1").has_measurement()
    assert not DepthImage(np.full((4, 4), np.nan, np.float32), "32FC1").has_measurement()


def test_a_half_size_depth_image_is_read_at_the_same_place():
    # colour pixel centres 0.5 and 1.5 of a 640-wide image are inside depth pixel 0 of 320
    pts = np.array([[0.0, 0.0], [1.0, 1.0], [639.0, 479.0], [320.0, 240.0]])
    np.testing.assert_array_equal(depth_pixel(pts, (640, 480), (320, 240)),
                                  [[0, 0], [0, 0], [319, 239], [160, 120]])
    np.testing.assert_array_equal(depth_pixel(pts, (640, 480), (640, 480)), pts.astype(int))


# -- one frame: known geometry -------------------------------------------------------------------
@pytest.mark.parametrize("eye_mm", [56.0, 63.0, 70.0])
@pytest.mark.parametrize("distance", [0.5, 1.0, 2.0, 4.0])
def test_depth_gives_the_true_distance_and_colour_alone_follows_the_eye_distance(eye_mm, distance):
    head = Head(eye_mm, (0.12 * distance, -0.05 * distance, distance), yaw=0.3, pitch=-0.1)
    lm = head.landmarks()
    mono = estimate_head_pose(lm, INTRINSICS)
    # colour alone: the 63 mm assumption puts the face 63 / eye_mm times as far
    assert mono.position[2] / distance == pytest.approx(63.0 / eye_mm, rel=0.02)
    depth = DepthImage(to_16uc1(head.depth(wall_m=distance + 0.8)), "16UC1")
    m = measure_face(depth, SIZE, lm, mono.position, mono.rotation)
    assert m.valid and 0.5 < m.confidence <= 1.0, m
    err = np.linalg.norm(mono.position * m.scale - head.position)
    assert err <= _tolerance(distance, 0.02), (err, m)
    assert m.scale * 63.0 == pytest.approx(eye_mm, rel=0.02)   # the person's eye distance


@pytest.mark.parametrize("distance", [0.6, 1.5, 3.5])
def test_holes_noise_and_a_half_size_32fc1_image_stay_within_3_percent(distance):
    head = Head(70.0, (-0.1 * distance, 0.04 * distance, distance), yaw=-0.35)
    lm = head.landmarks()
    mono = estimate_head_pose(lm, INTRINSICS)
    half = (SIZE[0] // 2, SIZE[1] // 2)
    fx, fy, cx, cy = INTRINSICS
    truth = head.depth(size=half, intrinsics=(fx / 2, fy / 2, (cx + 0.5) / 2 - 0.5,
                                              (cy + 0.5) / 2 - 0.5), wall_m=distance + 0.5)
    noisy = degrade(truth, holes=0.4, noise=0.01).astype(np.float32)
    m = measure_face(DepthImage(noisy, "32FC1"), SIZE, lm, mono.position, mono.rotation)
    assert m.valid, m
    assert 0.4 < m.valid_share < 0.7   # the holes are not counted as measurements
    err = np.linalg.norm(mono.position * m.scale - head.position)
    assert err <= _tolerance(distance, 0.03), (err, m)


def test_the_background_behind_the_silhouette_is_rejected():
    # a head turned 50 degrees: samples on its far cheek see the wall 40 cm behind
    distance = 1.2
    head = Head(63.0, (0.0, 0.0, distance), yaw=0.87)
    lm = head.landmarks()
    mono = estimate_head_pose(lm, INTRINSICS)
    depth = head.depth(wall_m=distance + 0.4)
    m = measure_face(depth, SIZE, lm, mono.position, mono.rotation)
    assert m.valid and m.inliers < m.samples
    assert np.linalg.norm(mono.position * m.scale - head.position) <= _tolerance(distance, 0.02)


def test_a_depth_image_without_the_face_is_not_valid():
    head = Head(63.0, (0.0, 0.0, 1.0))
    lm = head.landmarks()
    mono = estimate_head_pose(lm, INTRINSICS)
    empty = np.full((480, 640), np.nan)
    m = measure_face(empty, SIZE, lm, mono.position, mono.rotation)
    assert not m.valid and m.confidence == 0.0 and "0 of" in m.problem


# -- over a track ---------------------------------------------------------------------------------
def test_a_wall_at_1_m_for_a_face_the_colour_image_puts_at_5_m_is_refused():
    head = Head(63.0, (0.0, 0.0, 5.0))
    lm = head.landmarks()
    mono = estimate_head_pose(lm, INTRINSICS)
    track = TrackDepth()
    fusion = track.fuse(DepthImage(np.full((480, 640), 1000, np.uint16), "16UC1"), SIZE, lm, mono)
    assert not fusion.measured and fusion.factor == 1.0 and fusion.note[0] == "implausible"
    assert 1.0 / 5.0 < PLAUSIBLE_SCALE[0]


def test_a_track_keeps_the_persons_scale_when_depth_stops_and_refuses_a_jump():
    track = TrackDepth()
    head = Head(56.0, (0.05, 0.0, 1.4))
    lm = head.landmarks()
    mono = estimate_head_pose(lm, INTRINSICS)
    depth = head.depth(wall_m=2.5)
    for _ in range(6):
        assert track.fuse(depth, SIZE, lm, mono).measured
    assert track.eye_distance_m == pytest.approx(0.056, rel=0.02)
    kept = track.fuse(None, SIZE, lm, mono)
    assert kept.kept and not kept.measured
    assert np.linalg.norm(mono.position * kept.factor - head.position) <= 0.02 * 1.4
    # something 30 cm in front of the face (a hand): refused, the kept scale used
    hand = np.where(np.isfinite(depth), depth - 0.3, np.nan)
    jump = track.fuse(hand, SIZE, lm, mono)
    assert not jump.measured and jump.note[0] == "jump"
    assert jump.factor == pytest.approx(kept.factor)
