"""Spec-6 eye values: exact numbers on hand-made landmarks, directions, batching, errors."""
import math

import numpy as np
import pytest

from faceverse_ros.landmarks.eyes import eye_values


def flat_eyes(right_iris=(120.0, 200.0), left_iris=(200.0, 200.0)):
    """Landmarks of a level face: right eye 100..140 px, left eye 180..220 px at y = 200."""
    lm = np.zeros((478, 3))
    lm[33, :2] = (100.0, 200.0)   # right eye, outer corner (image left)
    lm[133, :2] = (140.0, 200.0)  # right eye, inner corner
    lm[362, :2] = (180.0, 200.0)  # left eye, inner corner
    lm[263, :2] = (220.0, 200.0)  # left eye, outer corner (image right)
    lm[468, :2] = right_iris
    lm[473, :2] = left_iris
    return lm


def test_centred_irises_give_zero():
    np.testing.assert_allclose(eye_values(flat_eyes()), np.zeros(4), atol=1e-12)


def test_hand_computed_values():
    # Right eye: u = unit(33 - 133) = (-1, 0), d = 40, u' = (0, -1).
    # Iris moved by (-4, -4) from the midpoint (120, 200):
    #   horizontal = dot((-4, -4), (-1, 0)) / 40 * 3 = 4 / 40 * 3 = 0.3
    #   vertical   = dot((-4, -4), (0, -1)) / 40 * -1.5 = 4 / 40 * -1.5 = -0.15
    # Left eye: u = unit(362 - 263) = (-1, 0), d = 40; iris moved by (+2, +8):
    #   horizontal = -2 / 40 * 3 = -0.15, vertical = -8 / 40 * -1.5 = 0.3
    lm = flat_eyes(right_iris=(116.0, 196.0), left_iris=(202.0, 208.0))
    np.testing.assert_allclose(eye_values(lm), [0.3, -0.15, -0.15, 0.3], atol=1e-12)


def test_tilted_eye_uses_the_swapped_components():
    # Right eye corners along a 30 degree line; the spec's u' = (u.y, u.x) is a
    # swap, not a rotation: computed here by hand in plain Python.
    lm = flat_eyes()
    a = math.radians(30.0)
    c33 = np.array([100.0, 200.0])
    c133 = c33 + 50.0 * np.array([math.cos(a), math.sin(a)])
    iris = (c33 + c133) / 2 + np.array([3.0, -5.0])
    lm[33, :2], lm[133, :2], lm[468, :2] = c33, c133, iris
    ux, uy = -math.cos(a), -math.sin(a)
    off = (3.0, -5.0)
    horizontal = (off[0] * ux + off[1] * uy) / 50.0 * 3.0
    vertical = (off[0] * uy + off[1] * ux) / 50.0 * -1.5
    vals = eye_values(lm)
    assert vals[2] == pytest.approx(vertical, abs=1e-12)
    assert vals[3] == pytest.approx(horizontal, abs=1e-12)


def test_directions_on_a_real_detection():
    """Shifting the iris landmarks of a real face moves the values the documented way."""
    from helpers import shared_path
    import cv2
    from faceverse_ros.tracking.detector import FaceDetector

    img = cv2.imread(str(shared_path("testdata/faces/portrait_small.jpg")))[:, :, ::-1].copy()
    with FaceDetector(mode="image") as det:
        lm = det.detect(img)[0].landmarks
    base = eye_values(lm)
    eye_w = np.linalg.norm(lm[33, :2] - lm[133, :2])
    for iris in (468, 473):
        shifted = lm.copy()
        shifted[iris, 0] -= 0.1 * eye_w          # toward image left
        moved = eye_values(shifted)
        k = 3 if iris == 468 else 1              # that eye's horizontal value
        assert moved[k] > base[k] + 0.2          # ~0.1 * 3 = 0.3
        others = [i for i in range(4) if i not in (k, k - 1)]
        np.testing.assert_allclose(moved[others], base[others])
        shifted = lm.copy()
        shifted[iris, 1] -= 0.1 * eye_w          # up in the image
        moved = eye_values(shifted)
        assert moved[k - 1] < base[k - 1] - 0.1  # vertical decreases (~ -0.15)


def test_batched_equals_single():
    rng = np.random.default_rng(0)
    batch = np.stack([flat_eyes(right_iris=120 + rng.normal(size=2) * 3 + (0, 80),
                                left_iris=200 + rng.normal(size=2) * 3 + (0, 0))
                      for _ in range(5)])
    batch[:, :, :2] += rng.normal(size=(5, 478, 2)) * 0.5
    out = eye_values(batch)
    assert out.shape == (5, 4)
    for i in range(5):
        np.testing.assert_allclose(out[i], eye_values(batch[i]))
    assert eye_values(batch[:, :, :2]).shape == (5, 4)


@pytest.mark.parametrize("shape", [(468, 3), (478,), (478, 4)])
def test_bad_shapes(shape):
    with pytest.raises(ValueError, match="478"):
        eye_values(np.zeros(shape))


def test_degenerate_eye_and_nan():
    lm = flat_eyes()
    lm[133, :2] = lm[33, :2]
    with pytest.raises(ValueError, match="corners coincide"):
        eye_values(lm)
    lm = flat_eyes()
    lm[468, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        eye_values(lm)
