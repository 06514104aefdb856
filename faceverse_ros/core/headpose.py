"""Metric head pose and gaze in the camera optical frame from FaceVerse coefficients.

Frames (REP-103 / REP-155):

* optical frame of the image: x right, y down, z forward, metres;
* FaceVerse model axes: image-aligned (x right, y down, z away from the
  camera for a face looking at it), model units;
* ``face`` frame (REP-155): origin at the sellion, x out of the face toward
  the viewer, z toward the scalp, y to the person's left; its axes in model
  coordinates are ``face_axes`` (the pipeline gives
  landmarks.landmark_pose.head_axes_in_model: the landmark head template fitted onto
  the model's mean face, so both modes share one definition of the head frame
  and its pitch zero, doc/gaze.md);
* ``gaze`` frame: same origin, z along the gaze, x to the person's right,
  y down (for eyes looking straight ahead its z equals the face x).

Units: model units are raw file units / 100. The FaceVerse meshes are in
millimetres, so 1 model unit = 100 mm = ``MODEL_UNIT_M`` = 0.1 m. This is an
assumption about the V4 file: check it with :func:`interocular_distance_raw`
on the real ``faceverse_v4_2.npy`` (the eyeball centres of the mean face
should be about 60-65 raw units apart if raw is mm).

From crop to camera: the network's camera is f = 1000 px on the 256-px crop
at 10 model units. The crop maps to the image by a scale s = (x1 - x0) / 256
and a shift, i.e. an image-plane camera of focal s*f. The real camera
(fx, fy, cx, cy) sees the same image of the face when

* the sellion lies on the real camera's ray through its image pixel,
* its range is scaled by fx / (s f) (same apparent size), times 0.1 m/unit,
* the head rotation is turned by the rotation that takes the crop camera's
  ray to the sellion onto the real camera's ray (the same face appearance
  seen from a different viewing direction).

When the crop is centred on the principal point and s f = fx, nothing is
turned and the pose is exactly the crop camera's, scaled to metres. This
closed form is then refined by default with a PnP fit of the face's 478
MediaPipe vertices to their image positions under the real intrinsics
(``head_pose(..., refine=True)``).

Without intrinsics the documented default of faceverse_ros.core.camera is used.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Sequence

import numpy as np

from faceverse_ros.core.projection import CAMERA_DISTANCE, CROP_SIZE, FOCAL, PRINCIPAL
from faceverse_ros.core.rotations import eye_rotation, rotation_matrix
from faceverse_ros.core.camera import CameraIntrinsics
from faceverse_ros.core.pose import FacePose
from faceverse_ros.core.rotations import FACE_AXES_IN_MODEL, GAZE_AXES_IN_FACE, quaternion_from_matrix, rotation_between

if TYPE_CHECKING:
    from faceverse_ros.core.model import FaceVerseModel

#: metres per model unit (raw millimetres / 100)
MODEL_UNIT_M = 0.1

#: the PnP refinement runs only where the closed form reprojects the face's landmarks worse
#: than this share of the crop box width (RMS): near the principal point the closed form is
#: exact and the PnP (milliseconds a face) would change nothing
REFINE_MIN_ERROR = 0.005

#: the PnP refinement: Levenberg-Marquardt from the closed form (cv2.solvePnPRefineLM), at
#: most 4 steps (stopping early when a step changes the pose by under 1e-7): a few steps
#: reach cv2.solvePnP's optimum from the closed form, and the bounded count also bounds the
#: time of a face it cannot fix.
PNP_CRITERIA = (3, 4, 1e-7)  # (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, count, eps)
NO_DISTORTION = np.zeros(4)  # the pinhole intrinsics here model no lens distortion

#: the sellion (nose bridge between the eyes) as a MediaPipe landmark (FaceVerseModel.sellion_index)
SELLION_LANDMARK = 168

def interocular_distance_raw(model: "FaceVerseModel") -> float:
    """Distance between the mean face's eyeball centres in raw file units
    (about 60-65 if raw units are millimetres, which MODEL_UNIT_M assumes)."""
    c = model.eye_centres(np.zeros(model.n_id, np.float32))[0]
    return float(np.linalg.norm(c[0] - c[1]) * 100.0)


def head_pose(model: "FaceVerseModel", coeffs: np.ndarray, crop_boxes: np.ndarray,
              intrinsics: Optional[CameraIntrinsics] = None,
              image_size: Optional[Sequence[int]] = None, use_eyes: bool = True,
              refine: bool = True, face_axes=FACE_AXES_IN_MODEL) -> List[FacePose]:
    """Head (sellion) and gaze poses in the optical frame, one FacePose per face.

    model: :class:`faceverse_ros.core.model.FaceVerseModel`; coeffs: (B, n) or (n,);
    crop_boxes: (B, 4) or (4,) true crop boxes (image pixels) the coefficients
    were regressed from; intrinsics: the image's camera, or None with
    ``image_size`` = (width, height) for :meth:`CameraIntrinsics.default`.
    use_eyes: gaze from the eye angles (relative to the face frame); otherwise the gaze
    is the face x axis.
    face_axes: (3, 3) the face frame's axes (columns) in model coordinates.
    refine: polish the closed-form pose (module doc) with a Levenberg-Marquardt
    PnP (``cv2.solvePnPRefineLM``, started from it, PNP_CRITERIA) that fits the 478 MediaPipe
    vertices of the reconstructed face to their image positions under the
    real intrinsics. A face far from the principal point reprojects worse
    with the closed form alone (the crop of an off-axis view is not an
    on-axis pinhole image) than refined; the refined pose is
    kept only when it lowers the reprojection error. The PnP is skipped for a
    face whose closed-form RMS reprojection error is under REFINE_MIN_ERROR of
    its crop box width (the closed form suffices there).
    """
    if intrinsics is None:
        if image_size is None:
            raise ValueError("give the camera intrinsics or the image size (width, height)")
        intrinsics = CameraIntrinsics.default(int(image_size[0]), int(image_size[1]))
    c = model._coeffs2d(coeffs)
    b = c.shape[0]
    boxes = np.asarray(crop_boxes, dtype=np.float64).reshape(-1, 4)
    if boxes.shape[0] != b:
        raise ValueError(f"{boxes.shape[0]} crop boxes for {b} coefficient vectors")
    if np.any(boxes[:, 2] <= boxes[:, 0]) or np.any(boxes[:, 3] <= boxes[:, 1]):
        raise ValueError(f"crop boxes must have x1 > x0 and y1 > y0, got {boxes.tolist()}")

    # the 478 MediaPipe vertices (one cached sub-basis): the sellion is landmark 168, and
    # the PnP refinement fits all of them
    geo = model.landmarks_from_coeffs(c, "mediapipe")
    s_unposed = geo.vertices[:, SELLION_LANDMARK].astype(np.float64)     # (B, 3) model units
    p_crop = geo.posed[:, SELLION_LANDMARK].astype(np.float64) + [0.0, 0.0, CAMERA_DISTANCE]
    r_model = rotation_matrix(c[:, model.slices["angles"]])              # crop-camera rotation

    sx = (boxes[:, 2] - boxes[:, 0]) / CROP_SIZE
    sy = (boxes[:, 3] - boxes[:, 1]) / CROP_SIZE
    u_img = (FOCAL * p_crop[:, 0] / p_crop[:, 2] + PRINCIPAL) * sx + boxes[:, 0]
    v_img = (FOCAL * p_crop[:, 1] / p_crop[:, 2] + PRINCIPAL) * sy + boxes[:, 1]
    ray = np.stack([(u_img - intrinsics.cx) / intrinsics.fx, (v_img - intrinsics.cy) / intrinsics.fy,
                    np.ones(b)], -1)
    ray /= np.linalg.norm(ray, axis=1, keepdims=True)
    align = rotation_between(p_crop, ray)
    scale = 0.5 * (intrinsics.fx / (sx * FOCAL) + intrinsics.fy / (sy * FOCAL))
    position = ray * (np.linalg.norm(p_crop, axis=1) * scale * MODEL_UNIT_M)[:, None]

    r_opt = align @ r_model                                              # model axes in optical frame
    model_t = position - np.einsum("bij,bj->bi", r_opt, MODEL_UNIT_M * s_unposed)
    if refine:
        r_opt, model_t = _refine_pnp(geo, boxes, intrinsics, r_opt, model_t)
        position = np.einsum("bij,bj->bi", r_opt, MODEL_UNIT_M * s_unposed) + model_t

    # the face frame, and the model axes turned onto it (the eye angles are relative to it)
    head_axes = np.asarray(face_axes, dtype=np.float64)
    face_rot = r_opt @ head_axes
    r_head = r_opt @ head_axes @ FACE_AXES_IN_MODEL.T
    if use_eyes:
        eyes = c[:, model.slices["eyes"]].astype(np.float64)
        r_eye = eye_rotation(0.5 * (eyes[:, 0] + eyes[:, 2]), 0.5 * (eyes[:, 1] + eyes[:, 3]))
    else:
        r_eye = np.broadcast_to(np.eye(3), (b, 3, 3))
    gaze_rot = r_head @ r_eye @ FACE_AXES_IN_MODEL @ GAZE_AXES_IN_FACE
    quat, gaze_quat = quaternion_from_matrix(face_rot), quaternion_from_matrix(gaze_rot)
    return [FacePose(position=position[i], rotation=face_rot[i], quaternion=quat[i],
                     gaze_direction=gaze_rot[i, :, 2].copy(), gaze_rotation=gaze_rot[i],
                     gaze_quaternion=gaze_quat[i], model_rotation=r_opt[i],
                     model_translation=model_t[i]) for i in range(b)]


def _reprojection_error(obj, uv, r, t, k: CameraIntrinsics) -> float:
    p = obj @ r.T + t
    if np.any(p[:, 2] <= 0):
        return np.inf
    du = k.fx * p[:, 0] / p[:, 2] + k.cx - uv[:, 0]
    dv = k.fy * p[:, 1] / p[:, 2] + k.cy - uv[:, 1]
    return float(np.sqrt(np.mean(du * du + dv * dv)))


def _refine_pnp(geo, boxes, k: CameraIntrinsics, r_opt, model_t):
    import cv2

    from faceverse_ros.core.projection import to_image

    obj_all = geo.vertices.astype(np.float64) * MODEL_UNIT_M
    uv_all = to_image(geo.projected, boxes)[..., :2].astype(np.float64)
    kmat = np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]])
    r_out, t_out = r_opt.copy(), model_t.copy()
    for i in range(len(boxes)):
        obj, uv = obj_all[i], uv_all[i]
        before = _reprojection_error(obj, uv, r_opt[i], model_t[i], k)
        if before <= REFINE_MIN_ERROR * (boxes[i, 2] - boxes[i, 0]):
            continue  # the closed form suffices
        rvec, _ = cv2.Rodrigues(r_opt[i])
        tvec = model_t[i].reshape(3, 1).copy()
        try:
            rvec, tvec = cv2.solvePnPRefineLM(obj, uv, kmat, NO_DISTORTION, rvec, tvec, PNP_CRITERIA)
        except cv2.error:
            continue
        if not (np.all(np.isfinite(rvec)) and np.all(np.isfinite(tvec))):
            continue
        r_new, _ = cv2.Rodrigues(rvec)
        t_new = tvec.reshape(3)
        if _reprojection_error(obj, uv, r_new, t_new, k) < before:
            r_out[i], t_out[i] = r_new, t_new
    return r_out, t_out


def vertices_in_camera(pose: FacePose, vertices: np.ndarray) -> np.ndarray:
    """Unposed vertices (N, 3) model units of the face of ``pose`` -> (N, 3) metres in the optical frame."""
    if pose.model_rotation is None or pose.model_translation is None:
        raise ValueError("the pose has no model placement (a landmark-only pose has no FaceVerse mesh)")
    return model_to_camera(vertices, pose.model_rotation, pose.model_translation)


def model_to_camera(vertices: np.ndarray, model_rotation: np.ndarray, model_translation: np.ndarray) -> np.ndarray:
    """Unposed vertices (N, 3) model units -> metres in the optical frame, with one face's
    ``FacePose.model_rotation`` (3, 3) and ``model_translation`` (3,)."""
    v = np.asarray(vertices, dtype=np.float64)
    return (v * MODEL_UNIT_M) @ np.asarray(model_rotation).T + np.asarray(model_translation)
