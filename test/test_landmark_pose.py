"""Landmark-only head pose and gaze: synthetic poses, real-image axes, in-plane rotation."""
import math

import cv2
import numpy as np
import pytest

from helpers import shared_path
from faceverse_ros.landmarks import landmark_pose as lp
from faceverse_ros.core.camera import CameraIntrinsics

K = (800.0, 800.0, 320.0, 240.0)  # fx, fy, cx, cy of a 640x480 camera


def rot_axis(axis, angle):
    """Rodrigues' formula, written out here (independent of the module)."""
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    kx = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * kx + (1 - math.cos(angle)) * kx @ kx


def angle_between(r1, r2):
    c = (np.trace(r1.T @ r2) - 1) / 2
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def synthetic_landmarks(rotation, position, intrinsics=K):
    """Project the template with a pinhole camera; z like MediaPipe (pixels, relative depth)."""
    fx, fy, cx, cy = intrinsics
    pts = position + (lp.TEMPLATE_MM / 1000.0) @ np.asarray(rotation).T
    lm = np.zeros((478, 3))
    z_ref = position[2]
    for row, idx in enumerate(lp.FIT_INDICES):
        x, y, z = pts[row]
        lm[idx] = (fx * x / z + cx, fy * y / z + cy, (z - z_ref) * fx / z_ref)
    return lm


def frontal_rotation():
    # head x toward the camera (-z), y = image right (+x), z = image up (-y)
    return np.column_stack([[0, 0, -1], [1, 0, 0], [0, -1, 0]]).astype(float)


def test_frontal_reference_and_angle_signs():
    np.testing.assert_allclose(lp.FACE_AXES_IN_MODEL, frontal_rotation())
    assert np.allclose(lp.yaw_pitch_roll(frontal_rotation()), 0.0)
    up = frontal_rotation()[:, 2]       # head z in the camera frame
    # turning toward the person's left = about the head's up axis by +angle
    turned = rot_axis(up, math.radians(20)) @ frontal_rotation()
    yaw, pitch, roll = np.degrees(lp.yaw_pitch_roll(turned))
    assert yaw == pytest.approx(20) and pitch == pytest.approx(0, abs=1e-9)
    assert turned[0, 0] > 0             # the face now points toward image right
    # nodding down: about the head's y (left) axis; the nose goes down (+y in the image)
    nod = rot_axis(frontal_rotation()[:, 1], math.radians(15)) @ frontal_rotation()
    yaw, pitch, roll = np.degrees(lp.yaw_pitch_roll(nod))
    assert pitch == pytest.approx(15) and nod[1, 0] > 0
    # a counter-clockwise image rotation (seen on screen, y down) = about the
    # camera's -z axis -> roll +angle, yaw and pitch unchanged
    for base in (frontal_rotation(), turned, nod):
        ypr = np.array(lp.yaw_pitch_roll(base))
        tilted = rot_axis([0, 0, -1], math.radians(25)) @ base
        np.testing.assert_allclose(np.array(lp.yaw_pitch_roll(tilted)) - ypr,
                                   [0, 0, math.radians(25)], atol=1e-9)


@pytest.mark.parametrize("yaw, pitch, roll", [(0, 0, 0), (30, 0, 0), (-25, 12, 0),
                                              (10, -15, 20), (-5, 8, -30)])
def test_synthetic_pose_recovered(yaw, pitch, roll):
    rot = lp.rotation_from_yaw_pitch_roll(*np.radians([yaw, pitch, roll]))
    position = np.array([0.0, 0.0, 0.6])   # sellion on the optical axis, 60 cm away
    pose = lp.estimate_head_pose(synthetic_landmarks(rot, position), K)
    assert angle_between(pose.rotation, rot) < 1.5
    np.testing.assert_allclose(pose.position, position, atol=0.015)
    np.testing.assert_allclose(np.degrees(lp.yaw_pitch_roll(pose.rotation)), [yaw, pitch, roll], atol=1.5)
    # quaternion matches the matrix (x, y, z, w), unit length
    q = pose.quaternion
    assert np.linalg.norm(q) == pytest.approx(1.0)
    angle = 2 * math.acos(min(1.0, abs(q[3])))
    assert math.degrees(angle) == pytest.approx(angle_between(np.eye(3), pose.rotation), abs=1e-6)


def test_distance_scales_with_eye_distance():
    rot = frontal_rotation()
    near = lp.estimate_head_pose(synthetic_landmarks(rot, np.array([0, 0, 0.5])), K)
    far = lp.estimate_head_pose(synthetic_landmarks(rot, np.array([0, 0, 1.5])), K)
    assert near.position[2] == pytest.approx(0.5, abs=0.01)
    assert far.position[2] == pytest.approx(1.5, abs=0.02)
    # the template's eye centres are 63 mm apart (the documented adult mean)
    t = dict(zip(lp.FIT_INDICES, lp.TEMPLATE_MM))
    right = (t[33] + t[133]) / 2
    left = (t[263] + t[362]) / 2
    assert np.linalg.norm(left - right) == pytest.approx(63.0, abs=0.2)
    assert left[1] > 0 > right[1]       # y toward the person's left


def test_gaze_by_hand_for_a_frontal_face():
    lm = synthetic_landmarks(frontal_rotation(), np.array([0, 0, 0.6]))
    pose = lp.estimate_head_pose(lm, K)
    np.testing.assert_allclose(pose.gaze_direction, pose.rotation[:, 0], atol=1e-12)
    np.testing.assert_allclose(pose.gaze_direction, [0, 0, -1], atol=0.02)
    # gaze frame: x = person's right (image left), y down, z = gaze
    np.testing.assert_allclose(pose.gaze_rotation, np.column_stack([[-1, 0, 0], [0, 1, 0],
                                                                    [0, 0, -1]]), atol=0.03)
    # horizontal 0.3 on both eyes: Ry(0.3) @ (0, 0, -1) = (-sin .3, 0, -cos .3) in model
    # axes, which are the camera axes for a frontal face -> looking toward image left
    looking = lp.estimate_head_pose(lm, K, eyes=[0.0, 0.3, 0.0, 0.3])
    np.testing.assert_allclose(looking.gaze_direction, [-math.sin(0.3), 0, -math.cos(0.3)],
                               atol=0.02)
    # vertical -0.2: Rx(-0.2) @ (0, 0, -1) = (0, -sin .2, -cos .2): looking up
    up = lp.estimate_head_pose(lm, K, eyes=[-0.2, 0.0, -0.2, 0.0])
    np.testing.assert_allclose(up.gaze_direction, [0, -math.sin(0.2), -math.cos(0.2)], atol=0.02)
    assert np.linalg.det(up.gaze_rotation) == pytest.approx(1.0)


def load_rgb(name):
    return cv2.imread(str(shared_path(f"testdata/faces/{name}")))[:, :, ::-1].copy()


def detect_stream(img, repeats=3):
    """A fresh detector in video mode fed the same image a few times (landmark-based ROI)."""
    from faceverse_ros.tracking.detector import FaceDetector
    with FaceDetector(mode="video") as det:
        for k in range(repeats):
            found = det.detect(img, k / 30.0)
    assert len(found) == 1
    return found[0]


def test_axes_on_a_real_frontal_face():
    img = load_rgb("portrait_small.jpg")
    det = detect_stream(img)
    h, w = img.shape[:2]
    pose = lp.estimate_head_pose(det.landmarks, CameraIntrinsics.default(w, h), eyes=det.eyes)
    x_axis, y_axis, z_axis = pose.rotation.T
    assert x_axis[2] < -0.9                         # out of the face, toward the camera
    eye_dir = det.landmarks[263, :2] - det.landmarks[33, :2]   # right eye -> left eye
    chin_up = det.landmarks[10, :2] - det.landmarks[152, :2]   # chin -> forehead
    assert np.dot(y_axis[:2], eye_dir / np.linalg.norm(eye_dir)) > 0.9
    assert np.dot(z_axis[:2], chin_up / np.linalg.norm(chin_up)) > 0.9
    # the sellion projects onto landmark 168 and lies at a plausible distance
    fx, fy, cx, cy = CameraIntrinsics.default(w, h)
    p = pose.position
    np.testing.assert_allclose([fx * p[0] / p[2] + cx, fy * p[1] / p[2] + cy],
                               det.landmarks[168, :2], atol=0.02 * w)
    assert 0.15 < p[2] < 1.0
    # looking roughly at the camera: gaze within 30 degrees of the face direction
    assert math.degrees(math.acos(np.dot(pose.gaze_direction, x_axis))) < 30
    np.testing.assert_allclose(pose.gaze_rotation[:, 2], pose.gaze_direction)


@pytest.mark.parametrize("name", ["frontal_1080p.jpg", "portrait_small.jpg"])
def test_in_plane_rotation_changes_only_roll(name):
    img = load_rgb(name)
    h, w = img.shape[:2]
    intr = CameraIntrinsics.default(w, h)
    base = np.degrees(lp.yaw_pitch_roll(lp.estimate_head_pose(detect_stream(img).landmarks, intr).rotation))
    for angle in (20.0, -20.0):
        m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)  # CCW on screen
        rotated = cv2.warpAffine(img, m, (w, h))
        ypr = np.degrees(lp.yaw_pitch_roll(lp.estimate_head_pose(detect_stream(rotated).landmarks,
                                                                 intr).rotation))
        assert ypr[2] - base[2] == pytest.approx(angle, abs=3.0), (ypr, base)
        assert abs(ypr[0] - base[0]) < 3.0 and abs(ypr[1] - base[1]) < 3.0, (ypr, base)


def test_template_reproducible_from_the_test_data():
    """derive_template on the documented data gives the stored table (within 1.5 mm)."""
    from faceverse_ros.tracking.detector import FaceDetector
    from faceverse_ros.io.sources import FrameSource
    sets, weights = [], []
    with FaceDetector(mode="image") as det:
        for name in ("emma.jpg", "frontal_1080p.jpg", "portrait_small.jpg"):
            sets.append(det.detect(load_rgb(name))[0].landmarks)
            weights.append(1.0)
    frames = []
    with FaceDetector(mode="video") as det:
        for frame in FrameSource(shared_path("testdata/video/talking_256.mp4")):
            frames.append(det.detect(frame.rgb, frame.stamp)[0].landmarks)
    sets += frames
    weights += [1.0 / len(frames)] * len(frames)
    derived = lp.derive_template(sets, weights)
    rms = np.sqrt(((derived - lp.TEMPLATE_MM) ** 2).sum(axis=1).mean())
    assert rms < 1.5


def test_bad_inputs():
    lm = synthetic_landmarks(frontal_rotation(), np.array([0, 0, 0.6]))
    with pytest.raises(ValueError, match="478"):
        lp.estimate_head_pose(lm[:468], K)
    with pytest.raises(ValueError, match="intrinsics"):
        lp.estimate_head_pose(lm, (0, 800, 320, 240))
    with pytest.raises(ValueError, match="intrinsics"):
        lp.estimate_head_pose(lm, (800, 800))
    bad = lm.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lp.estimate_head_pose(bad, K)
    with pytest.raises(ValueError, match="eyes"):
        lp.estimate_head_pose(lm, K, eyes=[0.1, 0.2])
    with pytest.raises(ValueError, match="image size"):
        CameraIntrinsics.default(0, 480)


def test_off_axis_face_is_corrected_for_its_viewing_ray():
    """The same face image shown left of centre: it looks along its own ray to the camera.

    Shifting the picture in the image plane does not change what the landmark
    network sees, so the face keeps facing the camera centre: the angle between
    the head's x axis and the direction from the face to the camera stays the
    same (it would change by the ~20 degree ray angle without the correction).
    """
    face = load_rgb("portrait_small.jpg")
    h, w = face.shape[:2]
    canvas_w = 3 * w
    intr = CameraIntrinsics.default(canvas_w, h)
    angles = []
    for x0 in (w, 0):                        # centred, then at the left edge
        canvas = np.zeros((h, canvas_w, 3), np.uint8)
        canvas[:, x0:x0 + w] = face
        pose = lp.estimate_head_pose(detect_stream(canvas).landmarks, intr)
        to_camera = -pose.position / np.linalg.norm(pose.position)
        angles.append(math.degrees(math.acos(np.dot(pose.rotation[:, 0], to_camera))))
        if x0 == 0:
            ray_angle = math.degrees(math.atan2(abs(pose.position[0]), pose.position[2]))
    assert ray_angle > 15
    assert abs(angles[1] - angles[0]) < 3.0, angles
