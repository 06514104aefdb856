"""Eye gaze values from MediaPipe iris landmarks (spec section 6).

The original FaceVerse V4 tracker replaces the network's four eye values with
values measured from the refined (iris) MediaPipe landmarks. This module
computes exactly those values, vectorised over any leading batch axes.

Inputs are landmarks in image pixels, shape (..., 478, 2) or (..., 478, 3)
(only x and y are used). Outputs are in the units of the FaceVerse eye
rotation angles (radians by the model's convention; the gains 3 and -1.5 are
the original's heuristic, not a calibrated angle):

    eyes = [left vertical, left horizontal, right vertical, right horizontal]

"left" and "right" are the person's own eyes (MediaPipe's naming): the left
eye appears on the image's right for a face looking at the camera.

Sign conventions (for an upright face looking at the camera):
- horizontal > 0 when the iris sits toward the image's left of its eye's
  corner midpoint (toward the person's right), matching the model's
  ``Ry(horizontal)`` which turns the gaze toward image left;
- vertical < 0 when the iris sits above the corner midpoint (image up),
  matching ``Rx(vertical)`` which then turns the gaze up.
"""
from typing import Tuple

import numpy as np
import numpy.typing as npt

from faceverse_ros.landmarks.indices import (LEFT_EYE_INNER, LEFT_EYE_OUTER, LEFT_IRIS,
                                             NUM_LANDMARKS, RIGHT_EYE_INNER, RIGHT_EYE_OUTER,
                                             RIGHT_IRIS)

# (first corner, second corner, iris centre) landmark indices.
LEFT_EYE = (LEFT_EYE_INNER, LEFT_EYE_OUTER, LEFT_IRIS)
RIGHT_EYE = (RIGHT_EYE_OUTER, RIGHT_EYE_INNER, RIGHT_IRIS)

HORIZONTAL_GAIN = 3.0
VERTICAL_GAIN = -1.5


def _check(landmarks: npt.ArrayLike) -> np.ndarray:
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim < 2 or pts.shape[-2] != NUM_LANDMARKS or pts.shape[-1] not in (2, 3):
        raise ValueError(
            f"landmarks must have shape (..., {NUM_LANDMARKS}, 2 or 3) in pixels "
            f"(refined MediaPipe mesh with iris points), got {pts.shape}")
    if not np.all(np.isfinite(pts[..., :2])):
        raise ValueError("landmarks contain NaN or infinite values")
    return pts[..., :2]


def eye_values_from_points(first: npt.ArrayLike, second: npt.ArrayLike,
                           iris: npt.ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical eye values for one eye from its three points.

    first, second: the two eye corners (..., 2) in pixels, in the spec's order
    (362 then 263 for the left eye, 33 then 133 for the right eye);
    iris: the iris centre (..., 2) in pixels.
    Returns (vertical, horizontal), each of shape (...). Raises ValueError when
    the corners coincide (zero eye width).
    """
    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    iris = np.asarray(iris, dtype=np.float64)
    mid = (first + second) / 2.0
    diff = first - second
    d = np.linalg.norm(diff, axis=-1)
    if np.any(d <= 1e-9):
        raise ValueError("eye corners coincide: eye width is zero, cannot compute eye values")
    u = diff / d[..., None]
    u_swapped = u[..., ::-1]  # (u.y, u.x): a component swap, not a rotation (original's rule)
    off = iris - mid
    horizontal = np.sum(off * u, axis=-1) / d * HORIZONTAL_GAIN
    vertical = np.sum(off * u_swapped, axis=-1) / d * VERTICAL_GAIN
    return vertical, horizontal


def eye_values(landmarks: npt.ArrayLike) -> np.ndarray:
    """The four eye values of spec 6 from 478 landmarks in pixels.

    landmarks: (..., 478, 2|3). Returns float64 (..., 4):
    [left vertical, left horizontal, right vertical, right horizontal].
    """
    pts = _check(landmarks)
    lv, lh = eye_values_from_points(pts[..., LEFT_EYE[0], :], pts[..., LEFT_EYE[1], :],
                                    pts[..., LEFT_EYE[2], :])
    rv, rh = eye_values_from_points(pts[..., RIGHT_EYE[0], :], pts[..., RIGHT_EYE[1], :],
                                    pts[..., RIGHT_EYE[2], :])
    return np.stack([lv, lh, rv, rh], axis=-1)
