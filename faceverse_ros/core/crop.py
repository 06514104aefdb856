"""The regressor's input crop (spec ``faceverse_v4.md`` section 5).

From the squared landmark box (:func:`faceverse_ros.landmarks.boxes.square_box`, image
pixels) to a 256x256 uint8 RGB crop:

* crop box: with the square's side L and centre (cx, cy),
  ``x0 = cx - 0.65 L, y0 = cy - 0.70 L, x1 = cx + 0.65 L, y1 = cy + 0.60 L``,
  each truncated toward zero to an int (like NumPy's ``astype(int)`` in the
  original);
* the box's pixels, black where it leaves the image, resized to 256x256 by
  ``cv2.resize`` with INTER_LINEAR (another interpolation changes the
  network's input and so its output);
* the returned box is the TRUE box in original image coordinates (it may be
  negative or exceed the image). The original tracker returned the box in its
  padded image's coordinates when the crop crossed the left or top border,
  which shifted the projected mesh by the pad size; mapping crop pixels back
  with this box (:func:`faceverse_ros.core.model.to_image`) has no such shift.
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

CROP_SIZE = 256


def crop_box_from_square(square_box: np.ndarray) -> np.ndarray:
    """Crop box (x0, y0, x1, y1) int64, image pixels, from a square box (x0, y0, x1, y1).

    A non-square box is treated as the square of side max(w, h) around its
    centre (the original's squaring rule).
    """
    b = np.asarray(square_box, dtype=np.float64).reshape(-1)
    if b.shape != (4,) or not np.all(np.isfinite(b)):
        raise ValueError(f"box must be 4 finite numbers (x0, y0, x1, y1), got {square_box!r}")
    x0, y0, x1, y1 = b
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box must have x1 > x0 and y1 > y0, got {b.tolist()}")
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    side = max(x1 - x0, y1 - y0)
    box = np.array([cx - 0.65 * side, cy - 0.70 * side, cx + 0.65 * side, cy + 0.60 * side])
    return np.trunc(box).astype(np.int64)


def _check_image(image_rgb) -> np.ndarray:
    img = np.asarray(image_rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"image must be an RGB array (H, W, 3), got shape {img.shape}")
    if img.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got dtype {img.dtype}")
    return img


def crop_region(image_rgb: np.ndarray, crop_box: np.ndarray) -> np.ndarray:
    """Pixels of an int crop box (x0, y0, x1, y1) of an RGB image, black outside it
    (a view when the box lies inside the image)."""
    img = _check_image(image_rgb)
    x0, y0, x1, y1 = (int(v) for v in crop_box)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"crop box must have x1 > x0 and y1 > y0, got {(x0, y0, x1, y1)}")
    h, w = img.shape[:2]
    if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
        return img[y0:y1, x0:x1]
    region = np.zeros((y1 - y0, x1 - x0, 3), dtype=np.uint8)
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if ix1 > ix0 and iy1 > iy0:
        region[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = img[iy0:iy1, ix0:ix1]
    return region


def crop_face(image_rgb: np.ndarray, box: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Regressor crop of one face.

    image_rgb: uint8 (H, W, 3) RGB. box: the squared landmark box (x0, y0,
    x1, y1) in image pixels. Returns ``(crop, crop_box)``: uint8 (256, 256, 3)
    and the true crop box (x0, y0, x1, y1) int64 in original image pixels.
    """
    crop_box = crop_box_from_square(box)
    region = crop_region(image_rgb, crop_box)
    crop = cv2.resize(region, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR)
    return crop, crop_box


def crop_faces(image_rgb: np.ndarray, boxes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`crop_face` for several boxes (K, 4) of one image -> (K, 256, 256, 3), (K, 4)."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must be (K, 4), got shape {b.shape}")
    crops = np.empty((len(b), CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    out_boxes = np.empty((len(b), 4), dtype=np.int64)
    for i, box in enumerate(b):
        crops[i], out_boxes[i] = crop_face(image_rgb, box)
    return crops, out_boxes
