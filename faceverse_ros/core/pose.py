"""The one pose record: head and gaze pose of one face in the camera optical frame.

Both head-pose estimators return it: :func:`faceverse_ros.core.headpose.head_pose`
(from FaceVerse coefficients, one per face of the batch) and
:func:`faceverse_ros.landmarks.landmark_pose.estimate_head_pose` (from the 478
MediaPipe landmarks, landmark-only mode).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass
class FacePose:
    """Metres and unit quaternions (x, y, z, w) in the optical frame (REP-103).

    position: (3,) the sellion (between the eyes).
    rotation: (3, 3) columns = REP-155 face axes (x out of the face, y the
        person's left, z toward the scalp).
    quaternion: (4,) of ``rotation``.
    gaze_direction: (3,) unit vector.
    gaze_rotation / gaze_quaternion: the gaze frame (z along the gaze, x the
        person's right, y down).
    model_rotation (3, 3), model_translation (3,): FaceVerse poses only:
        unposed model vertices v (model units) map to the optical frame as
        ``model_rotation @ (0.1 v) + model_translation``.
    rms_px: landmark poses only: RMS residual of the template fit (pixels).
    """

    position: np.ndarray
    rotation: np.ndarray
    quaternion: np.ndarray
    gaze_direction: np.ndarray
    gaze_rotation: np.ndarray
    gaze_quaternion: np.ndarray
    model_rotation: Optional[np.ndarray] = None
    model_translation: Optional[np.ndarray] = None
    rms_px: Optional[float] = None
