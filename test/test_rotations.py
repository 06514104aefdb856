"""faceverse_ros.core.rotations: axis maps, quaternions, rotation between directions, rx/ry/rz.

Expected values are written out by hand (90 and 180 degree rotations and their
quaternions) or computed with formulas written here (quaternion -> matrix,
Rodrigues), not with the module.
"""
import math

import numpy as np
import pytest

from faceverse_ros.core.rotations import (FACE_AXES_IN_MODEL, GAZE_AXES_IN_FACE, quaternion_from_matrix,
                                     rotation_between, rx, ry, rz)

H = math.sqrt(0.5)  # sin 45 = cos 45

# 90 degrees about each axis, by hand: the axis stays, the next axis goes to the one after it
RX90 = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])   # y -> z, z -> -y
RY90 = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])   # z -> x, x -> -z
RZ90 = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])   # x -> y, y -> -x


def matrix_of_quaternion(q):
    """(x, y, z, w) -> 3x3, from R v = v + 2w (u x v) + 2 u x (u x v), u = (x, y, z)."""
    x, y, z, w = q
    ux = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + 2 * w * ux + 2 * ux @ ux


def rodrigues(axis, angle):
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def random_rotations(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        if np.linalg.det(q) < 0:
            q[:, 0] *= -1
        out.append(q)
    return np.array(out)


def assert_rotation(r, atol=1e-12):
    np.testing.assert_allclose(r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape), atol=atol)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=atol)


# --------------------------------------------------------------------------- rx, ry, rz
def test_elementary_rotations_by_90_degrees():
    np.testing.assert_allclose(rx(math.pi / 2), RX90, atol=1e-15)
    np.testing.assert_allclose(ry(math.pi / 2), RY90, atol=1e-15)
    np.testing.assert_allclose(rz(math.pi / 2), RZ90, atol=1e-15)
    for f in (rx, ry, rz):
        np.testing.assert_array_equal(f(0.0), np.eye(3))
        assert f(0.3).shape == (3, 3)


def test_elementary_rotations_match_rodrigues_and_batch():
    angles = np.array([[-2.0, 0.1], [0.7, 3.0]])
    for f, axis in ((rx, [1, 0, 0]), (ry, [0, 1, 0]), (rz, [0, 0, 1])):
        batch = f(angles)
        assert batch.shape == (2, 2, 3, 3)
        for i in range(2):
            for j in range(2):
                np.testing.assert_allclose(batch[i, j], rodrigues(axis, angles[i, j]), atol=1e-14)
                np.testing.assert_allclose(f(angles[i, j]), batch[i, j], atol=0)


# --------------------------------------------------------------------------- quaternions
@pytest.mark.parametrize("matrix, expected", [
    (np.eye(3), [0, 0, 0, 1]),
    (RX90, [H, 0, 0, H]),
    (RY90, [0, H, 0, H]),
    (RZ90, [0, 0, H, H]),
    (RX90.T, [-H, 0, 0, H]),
    (RZ90.T, [0, 0, -H, H]),
])
def test_quaternions_of_hand_made_rotations(matrix, expected):
    np.testing.assert_allclose(quaternion_from_matrix(matrix), expected, atol=1e-15)


@pytest.mark.parametrize("matrix, axis", [
    (np.diag([1.0, -1.0, -1.0]), 0),   # 180 degrees about x: q = (+-1, 0, 0, 0)
    (np.diag([-1.0, 1.0, -1.0]), 1),
    (np.diag([-1.0, -1.0, 1.0]), 2),
])
def test_quaternions_of_half_turns(matrix, axis):
    q = quaternion_from_matrix(matrix)
    expected = np.zeros(4)
    expected[axis] = 1.0
    np.testing.assert_allclose(np.abs(q), expected, atol=1e-15)


def test_quaternion_round_trip_on_random_rotations():
    mats = random_rotations(200, seed=5)
    # plus rotations near pi about random axes (the trace <= 0 branches) and tiny ones
    rng = np.random.default_rng(6)
    extra = [rodrigues(rng.normal(size=3), ang) for ang in (math.pi - 1e-7, 3.0, 2.2, 1e-9)
             for _ in range(20)]
    mats = np.concatenate([mats, np.array(extra)])
    quats = quaternion_from_matrix(mats)
    assert quats.shape == (len(mats), 4)
    np.testing.assert_allclose(np.linalg.norm(quats, axis=1), 1.0, atol=1e-12)
    assert np.all(quats[:, 3] >= 0)
    for q, m in zip(quats, mats):
        np.testing.assert_allclose(matrix_of_quaternion(q), m, atol=1e-12)
    # one matrix at a time gives the same as the batch; any batch shape is kept
    np.testing.assert_allclose(quaternion_from_matrix(mats[7]), quats[7], atol=0)
    assert quaternion_from_matrix(mats[:6].reshape(2, 3, 3, 3)).shape == (2, 3, 4)


def test_quaternion_bad_input():
    with pytest.raises(ValueError, match="shape"):
        quaternion_from_matrix(np.eye(4))
    with pytest.raises(ValueError, match="shape"):
        quaternion_from_matrix(np.zeros(9))
    bad = np.eye(3)
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        quaternion_from_matrix(bad)


# --------------------------------------------------------------------------- rotation_between
def test_rotation_between_parallel_is_identity():
    np.testing.assert_allclose(rotation_between([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]), np.eye(3), atol=1e-15)
    np.testing.assert_allclose(rotation_between([0, 0, 1], [0, 0, 5]), np.eye(3), atol=0)


@pytest.mark.parametrize("a, b, expected", [
    ([1, 0, 0], [0, 1, 0], RZ90),
    ([0, 1, 0], [0, 0, 3], RX90),
    ([0, 0, 2], [1, 0, 0], RY90),
    ([0, 1, 0], [1, 0, 0], RZ90.T),
])
def test_rotation_between_perpendicular_axes(a, b, expected):
    np.testing.assert_allclose(rotation_between(a, b), expected, atol=1e-15)


def test_rotation_between_is_the_smallest_rotation():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    r = rotation_between(a, b)
    assert r.shape == (50, 3, 3)
    for i in range(50):
        ua, ub = a[i] / np.linalg.norm(a[i]), b[i] / np.linalg.norm(b[i])
        expected = rodrigues(np.cross(ua, ub), math.acos(np.clip(ua @ ub, -1, 1)))
        np.testing.assert_allclose(r[i], expected, atol=1e-12)


@pytest.mark.parametrize("a", [[0, 0, 1], [1, 0, 0], [0, -2, 0], [1, 2, -3], [1, 1e-9, 0]])
def test_rotation_between_opposite_directions_turns_by_pi(a):
    a = np.asarray(a, float)
    r = rotation_between(a, -3.0 * a)
    assert_rotation(r)
    ua = a / np.linalg.norm(a)
    np.testing.assert_allclose(r @ ua, -ua, atol=1e-12)
    np.testing.assert_allclose(np.trace(r), -1.0, atol=1e-12)  # angle pi
    # the axis (the eigenvector of eigenvalue 1) is orthogonal to a
    axis = np.linalg.svd(r - np.eye(3))[2][-1]
    assert abs(axis @ ua) < 1e-12


def test_rotation_between_nearly_opposite_stays_accurate():
    rng = np.random.default_rng(4)
    for eps in (1e-3, 1e-5, 1.5e-6, 1e-7, 2e-8, 1e-8, 1e-9):
        for _ in range(20):
            a = rng.normal(size=3)
            a /= np.linalg.norm(a)
            p = np.cross(a, rng.normal(size=3))
            p /= np.linalg.norm(p)
            b = -a + eps * p
            r = rotation_between(a, b)
            assert_rotation(r, atol=5e-8)
            np.testing.assert_allclose(r @ a, b / np.linalg.norm(b), atol=5e-8)


def test_rotation_between_broadcasts_mixed_cases():
    a = np.array([[1.0, 0, 0], [1, 0, 0], [0, 0, 1]])
    b = np.array([[2.0, 0, 0], [0, 1, 0], [0, 0, -1]])
    r = rotation_between(a, b)
    np.testing.assert_allclose(r[0], np.eye(3), atol=1e-15)
    np.testing.assert_allclose(r[1], RZ90, atol=1e-15)
    np.testing.assert_allclose(r[2] @ [0, 0, 1], [0, 0, -1], atol=1e-15)
    assert_rotation(r)
    # one direction against many
    r = rotation_between([0, 0, 1], b)
    assert r.shape == (3, 3, 3)
    np.testing.assert_allclose(np.einsum("bij,j->bi", r, [0, 0, 1]),
                               b / np.linalg.norm(b, axis=1, keepdims=True), atol=1e-15)


def test_rotation_between_bad_input():
    with pytest.raises(ValueError, match="non-zero"):
        rotation_between([0, 0, 0], [1, 0, 0])
    with pytest.raises(ValueError, match="NaN"):
        rotation_between([np.nan, 0, 1], [1, 0, 0])
    with pytest.raises(ValueError, match="shape"):
        rotation_between([1, 0], [1, 0])


# --------------------------------------------------------------------------- axis maps
def test_face_axes_in_model_columns():
    # model axes: x right, y down, z away from the camera (a frontal face looks along -z)
    out_of_face, persons_left, scalp = FACE_AXES_IN_MODEL.T
    np.testing.assert_array_equal(out_of_face, [0, 0, -1])   # toward the camera
    np.testing.assert_array_equal(persons_left, [1, 0, 0])   # image right for a frontal face
    np.testing.assert_array_equal(scalp, [0, -1, 0])         # up in the image
    assert_rotation(FACE_AXES_IN_MODEL, atol=0)


def test_gaze_axes_in_face_columns():
    # face axes: x out of the face, y person's left, z toward the scalp
    persons_right, down, gaze = GAZE_AXES_IN_FACE.T
    np.testing.assert_array_equal(persons_right, [0, -1, 0])
    np.testing.assert_array_equal(down, [0, 0, -1])
    np.testing.assert_array_equal(gaze, [1, 0, 0])
    assert_rotation(GAZE_AXES_IN_FACE, atol=0)
    # a frontal face looking into the camera: its gaze frame is the model frame turned
    # by 180 degrees about y (x to image left = person's right, y down, z to the camera)
    np.testing.assert_array_equal(FACE_AXES_IN_MODEL @ GAZE_AXES_IN_FACE, np.diag([-1.0, 1.0, -1.0]))


def test_axis_maps_are_read_only():
    with pytest.raises(ValueError):
        FACE_AXES_IN_MODEL[0, 0] = 1.0
    with pytest.raises(ValueError):
        GAZE_AXES_IN_FACE[0, 0] = 1.0
