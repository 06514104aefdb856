"""One face's metric scale from depth over its track (landmarks.landmark_depth with a pose).

Each frame with a registered depth image gives a measurement
(landmarks.landmark_depth.measure_face): the factor ``k`` between the depth seen at the
face's landmarks and the depth the landmark pose predicts (63 mm eye distance). A valid,
plausible measurement sets the frame's position to ``k`` times the colour-only position; the
track keeps its recent factors and, on frames without a usable depth (none matched, holes,
out of range, a rejected value), uses their median: that person's own scale instead of the
63 mm assumption. A track with no factor yet uses 1 (the monocular estimate).

The factor is relative to whichever pose is published: the landmark pose itself
(landmark-only mode), or the FaceVerse pose (its position times
``k * z_landmark / z_faceverse``: the measured depth over the FaceVerse depth). The kept
``k`` is relative to the landmark pose in both modes.

Rejections (the frame falls back to the kept factor), each a note with a key:

- ``implausible``: ``k`` outside PLAUSIBLE_SCALE = [0.6, 1.5], i.e. the depth says the
  face is at under 0.6 or over 1.5 times the colour estimate (an eye distance outside about
  38-95 mm; e.g. depth 1 m for a face the colour image puts at 5 m). Real eye distances of
  adults lie within about 0.8-1.2 of 63 mm, so this bound leaves room for the colour
  estimate's own error and for children while refusing another object's depth;
- ``jump``: once the track holds MIN_KEPT factors, a factor more than MAX_JUMP (20 %) from
  their median (a hand or an object in front of the face).
"""
import collections
import dataclasses
import math
from typing import Optional

import numpy as np

from faceverse_ros.landmarks.landmark_depth import DepthMeasurement, measure_face

PLAUSIBLE_SCALE = (0.6, 1.5)
KEPT = 60        # factors a track keeps
MIN_KEPT = 5
MAX_JUMP = 0.2


@dataclasses.dataclass(frozen=True)
class DepthFusion:
    """What depth did to one face in one frame."""
    factor: float               # applied to the colour-only position
    measured: bool              # this frame's position is depth-measured
    confidence: float           # of that measurement (0 when not measured)
    kept: bool = False          # the factor is the track's kept scale (no measurement now)
    measurement: Optional[DepthMeasurement] = None
    note: Optional[tuple] = None    # (key, text) of a rejection


NO_DEPTH = DepthFusion(1.0, False, 0.0)


class TrackDepth:
    """One face track's depth factors (see module doc)."""

    def __init__(self):
        self._scales = collections.deque(maxlen=KEPT)   # measured / landmark-pose depth

    @property
    def eye_distance_m(self):
        """The person's eye distance from depth (metres), None before any measurement."""
        if not self._scales:
            return None
        from faceverse_ros.landmarks.landmark_pose import INTERPUPILLARY_DISTANCE_M
        return float(np.median(self._scales)) * INTERPUPILLARY_DISTANCE_M

    def kept_scale(self):
        """The median of the track's measured scales (relative to the landmark pose), or None."""
        return float(np.median(self._scales)) if self._scales else None

    def kept_factor(self, to_published=1.0):
        kept = self.kept_scale()
        return None if kept is None else kept * float(to_published)

    def _fallback(self, to_published, measurement=None, note=None):
        kept = self.kept_factor(to_published)
        return DepthFusion(1.0 if kept is None else kept, False, 0.0, kept is not None,
                           measurement, note)

    def fuse(self, depth, colour_size, landmarks, landmark_pose, to_published=1.0) -> DepthFusion:
        """The factor for this frame. depth: a core.depth.DepthImage matched to the frame, or
        None. landmark_pose: the frame's colour-only landmark FacePose (the measurement's
        reference); to_published: z of that pose over z of the published pose (the kept
        scale is relative to the landmark pose, so a published pose whose own scale changes,
        as FaceVerse's with a new keyframe identity, still gets the person's distance)."""
        if depth is None:
            return self._fallback(to_published)
        m = measure_face(depth, colour_size, landmarks, landmark_pose.position,
                         landmark_pose.rotation)
        if not m.valid:
            return self._fallback(to_published, m,
                                  ("no_face_depth", f"no depth at the face: {m.problem}"))
        lo, hi = PLAUSIBLE_SCALE
        if not lo <= m.scale <= hi:
            z = float(landmark_pose.position[2])
            return self._fallback(to_published, m, ("implausible", (
                f"depth puts the face at {m.scale * z:.2f} m, the colour image at {z:.2f} m "
                f"(ratio {m.scale:.2f} outside {lo}-{hi}): depth ignored for it")))
        kept = self.kept_scale()
        if kept is not None and len(self._scales) >= MIN_KEPT and \
                abs(m.scale / kept - 1.0) > MAX_JUMP:
            return self._fallback(to_published, m, ("jump", (
                f"depth differs by {100 * (m.scale / kept - 1):+.0f} % from this face's scale "
                f"(more than {100 * MAX_JUMP:.0f} %): something in front of it? depth ignored")))
        factor = m.scale * float(to_published)
        if not math.isfinite(factor) or factor <= 0:
            return self._fallback(to_published, m)
        self._scales.append(m.scale)
        return DepthFusion(factor, True, m.confidence, False, m)


class OnceNotes:
    """Each note key said once (until :meth:`rearm`): bad depth gets one warning each."""

    def __init__(self, say):
        self.say = say
        self._said = set()

    def __call__(self, key, text):
        if key not in self._said:
            self._said.add(key)
            self.say(text)
            return True
        return False

    def rearm(self, key):
        self._said.discard(key)
