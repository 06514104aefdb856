"""Landmark-only face mesh: Sim3DR render on the photos, PLY/OBJ with UVs, RViz marker."""
import cv2
import numpy as np
import pytest

from helpers import shared_path
from faceverse_ros.landmarks.canonical_mesh import load_mesh
from faceverse_ros.landmarks.landmark_pose import estimate_head_pose
from faceverse_ros.views.export import save_mesh
from faceverse_ros.views.landmark_mesh import landmark_mesh, render_meshes

PHOTOS = ["emma.jpg", "frontal_1080p.jpg", "portrait_small.jpg"]


def _detect(name, backend="legacy"):
    from faceverse_ros.tracking.detector import FaceDetector

    img = cv2.imread(str(shared_path(f"testdata/faces/{name}")))[:, :, ::-1].copy()
    with FaceDetector(backend, task_path=shared_path("models/face_landmarker.task"), mode="image",
                      max_faces=3) as det:
        return img, det.detect(img)


def _oval_polygon(landmarks):
    """The face-oval contour as an ordered polygon (FACEMESH_FACE_OVAL is a set of edges)."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_FACE_OVAL

    nxt = dict(FACEMESH_FACE_OVAL)
    start = min(nxt)
    loop = [start]
    while nxt[loop[-1]] != start:
        loop.append(nxt[loop[-1]])
    return np.round(landmarks[loop, :2]).astype(np.int32)


@pytest.fixture(scope="module")
def task_mesh():
    return load_mesh(shared_path("models/face_landmarker.task"))


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("source", ["task", "tesselation"])
def test_render_covers_the_face_shaded_with_depth(name, source, task_mesh):
    mesh = task_mesh if source == "task" else load_mesh(None)
    img, faces = _detect(name)
    h, w = img.shape[:2]
    cam = (float(w), float(w), (w - 1) / 2.0, (h - 1) / 2.0)
    meshes = [landmark_mesh(f.landmarks, cam, estimate_head_pose(f.landmarks, cam), mesh.triangles)
              for f in faces]
    out, depth = render_meshes(img, meshes, mesh.triangles)
    assert out.shape == img.shape and out.dtype == np.uint8
    drawn = np.isfinite(depth)
    # the drawn region is the mesh's triangles laid on the DETECTED landmark pixels, filled
    # by OpenCV (an independent rasteriser): intersection over union above 0.97; outside the
    # faces the image is untouched
    ref = np.zeros((h, w), np.uint8)
    for f in faces:
        corners = np.round(f.landmarks[:, :2] * 16).astype(np.int32)[mesh.triangles]
        for tri in corners:
            cv2.fillConvexPoly(ref, tri, 1, shift=4)
    ref = ref.astype(bool)
    iou = (drawn & ref).sum() / (drawn | ref).sum()
    assert iou > 0.97, iou
    assert np.array_equal(out[~drawn], img[~drawn])
    for f, m in zip(faces, meshes):
        # shaded, not a flat paint: the render's brightness varies over the face
        inside = np.zeros((h, w), np.uint8)
        cv2.fillPoly(inside, [_oval_polygon(f.landmarks)], 1)
        alone, _ = render_meshes(np.zeros_like(img), [m], mesh.triangles, alpha=1.0)
        grey = alone[inside.astype(bool) & drawn].astype(float).mean(axis=1)
        assert grey.std() > 5.0
        # with depth: at most vertices' pixels the buffer holds the vertex's own depth (the
        # others are hidden, or their rounded pixel falls into an eye or off the silhouette)
        solo = render_meshes(img, [m], mesh.triangles)[1]
        z = m.image_vertices[:, 2]
        tol = 0.03 * (z.max() - z.min())
        px = np.round(m.image_vertices[:, 1::-1]).astype(int)
        ok = (px[:, 0] >= 0) & (px[:, 0] < h) & (px[:, 1] >= 0) & (px[:, 1] < w)
        buf = solo[px[ok, 0], px[ok, 1]]
        assert np.mean(np.abs(buf - z[ok]) < tol) > 0.6
        if name != "emma.jpg":   # frontal faces: the nose tip nearer than the cheeks
            assert solo[tuple(px[1])] < min(solo[tuple(px[50])], solo[tuple(px[280])]) - tol


def _read_ply(path):
    """A PLY reader driven by the header's properties (ascii or binary little endian)."""
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    elements, current = [], None
    for line in header:
        words = line.split()
        if words[0] == "element":
            current = (words[1], int(words[2]), [])
            elements.append(current)
        elif words[0] == "property" and words[1] != "list":
            current[2].append((words[2], words[1]))
    kinds = {"float": "<f4", "uchar": "u1", "int": "<i4"}
    (vname, nv, vprops), (fname, nf, _) = elements
    assert vname == "vertex" and fname == "face"
    if "format ascii 1.0" in header:
        lines = data[end:].decode("ascii").splitlines()
        vert = np.array([[float(x) for x in ln.split()] for ln in lines[:nv]])
        faces = np.array([[int(x) for x in ln.split()] for ln in lines[nv:nv + nf]])
        cols = {name: vert[:, k] for k, (name, _) in enumerate(vprops)}
    else:
        rec = np.frombuffer(data, dtype=[(n, kinds[t]) for n, t in vprops], count=nv, offset=end)
        cols = {name: rec[name].astype(float) for name, _ in vprops}
        faces = np.frombuffer(data, dtype=[("n", "u1"), ("i", "<i4", (3,))], count=nf,
                              offset=end + rec.nbytes)
        faces = np.column_stack([faces["n"], faces["i"]])
    assert len(faces) == nf and np.all(faces[:, 0] == 3)
    return nv, nf, cols, faces[:, 1:]


@pytest.mark.parametrize("binary", [False, True])
def test_ply_with_uvs_reads_back(tmp_path, task_mesh, binary):
    img, faces = _detect("portrait_small.jpg")
    h, w = img.shape[:2]
    cam = (float(w), float(w), (w - 1) / 2.0, (h - 1) / 2.0)
    m = landmark_mesh(faces[0].landmarks, cam, estimate_head_pose(faces[0].landmarks, cam),
                      task_mesh.triangles)
    path = save_mesh(tmp_path / "face.ply", m.vertices_m, task_mesh.triangles, m.colors,
                     binary=binary, uvs=task_mesh.uvs)
    nv, nf, cols, tris = _read_ply(path)
    assert (nv, nf) == (468, 898)
    assert [k for k in cols] == ["x", "y", "z", "s", "t", "red", "green", "blue"]
    np.testing.assert_allclose(np.column_stack([cols["x"], cols["y"], cols["z"]]), m.vertices_m,
                               atol=1e-6)
    np.testing.assert_allclose(np.column_stack([cols["s"], cols["t"]]), task_mesh.uvs, atol=1e-6)
    np.testing.assert_array_equal(tris, task_mesh.triangles)
    # the legacy mesh: no UVs, 852 triangles
    legacy = load_mesh(None)
    nv, nf, cols, _ = _read_ply(save_mesh(tmp_path / "legacy.ply", m.vertices_m, legacy.triangles,
                                          m.colors, binary=binary))
    assert (nv, nf) == (468, 852) and "s" not in cols


def test_obj_with_uvs(tmp_path, task_mesh):
    verts = task_mesh.vertices_cm / 100.0
    path = save_mesh(tmp_path / "face.obj", verts, task_mesh.triangles, uvs=task_mesh.uvs)
    lines = path.read_text().splitlines()
    v = [ln for ln in lines if ln.startswith("v ")]
    vt = np.array([[float(x) for x in ln.split()[1:]] for ln in lines if ln.startswith("vt ")])
    f = [ln.split()[1:] for ln in lines if ln.startswith("f ")]
    assert len(v) == 468 and len(f) == 898
    np.testing.assert_allclose(vt, task_mesh.uvs, atol=1e-6)
    # 1-based, each corner's position and texture index the same vertex
    corners = np.array([[c.split("/") for c in face] for face in f], dtype=int)
    np.testing.assert_array_equal(corners[..., 0], corners[..., 1])
    np.testing.assert_array_equal(corners[..., 0] - 1, task_mesh.triangles)
    with pytest.raises(ValueError, match="uvs"):
        save_mesh(tmp_path / "bad.obj", verts, task_mesh.triangles, uvs=task_mesh.uvs[:10])


@pytest.mark.parametrize("detector", ["tasks", "legacy"])
def test_pipeline_mesh_lines_up_with_the_landmarks(detector):
    """What the debug image renders: the pipeline's landmark-only faces, their meshes built by
    the views (ViewBuilder with the pipeline's canonical mesh), projected vertices within
    1.5 px RMS of the detected landmarks on every shared photo."""
    from faceverse_ros.tracking.config import PipelineConfig
    from faceverse_ros.tracking.pipeline import FacePipeline
    from faceverse_ros.views.overlay import ViewBuilder

    cfg = PipelineConfig(detector=detector, task_path=str(shared_path("models/face_landmarker.task")),
                         landmark_only=True, stream=False, max_faces=3,
                         smoothing={"kind": "none"})
    pipe = FacePipeline(cfg, log=lambda m: None)
    try:
        assert pipe.canonical_mesh.n_triangles == (898 if detector == "tasks" else 852)
        builder = ViewBuilder(None, pipe.canonical_mesh)
        for name in PHOTOS:
            img = cv2.imread(str(shared_path(f"testdata/faces/{name}")))[:, :, ::-1].copy()
            result = pipe.process(img, 0.0)
            assert result.faces, name
            builder.add_meshes(result.faces, result.intrinsics)
            for face in result.faces:
                err = face.mesh.image_vertices[:, :2] - face.landmarks[:468, :2]
                assert np.sqrt((err ** 2).sum(axis=1).mean()) < 1.5, name
                assert (face.blendshapes is not None) == (detector == "tasks")
    finally:
        pipe.close()
