"""Metric head pose and gaze in the optical frame: axes, quaternion, scale and
reprojection, checked by hand (SYNTHETIC model)."""
import math

import numpy as np
import pytest

from faceverse_ros.core.camera import CameraIntrinsics
from faceverse_ros.core.headpose import (MODEL_UNIT_M, head_pose, interocular_distance_raw,
                                    quaternion_from_matrix, vertices_in_camera)
from faceverse_ros.core.model import to_image

# a 1280x720 camera with f = 1000 px and a 256-px crop box centred on its principal point:
# the crop camera and the real camera coincide (scale 1, no ray rotation)
CAM = CameraIntrinsics(1000.0, 1000.0, 639.5, 359.5)
CENTRED_BOX = np.array([512, 232, 768, 488])


def quat_rotate(q, v):
    x, y, z, w = q
    u = np.array([x, y, z])
    return v + 2 * w * np.cross(u, v) + 2 * np.cross(u, np.cross(u, v))


def test_frontal_face_axes(synthetic_model):
    m = synthetic_model
    pose = head_pose(m, m.merge(), CENTRED_BOX, CAM, refine=False)
    r = pose[0].rotation
    np.testing.assert_allclose(r[:, 0], [0, 0, -1], atol=1e-9)   # face x points at the camera (-optical z)
    np.testing.assert_allclose(r[:, 2], [0, -1, 0], atol=1e-9)   # face z toward the scalp (-optical y: up)
    np.testing.assert_allclose(r[:, 1], [1, 0, 0], atol=1e-9)    # person's left = image right
    # 120 degrees about (1, 1, -1)/sqrt(3): q = (sin 60 * axis, cos 60)
    np.testing.assert_allclose(pose[0].quaternion, [0.5, 0.5, -0.5, 0.5], atol=1e-9)
    for axis, expected in ((np.array([1.0, 0, 0]), [0, 0, -1]), (np.array([0, 0, 1.0]), [0, -1, 0])):
        np.testing.assert_allclose(quat_rotate(pose[0].quaternion, axis), expected, atol=1e-9)
    g = pose[0].gaze_rotation
    np.testing.assert_allclose(g[:, 2], [0, 0, -1], atol=1e-9)   # eyes straight: gaze z = face x
    np.testing.assert_allclose(g[:, 0], [-1, 0, 0], atol=1e-9)   # person's right (image left)
    np.testing.assert_allclose(g[:, 1], [0, 1, 0], atol=1e-9)    # down
    np.testing.assert_allclose(pose[0].gaze_direction, [0, 0, -1], atol=1e-9)


def test_position_is_the_sellion_in_metres(synthetic_model):
    m = synthetic_model
    c = m.merge(trans=[0.05, -0.03, 0.4], angles=[0.1, -0.2, 0.05])
    rec = m.reconstruct(c)
    sellion = rec.posed[0, m.keypoints_mediapipe[168]].astype(np.float64) + [0, 0, 10]
    pose = head_pose(m, c, CENTRED_BOX, CAM, refine=False)
    np.testing.assert_allclose(pose[0].position, MODEL_UNIT_M * sellion, atol=1e-6)
    # a crop box twice as large (scale s = 2, centred on (639.5, 359.5)): the face looks
    # twice as large to the real f = 1000 camera, so it is at half the range, and it lies
    # on the ray through its image pixel u = s * (1000 x / z + 127.5) + x0
    big = np.array([383.5, 103.5, 895.5, 615.5])
    pose = head_pose(m, c, big, CAM, refine=False)
    u = 2 * (1000 * sellion[0] / sellion[2] + 127.5) + big[0]
    v = 2 * (1000 * sellion[1] / sellion[2] + 127.5) + big[1]
    p = pose[0].position
    np.testing.assert_allclose([p[0] / p[2], p[1] / p[2]], [(u - 639.5) / 1000, (v - 359.5) / 1000], atol=1e-9)
    assert np.linalg.norm(p) == pytest.approx(0.5 * MODEL_UNIT_M * np.linalg.norm(sellion), rel=1e-9)


def test_yaw_and_gaze_directions_by_hand(synthetic_model):
    m = synthetic_model
    b = 0.3
    pose = head_pose(m, m.merge(angles=[0, b, 0]), CENTRED_BOX, CAM, refine=False)
    np.testing.assert_allclose(pose[0].rotation[:, 0], [-math.sin(b), 0, -math.cos(b)], atol=1e-6)
    e = 0.2
    pose = head_pose(m, m.merge(eyes=[0, e, 0, e]), CENTRED_BOX, CAM, refine=False)
    np.testing.assert_allclose(pose[0].gaze_direction, [-math.sin(e), 0, -math.cos(e)], atol=1e-6)
    np.testing.assert_allclose(pose[0].rotation[:, 0], [0, 0, -1], atol=1e-9)  # the head did not turn
    no_eyes = head_pose(m, m.merge(eyes=[0, e, 0, e]), CENTRED_BOX, CAM, use_eyes=False, refine=False)
    np.testing.assert_allclose(no_eyes[0].gaze_direction, [0, 0, -1], atol=1e-9)


def reprojection(m, c, box, cam, pose):
    rec = m.reconstruct(c)
    idx = m.landmark_indices("mediapipe")
    pts = vertices_in_camera(pose[0], rec.vertices[0, idx])
    assert np.all(pts[:, 2] > 0)
    uv = np.stack([cam.fx * pts[:, 0] / pts[:, 2] + cam.cx, cam.fy * pts[:, 1] / pts[:, 2] + cam.cy], 1)
    image_uv = to_image(rec.projected[0, idx], box)[:, :2]
    return np.linalg.norm(uv - image_uv, axis=1), list(idx).index(m.sellion_index)


@pytest.mark.parametrize("box", [[900, 60, 1160, 320], [510, 230, 770, 490], [100, 400, 300, 600]])
def test_pose_reprojects_onto_the_image(synthetic_model, box):
    m = synthetic_model
    rng = np.random.default_rng(0)
    c = m.merge(id=rng.normal(0, 0.5, 156), exp=rng.normal(0, 0.3, 177), angles=[0.15, -0.25, 0.1],
                trans=[0.1, 0.05, 0.2], eyes=[0.05, -0.1, 0.05, -0.1])
    cam = CameraIntrinsics.default(1280, 720)
    box = np.array(box)
    side = box[2] - box[0]
    closed = head_pose(m, c, box, cam, refine=False)
    err, s = reprojection(m, c, box, cam, closed)
    assert err[s] < 1e-3                 # the closed form puts the sellion exactly on its pixel's ray
    assert err.max() < 0.08 * side, err.max()
    refined = head_pose(m, c, box, cam)
    err_r, _ = reprojection(m, c, box, cam, refined)
    assert err_r.max() < 0.02 * side and err_r.mean() <= err.mean() + 1e-9, (err_r.max(), err.mean())
    # refinement polishes, it does not move the head elsewhere
    assert np.linalg.norm(refined[0].position - closed[0].position) < 0.15 * np.linalg.norm(closed[0].position)
    cos = np.clip((np.trace(refined[0].rotation.T @ closed[0].rotation) - 1) / 2, -1, 1)
    assert math.degrees(math.acos(cos)) < 5
    np.testing.assert_allclose(np.linalg.norm(refined[0].quaternion), 1.0, atol=1e-12)
    np.testing.assert_allclose(refined[0].rotation @ refined[0].rotation.T, np.eye(3), atol=1e-9)


def test_quaternions_of_random_rotations():
    rng = np.random.default_rng(1)
    for _ in range(50):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        if np.linalg.det(q) < 0:
            q[:, 0] *= -1
        quat = quaternion_from_matrix(q)
        assert quat[3] >= 0
        for v in np.eye(3):
            np.testing.assert_allclose(quat_rotate(quat, v), q @ v, atol=1e-9)
    # 90 degrees about z: (0, 0, sin 45, cos 45)
    rz = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(quaternion_from_matrix(rz), [0, 0, math.sqrt(0.5), math.sqrt(0.5)], atol=1e-12)


def test_intrinsics_and_bad_input(synthetic_model):
    d = CameraIntrinsics.default(640, 480)
    assert (d.fx, d.fy, d.cx, d.cy) == (640.0, 640.0, 319.5, 239.5)
    k = CameraIntrinsics.from_matrix([500, 0, 320, 0, 510, 240, 0, 0, 1])
    assert (k.fx, k.fy, k.cx, k.cy) == (500, 510, 320, 240)
    with pytest.raises(ValueError):
        CameraIntrinsics(0, 500, 320, 240)
    m = synthetic_model
    with pytest.raises(ValueError, match="intrinsics or the image size"):
        head_pose(m, m.merge(), CENTRED_BOX)
    with pytest.raises(ValueError, match="crop boxes"):
        head_pose(m, m.merge(batch=2), CENTRED_BOX, CAM)
    pose = head_pose(m, m.merge(batch=2), np.stack([CENTRED_BOX] * 2), image_size=(1280, 720))
    assert len(pose) == 2 and pose[1].position.shape == (3,) and pose[1].quaternion.shape == (4,)


def test_interocular_distance_of_the_synthetic_mean_face(synthetic_model):
    # the synthetic eyeballs are centred at x = +-32 raw units
    assert interocular_distance_raw(synthetic_model) == pytest.approx(64.0, abs=1e-3)
