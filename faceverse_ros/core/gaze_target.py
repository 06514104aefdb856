"""What each face looks at: the camera (the robot), another tracked face, or nothing.

Pure geometry on the poses of the faces of one image (all in that image's optical
frame, metres): each face has a gaze ray from its head position (the sellion)
along its gaze direction, and a gaze confidence in [0, 1] (how much of the gaze
came from the eyes; 0 when it fell back to the head direction).

Candidates of face i:

- the camera, at the optical frame's origin;
- every other face j, at its head position.

A candidate is looked at when the angle between i's gaze ray and the direction
from i's head to it is within a cone of half-angle ``CAMERA_CONE_DEG`` (camera)
or ``FACE_CONE_DEG`` (faces). Among the candidates inside their cones, the one
with the smallest angle relative to its cone wins. The cones are wider than the
few degrees within which people judge a gaze to be on them, because they also
have to hold the gaze estimate's own error (median about 3 degrees on the shared
material of people looking into the lens, doc/gaze.md); a face's cone is wider
than the camera's since a head is a larger target than a lens and its position
carries the estimate of that face's pose too.

The confidence of a target is ``gaze_confidence' * (1 - (angle / cone)**2)``:
1 on the axis, falling to 0 at the cone's edge, where ``gaze_confidence'`` is the
face's gaze confidence, floored at ``HEAD_ONLY_WEIGHT`` (a gaze that fell back to
the head direction still says something about where the person faces).

Two faces whose targets are each other are in mutual gaze.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

#: half-angle (degrees) of the cone around the gaze ray within which the camera is looked at
CAMERA_CONE_DEG = 12.0
#: half-angle (degrees) of the cone within which another face's head position is looked at
FACE_CONE_DEG = 15.0
#: the target confidence of a face whose gaze is the head direction only (gaze confidence 0)
HEAD_ONLY_WEIGHT = 0.3

CAMERA = "camera"


@dataclass(frozen=True)
class GazeInput:
    """One face of one image: a key (its id), head position (m) and unit gaze direction
    in the optical frame, and its gaze confidence in [0, 1]."""
    key: Hashable
    position: npt.ArrayLike
    direction: npt.ArrayLike
    confidence: float = 1.0


@dataclass(frozen=True)
class GazeTarget:
    """What one face looks at: ``target`` is CAMERA, another face's key, or None;
    ``confidence`` in [0, 1] (0 with no target); ``mutual``: the target looks back."""
    target: Optional[Hashable]
    confidence: float
    mutual: bool = False
    angle_deg: float = float("nan")   # angle between the gaze and the target (nan: none)


def _unit(v):
    v = np.asarray(v, dtype=np.float64).reshape(3)
    n = float(np.linalg.norm(v))
    if not (n > 0 and math.isfinite(n)):
        raise ValueError(f"a gaze direction / offset must be finite and non-zero, got {v.tolist()}")
    return v / n


def angle_deg(direction, origin, point) -> float:
    """Angle (degrees) between a ray from ``origin`` along ``direction`` and ``point``."""
    to_point = np.asarray(point, dtype=np.float64) - np.asarray(origin, dtype=np.float64)
    cos = float(np.dot(_unit(direction), _unit(to_point)))
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


def gaze_targets(faces: Sequence[GazeInput], camera_cone_deg: float = CAMERA_CONE_DEG,
                 face_cone_deg: float = FACE_CONE_DEG) -> List[GazeTarget]:
    """The GazeTarget of each face (same order), mutual gaze marked."""
    if not (0 < camera_cone_deg < 90 and 0 < face_cone_deg < 90):
        raise ValueError(f"cone half-angles must be in (0, 90) degrees, got {camera_cone_deg}, "
                         f"{face_cone_deg}")
    out = []
    for i, face in enumerate(faces):
        weight = min(1.0, max(HEAD_ONLY_WEIGHT, float(face.confidence)))
        candidates: List[Tuple[Hashable, npt.ArrayLike, float]] = [
            (CAMERA, np.zeros(3), camera_cone_deg)]
        candidates += [(other.key, other.position, face_cone_deg)
                       for j, other in enumerate(faces) if j != i]
        best = None
        for key, where, cone in candidates:
            if np.linalg.norm(np.asarray(where, float) - np.asarray(face.position, float)) == 0:
                continue  # two faces at one point: no direction between them
            a = angle_deg(face.direction, face.position, where)
            if a <= cone and (best is None or a / cone < best[1] / best[2]):
                best = (key, a, cone)
        if best is None:
            out.append(GazeTarget(None, 0.0))
        else:
            key, a, cone = best
            out.append(GazeTarget(key, weight * (1.0 - (a / cone) ** 2), angle_deg=a))
    keys = [f.key for f in faces]
    for i, t in enumerate(out):
        if t.target is None or t.target == CAMERA or t.target not in keys:
            continue
        j = keys.index(t.target)
        if out[j].target == faces[i].key:
            out[i] = GazeTarget(t.target, t.confidence, True, t.angle_deg)
    return out
