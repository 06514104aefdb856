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
the pupils inside the eye outlines), and a picture of the points drawn on a
face (``python -m faceverse_ros.ros.hri_landmarks IMAGE OUT.png``) shows them.
MediaPipe gives no per-landmark confidence; FacialLandmarks' ``c`` carries the
face's confidence (see faceverse_ros/ros/hri.py).
"""
import numpy as np

# (REP / hri_msgs constant name, MediaPipe index), in hri_msgs order 0..69.
TABLE = (
    ("RIGHT_EAR", 127),
    ("RIGHT_PROFILE_1", 234),
    ("RIGHT_PROFILE_2", 93),
    ("RIGHT_PROFILE_3", 132),
    ("RIGHT_PROFILE_4", 58),
    ("RIGHT_PROFILE_5", 172),
    ("RIGHT_PROFILE_6", 150),
    ("RIGHT_PROFILE_7", 176),
    ("MENTON", 152),
    ("LEFT_PROFILE_7", 400),
    ("LEFT_PROFILE_6", 379),
    ("LEFT_PROFILE_5", 397),
    ("LEFT_PROFILE_4", 288),
    ("LEFT_PROFILE_3", 361),
    ("LEFT_PROFILE_2", 323),
    ("LEFT_PROFILE_1", 454),
    ("LEFT_EAR", 356),
    ("RIGHT_EYEBROW_OUTSIDE", 70),
    ("RIGHT_EYEBROW_1", 63),
    ("RIGHT_EYEBROW_2", 105),
    ("RIGHT_EYEBROW_3", 66),
    ("RIGHT_EYEBROW_INSIDE", 107),
    ("LEFT_EYEBROW_INSIDE", 336),
    ("LEFT_EYEBROW_3", 296),
    ("LEFT_EYEBROW_2", 334),
    ("LEFT_EYEBROW_1", 293),
    ("LEFT_EYEBROW_OUTSIDE", 300),
    ("SELLION", 168),
    ("NOSE_1", 197),
    ("NOSE_2", 5),
    ("NOSE", 1),
    ("NOSTRIL_1", 98),
    ("NOSTRIL_2", 97),
    ("NOSTRIL_3", 2),
    ("NOSTRIL_4", 326),
    ("NOSTRIL_5", 327),
    ("RIGHT_EYE_OUTSIDE", 33),
    ("RIGHT_EYE_TOP_1", 160),
    ("RIGHT_EYE_TOP_2", 158),
    ("RIGHT_EYE_INSIDE", 133),
    ("RIGHT_EYE_BOTTOM_2", 153),
    ("RIGHT_EYE_BOTTOM_1", 144),
    ("LEFT_EYE_INSIDE", 362),
    ("LEFT_EYE_TOP_2", 385),
    ("LEFT_EYE_TOP_1", 387),
    ("LEFT_EYE_OUTSIDE", 263),
    ("LEFT_EYE_BOTTOM_1", 373),
    ("LEFT_EYE_BOTTOM_2", 380),
    ("MOUTH_OUTER_RIGHT", 61),
    ("MOUTH_OUTER_TOP_1", 40),
    ("MOUTH_OUTER_TOP_2", 37),
    ("MOUTH_OUTER_TOP_3", 0),
    ("MOUTH_OUTER_TOP_4", 267),
    ("MOUTH_OUTER_TOP_5", 270),
    ("MOUTH_OUTER_LEFT", 291),
    ("MOUTH_OUTER_BOTTOM_5", 321),
    ("MOUTH_OUTER_BOTTOM_4", 314),
    ("MOUTH_OUTER_BOTTOM_3", 17),
    ("MOUTH_OUTER_BOTTOM_2", 84),
    ("MOUTH_OUTER_BOTTOM_1", 91),
    ("MOUTH_INNER_RIGHT", 78),
    ("MOUTH_INNER_TOP_1", 81),
    ("MOUTH_INNER_TOP_2", 13),
    ("MOUTH_INNER_TOP_3", 311),
    ("MOUTH_INNER_LEFT", 308),
    ("MOUTH_INNER_BOTTOM_3", 402),
    ("MOUTH_INNER_BOTTOM_2", 14),
    ("MOUTH_INNER_BOTTOM_1", 178),
    ("RIGHT_PUPIL", 468),
    ("LEFT_PUPIL", 473),
)
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


def _draw(image_path, out_path):
    """Draw the 70 points with their numbers on the first face of an image."""
    import cv2

    from faceverse_ros.tracking.detector import FaceDetector

    bgr = cv2.imread(image_path)
    if bgr is None:
        raise SystemExit(f"cannot read {image_path}")
    with FaceDetector(mode="image") as det:
        faces = det.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if not faces:
        raise SystemExit(f"no face in {image_path}")
    pts = to_70(faces[0].landmarks)[:, :2]
    x0, y0 = np.floor(pts.min(0) - 20).astype(int).clip(0)
    x1, y1 = np.ceil(pts.max(0) + 20).astype(int)
    crop = bgr[y0:y1, x0:x1]
    scale = 900.0 / max(crop.shape[:2])
    crop = cv2.resize(crop, None, fx=scale, fy=scale)
    for i, (x, y) in enumerate((pts - [x0, y0]) * scale):
        cv2.circle(crop, (int(x), int(y)), 3, (0, 255, 0), -1)
        cv2.putText(crop, str(i), (int(x) + 3, int(y) - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 255), 1)
    cv2.imwrite(out_path, crop)


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m faceverse_ros.ros.hri_landmarks IMAGE OUT.png")
    _draw(sys.argv[1], sys.argv[2])
