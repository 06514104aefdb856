"""Depth images registered to the colour camera, as numbers (no ROS).

Depth images follow REP-118: ``16UC1`` holds millimetres, ``32FC1`` metres, and 0 or NaN
means "no measurement" (both become NaN here). A depth image used with a colour image must
be in its optical frame (registered, e.g. a RealSense's aligned_depth_to_color); it may
have another size (a binned or resized stream), in which case a colour pixel (u, v) is read
at ((u + 0.5) * Wd / Wc - 0.5, (v + 0.5) * Hd / Hc - 0.5), the same field of view.
:class:`DepthImage` keeps the pixels as they came and converts only those read.
A face's depth from such an image: landmarks/landmark_depth.py.
"""
import numpy as np

DEPTH_DTYPES = {"16UC1": np.uint16, "32FC1": np.float32}
ENCODINGS = tuple(DEPTH_DTYPES)


class DepthDecodeError(ValueError):
    """A depth image that cannot be read as metres."""


def depth_to_metres(pixels, encoding):
    """REP-118 depth pixels (any shape) -> float32 metres, NaN where nothing was measured.

    ``16UC1``: unsigned millimetres, 0 = none. ``32FC1``: metres, NaN, +-inf or 0 = none
    (negative values are not depths either). Raises DepthDecodeError for other encodings.
    """
    arr = np.asarray(pixels)
    if encoding == "16UC1":
        out = arr.astype(np.float32) * np.float32(0.001)
        out[arr == 0] = np.nan
        return out
    if encoding == "32FC1":
        out = arr.astype(np.float32, copy=True)
        out[~(np.isfinite(out) & (out > 0))] = np.nan
        return out
    raise DepthDecodeError(f"depth encoding '{encoding}' is not a REP-118 depth image (use "
                           f"{' or '.join(ENCODINGS)})")


def depth_pixel(points_px, colour_size, depth_size):
    """Colour-image pixel coordinates (N, 2) -> the nearest depth-image pixel (N, 2) int
    (columns, rows) of the same optical frame at another size (module doc)."""
    (wc, hc), (wd, hd) = colour_size, depth_size
    pts = np.asarray(points_px, dtype=np.float64)
    u = np.rint((pts[:, 0] + 0.5) * (wd / wc) - 0.5)
    v = np.rint((pts[:, 1] + 0.5) * (hd / hc) - 0.5)
    return np.stack([u, v], axis=1).astype(np.int64)


class DepthImage:
    """A depth image as it came (REP-118 pixels and their encoding): only the pixels a
    measurement reads are converted to metres. ``frame_id`` and ``stamp`` (seconds) say
    what it was taken in and when."""

    def __init__(self, pixels, encoding, frame_id="", stamp=float("nan")):
        arr = np.asarray(pixels)
        if arr.ndim != 2 or 0 in arr.shape:
            raise DepthDecodeError(f"a depth image has one channel (H, W), got shape {arr.shape}")
        if encoding not in ENCODINGS:
            depth_to_metres(arr[:0, :0], encoding)   # raises with the reason
        want = DEPTH_DTYPES[encoding]
        if arr.dtype != want:
            raise DepthDecodeError(f"{encoding} pixels must be {np.dtype(want).name}, got {arr.dtype}")
        self.pixels, self.encoding = arr, encoding
        self.frame_id, self.stamp = frame_id, float(stamp)

    @property
    def shape(self):
        return self.pixels.shape

    @property
    def size(self):
        """(width, height)."""
        return self.pixels.shape[1], self.pixels.shape[0]

    def metres(self, rows=None, cols=None):
        """The whole image in metres, or the pixels at (rows, cols)."""
        raw = self.pixels if rows is None else self.pixels[rows, cols]
        return depth_to_metres(raw, self.encoding)

    def has_measurement(self):
        """True when any pixel holds a depth (an all-zero or all-NaN image has none)."""
        if self.encoding == "16UC1":
            return bool(self.pixels.any())
        return bool(np.any(np.isfinite(self.pixels) & (self.pixels > 0)))
