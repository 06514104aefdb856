"""Head pose and gaze from the 478 MediaPipe landmarks alone (no FaceVerse model).

Output frames follow REP-103 / REP-155 (ROS4HRI):

- camera optical frame: x right, y down, z forward (the image's frame_id);
- head frame ``face_<id>``: origin at the sellion (landmark 168, between the
  eyes on the nose bridge), x out of the face toward the viewer for a frontal
  face, y toward the person's left, z toward the scalp;
- gaze frame ``gaze_<id>``: same origin, z along the gaze, x to the person's
  right, y down (an optical-style frame of the person's view); when the gaze
  is not estimated its z equals the head frame's x.

Method (weak perspective + ray correction):

1. A rigid 3-D template of 46 landmarks of the upper face and nose (no brows,
   lips or jaw, which move when people talk) is stored below in millimetres
   in the head frame. It was derived by :func:`derive_template` from our own
   MediaPipe detections of the test data (the three photos of
   ``../shared/testdata/faces`` and the mean of the 316 frames of
   ``talking_256.mp4``, weighted equally): generalised Procrustes alignment,
   mirror symmetrisation with the left/right landmark pairs below, axes from
   the symmetric shape, scale from the eye distance (step 3). It is an
   average of four people, not MediaPipe's canonical model.
2. Head axes of the template: y = the normal of the left/right symmetry plane
   (toward the person's left); z = the direction from the mouth-corner
   midpoint (61, 291) to the eye-centre midpoint, made orthogonal to y (the
   "eyes-mouth face plane" convention of Zhang et al., MPIIGaze, CVPR 2015);
   x = y cross z, out of the face. These eyes-mouth axes are then turned
   about y by ``PITCH_ZERO_DEG`` (x down by 3.8 degrees): the turn that fits
   the template onto MediaPipe's canonical face model (the 468-vertex model of
   ``face_landmarker.task``, the reference of MediaPipe's own facial
   transformation matrix), so the head frame is that model's frame. Pitch 0
   is thus a head held like the canonical face, not an eyes-mouth plane facing
   the camera: the eyes sit deeper in the face than the mouth corners, so that
   plane leans back by a few degrees on a level head, which those axes would
   read as a face tilted up (doc/gaze.md).
3. Scale: the distance between the two eye centres (each the midpoint of its
   eye's corners 33/133 and 362/263) is set to 63 mm, the mean adult
   inter-pupillary distance (Dodgson, "Variation and extrema of human
   interpupillary distance", SPIE 2004). Position errors scale with how far a
   person's eyes are from that mean (about +-6 % for most adults).
4. For a detection, MediaPipe's landmarks in pixels (x, y, and z scaled like x:
   a camera-aligned 3-D shape seen in weak perspective) are fitted to the
   template with a similarity transform (Kabsch/Umeyama, least squares over
   the 46 points): rotation R_w, scale s (pixels per metre).
5. Perspective correction: the crop seen by MediaPipe views the face along
   the ray through it, not along the optical axis; the head rotation in the
   camera frame is ``R = R_ray @ R_w`` with R_ray the smallest rotation
   taking the optical axis (0, 0, 1) to the ray through the sellion.
6. Depth of the template centroid ``Z = fx / s``; the centroid's pixel is
   back-projected at that depth with (fx, fy, cx, cy) and the sellion is
   placed at ``centroid + R @ (sellion - template centroid)``.

Accuracy is what this geometry gives; it has not been validated against
ground-truth head poses here. The FaceVerse coefficients give another pose.
"""
import math
from typing import Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

from faceverse_ros.core.camera import CameraIntrinsics
from faceverse_ros.core.pose import FacePose
from faceverse_ros.core.rotations import (FACE_AXES_IN_MODEL, GAZE_AXES_IN_FACE, quaternion_from_matrix,
                                     rotation_between, rx, ry, rz)
from faceverse_ros.landmarks.indices import (LEFT_EYE_INNER, LEFT_EYE_OUTER, MIDLINE, MIRROR_PAIRS,
                                             MOUTH_CORNERS, NUM_LANDMARKS, RIGHT_EYE_INNER,
                                             RIGHT_EYE_OUTER, SELLION)

INTERPUPILLARY_DISTANCE_M = 0.063
RIGHT_EYE_CORNERS = (RIGHT_EYE_OUTER, RIGHT_EYE_INNER)  # image left for a frontal face
LEFT_EYE_CORNERS = (LEFT_EYE_OUTER, LEFT_EYE_INNER)
# MOUTH_CORNERS define only the template's eyes-mouth axes; PAIRS are (person's left, right)
PAIRS = MIRROR_PAIRS
#: the head frame's pitch zero: the eyes-mouth axes turned about y (x down) by this, degrees;
#: the angle of the similarity fit of the eyes-mouth template onto MediaPipe's canonical face
#: model (test_gaze recomputes it from face_landmarker.task)
PITCH_ZERO_DEG = 3.8
FIT_INDICES = MIDLINE + tuple(i for pair in PAIRS for i in pair)

# Template, millimetres, eyes-mouth axes (x out of the face, y to the person's
# left, z up; step 2 before the PITCH_ZERO_DEG turn), origin at the sellion.
# Printed by derive_template() on the test data (see the module doc) before that
# turn and rounded to 0.1 mm; mirror-symmetric by construction.
_MIDLINE_XZ_MM = (
    (0.0, 0.0),  # 168
    (4.2, -7.9),  # 6
    (9.1, -15.3),  # 197
    (14.5, -22.2),  # 195
    (20.0, -29.6),  # 5
    (22.2, -38.3),  # 4
    (19.8, -44.9),  # 1
    (2.4, 15.9),  # 9
    (0.2, 32.5),  # 151
    (-3.1, 48.0),  # 10
)
_PAIRS_XYZ_MM = (  # the person's left point; the right one has -y
    (-23.9, 45.2, -3.2),  # 263 / 33
    (-18.0, 17.8, -4.9),  # 362 / 133
    (-5.0, 17.8, -48.0),  # 327 / 98
    (-8.6, 21.7, -40.9),  # 358 / 129
    (-81.0, 71.7, -20.9),  # 454 / 234
    (-75.7, 72.2, -6.5),  # 356 / 127
    (-82.0, 70.8, -35.8),  # 323 / 93
    (-37.5, 64.9, -20.3),  # 345 / 116
    (-36.4, 64.5, -33.8),  # 352 / 123
    (-18.8, 49.9, -36.5),  # 280 / 50
    (-24.8, 53.4, -19.9),  # 346 / 117
    (-50.8, 67.1, 20.2),  # 251 / 21
    (-37.5, 60.5, 31.2),  # 284 / 54
    (-23.7, 50.4, 39.8),  # 332 / 103
    (-11.9, 35.2, 45.2),  # 297 / 67
    (-4.9, 19.0, 47.6),  # 338 / 109
    (-27.9, 52.1, -4.8),  # 446 / 226
)


def _build_template():
    rows = [(x, 0.0, z) for x, z in _MIDLINE_XZ_MM]
    for x, y, z in _PAIRS_XYZ_MM:
        rows += [(x, y, z), (x, -y, z)]
    return np.array(rows, dtype=np.float64)


def eyes_mouth_to_head(points):
    """Points or axes (..., 3) in eyes-mouth axes -> the head frame (the PITCH_ZERO_DEG turn)."""
    return np.asarray(points, dtype=np.float64) @ ry(-math.radians(PITCH_ZERO_DEG)).T


# (len(FIT_INDICES), 3) mm in the head frame, rows in FIT_INDICES order
TEMPLATE_MM = eyes_mouth_to_head(_build_template())

# The frontal reference (head axes in the optical frame for a face looking into the
# camera) is FACE_AXES_IN_MODEL, as model axes = optical axes for a frontal face.
# The gaze frame's axes in head coordinates for a gaze along head x are
# GAZE_AXES_IN_FACE: (x, y, z) = (person's right, down, forward) = (-y_h, -z_h, x_h).


def yaw_pitch_roll(rotation: npt.ArrayLike) -> Tuple[float, float, float]:
    """Head yaw, pitch, roll (radians) from the head rotation in the optical frame.

    Relative to the frontal reference ``FACE_AXES_IN_MODEL`` (a face looking into the
    camera; reference axes x toward the camera, y = image right, z = image up):

        FACE_AXES_IN_MODEL.T @ R = Rx(roll) @ Rz(yaw) @ Ry(pitch)

    i.e. pitch (nodding about the ear-to-ear axis) and yaw (turning about the
    head's up axis) first, then roll about the camera's viewing axis. Roll is
    thus the head's tilt as seen in the image: turning the camera (or the
    image) about its optical axis changes roll only, never yaw or pitch.
    Signs: yaw > 0 turns the face toward the person's left (image right);
    pitch > 0 tilts the face down (nose down); roll > 0 tilts the head toward
    the person's right shoulder (counter-clockwise in the displayed image).
    Yaw is in [-pi/2, pi/2]; at exactly +-pi/2 (profile) pitch absorbs roll.
    """
    rel = FACE_AXES_IN_MODEL.T @ np.asarray(rotation, dtype=np.float64)
    yaw = math.asin(max(-1.0, min(1.0, -rel[0, 1])))
    if abs(rel[0, 1]) < 1.0 - 1e-9:
        pitch = math.atan2(rel[0, 2], rel[0, 0])
        roll = math.atan2(rel[2, 1], rel[1, 1])
    else:
        roll = 0.0
        pitch = math.atan2(-rel[2, 0], rel[2, 2])
    return yaw, pitch, roll


def rotation_from_yaw_pitch_roll(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Inverse of :func:`yaw_pitch_roll`: head rotation in the optical frame."""
    return FACE_AXES_IN_MODEL @ rx(roll) @ rz(yaw) @ ry(pitch)


# --------------------------------------------------------------------------
# similarity fit and template derivation
# --------------------------------------------------------------------------
def similarity_fit(source: npt.ArrayLike,
                   target: npt.ArrayLike) -> Tuple[float, np.ndarray, np.ndarray]:
    """Least-squares s, R, t with ``s * R @ source_i + t ~= target_i`` (Umeyama, no reflection).

    source, target: (K, 3). Returns (s, R (3x3), t (3,)).
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - ms, dst - md
    u, sig, vt = np.linalg.svd(b.T @ a)
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt)) or 1.0
    rot = u @ np.diag(d) @ vt
    scale = float((sig * d).sum() / (a ** 2).sum())
    return scale, rot, md - scale * rot @ ms


def derive_template(landmark_sets: Sequence[np.ndarray], weights: Optional[npt.ArrayLike] = None,
                    iterations: int = 10) -> np.ndarray:
    """Build the head-frame template (mm) from detected landmark arrays.

    landmark_sets: sequence of (478, 3) arrays in pixels (x, y, z scaled like
    x, as :class:`~faceverse_ros.tracking.detector.Detection` gives), any pose.
    weights: optional per-set weights (e.g. 1/N for N frames of one video).
    Returns a (len(FIT_INDICES), 3) array in millimetres in the head frame (see
    module doc; the stored table is this before the PITCH_ZERO_DEG turn).
    """
    sets = [np.asarray(s, dtype=np.float64) for s in landmark_sets]
    if not sets:
        raise ValueError("derive_template needs at least one landmark set")
    for s in sets:
        if s.shape != (NUM_LANDMARKS, 3):
            raise ValueError(f"each landmark set must be ({NUM_LANDMARKS}, 3), got {s.shape}")
    w = np.ones(len(sets)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    used = np.array(FIT_INDICES + MOUTH_CORNERS)
    fit_rows = np.arange(len(FIT_INDICES))
    shapes = []
    for s in sets:
        pts = s[used] - s[used][fit_rows].mean(axis=0)
        shapes.append(pts / np.sqrt((pts[fit_rows] ** 2).sum(axis=1).mean()))
    mean = shapes[0]
    for _ in range(iterations):  # generalised Procrustes on the fit rows
        aligned = []
        for pts in shapes:
            sc, rot, t = similarity_fit(pts[fit_rows], mean[fit_rows])
            aligned.append(sc * pts @ rot.T + t)
        mean = np.tensordot(w, np.stack(aligned), axes=1)
        mean = mean - mean[fit_rows].mean(axis=0)
        mean = mean / np.sqrt((mean[fit_rows] ** 2).sum(axis=1).mean())
    # mirror symmetrisation: reflect, swap left/right labels, align, average
    row = {idx: k for k, idx in enumerate(used.tolist())}
    perm = np.arange(len(used))
    for left, right in PAIRS + (MOUTH_CORNERS[::-1],):
        perm[row[left]], perm[row[right]] = row[right], row[left]
    mirrored = (mean * np.array([-1.0, 1.0, 1.0]))[perm]
    sc, rot, t = similarity_fit(mirrored[fit_rows], mean[fit_rows])
    sym = (mean + sc * mirrored @ rot.T + t) / 2.0
    # axes
    lr = np.array([sym[row[left]] - sym[row[right]] for left, right in PAIRS])
    y_axis = lr.sum(axis=0)
    y_axis /= np.linalg.norm(y_axis)
    eyes = (sym[row[33]] + sym[row[133]] + sym[row[263]] + sym[row[362]]) / 4.0
    mouth = (sym[row[61]] + sym[row[291]]) / 2.0
    up = eyes - mouth
    z_axis = up - np.dot(up, y_axis) * y_axis
    z_axis /= np.linalg.norm(z_axis)
    x_axis = np.cross(y_axis, z_axis)
    axes = np.stack([x_axis, y_axis, z_axis])  # rows: head axes in shape coordinates
    head = (sym - sym[row[SELLION]]) @ axes.T
    right_c = (head[row[33]] + head[row[133]]) / 2.0
    left_c = (head[row[263]] + head[row[362]]) / 2.0
    head *= INTERPUPILLARY_DISTANCE_M * 1000.0 / np.linalg.norm(left_c - right_c)
    return eyes_mouth_to_head(head[fit_rows])


# --------------------------------------------------------------------------
# pose estimation
# --------------------------------------------------------------------------
def _check_intrinsics(intrinsics):
    if isinstance(intrinsics, CameraIntrinsics):
        return tuple(intrinsics)
    try:
        fx, fy, cx, cy = (float(v) for v in intrinsics)
    except (TypeError, ValueError):
        raise ValueError(f"intrinsics must be (fx, fy, cx, cy) in pixels, got {intrinsics!r}") from None
    if not (fx > 0 and fy > 0 and all(math.isfinite(v) for v in (fx, fy, cx, cy))):
        raise ValueError(f"intrinsics need finite fx, fy > 0, got {intrinsics!r}")
    return fx, fy, cx, cy


def gaze_direction_in_head(eyes: npt.ArrayLike) -> np.ndarray:
    """Unit gaze vector in the head frame from the 4 eye values (landmarks.eyes).

    The two eyes' (vertical, horizontal) values are averaged and used as the
    FaceVerse eye rotation ``Ry(horizontal) @ Rx(vertical)`` applied to the
    model's forward gaze (0, 0, -1) (model axes: x right, y down, z away from
    the viewer), then expressed in the head frame (x_h = -z_m, y_h = x_m,
    z_h = -y_m).
    """
    e = np.asarray(eyes, dtype=np.float64).reshape(-1)
    if e.shape != (4,) or not np.all(np.isfinite(e)):
        raise ValueError(f"eyes must be 4 finite values, got {eyes!r}")
    vertical = (e[0] + e[2]) / 2.0
    horizontal = (e[1] + e[3]) / 2.0
    g_model = ry(horizontal) @ rx(vertical) @ np.array([0.0, 0.0, -1.0])
    g_head = np.array([-g_model[2], g_model[0], -g_model[1]])
    return g_head / np.linalg.norm(g_head)


def estimate_head_pose(landmarks: npt.ArrayLike, intrinsics: CameraIntrinsics,
                       eyes: Optional[npt.ArrayLike] = None,
                       template_mm: Optional[np.ndarray] = None) -> FacePose:
    """Head pose (and gaze) of one face from its 478 landmarks.

    landmarks: (478, 3) pixels (x, y, z scaled like x), as Detection gives.
    intrinsics: (fx, fy, cx, cy) of the image in pixels (from camera_info, or
        :meth:`CameraIntrinsics.default`).
    eyes: optional eye values (4,) (landmarks.eyes); None -> gaze = head x axis.
    template_mm: optional replacement template (len(FIT_INDICES), 3) in mm.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (NUM_LANDMARKS, 3):
        raise ValueError(f"landmarks must be ({NUM_LANDMARKS}, 3) pixels, got {lm.shape}")
    if not np.all(np.isfinite(lm)):
        raise ValueError("landmarks contain NaN or infinite values")
    fx, fy, cx, cy = _check_intrinsics(intrinsics)
    tmpl = TEMPLATE_MM if template_mm is None else np.asarray(template_mm, dtype=np.float64)
    if tmpl.shape != (len(FIT_INDICES), 3):
        raise ValueError(f"template must be ({len(FIT_INDICES)}, 3) mm, got {tmpl.shape}")
    tmpl_m = tmpl / 1000.0
    obs = lm[list(FIT_INDICES)]
    scale, rot_w, t = similarity_fit(tmpl_m, obs)
    if not scale > 0:
        raise ValueError("landmarks are degenerate: the template fit has no positive scale")
    resid = obs - (scale * tmpl_m @ rot_w.T + t)
    rms = float(np.sqrt((resid[:, :2] ** 2).sum(axis=1).mean()))
    sellion_px = t  # template origin is the sellion
    ray = np.array([(sellion_px[0] - cx) / fx, (sellion_px[1] - cy) / fy, 1.0])
    rot = rotation_between([0.0, 0.0, 1.0], ray) @ rot_w
    centroid_t = tmpl_m.mean(axis=0)
    centroid_px = scale * rot_w @ centroid_t + t
    depth = fx / scale
    centroid = np.array([(centroid_px[0] - cx) * depth / fx, (centroid_px[1] - cy) * depth / fy,
                         depth])
    position = centroid - rot @ centroid_t
    return face_pose(position, rot, eyes, rms_px=rms)


def face_pose(position: npt.ArrayLike, rotation: npt.ArrayLike,
              eyes: Optional[npt.ArrayLike] = None, rms_px: Optional[float] = None) -> FacePose:
    """The FacePose of a head at ``position`` (m) with face axes ``rotation`` (optical
    frame) and gaze from the ``eyes`` values (None: along the head's x axis)."""
    rot = np.asarray(rotation, dtype=np.float64)
    g_head = np.array([1.0, 0.0, 0.0]) if eyes is None else gaze_direction_in_head(eyes)
    gaze_frame_head = rotation_between([1.0, 0.0, 0.0], g_head) @ GAZE_AXES_IN_FACE
    gaze_rot = rot @ gaze_frame_head
    return FacePose(position=np.asarray(position, dtype=np.float64), rotation=rot,
                    quaternion=quaternion_from_matrix(rot), gaze_direction=gaze_rot[:, 2].copy(),
                    gaze_rotation=gaze_rot, gaze_quaternion=quaternion_from_matrix(gaze_rot),
                    rms_px=rms_px)


#: a model whose mean face's MediaPipe vertices miss the head template by more than this RMS
#: (template millimetres, after the best similarity fit) is no human face shape (the
#: synthetic test model): its face frame keeps the fixed FACE_AXES_IN_MODEL
HEAD_AXES_FIT_MAX_MM = 6.0


def head_axes_in_model(model) -> np.ndarray:
    """The face frame's axes (columns) in FaceVerse model axes, cached on the model.

    The rotation of the similarity fit of the head template (the
    upper-face landmarks, in the head frame with its pitch zero) onto the model's
    mean face (zero coefficients) at the same MediaPipe landmarks, so that a
    FaceVerse face and its landmarks give the same head frame. FACE_AXES_IN_MODEL
    when the fit misses by more than HEAD_AXES_FIT_MAX_MM.
    """
    cached = model.__dict__.get("_head_axes_in_model")
    if cached is not None:
        return cached
    geo = model.landmarks_from_coeffs(np.zeros(model.n_coeffs, np.float32), "mediapipe")
    verts = geo.vertices[0].astype(np.float64)[list(FIT_INDICES)]
    scale, rot, t = similarity_fit(TEMPLATE_MM, verts)
    rms_mm = float(np.sqrt((((verts - t) @ rot / scale - TEMPLATE_MM) ** 2).sum(axis=1).mean())) \
        if scale > 0 else np.inf
    axes = rot if rms_mm <= HEAD_AXES_FIT_MAX_MM else FACE_AXES_IN_MODEL
    model.__dict__["_head_axes_in_model"] = axes
    return axes
