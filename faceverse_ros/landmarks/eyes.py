"""Eye values from MediaPipe iris landmarks: spec section 6, and the eyeball model.

:func:`eye_values` computes the spec-6 values of the original tracker (below);
:func:`eye_gaze` computes eye angles from an eyeball model (doc/gaze.md), the
values the pipeline smooths and publishes.

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
import math
from typing import Tuple

import numpy as np
import numpy.typing as npt

from faceverse_ros.landmarks.indices import (EYELIDS, LEFT_EYE_INNER, LEFT_EYE_OUTER, LEFT_IRIS,
                                             NUM_LANDMARKS, RIGHT_EYE_INNER, RIGHT_EYE_OUTER,
                                             RIGHT_IRIS)
from faceverse_ros.landmarks.landmark_pose import FIT_INDICES, TEMPLATE_MM, similarity_fit

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


# --------------------------------------------------------------------------
# gaze from an eyeball model (what the pipeline publishes)
# --------------------------------------------------------------------------
#: radius (m) of the eyeball, the sphere the iris centre is taken to lie on (the adult
#: eyeball is about 24 mm across)
IRIS_SPHERE_RADIUS_M = 0.012
#: where the iris centre of the person's LEFT eye sits, relative to the midpoint of that
#: eye's corners (362, 263), when the eye looks straight along the head's x axis; head
#: frame (x out of the face, y to the person's left, z up), metres. The right eye's has
#: -y. The eyeball centre is this minus IRIS_SPHERE_RADIUS_M along x. x: the lid
#: midpoints (386, 374) of MediaPipe's canonical face model lie 3.6 mm ahead of its
#: corner midpoint, and the lids rest on the eyeball's front; y, z: the mean over the four
#: people of the shared test material looking into the lens (doc/gaze.md), 0.8 mm outward
#: and 1.3 mm above the corner midpoint.
IRIS_AHEAD_OF_CORNERS_M = (0.0036, 0.0008, 0.0013)
#: upper and lower lid midpoints of (left eye, right eye): the eye's opening
LIDS = (EYELIDS["left"][0], EYELIDS["right"][0])
#: an eye whose lid gap is under OPEN_MIN of its corner distance counts as closed; it is
#: fully trusted from OPEN_FULL on (a blink passes through both within a frame or two)
OPEN_MIN, OPEN_FULL = 0.10, 0.18
#: an eye whose corner line the head pose shows foreshortened to under SEEN_MIN of its
#: length (turned away, behind the nose) is not used; fully from SEEN_FULL
SEEN_MIN, SEEN_FULL = 0.45, 0.7


_FIT_ROWS = list(FIT_INDICES)
_TEMPLATE_M = TEMPLATE_MM / 1000.0
_TEMPLATE_ROW = {idx: k for k, idx in enumerate(FIT_INDICES)}


def _ramp(value, low, high):
    return min(1.0, max(0.0, (float(value) - low) / (high - low)))


def eye_rotation_values(gaze_head):
    """(vertical, horizontal) FaceVerse eye angles of a unit gaze in the head frame.

    The inverse of ``Ry(horizontal) @ Rx(vertical)`` applied to the model's forward
    gaze (landmarks.landmark_pose.gaze_direction_in_head): a gaze (gx, gy, gz) in head
    axes is (cos h cos v, -sin h cos v, -sin v).
    """
    g = np.asarray(gaze_head, dtype=np.float64)
    return -float(np.arcsin(np.clip(g[2], -1.0, 1.0))), float(np.arctan2(-g[1], g[0]))


def eye_gaze(landmarks):
    """Eye angles from an eyeball model, and how far they can be trusted.

    landmarks: (478, 3) pixels (x, y, z scaled like x), as Detection gives.
    Returns (eyes, confidence): eyes (4,) = [left vertical, left horizontal, right
    vertical, right horizontal] in radians, the FaceVerse eye rotation
    ``Ry(horizontal) @ Rx(vertical)`` of each eye relative to the head frame of
    landmarks.landmark_pose (0 = looking along the head's x axis); confidence in [0, 1].

    Per eye (doc/gaze.md): the head's rotation and scale come from the weak-
    perspective fit of landmarks.landmark_pose's template; the eyeball centre is placed
    from the eye's detected corners with the fixed offset IRIS_AHEAD_OF_CORNERS_M
    (turned with the head); the iris centre's image offset from the projected
    eyeball centre, in metres, puts the iris on its sphere (radius
    IRIS_SPHERE_RADIUS_M, on the camera's side); the gaze is the unit vector from
    the eyeball centre to it. Each eye is weighted by its opening (lid gap against
    corner distance: a blink gives 0) and by how frontally the head pose shows it.
    The better eye stands in for one weighted under 0.5; with neither eye usable
    the angles are 0 (the gaze is the head direction) and the confidence is 0.
    The confidence is the mean of the two eyes' weights.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (NUM_LANDMARKS, 3):
        raise ValueError(f"landmarks must be ({NUM_LANDMARKS}, 3) pixels, got {lm.shape}")
    if not np.all(np.isfinite(lm)):
        raise ValueError("landmarks contain NaN or infinite values")
    tmpl, row = _TEMPLATE_M, _TEMPLATE_ROW
    scale, rot, _ = similarity_fit(tmpl, lm[_FIT_ROWS])
    if not scale > 0:
        raise ValueError("landmarks are degenerate: the template fit has no positive scale")
    radius = IRIS_SPHERE_RADIUS_M
    gazes, weights = [], []
    for (first, second, iris), (upper, lower), side in ((LEFT_EYE, LIDS[0], 1.0),
                                                        (RIGHT_EYE, LIDS[1], -1.0)):
        corners_t = tmpl[row[first]] - tmpl[row[second]]
        seen = math.hypot(*(rot[:2] @ corners_t)) / math.sqrt(corners_t @ corners_t)
        width = math.hypot(*(lm[first, :2] - lm[second, :2]))
        opening = math.hypot(*(lm[upper, :2] - lm[lower, :2])) / max(width, 1e-9)
        weights.append(_ramp(opening, OPEN_MIN, OPEN_FULL) * _ramp(seen, SEEN_MIN, SEEN_FULL))
        ahead = np.array(IRIS_AHEAD_OF_CORNERS_M) * [1.0, side, 1.0]
        centre = (lm[first, :2] + lm[second, :2]) / 2.0 + scale * (rot @ (ahead - [radius, 0, 0]))[:2]
        d = (lm[iris, :2] - centre) / scale
        n = math.hypot(d[0], d[1])
        if n > 0.98 * radius:
            d *= 0.98 * radius / n
        g = np.array([d[0], d[1], -math.sqrt(radius ** 2 - float(d @ d))]) / radius
        gazes.append(rot.T @ g)
    w = np.array(weights)
    if w.sum() < 0.05:
        return np.zeros(4), 0.0
    mean = (w[0] * gazes[0] + w[1] * gazes[1]) / w.sum()
    mean /= np.linalg.norm(mean)
    per_eye = [g if wk >= 0.5 else mean for g, wk in zip(gazes, w)]
    lv, lh = eye_rotation_values(per_eye[0])
    rv, rh = eye_rotation_values(per_eye[1])
    return np.array([lv, lh, rv, rh]), float(w.mean())


#: the eye-look blendshapes contradict the iris when they point the other way by more than
#: this (difference of the look-toward and look-away weights, mean of the eyes) while the
#: iris estimate is at least CONTRADICTION_MIN_RAD off straight ahead
CONTRADICTION_WEIGHT = 0.2
CONTRADICTION_MIN_RAD = np.radians(10.0)


def check_with_blendshapes(eyes, confidence, blendshapes):
    """The gaze confidence after the cross-check with the Tasks detector's eye-look
    blendshapes (their weights are MediaPipe's own reading of where the eyes look).

    Horizontal: toward the person's right = eyeLookInLeft - eyeLookOutLeft and
    eyeLookOutRight - eyeLookInRight; vertical: up = eyeLookUp - eyeLookDown; each the
    mean of the two eyes. Where one of them points against the eye angles' mean
    (``eyes`` as eye_gaze gives them) by more than CONTRADICTION_WEIGHT while that
    angle is over CONTRADICTION_MIN_RAD, the confidence halves. Without blendshapes
    (legacy detector) it is returned unchanged.
    """
    if blendshapes is None or len(blendshapes) == 0:
        return confidence
    from faceverse_ros.landmarks.blendshapes import BLENDSHAPE_NAMES

    w = dict(zip(BLENDSHAPE_NAMES, np.asarray(blendshapes, dtype=np.float64)))
    toward_right = 0.5 * (w["eyeLookInLeft"] - w["eyeLookOutLeft"]
                          + w["eyeLookOutRight"] - w["eyeLookInRight"])
    up = 0.5 * (w["eyeLookUpLeft"] - w["eyeLookDownLeft"]
                + w["eyeLookUpRight"] - w["eyeLookDownRight"])
    e = np.asarray(eyes, dtype=np.float64)
    horizontal, vertical = 0.5 * (e[1] + e[3]), 0.5 * (e[0] + e[2])   # > 0: right, down
    against = ((abs(horizontal) >= CONTRADICTION_MIN_RAD
                and -np.sign(horizontal) * toward_right > CONTRADICTION_WEIGHT)
               or (abs(vertical) >= CONTRADICTION_MIN_RAD
                   and np.sign(vertical) * up > CONTRADICTION_WEIGHT))
    return confidence * 0.5 if against else confidence
