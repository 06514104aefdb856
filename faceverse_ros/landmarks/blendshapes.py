"""The 52 ARKit-compatible blendshape weights of MediaPipe's Face Landmarker.

The Face Landmarker bundle (``face_landmarker.task``) carries a small network
(``face_blendshapes.tflite``) that turns 146 of the 478 landmarks into 52
weights in [0, 1]: ``_neutral`` followed by the 51 ARKit names. The order
below is the model's own category order (index = position), checked against
the category names MediaPipe 0.10.21 returns for ``../shared/models/
face_landmarker.task`` (test/test_blendshapes.py reads them from the model).
"Left" and "Right" are the person's own sides, as in ARKit: on the shared
video ``eyeBlinkLeft`` follows the eye-aspect ratio of the person's left eye
(landmarks 362/263) more closely than that of the right one, and
``eyeBlinkRight`` the other way round (bench/eval_blendshapes.py prints both).

The same names, in the same order, document ``FaceVerseParams.blendshapes``
(msg/FaceVerseParams.msg).
"""
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

import numpy as np
import numpy.typing as npt

from faceverse_ros.landmarks.indices import (EYELIDS, INNER_LIPS, LEFT_EYE_INNER,  # noqa: F401
                                             LEFT_EYE_OUTER, RIGHT_EYE_INNER, RIGHT_EYE_OUTER)

BLENDSHAPE_NAMES: Tuple[str, ...] = (
    "_neutral",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight",
    "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight",
    "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)
NUM_BLENDSHAPES = len(BLENDSHAPE_NAMES)  # 52
INDEX: Dict[str, int] = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}


def from_categories(categories: Iterable) -> np.ndarray:
    """(52,) float32 weights from one face's MediaPipe category list.

    Each category has ``index``, ``category_name`` and ``score``. The values
    are placed by name, so a model with another order still fills the right
    slots; a name we do not know, a missing one or a non-finite score raises
    ValueError (a different model must not be published under these names).
    """
    values = np.full(NUM_BLENDSHAPES, np.nan, dtype=np.float32)
    for cat in categories:
        name = cat.category_name
        if name not in INDEX:
            raise ValueError(f"unknown blendshape category {name!r} (expected the 52 ARKit names "
                             "of MediaPipe's Face Landmarker)")
        values[INDEX[name]] = float(cat.score)
    if not np.all(np.isfinite(values)):
        missing = [BLENDSHAPE_NAMES[i] for i in np.flatnonzero(~np.isfinite(values))]
        raise ValueError(f"blendshapes missing or not finite: {missing[:5]}")
    return values


def as_dict(values: Sequence[float]) -> Dict[str, float]:
    """{name: weight} of a (52,) vector, in the model's order (for JSON files)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.shape != (NUM_BLENDSHAPES,):
        raise ValueError(f"expected {NUM_BLENDSHAPES} blendshape values, got {v.shape[0]}")
    return {name: float(x) for name, x in zip(BLENDSHAPE_NAMES, v)}


def from_dict(weights: Mapping[str, float]) -> np.ndarray:
    """Inverse of :func:`as_dict`: (52,) float32; every name must be there."""
    missing = [n for n in BLENDSHAPE_NAMES if n not in weights]
    if missing:
        raise ValueError(f"blendshapes missing: {missing[:5]}")
    return np.array([float(weights[n]) for n in BLENDSHAPE_NAMES], dtype=np.float32)


def strongest(values: Sequence[float], count: int = 3, skip_neutral: bool = True
              ) -> List[Tuple[str, float]]:
    """The ``count`` largest weights as (name, value), largest first.

    ``_neutral`` is left out by default: it names no expression (and stays
    below 1e-5 on every frame of the shared video).
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.shape != (NUM_BLENDSHAPES,):
        raise ValueError(f"expected {NUM_BLENDSHAPES} blendshape values, got {v.shape[0]}")
    order = np.argsort(-v, kind="stable")
    out = []
    for i in order:
        if skip_neutral and i == INDEX["_neutral"]:
            continue
        out.append((BLENDSHAPE_NAMES[i], float(v[i])))
        if len(out) == count:
            break
    return out


# --------------------------------------------------------------------------- landmark measures
# Geometric counterparts of jawOpen and eyeBlink*, measured on the 478 landmarks alone; used
# to check the network's weights (bench/eval_blendshapes.py), not to replace them.
EYE_CORNERS = {"right": (RIGHT_EYE_OUTER, RIGHT_EYE_INNER),    # the person's own sides
               "left": (LEFT_EYE_INNER, LEFT_EYE_OUTER)}


def _dist(lm, a, b):
    return float(np.linalg.norm(lm[a, :2] - lm[b, :2]))


def mouth_opening(landmarks: npt.ArrayLike) -> float:
    """Mean gap between the inner lips over the distance between the outer eye corners
    (33, 263), in the image plane: unitless, 0 for closed lips, independent of face size."""
    lm = np.asarray(landmarks, dtype=np.float64)
    gap = np.mean([_dist(lm, a, b) for a, b in INNER_LIPS])
    return float(gap / _dist(lm, RIGHT_EYE_OUTER, LEFT_EYE_OUTER))


def eye_aspect_ratio(landmarks: npt.ArrayLike, side: str = "both") -> float:
    """Eyelid opening over eye width (the eye-aspect ratio of Soukupova and Cech, CVWW 2016,
    on three upper/lower eyelid pairs): about 0.3 for an open eye, near 0 when closed.
    side: "left", "right" (the person's own) or "both" (their mean)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if side == "both":
        return (eye_aspect_ratio(lm, "left") + eye_aspect_ratio(lm, "right")) / 2.0
    a, b = EYE_CORNERS[side]
    lids = np.mean([_dist(lm, u, v) for u, v in EYELIDS[side]])
    return float(lids / _dist(lm, a, b))
