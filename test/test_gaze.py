"""Gaze from the eyeball model, the head frame's pitch zero, and gaze targets.

Geometry with known answers first (fast), then the shared material where people look
into the lens (the talking video every 3rd frame, the photos, their mirror images and
0.5x downscales) and where they look aside.
"""
import math
import types

import cv2
import numpy as np
import pytest

from helpers import shared_path
from faceverse_ros.core import gaze_target as gt
from faceverse_ros.landmarks import landmark_pose as lp
from faceverse_ros.core.camera import CameraIntrinsics
from faceverse_ros.landmarks import eyes as ey


def rot_axis(axis, angle):
    """Rodrigues' formula, written out here."""
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def deg_between(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    c = np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b)
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


# ------------------------------------------------------------------ gaze targets (geometry)
def test_two_heads_looking_at_each_other_are_mutual():
    a, b = np.array([-0.4, 0.0, 1.5]), np.array([0.4, 0.0, 1.5])
    out = gt.gaze_targets([gt.GazeInput(1, a, b - a), gt.GazeInput(2, b, a - b)])
    assert [t.target for t in out] == [2, 1]
    assert all(t.mutual for t in out)
    assert all(t.confidence == pytest.approx(1.0) for t in out)


def test_camera_one_way_and_nothing():
    a, b, c = np.array([-0.4, 0.0, 1.5]), np.array([0.4, 0.0, 1.5]), np.array([0.0, 0.3, 2.0])
    faces = [gt.GazeInput("a", a, -a),                      # into the lens
             gt.GazeInput("b", b, a - b),                   # at a, who looks at the camera
             gt.GazeInput("c", c, [0.0, -1.0, 0.0])]        # up at the ceiling
    out = gt.gaze_targets(faces)
    assert (out[0].target, out[0].mutual) == (gt.CAMERA, False)
    assert (out[1].target, out[1].mutual) == ("a", False)
    assert (out[2].target, out[2].confidence) == (None, 0.0)


def test_camera_cone_edges_and_confidence():
    p = np.array([0.1, -0.05, 1.2])
    to_cam = -p / np.linalg.norm(p)
    side = np.cross(to_cam, [0.0, 1.0, 0.0])
    for off_deg, expect in ((0.0, gt.CAMERA), (gt.CAMERA_CONE_DEG - 1, gt.CAMERA),
                            (gt.CAMERA_CONE_DEG + 1, None)):
        d = rot_axis(side, math.radians(off_deg)) @ to_cam
        t = gt.gaze_targets([gt.GazeInput(0, p, d)])[0]
        assert t.target == expect, off_deg
        if expect is not None:
            # 1 - (angle / cone)^2, worked by hand
            assert t.confidence == pytest.approx(1 - (off_deg / gt.CAMERA_CONE_DEG) ** 2, abs=1e-6)
    # a gaze that fell back to the head direction is a weaker statement
    t = gt.gaze_targets([gt.GazeInput(0, p, to_cam, confidence=0.0)])[0]
    assert t.target == gt.CAMERA and t.confidence == pytest.approx(gt.HEAD_ONLY_WEIGHT)


def test_nearer_in_cone_terms_wins():
    # the other head 5 degrees off the ray, the camera 10 degrees off: the head wins
    p = np.array([0.0, 0.0, 2.0])
    ray = rot_axis([0, 1, 0], math.radians(10)) @ np.array([0.0, 0.0, -1.0])
    other = p + 1.0 * (rot_axis([0, 1, 0], math.radians(-5)) @ ray)
    out = gt.gaze_targets([gt.GazeInput(0, p, ray), gt.GazeInput(1, other, [0, 0, -1.0])])
    assert out[0].target == 1 and out[0].angle_deg == pytest.approx(5.0, abs=1e-6)
    with pytest.raises(ValueError):
        gt.gaze_targets([gt.GazeInput(0, p, [0, 0, 0])])


# ------------------------------------------------------------------ eyeball model (synthetic)
def face_landmarks(rot, gaze_head=(None, None), opening=(0.3, 0.3), scale=4000.0,
                   origin=(320.0, 240.0)):
    """478 landmarks of the template face seen in weak perspective (rot: head axes in the
    camera frame x right, y down, z away), with lids and irises placed for the given gaze
    of each eye (unit vectors in the head frame; None = straight ahead)."""
    pts = {}
    tmpl = lp.TEMPLATE_MM / 1000.0
    for row, idx in enumerate(lp.FIT_INDICES):
        pts[idx] = tmpl[row]
    r = ey.IRIS_SPHERE_RADIUS_M
    for (first, second, iris), (upper, lower), side, g, op in zip(
            (ey.LEFT_EYE, ey.RIGHT_EYE), ey.LIDS, (1.0, -1.0), gaze_head, opening):
        mid = (pts[first] + pts[second]) / 2
        width = np.linalg.norm(pts[first] - pts[second])
        ahead = np.array(ey.IRIS_AHEAD_OF_CORNERS_M) * [1, side, 1]
        centre = mid + ahead - [r, 0, 0]
        g = np.array([1.0, 0, 0]) if g is None else np.asarray(g, float) / np.linalg.norm(g)
        pts[iris] = centre + r * g
        pts[upper] = mid + [0.004, 0, op * width / 2]
        pts[lower] = mid + [0.004, 0, -op * width / 2]
    lm = np.zeros((478, 3))
    for idx, p in pts.items():
        q = scale * (rot @ p)
        lm[idx] = (q[0] + origin[0], q[1] + origin[1], q[2])
    return lm


FRONTAL = np.column_stack([[0, 0, -1], [1, 0, 0], [0, -1, 0]]).astype(float)


def test_iris_offset_by_hand_on_a_frontal_face():
    """Frontal head, both irises 3 mm toward the person's right of the straight-ahead
    spot: on a 12 mm eyeball that is asin(3/12) = 14.48 degrees toward the person's right."""
    h = math.asin(0.003 / ey.IRIS_SPHERE_RADIUS_M)
    g = (math.cos(h), -math.sin(h), 0.0)       # head frame: -y is the person's right
    lm = face_landmarks(FRONTAL, (g, g))
    eyes, conf = ey.eye_gaze(lm)
    np.testing.assert_allclose(eyes, [0, h, 0, h], atol=1e-6)
    assert math.degrees(h) == pytest.approx(14.48, abs=0.01) and conf == 1.0
    # the published direction (landmark_pose's own rotation path): toward image left
    pose = lp.estimate_head_pose(lm, (4000.0, 4000.0, 320.0, 240.0), eyes=eyes)
    assert pose.gaze_direction[0] < 0
    assert deg_between(pose.gaze_direction, pose.rotation @ g) < 0.3


@pytest.mark.parametrize("yaw, pitch, roll", [(0, 0, 0), (30, 0, 0), (-25, 10, 0), (15, -12, 20)])
@pytest.mark.parametrize("gaze", [(0, 0), (-20, 5), (10, -15)])
def test_gaze_recovered_under_head_rotation(yaw, pitch, roll, gaze):
    rot = lp.rotation_from_yaw_pitch_roll(*np.radians([yaw, pitch, roll]))
    h, v = np.radians(gaze)                     # toward the person's right, up
    g = np.array([math.cos(h) * math.cos(v), -math.sin(h) * math.cos(v), math.sin(v)])
    eyes, conf = ey.eye_gaze(face_landmarks(rot, (g, g)))
    assert deg_between(lp.gaze_direction_in_head(eyes), g) < 0.5
    assert conf == pytest.approx(1.0)


def test_blinks_and_a_hidden_eye():
    left_g = np.array([math.cos(0.2), -math.sin(0.2), 0.0])
    # the right eye closed: the left eye's angles stand in for it, confidence halves
    eyes, conf = ey.eye_gaze(face_landmarks(FRONTAL, (left_g, (1, 0, 0)), opening=(0.3, 0.02)))
    np.testing.assert_allclose(eyes[2:], eyes[:2], atol=1e-9)
    assert eyes[1] == pytest.approx(0.2, abs=1e-6) and conf == pytest.approx(0.5)
    # both closed: the head direction, confidence 0
    eyes, conf = ey.eye_gaze(face_landmarks(FRONTAL, (left_g, left_g), opening=(0.02, 0.02)))
    assert np.all(eyes == 0) and conf == 0.0
    # head turned 70 degrees toward the person's left: the left eye faces away and the
    # right (near) one carries the gaze alone
    rot = lp.rotation_from_yaw_pitch_roll(math.radians(70), 0, 0)
    eyes, conf = ey.eye_gaze(face_landmarks(rot, ((1, 0, 0), left_g)))
    assert eyes[1] == pytest.approx(0.2, abs=1e-6) and eyes[3] == pytest.approx(0.2, abs=1e-6)
    assert 0 < conf <= 0.5
    with pytest.raises(ValueError, match="478"):
        ey.eye_gaze(np.zeros((468, 3)))


# ------------------------------------------------------------------ pitch zero, both modes
def canonical_head_points():
    """MediaPipe's canonical face (face_landmarker.task) in head-frame axes, mm."""
    from faceverse_ros.landmarks.canonical_mesh import mesh_from_task
    v = mesh_from_task(shared_path("models/face_landmarker.task")).vertices_cm.astype(float) * 10
    return np.stack([v[:, 2], v[:, 0], v[:, 1]], axis=1)   # out of the face, left, up


def test_pitch_zero_is_the_canonical_face_models_frame():
    """The template in eyes-mouth axes fitted onto the canonical model is turned by
    PITCH_ZERO_DEG about y; the head-frame template fits it with no turn."""
    canon = canonical_head_points()[list(lp.FIT_INDICES)]
    eyes_mouth = lp.TEMPLATE_MM @ lp.ry(-math.radians(lp.PITCH_ZERO_DEG))   # undo the turn
    _, rot, _ = lp.similarity_fit(eyes_mouth, canon)
    assert math.degrees(math.atan2(-rot[0, 2], rot[0, 0])) == pytest.approx(lp.PITCH_ZERO_DEG,
                                                                           abs=0.1)
    _, rot, _ = lp.similarity_fit(lp.TEMPLATE_MM, canon)
    assert deg_between(rot[:, 0], [1, 0, 0]) < 0.1


def test_faceverse_mode_uses_the_same_head_frame():
    """A FaceVerse model whose mean face is the canonical face, tilted 10 degrees nose-down
    in the model's axes (x right, y down, z away), gets head axes tilted the same way."""
    from faceverse_ros.core.rotations import FACE_AXES_IN_MODEL
    head_axes_in_model = lp.head_axes_in_model

    c = canonical_head_points() / 1000.0
    model_pts = c @ FACE_AXES_IN_MODEL.T                     # head axes -> model axes
    tilt = rot_axis([1, 0, 0], math.radians(10))             # about model x (image right)
    verts = np.zeros((1, 478, 3))
    verts[0, :468] = model_pts @ tilt.T
    fake = types.SimpleNamespace(n_coeffs=621, landmarks_from_coeffs=lambda coeffs, kind:
                                 types.SimpleNamespace(vertices=verts))
    axes = head_axes_in_model(fake)
    expect = tilt @ FACE_AXES_IN_MODEL
    assert deg_between(axes[:, 0], expect[:, 0]) < 0.3 and deg_between(axes[:, 2], expect[:, 2]) < 0.3
    assert axes[1, 0] > 0     # the face's x axis now points down (+y in the model): nose down


# ------------------------------------------------------------------ the shared material
def load_photo(name):
    img = cv2.imread(str(shared_path(f"testdata/faces/{name.split(':')[0]}")))
    if ":" in name:                       # emma.jpg:0 = left panel, :1 = middle panel
        third = img.shape[1] // 3
        k = int(name.split(":")[1])
        img = img[:, k * third:(k + 1) * third]
    return np.ascontiguousarray(img[:, :, ::-1])


def variant(rgb, kind):
    if kind == "mirror":
        return np.ascontiguousarray(rgb[:, ::-1])
    if kind == "half":
        return cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return rgb


def pipeline():
    from faceverse_ros.tracking.pipeline import FacePipeline, PipelineConfig
    return FacePipeline(PipelineConfig(landmark_only=True, detector="legacy"), log=lambda *a: None)


def to_camera_deg(face):
    """Angle between the published gaze and the direction from the face to the camera."""
    return deg_between(face.pose.gaze_direction, -np.asarray(face.pose.position))


def still(name, kind):
    pipe = pipeline()
    try:
        for k in range(5):
            faces = pipe.process(variant(load_photo(name), kind), k / 30.0).faces
    finally:
        pipe.close()
    assert len(faces) == 1
    return faces[0]


@pytest.fixture(scope="module")
def video_faces():
    """{variant: {frame index: FaceResult}} of every 3rd frame of the talking video."""
    from faceverse_ros.io.sources import FrameSource
    frames = [(k, f) for k, f in enumerate(FrameSource(shared_path("testdata/video/talking_256.mp4")))
              if k % 3 == 0]
    out = {}
    for kind in ("orig", "mirror", "half"):
        pipe, by_stamp = pipeline(), {}
        try:
            stamps = {f.stamp: k for k, f in frames}
            for _, f in frames:
                for face in pipe.process(variant(f.rgb, kind), f.stamp).faces:
                    by_stamp[stamps[face.stamp]] = face
            for face in pipe.finish().faces:
                by_stamp[stamps[face.stamp]] = face
        finally:
            pipe.close()
        out[kind] = by_stamp
    return out


def test_video_gaze_toward_the_camera(video_faces):
    for kind, faces in video_faces.items():
        assert len(faces) >= 100
        angles = np.array([to_camera_deg(f) for f in faces.values()])
        looking = np.mean([f.gaze_target == gt.CAMERA for f in faces.values()])
        assert np.median(angles) <= 7.0, (kind, np.median(angles))
        assert looking >= 0.65, (kind, looking)
        for f in faces.values():     # the frame of the values: the camera that took them
            assert f.gaze_target in (gt.CAMERA, None) and 0 <= f.gaze_target_confidence <= 1


def test_video_frames_looking_aside_read_so(video_faces):
    """Frames 15 and 18: the head turns toward the image's right and the irises sit at the
    outer corners of the eyes on that side (doc/gaze.md shows frame 16): not the camera,
    and the gaze points to the image's right of the camera (its mirror: to the left)."""
    for kind, sign in (("orig", 1), ("mirror", -1), ("half", 1)):
        for k in (15, 18):
            f = video_faces[kind][k]
            assert f.gaze_target != gt.CAMERA and to_camera_deg(f) > 15, (kind, k)
            to_cam = -f.pose.position / np.linalg.norm(f.pose.position)
            assert sign * (f.pose.gaze_direction[0] - to_cam[0]) > 0.2, (kind, k)


def test_video_head_pitch_is_level(video_faces):
    med = {kind: np.median([math.degrees(lp.yaw_pitch_roll(f.pose.rotation)[1])
                            for f in faces.values()]) for kind, faces in video_faces.items()}
    assert abs(med["orig"]) <= 2.0, med
    assert abs(med["mirror"] - med["orig"]) <= 1.0 and abs(med["half"] - med["orig"]) <= 1.0, med


@pytest.mark.parametrize("kind", ["orig", "mirror", "half"])
def test_photos_looking_into_the_lens(kind):
    for name, limit in (("portrait_small.jpg", 5.0), ("emma.jpg:0", 10.0)):
        face = still(name, kind)
        assert to_camera_deg(face) <= limit, (name, kind, to_camera_deg(face))
        assert face.gaze_target == gt.CAMERA and face.gaze_confidence > 0.9, (name, kind)


@pytest.mark.parametrize("kind", ["orig", "mirror", "half"])
def test_looking_aside_is_not_the_camera(kind):
    face = still("emma.jpg:1", kind)           # profile, eyes to the side of the lens
    assert face.gaze_target != gt.CAMERA and to_camera_deg(face) > 20, (kind, to_camera_deg(face))


def test_shifted_irises_move_the_gaze_off_the_camera():
    """portrait_small's landmarks with both irises moved a quarter of the eye width toward
    the image's right: the gaze leaves the camera cone toward the image's right."""
    face = still("portrait_small.jpg", "orig")
    lm = face.landmarks.copy()
    h, w = load_photo("portrait_small.jpg").shape[:2]
    intr = CameraIntrinsics.default(w, h)
    base = lp.estimate_head_pose(lm, intr, eyes=ey.eye_gaze(lm)[0])
    width = np.linalg.norm(lm[33, :2] - lm[133, :2])
    lm[468:478, 0] += 0.25 * width
    moved = lp.estimate_head_pose(lm, intr, eyes=ey.eye_gaze(lm)[0])
    assert deg_between(moved.gaze_direction, -moved.position) > gt.CAMERA_CONE_DEG + 5
    assert moved.gaze_direction[0] > base.gaze_direction[0] + 0.2


@pytest.mark.slow
@pytest.mark.shell
def test_command_line_json_names_the_camera(tmp_path):
    """`faceverse-ros run --save-params` from a plain shell: the landmark-only JSON carries
    the gaze target, and its gaze_direction / position_m agree with it."""
    import json

    from helpers import run_as_user
    out = run_as_user("run", "--input", str(shared_path("testdata/faces/portrait_small.jpg")),
                      "--output", str(tmp_path), "--save-params", "--landmark-only")
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads((tmp_path / "portrait_small_face0.json").read_text())
    assert data["gaze_target"] == "camera" and data["mutual_gaze"] is False
    assert 0 < data["gaze_target_confidence"] <= 1 and data["gaze_confidence"] > 0.9
    assert deg_between(data["gaze_direction"], -np.array(data["position_m"])) <= gt.CAMERA_CONE_DEG


def test_tasks_blendshapes_cross_check():
    from faceverse_ros.landmarks.blendshapes import BLENDSHAPE_NAMES
    right = np.radians([0.0, 15.0, 0.0, 15.0])        # both eyes 15 degrees to the person's right

    def shapes(**w):
        return np.array([w.get(n, 0.0) for n in BLENDSHAPE_NAMES])
    agree = shapes(eyeLookInLeft=0.5, eyeLookOutRight=0.5)
    against = shapes(eyeLookOutLeft=0.5, eyeLookInRight=0.5)
    assert ey.check_with_blendshapes(right, 0.8, agree) == 0.8
    assert ey.check_with_blendshapes(right, 0.8, against) == pytest.approx(0.4)
    assert ey.check_with_blendshapes(right, 0.8, None) == 0.8
    down = np.radians([15.0, 0.0, 15.0, 0.0])          # vertical > 0: down
    assert ey.check_with_blendshapes(down, 1.0, shapes(eyeLookUpLeft=0.6, eyeLookUpRight=0.6)) == 0.5
    assert ey.check_with_blendshapes(down, 1.0, shapes(eyeLookDownLeft=0.6, eyeLookDownRight=0.6)) == 1.0


def shift_eye_interiors(rgb, lm, frac):
    """The image with each eye's interior (between 12 % and 88 % of the corner-to-corner
    width, lids included) moved sideways by ``frac`` of the eye width: the iris moves
    toward one corner while the corners stay."""
    out = rgb.copy()
    for a, b in ((33, 133), (362, 263)):
        x0, x1 = sorted((lm[a, 0], lm[b, 0]))
        w = x1 - x0
        ys = [lm[i, 1] for i in (a, b, 159, 145, 386, 374)]
        y0, y1 = int(min(ys) - 0.15 * w), int(max(ys) + 0.15 * w)
        xa, xb = int(x0 + 0.12 * w), int(x1 - 0.12 * w)
        patch = rgb[y0:y1, xa:xb]
        shift = np.float32([[1, 0, frac * w], [0, 1, 0]])
        out[y0:y1, xa:xb] = cv2.warpAffine(patch, shift, (patch.shape[1], patch.shape[0]),
                                           borderMode=cv2.BORDER_REPLICATE)
    return out


def test_video_frames_with_the_irises_moved_look_aside():
    """Frames 240 and 250 (irises centred, looking into the lens) with the eyes' interiors
    shifted by 30 % of the eye width: the gaze leaves the camera, toward the shift."""
    from faceverse_ros.io.sources import FrameSource
    frames = list(FrameSource(shared_path("testdata/video/talking_256.mp4")))

    def read(rgb):
        pipe = pipeline()
        try:
            for k in range(5):
                faces = pipe.process(rgb, k / 30.0).faces
        finally:
            pipe.close()
        return faces[0]
    for k in (240, 250):
        rgb = frames[k].rgb
        base = read(rgb)
        assert base.gaze_target == gt.CAMERA, k
        for frac in (0.3, -0.3):
            moved = read(shift_eye_interiors(rgb, base.landmarks, frac))
            assert moved.gaze_target != gt.CAMERA and to_camera_deg(moved) > 15, (k, frac)
            assert np.sign(frac) * (moved.pose.gaze_direction[0] - base.pose.gaze_direction[0]) > 0.1
