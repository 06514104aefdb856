"""Camera intrinsics: the one pinhole type and its one documented default (no ROS).

The default when nothing better is known (no camera_info, no camera.*
parameters): fx = fy = image width (about 53 degrees of horizontal field of
view, typical of webcams) and the principal point at the image centre
((W - 1) / 2, (H - 1) / 2: pixel centres at integer coordinates, as in the
crop arithmetic). Metric head positions computed with it are only as right as
that guess.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from typing import Iterable, Tuple

import numpy as np


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics in pixels (fx, fy, cx, cy); iterable as that 4-tuple."""

    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self):
        vals = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(float(v)) for v in vals) or self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"intrinsics need finite values and fx, fy > 0, got {vals}")

    def __iter__(self):
        return iter((self.fx, self.fy, self.cx, self.cy))

    @classmethod
    def default(cls, width: int, height: int) -> "CameraIntrinsics":
        """The documented default (module doc): fx = fy = width, centred principal point."""
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        return cls(float(width), float(width), (width - 1) / 2.0, (height - 1) / 2.0)

    @classmethod
    def from_settings(cls, width: int, height: int, fx: float = 0.0, fy: float = 0.0,
                      cx: float = -1.0, cy: float = -1.0) -> "CameraIntrinsics":
        """The default with some values given (the node's camera.* parameters):
        fx <= 0 -> image width, fy <= 0 -> fx, cx / cy < 0 -> the image centre."""
        base = cls.default(width, height)
        fx = float(fx) if fx > 0 else base.fx
        return cls(fx, float(fy) if fy > 0 else fx, float(cx) if cx >= 0 else base.cx,
                   float(cy) if cy >= 0 else base.cy)

    @classmethod
    def from_matrix(cls, k: np.ndarray) -> "CameraIntrinsics":
        """From a 3x3 camera matrix or its 9 row-major values (sensor_msgs/CameraInfo ``k``)."""
        m = np.asarray(k, dtype=np.float64).reshape(3, 3)
        return cls(m[0, 0], m[1, 1], m[0, 2], m[1, 2])

    @classmethod
    def coerce(cls, value, width: int, height: int) -> "CameraIntrinsics":
        """None -> the default for this image size; (fx, fy, cx, cy) -> intrinsics."""
        if value is None:
            return cls.default(width, height)
        if isinstance(value, cls):
            return value
        try:
            fx, fy, cx, cy = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(f"intrinsics must be (fx, fy, cx, cy) in pixels, got {value!r}") from None
        return cls(fx, fy, cx, cy)

    def scaled(self, from_size: Tuple[int, int], to_size: Tuple[int, int]) -> "CameraIntrinsics":
        """These intrinsics of a (width, height) image for the same camera at another size
        (a binned or resized stream)."""
        sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
        return CameraIntrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy)


def scaled_intrinsics(k: Iterable[float], info_size: Tuple[int, int],
                      image_size: Tuple[int, int]) -> Tuple[float, float, float, float]:
    """(fx, fy, cx, cy) from the 9 values of K, scaled from info_size to image_size (w, h).

    info_size (0, 0) means "the image's size" (no scaling). Overflow gives inf, never raises.
    """
    values = [float(v) for v in k]
    if len(values) != 9:
        raise ValueError(f"K has {len(values)} values, expected 9")
    fx, fy, cx, cy = values[0], values[4], values[2], values[5]
    (iw, ih), (w, h) = info_size, image_size
    if iw and ih and (iw, ih) != (w, h):
        sx, sy = w / iw, h / ih
        fx, cx, fy, cy = fx * sx, cx * sx, fy * sy, cy * sy  # float overflow gives inf
    return fx, fy, cx, cy
