"""A face's metric depth from a depth image registered to the colour camera (no ROS).

Depth images follow REP-118: ``16UC1`` holds millimetres, ``32FC1`` metres, and 0 or NaN
means "no measurement" (both become NaN here). The depth image must be in the colour
image's optical frame (registered, e.g. a RealSense's aligned_depth_to_color); it may have
another size (a binned or resized stream), in which case a colour pixel (u, v) is read at
((u + 0.5) * Wd / Wc - 0.5, (v + 0.5) * Hd / Hc - 0.5), the same field of view.

Why a ratio: one colour image cannot tell a small face near from a large face far. The
landmark head pose (core.landmark_pose) resolves this with a 63 mm eye distance; a face
whose eyes are really ``k`` times that distance apart sits ``k`` times as far along the
same rays, with every other pose value unchanged. So each depth sample taken at a
landmark's pixel, divided by the depth the pose predicts for that landmark, measures the
same factor ``k``; the head's metric position is ``k`` times the pose's position, and the
person's eye distance is ``k`` times 63 mm.

Samples: a 3x3 patch of depth pixels around each of SAMPLE_LANDMARKS (forehead, eye region,
nose bridge, cheeks: surfaces a camera in front of the face sees; no silhouette points,
which would hit the background). Robust estimate:

1. holes (NaN, 0) and values outside [MIN_RANGE_M, MAX_RANGE_M] are dropped;
2. the median ratio and its MAD; samples further than ``GATE_MADS`` scaled MADs (at least
   ``MIN_GATE`` of the median) from it are outliers (the background behind the silhouette,
   hair, glasses, flying pixels at edges); the median of the inliers is the estimate;
3. it is valid with at least ``MIN_SAMPLES`` inliers making at least ``MIN_SHARE`` of the
   samples.

Confidence in (0, 1] for a valid measurement: the inlier share divided by
``1 + spread / SPREAD_SCALE``, where the spread is the inliers' scaled MAD relative to the
estimate (a spread of 5 % halves it: a face seen as a flat surface, or noisy depth).
"""
import dataclasses
from typing import Optional

import numpy as np

from faceverse_ros.core.landmark_pose import FIT_INDICES, SELLION, TEMPLATE_MM

DEPTH_DTYPES = {"16UC1": np.uint16, "32FC1": np.float32}
ENCODINGS = tuple(DEPTH_DTYPES)
MIN_RANGE_M = 0.1           # nearer values are noise of every depth camera
MAX_RANGE_M = 20.0          # farther ones are no face measurement
PATCH_RADIUS = 1            # 3x3 depth pixels per landmark
GATE_MADS = 3.0
MIN_GATE = 0.01             # the gate never narrows below 1 % of the estimate
MIN_SAMPLES = 8
MIN_SHARE = 0.2
SPREAD_SCALE = 0.05

# forehead, eye region (inner corners, below the eyes), nose bridge, cheeks (template rows)
SAMPLE_LANDMARKS = (151, 9, 10, 338, 109, 297, 67,          # forehead
                    168, 6, 197, 362, 133, 446, 226,        # nose bridge and eye region
                    346, 117, 345, 116, 352, 123, 280, 50,  # cheeks
                    358, 129, 195)                           # beside and along the nose
_ROW = {idx: k for k, idx in enumerate(FIT_INDICES)}
_SAMPLE_TEMPLATE_M = (TEMPLATE_MM[[_ROW[i] for i in SAMPLE_LANDMARKS]]
                      - TEMPLATE_MM[_ROW[SELLION]]) / 1000.0


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


def predicted_depths(position, rotation):
    """Depth (z, m) of each SAMPLE_LANDMARKS point of a head pose's template: the head
    origin (sellion) at ``position``, face axes ``rotation`` in the optical frame."""
    pts = np.asarray(position, dtype=np.float64) + _SAMPLE_TEMPLATE_M @ np.asarray(
        rotation, dtype=np.float64).T
    return pts[:, 2]


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


@dataclasses.dataclass
class DepthMeasurement:
    """What the depth image says about one face (see module doc)."""
    scale: float            # measured / estimated depth; NaN when not valid
    valid: bool
    samples: int            # depth pixels read
    inliers: int            # of them, kept by the gates
    spread: float           # inliers' scaled MAD / scale (NaN when not valid)
    confidence: float       # 0 when not valid
    problem: Optional[str] = None   # why not valid

    @property
    def valid_share(self):
        return self.inliers / self.samples if self.samples else 0.0


def _invalid(samples, inliers, problem):
    return DepthMeasurement(float("nan"), False, samples, inliers, float("nan"), 0.0, problem)


def measure_face(depth_m, colour_size, landmarks, position, rotation,
                 patch_radius=PATCH_RADIUS) -> DepthMeasurement:
    """The depth ratio of one face (module doc).

    depth_m: a DepthImage, or (Hd, Wd) float metres with NaN where nothing was measured.
    colour_size: (width, height) of the colour image the landmarks are in.
    landmarks: (478, 2 or 3) pixels of the colour image.
    position, rotation: the face's head pose from the colour image alone (metres, optical
        frame), whose predicted depths the samples are divided by.
    """
    hd, wd = depth_m.shape
    read = depth_m.metres if isinstance(depth_m, DepthImage) else \
        (lambda r, c: np.asarray(depth_m)[r, c])
    lm = np.asarray(landmarks, dtype=np.float64)[list(SAMPLE_LANDMARKS), :2]
    pz = predicted_depths(position, rotation)
    centre = depth_pixel(lm, colour_size, (wd, hd))
    offsets = np.arange(-patch_radius, patch_radius + 1)
    du, dv = np.meshgrid(offsets, offsets)
    cols = centre[:, :1] + du.reshape(1, -1)
    rows = centre[:, 1:] + dv.reshape(1, -1)
    inside = (cols >= 0) & (cols < wd) & (rows >= 0) & (rows < hd)
    samples = cols.size
    d = np.full(cols.shape, np.nan, dtype=np.float64)
    d[inside] = read(rows[inside], cols[inside])
    expected = np.broadcast_to(pz[:, None], d.shape)
    ok = np.isfinite(d) & (d >= MIN_RANGE_M) & (d <= MAX_RANGE_M) & (expected > 0)
    ratio = d[ok] / expected[ok]
    if ratio.size < MIN_SAMPLES:
        return _invalid(samples, int(ratio.size),
                        f"{ratio.size} of {samples} depth pixels at the face hold a measurement")
    med = float(np.median(ratio))
    mad = 1.4826 * float(np.median(np.abs(ratio - med)))
    gate = max(GATE_MADS * mad, MIN_GATE * med)
    inl = ratio[np.abs(ratio - med) <= gate]
    if inl.size < MIN_SAMPLES or inl.size < MIN_SHARE * samples:
        return _invalid(samples, int(inl.size),
                        f"only {inl.size} of {samples} depth pixels at the face agree")
    scale = float(np.median(inl))
    spread = 1.4826 * float(np.median(np.abs(inl - scale))) / scale
    share = inl.size / samples
    confidence = share / (1.0 + spread / SPREAD_SCALE)
    return DepthMeasurement(scale, True, samples, int(inl.size), spread, float(confidence))
