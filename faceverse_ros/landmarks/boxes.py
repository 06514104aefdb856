"""Face boxes from landmarks (spec section 5), shared by detector and crop.

Boxes are (x0, y0, x1, y1) in image pixels, float.
"""
from typing import Iterable

import numpy as np
import numpy.typing as npt

from faceverse_ros.landmarks.indices import NUM_LANDMARKS  # noqa: F401 (re-exported)


def landmark_box(landmarks: npt.ArrayLike) -> np.ndarray:
    """Tight box around 2-D landmark points (K, 2+) in pixels."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] == 0 or pts.shape[1] < 2:
        raise ValueError(f"landmarks must be (K, 2) or (K, 3), got shape {pts.shape}")
    x0, y0 = pts[:, 0].min(), pts[:, 1].min()
    x1, y1 = pts[:, 0].max(), pts[:, 1].max()
    return np.array([x0, y0, x1, y1], dtype=np.float64)


def square_box(box: Iterable[float]) -> np.ndarray:
    """Square box of side max(w, h) around the centre of `box` (the original tracker's rule)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    half = max(x1 - x0, y1 - y0) / 2.0
    return np.array([cx - half, cy - half, cx + half, cy + half], dtype=np.float64)
