"""The MediaPipe face mesh as a triangle mesh: .task metadata, tesselation, metric vertices."""
import math
from collections import Counter

import cv2
import numpy as np
import pytest

from helpers import shared_path
from faceverse_ros.landmarks.canonical_mesh import (NUM_MESH_VERTICES, CanonicalMeshError, metric_vertices,
                                               mesh_from_task, mesh_from_tesselation, project,
                                               triangles_from_edges, vertex_normals)
from faceverse_ros.landmarks.landmark_pose import estimate_head_pose


def _cycle(t):
    k = int(np.argmin(t))
    return tuple(int(v) for v in (t[k], t[(k + 1) % 3], t[(k + 2) % 3]))


def _edge_use(tris):
    """undirected edge -> number of triangles using it; and the directed edges."""
    use, directed = Counter(), Counter()
    for a, b, c in np.asarray(tris).tolist():
        for u, v in ((a, b), (b, c), (c, a)):
            use[(min(u, v), max(u, v))] += 1
            directed[(u, v)] += 1
    return use, directed


def _euler(tris):
    use, _ = _edge_use(tris)
    verts = {v for t in np.asarray(tris).tolist() for v in t}
    return len(verts) - len(use) + len(tris)


@pytest.fixture(scope="module")
def task_mesh():
    return mesh_from_task(shared_path("models/face_landmarker.task"))


@pytest.fixture(scope="module")
def tess_mesh():
    return mesh_from_tesselation()


def test_task_mesh_is_the_canonical_face(task_mesh):
    m = task_mesh
    assert m.source == "task"
    assert m.triangles.shape == (898, 3) and m.triangles.dtype == np.int32
    assert m.triangles.min() == 0 and m.triangles.max() == NUM_MESH_VERTICES - 1
    assert m.uvs.shape == (468, 2) and np.all((m.uvs >= 0) & (m.uvs <= 1))
    assert m.vertices_cm.shape == (468, 3)
    assert len(m.procrustes_weights) > 20 and all(w > 0 for w in m.procrustes_weights.values())
    use, directed = _edge_use(m.triangles)
    assert max(use.values()) == 2 and max(directed.values()) == 1   # manifold, oriented
    assert _euler(m.triangles) == 1                                  # a disk: eyes, mouth closed
    # canonical axes: x to the person's left (263 is the left eye's outer corner), y up
    # (the forehead 10 above the chin 152), z out of the face (nose tip 1 in front)
    v = m.vertices_cm
    assert v[263, 0] > 3 and v[33, 0] < -3 and v[10, 1] > v[152, 1] + 10
    assert v[1, 2] > v[234, 2] + 5
    # the corners run counter-clockwise seen from in front (normals out of the face, +z)
    n = np.cross(v[m.triangles[:, 1]] - v[m.triangles[:, 0]], v[m.triangles[:, 2]] - v[m.triangles[:, 0]])
    assert np.mean(n[:, 2] > 0) > 0.95
    # metric: the canonical face's eye centres are 63 mm apart, our landmark-pose scale
    ipd = np.linalg.norm((v[33] + v[133]) / 2 - (v[263] + v[362]) / 2)
    assert ipd == pytest.approx(6.3, abs=0.05)


def test_tesselation_triangles_give_back_the_edges(tess_mesh):
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_FACE_OVAL, \
        FACEMESH_LEFT_EYE, FACEMESH_LIPS, FACEMESH_RIGHT_EYE, FACEMESH_TESSELATION

    tris = tess_mesh.triangles
    assert tess_mesh.source == "tesselation" and tess_mesh.uvs is None
    assert tris.shape == (852, 3)
    use, directed = _edge_use(tris)
    assert set(directed) == set(FACEMESH_TESSELATION)   # every input edge, nothing else
    assert max(use.values()) == 2 and max(directed.values()) == 1
    assert _euler(tris) == -2                           # a disk with three holes
    boundary = {e for e, n in use.items() if n == 1}
    oval = {(min(e), max(e)) for e in FACEMESH_FACE_OVAL}
    inner = {(min(e), max(e)) for e in FACEMESH_LEFT_EYE | FACEMESH_RIGHT_EYE | FACEMESH_LIPS}
    assert oval <= boundary and boundary - oval <= inner  # the holes: the eyes and the mouth
    assert len(boundary - oval) == 16 + 16 + 20


def test_task_and_tesselation_are_one_mesh_up_to_flips_and_holes(task_mesh, tess_mesh):
    """Not the same triangles (see the module doc of canonical_mesh): the same oriented
    surface, where 209 quads are split along the other diagonal and the holes are closed."""
    task = {_cycle(t) for t in task_mesh.triangles}
    tess = {_cycle(t) for t in tess_mesh.triangles}
    common = task & tess
    assert len(common) == 434
    # no triangle is shared with the opposite orientation
    assert not {_cycle(t[::-1]) for t in tess_mesh.triangles} & task
    only_tess, only_task = tess - common, task - common
    # every tesselation-only triangle pairs with a neighbour into a quad that the task mesh
    # splits along the other diagonal (with the same orientation)
    by_edge = {}
    for t in only_tess:
        for u, v in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])):
            by_edge[(u, v)] = t
    flipped, used = set(), set()
    for t in only_tess:
        for u, v in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])):
            s = by_edge.get((v, u))
            if s is None or s in used or t in used:
                continue
            a = next(x for x in t if x not in (u, v))   # t = (u, v, a), s = (v, u, b)
            b = next(x for x in s if x not in (u, v))
            new = {_cycle((a, u, b)), _cycle((b, v, a))}
            if new <= only_task:
                flipped |= new
                used |= {t, s}
    assert used == only_tess and len(used) == 418
    fills = only_task - flipped
    assert len(fills) == 46
    use, _ = _edge_use(tess_mesh.triangles)
    hole_vertices = {v for e, n in use.items() if n == 1 for v in e} - \
        {v for e, n in _edge_use(task_mesh.triangles)[0].items() if n == 1 for v in e}
    assert all(set(t) <= hole_vertices for t in fills)
    # the same surface: equal area over the canonical positions (fills excluded)
    v = task_mesh.vertices_cm.astype(np.float64)

    def area(ts):
        t = np.array(sorted(ts))
        return 0.5 * np.linalg.norm(np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]]),
                                    axis=1).sum()
    assert area(task - fills) == pytest.approx(area(tess), rel=1e-3)


def _drawing_edges(faces):
    return [(t[k], t[(k + 1) % 3]) for t in faces for k in range(3)]


def test_triangles_from_edges_hand_made():
    # vertex 3 inside triangle (0, 1, 2), and a triangle outside each side: the clique
    # (0, 1, 2) is no face (each of its edges already bounds two faces)
    faces = [(0, 1, 3), (1, 2, 3), (2, 0, 3), (1, 0, 4), (2, 1, 5), (0, 2, 6)]
    got = {_cycle(t) for t in triangles_from_edges(_drawing_edges(faces))}
    assert got == {_cycle(t) for t in faces}
    # the orientation follows the edges: reversed input, reversed triangles
    rev = [t[::-1] for t in faces]
    assert {_cycle(t) for t in triangles_from_edges(_drawing_edges(rev))} == {_cycle(t) for t in rev}
    # three faces round a boundary vertex: the enclosing clique cannot be told from a face
    with pytest.raises(CanonicalMeshError):
        triangles_from_edges(_drawing_edges([(0, 1, 3), (1, 2, 3), (2, 0, 3)]))
    # a bow tie of edges shared by three triangles is no manifold
    with pytest.raises(CanonicalMeshError, match="manifold"):
        triangles_from_edges(_drawing_edges([(0, 1, 2), (1, 0, 3), (0, 1, 4)]))


def test_bad_task_file(tmp_path):
    bad = tmp_path / "face_landmarker.task"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CanonicalMeshError, match="binarypb"):
        mesh_from_task(bad)


def _rgb(name):
    img = cv2.imread(str(shared_path(f"testdata/faces/{name}")))
    return img[:, :, ::-1].copy()


@pytest.mark.parametrize("name", ["emma.jpg", "frontal_1080p.jpg", "portrait_small.jpg"])
def test_metric_vertices_project_onto_the_landmarks(name):
    from faceverse_ros.tracking.detector import FaceDetector

    img = _rgb(name)
    h, w = img.shape[:2]
    # an off-centre principal point and fx != fy: a mix-up of the two shows
    cam = (0.9 * w, 0.95 * w, 0.45 * w, 0.55 * h)
    task = shared_path("models/face_landmarker.task")
    for backend in ("legacy", "tasks"):
        with FaceDetector(backend, task_path=task, mode="image", max_faces=3) as det:
            faces = det.detect(img)
        assert faces, (name, backend)
        for face in faces:
            pose = estimate_head_pose(face.landmarks, cam)
            verts = metric_vertices(face.landmarks, cam, pose)
            assert verts.shape == (468, 3) and np.all(verts[:, 2] > 0)
            k = np.array([[cam[0], 0, cam[2]], [0, cam[1], cam[3]], [0, 0, 1]])
            px, _ = cv2.projectPoints(verts, np.zeros(3), np.zeros(3), k, None)
            err = px.reshape(-1, 2) - face.landmarks[:468, :2]
            assert math.sqrt((err ** 2).sum(axis=1).mean()) < 1.5
            np.testing.assert_allclose(project(verts, cam)[:, :2], px.reshape(-1, 2), atol=1e-6)
            # metric size: the mesh's eye centres 63 mm apart, within 8 % on the frontal faces;
            # emma's are turned far (one in profile), where MediaPipe's relative depths are
            # rougher: within 20 % (measured 53-72 mm)
            ipd = np.linalg.norm((verts[33] + verts[133]) / 2 - (verts[263] + verts[362]) / 2)
            tol = 0.20 if name == "emma.jpg" else 0.08
            assert abs(ipd / 0.063 - 1) < tol, ipd
            # the sellion vertex is where the head pose says (the TF frame's origin)
            assert np.linalg.norm(verts[168] - pose.position) < 0.01


def test_scale_agrees_with_mediapipe_face_geometry():
    """Our depth (eye centres 63 mm apart) against MediaPipe's metric face geometry (the
    canonical face fitted by weighted Procrustes), with the camera MediaPipe assumes
    (vertical field of view 63 degrees, centred principal point)."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from faceverse_ros.io.sources import FrameSource

    task = shared_path("models/face_landmarker.task")
    canonical = mesh_from_task(task).vertices_cm.astype(np.float64)
    opts = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(task)), running_mode=vision.RunningMode.VIDEO,
        num_faces=1, output_facial_transformation_matrixes=True)
    ratios = []
    src = FrameSource(str(shared_path("testdata/video/talking_256.mp4")))
    with vision.FaceLandmarker.create_from_options(opts) as lmk:
        for i, frame in enumerate(src):
            if i % 5:
                continue
            rgb = frame.rgb
            h, w = rgb.shape[:2]
            f = (h / 2.0) / math.tan(math.radians(63.0 / 2))
            cam = (f, f, w / 2.0, h / 2.0)
            res = lmk.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), i * 33)
            lm = np.array([(p.x * w, p.y * h, p.z * w) for p in res.face_landmarks[0]])
            pose = estimate_head_pose(lm, cam)
            mat = np.asarray(res.facial_transformation_matrixes[0])
            sellion_cm = mat @ np.r_[canonical[168], 1.0]   # OpenGL camera: looks along -z
            ratios.append(metric_vertices(lm, cam, pose)[168, 2] / (-sellion_cm[2] / 100.0))
    assert len(ratios) > 50
    assert np.median(ratios) == pytest.approx(1.0, abs=0.03)


def test_vertex_normals_face_the_camera():
    # a square in the plane z = 1 seen from the origin; the triangles wound either way
    v = np.array([[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], dtype=np.float64)
    for tris in ([[0, 1, 2], [0, 2, 3]], [[0, 2, 1], [0, 3, 2]]):
        n = vertex_normals(v, np.array(tris))
        np.testing.assert_allclose(n, [[0, 0, -1]] * 4, atol=1e-12)
