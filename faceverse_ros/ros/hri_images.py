"""Face images and regions for the ROS4HRI topics (numpy / OpenCV only, no ROS).

- ``face_roi``: the region of a face in the source image, normalised to [0, 1]:
  the face's squared box grown to cover every landmark of the frame (the box
  is smoothed over time and may lag a moving head by a few pixels; REP-155's
  roi must contain the face), then clipped to the image.
- ``face_crop``: REP-155 ``/cropped``: the squared box (unclipped) scaled to fit
  ``width`` x ``height``, centred, parts outside the source image zero.
- ``face_aligned``: REP-155 ``/aligned``: the same region, same size, rotated
  about the box centre so that the line from the right eye to the left eye is
  horizontal (right eye on the image's left), zero-padded.
"""
import math

import cv2
import numpy as np

from faceverse_ros.landmarks.indices import LEFT_IRIS, RIGHT_IRIS


def eye_centres(landmarks):
    """(right eye, left eye) iris centres in pixels from (478, >=2) landmarks."""
    pts = np.asarray(landmarks, dtype=np.float64)
    return pts[RIGHT_IRIS, :2].copy(), pts[LEFT_IRIS, :2].copy()


def face_roi(box, landmarks, image_size):
    """(xmin, ymin, xmax, ymax) in [0, 1] (see the module docstring)."""
    width, height = image_size
    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, y0 = min(x0, float(pts[:, 0].min())), min(y0, float(pts[:, 1].min()))
    x1, y1 = max(x1, float(pts[:, 0].max())), max(y1, float(pts[:, 1].max()))
    return (min(max(x0 / width, 0.0), 1.0), min(max(y0 / height, 0.0), 1.0),
            min(max(x1 / width, 0.0), 1.0), min(max(y1 / height, 0.0), 1.0))


def _square(box):
    x0, y0, x1, y1 = (float(v) for v in box)
    return np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0]), max(x1 - x0, y1 - y0, 1.0)


def crop_matrix(box, out_size, angle_rad=0.0):
    """2x3 affine matrix: source pixels -> output pixels.

    The square of side max(box sides) around the box centre, rotated by
    -angle_rad (so a line at angle_rad in the source becomes horizontal),
    scaled to fit out_size = (width, height) and centred in it.
    """
    width, height = out_size
    centre, side = _square(box)
    scale = min(width, height) / side
    c, s = math.cos(angle_rad) * scale, math.sin(angle_rad) * scale
    # out = R(-angle) * scale * (p - centre) + out_centre, with y down
    rot = np.array([[c, s], [-s, c]])
    out_centre = np.array([width / 2.0, height / 2.0])
    return np.hstack([rot, (out_centre - rot @ centre)[:, None]])


def _warp(rgb, matrix, out_size):
    # boxes and landmarks use pixel-edge coordinates (pixel i spans [i, i+1], MediaPipe's
    # x_norm * width); OpenCV samples at pixel centres: shift by half a pixel on both sides
    m = matrix.copy()
    m[:, 2] += m[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return cv2.warpAffine(rgb, m, (int(out_size[0]), int(out_size[1])),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def face_crop(rgb, box, out_size):
    """REP-155 /cropped image (uint8 RGB, out_size = (width, height))."""
    return _warp(rgb, crop_matrix(box, out_size), out_size)


def eye_angle(right_eye, left_eye):
    """Angle (radians, image axes, y down) of the line from the right eye to the left eye."""
    d = np.asarray(left_eye, dtype=np.float64) - np.asarray(right_eye, dtype=np.float64)
    return math.atan2(d[1], d[0])


def face_aligned(rgb, box, right_eye, left_eye, out_size):
    """REP-155 /aligned image: eyes level (uint8 RGB, out_size = (width, height))."""
    return _warp(rgb, crop_matrix(box, out_size, eye_angle(right_eye, left_eye)), out_size)
