"""The 70 ROS4HRI facial landmarks (dlib / OpenPose order) from MediaPipe's 478.

hri_msgs/FacialLandmarks holds 70 points: the 68 points of the dlib / iBUG
300-W annotation (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67)
and the two pupils (68 right, 69 left). "Right" and "left" are the person's
own sides, as in MediaPipe's naming: the right eye appears on the image's
left for a face looking at the camera.

MediaPipe's Face Mesh has no such annotation: its 468 mesh vertices (plus 10
iris points) are a dense surface. Each of the 70 points below is the ONE mesh
vertex chosen to sit where the 300-W definition puts the point; no averaging,
so every published point is a real MediaPipe landmark. The rules used:

- jaw 0-16: vertices of the face-oval ring, from the right side at the
  height of the eye corners (0) down to the chin (8, the menton) and up the
  left side (16); mirror vertices on the two sides;
- brows 17-26: the upper edge of each brow, outer end to inner end (right
  brow), inner end to outer end (left brow), as in 300-W;
- nose 27-30: the midline from the sellion (27, between the eyes) to the
  tip (30); nostrils 31-35: the base of the nose, right ala, subnasale (33),
  left ala;
- eyes 36-47: the eye corners and the lid points at about one and two thirds
  of the eye width, clockwise in the image from the right eye's outer corner
  (36) and from the left eye's inner corner (42);
- mouth 48-59 outer lip, 60-67 inner lip: corners, Cupid's bow peaks (50,
  52), midline points (51, 57, 62, 66) and the points between;
- pupils 68, 69: the iris centres MediaPipe refines (468, 473).

The tests check the table's structure on a real detected face (every mirror
pair mirrored about the face midline, jaw ordered, eyes inside their corners,
the pupils inside the eye outlines). The table itself, (hri_msgs constant name,
MediaPipe index) in hri_msgs order 0..69, is faceverse_ros.landmarks.indices.HRI_70.
MediaPipe gives no per-landmark confidence; FacialLandmarks' ``c`` carries the
face's confidence (see faceverse_ros/ros/hri.py).
"""
import numpy as np

from faceverse_ros.landmarks.indices import HRI_70 as TABLE

NUM_POINTS = 70
MEDIAPIPE_INDEX = np.array([index for _, index in TABLE], dtype=np.int64)
NAMES = tuple(name for name, _ in TABLE)
# The pair (right side, left side) of every point that has a mirror image; the rest
# (8, 27-30, 33, 51, 57, 62, 66) lie on the midline.
MIRROR_PAIRS = tuple((i, 16 - i) for i in range(8)) + \
    tuple((17 + i, 26 - i) for i in range(5)) + ((31, 35), (32, 34)) + \
    ((36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)) + \
    ((48, 54), (49, 53), (50, 52), (59, 55), (58, 56)) + \
    ((60, 64), (61, 63), (67, 65)) + ((68, 69),)
MIDLINE = (8, 27, 28, 29, 30, 33, 51, 57, 62, 66)


def to_70(landmarks):
    """(..., 478, D) MediaPipe landmarks -> (..., 70, D), in hri_msgs order."""
    pts = np.asarray(landmarks)
    if pts.ndim < 2 or pts.shape[-2] != 478:
        raise ValueError(f"landmarks must have shape (..., 478, D), got {pts.shape}")
    return pts[..., MEDIAPIPE_INDEX, :]

