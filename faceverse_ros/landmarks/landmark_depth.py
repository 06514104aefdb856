"""A face's metric depth from a depth image registered to the colour camera (no ROS).

The depth image (core.depth.DepthImage, REP-118) is read at the face's own landmark pixels.

Why a ratio: one colour image cannot tell a small face near from a large face far. The
landmark head pose (landmarks.landmark_pose) resolves this with a 63 mm eye distance; a face
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

from faceverse_ros.core.depth import DepthImage, depth_pixel
from faceverse_ros.landmarks.landmark_pose import FIT_INDICES, SELLION, TEMPLATE_MM

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



def predicted_depths(position, rotation):
    """Depth (z, m) of each SAMPLE_LANDMARKS point of a head pose's template: the head
    origin (sellion) at ``position``, face axes ``rotation`` in the optical frame."""
    pts = np.asarray(position, dtype=np.float64) + _SAMPLE_TEMPLATE_M @ np.asarray(
        rotation, dtype=np.float64).T
    return pts[:, 2]


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
