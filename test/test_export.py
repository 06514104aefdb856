"""PLY/OBJ writers (read back by a parser written here) and parameter files in the
original tracker's format."""
import numpy as np
import pytest

from faceverse_ros.views.export import export_face, load_params, save_mesh, save_obj, save_params, save_ply
from faceverse_ros.core.camera import CameraIntrinsics
from faceverse_ros.core.headpose import head_pose, vertices_in_camera

VERTS = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.5, 0.0], [0.25, -2.0, 3.125]])
TRIS = np.array([[0, 1, 2], [0, 2, 3]])
COLS = np.array([[0.5, 1.0, 0.0], [0.0, 0.2, 0.999], [1.2, -0.1, 0.75], [0.1, 0.1, 0.1]])
# truncation like the original's (c * 255).astype(uint8), after clipping to [0, 1]
COLS8 = [[127, 255, 0], [0, 51, 254], [255, 0, 191], [25, 25, 25]]


def read_ply(path):
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    nv = int(next(h for h in header if h.startswith("element vertex")).split()[-1])
    nf = int(next(h for h in header if h.startswith("element face")).split()[-1])
    has_col = any("red" in h for h in header)
    if "format ascii 1.0" in header:
        lines = data[end:].decode("ascii").splitlines()
        vals = np.array([[float(x) for x in ln.split()] for ln in lines[:nv]])
        faces = np.array([[int(x) for x in ln.split()] for ln in lines[nv:nv + nf]])
        assert np.all(faces[:, 0] == 3)
        return vals[:, :3], (vals[:, 3:].astype(int) if has_col else None), faces[:, 1:]
    assert "format binary_little_endian 1.0" in header
    vdt = [("xyz", "<f4", (3,))] + ([("rgb", "u1", (3,))] if has_col else [])
    v = np.frombuffer(data, dtype=vdt, count=nv, offset=end)
    f = np.frombuffer(data, dtype=[("n", "u1"), ("i", "<i4", (3,))], count=nf, offset=end + v.nbytes)
    assert np.all(f["n"] == 3)
    return v["xyz"].astype(float), (v["rgb"].astype(int) if has_col else None), f["i"]


@pytest.mark.parametrize("binary", [False, True])
def test_ply_round_trip(tmp_path, binary):
    p = save_ply(tmp_path / "m.ply", VERTS, TRIS, COLS, binary=binary)
    v, c, f = read_ply(p)
    np.testing.assert_allclose(v, VERTS, atol=1e-6)
    assert c.tolist() == COLS8
    assert f.tolist() == TRIS.tolist()
    v, c, f = read_ply(save_ply(tmp_path / "n.ply", VERTS, TRIS, binary=binary))
    assert c is None and f.tolist() == TRIS.tolist()


def test_obj_is_one_based_with_colours(tmp_path):
    p = save_obj(tmp_path / "m.obj", VERTS, TRIS, COLS)
    lines = p.read_text().splitlines()
    v = np.array([[float(x) for x in ln.split()[1:]] for ln in lines if ln.startswith("v ")])
    f = [[int(x) for x in ln.split()[1:]] for ln in lines if ln.startswith("f ")]
    np.testing.assert_allclose(v[:, :3], VERTS, atol=1e-6)
    np.testing.assert_allclose(v[:, 3:] * 255, COLS8, atol=0.02)
    assert f == (TRIS + 1).tolist()


def test_mesh_input_checks(tmp_path):
    with pytest.raises(ValueError, match="triangle indices"):
        save_ply(tmp_path / "x.ply", VERTS, [[0, 1, 4]])
    with pytest.raises(ValueError, match="colors"):
        save_obj(tmp_path / "x.obj", VERTS, TRIS, COLS[:3])
    with pytest.raises(ValueError, match="NaN"):
        save_ply(tmp_path / "x.ply", np.where(VERTS == 1.0, np.nan, VERTS), TRIS)
    with pytest.raises(ValueError, match=".ply or .obj"):
        save_mesh(tmp_path / "x.stl", VERTS, TRIS)


def test_export_face_in_model_and_camera_frames(tmp_path, synthetic_model):
    m = synthetic_model
    c = m.merge(angles=[0.1, 0.2, 0.0], trans=[0.05, 0.0, 0.3], gamma=np.full(27, 0.05))
    rec = m.reconstruct(c)
    v, col, f = read_ply(export_face(tmp_path / "face.ply", m, rec, binary=True))
    np.testing.assert_allclose(v, rec.vertices[0], atol=1e-6)   # unposed, like the original
    assert f.shape == (m.n_triangles, 3) and np.array_equal(f, m.tri)
    assert np.array_equal(col, (rec.colors[0].astype(np.float64) * 255).astype(np.uint8))
    box = np.array([500, 200, 756, 456])
    pose = head_pose(m, c, box, CameraIntrinsics.default(1280, 720))[0]
    v, _, _ = read_ply(export_face(tmp_path / "cam.ply", m, rec, frame="camera", pose=pose, binary=True))
    np.testing.assert_allclose(v, vertices_in_camera(pose, rec.vertices[0]), atol=1e-6)
    assert 0.5 < np.median(v[:, 2]) < 3.0   # metres in front of the camera
    with pytest.raises(ValueError, match="FacePose"):
        export_face(tmp_path / "x.ply", m, rec, frame="camera")


def test_param_files_match_the_original_format(tmp_path):
    rng = np.random.default_rng(0)
    coeffs = rng.normal(size=621).astype(np.float32)
    p = save_params(tmp_path / "frame_00001", coeffs, [10.7, -3.2, 200.0, 190.5])
    assert p.name == "frame_00001.npy"
    raw = np.load(p, allow_pickle=True).item()
    assert set(raw) == {"coeffs", "bbox_list"}
    assert raw["coeffs"].dtype == np.float32 and raw["coeffs"].shape == (1, 621)
    assert raw["bbox_list"].dtype == np.int32 and raw["bbox_list"].tolist() == [[10, -3, 200, 190]]
    back = load_params(p, n_coeffs=621)
    assert np.array_equal(back.coeffs[0], coeffs) and back.bbox_list.tolist() == [[10, -3, 200, 190]]
    # a file written the way the original tracker writes it
    orig = tmp_path / "orig.npy"
    np.save(orig, {"coeffs": coeffs[None], "bbox_list": np.array([[1, 2, 3, 4]], np.int32)})
    assert load_params(orig).bbox_list.tolist() == [[1, 2, 3, 4]]


def test_bad_param_files(tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros(5))
    with pytest.raises(ValueError, match="bad.npy"):
        load_params(bad)
    np.save(bad, {"coeffs": np.zeros((1, 600), np.float32), "bbox_list": np.zeros((1, 4), np.int32)})
    with pytest.raises(ValueError, match=r"\(1, 621\)"):
        load_params(bad, n_coeffs=621)
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.npy"):
        load_params(tmp_path / "junk.npy")
    with pytest.raises(ValueError, match="NaN"):
        save_params(tmp_path / "x", np.full(621, np.nan), [0, 0, 1, 1])
