"""FaceVerse V4 arithmetic (spec faceverse_v4.md section 3), checked against formulas
written out here independently of faceverse_ros.core.model, on the SYNTHETIC model."""
import math

import numpy as np
import pytest

from faceverse_ros.core.model import FaceVerseModel
from faceverse_ros.core.projection import project, sh_basis, to_image

JAW, REF = 19496, 6550


def elementary(axis, t):
    c, s = math.cos(t), math.sin(t)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def raw_shape(d, idc, exp):
    """Step 1 by the spec, float64, model units."""
    n = d["meanshape"].shape[0]
    off = d["idBase"].astype(np.float64) @ idc + d["exBase"].astype(np.float64) @ exp
    return (d["meanshape"].astype(np.float64) + off.reshape(n, 3)) / 100.0


def random_coeffs(model, rng, scale=0.5, **override):
    blocks = {"id": rng.normal(0, scale, model.n_id), "exp": rng.normal(0, scale, model.n_exp),
              "tex": rng.normal(0, scale, model.n_tex), "gamma": rng.normal(0, 0.05, 27)}
    blocks.update(override)
    return model.merge(**blocks)


def test_block_layout_matches_spec_table(synthetic_model):
    m = synthetic_model
    assert m.n_coeffs == 621
    c = m.merge(id=np.full(156, 1.0), exp=np.full(177, 2.0), tex=np.full(251, 3.0), gamma=np.full(27, 4.0),
                angles=[5, 5, 5], trans=[6, 6, 6], eyes=[7, 7, 7, 7])[0]
    for value, (lo, hi) in zip(range(1, 8), [(0, 156), (156, 333), (333, 584), (584, 611), (611, 614),
                                            (614, 617), (617, 621)]):
        assert np.all(c[lo:hi] == value)
    parts = m.split(c)
    assert parts["eyes"].shape == (1, 4) and np.all(parts["trans"] == 6)
    with pytest.raises(ValueError, match="block 'exp'"):
        m.merge(exp=np.zeros(176))
    with pytest.raises(ValueError, match="unknown block"):
        m.merge(pose=np.zeros(3))


def test_shape_is_mean_plus_bases_over_100(synthetic_model, synthetic_model_dict):
    m, d = synthetic_model, synthetic_model_dict
    rng = np.random.default_rng(1)
    c = random_coeffs(m, rng)
    rec = m.reconstruct(c)
    assert rec.vertices.dtype == np.float32 and rec.vertices.shape == (1, 20000, 3)
    expected = raw_shape(d, c[0, :156].astype(np.float64), c[0, 156:333].astype(np.float64))
    head = slice(0, d["ver_inds"][0])
    np.testing.assert_allclose(rec.vertices[0, head], expected[head], atol=2e-5)


def test_rotation_order_is_rz_ry_rx_by_hand(synthetic_model):
    m = synthetic_model
    t = np.array([0.3, -0.2, 0.7], np.float32)
    rec = m.reconstruct(m.merge(angles=[math.pi / 2, math.pi / 2, 0.0], trans=t))
    v = rec.vertices[0].astype(np.float64)
    # Rx(90): (x, y, z) -> (x, -z, y); then Ry(90): (x, y, z) -> (z, y, -x); so (x, y, z) -> (y, -z, -x)
    hand = np.stack([v[:, 1], -v[:, 2], -v[:, 0]], 1) + t
    np.testing.assert_allclose(rec.posed[0], hand, atol=1e-5)
    # the other order (Rx @ Ry) would give (x,y,z) -> (z, x, y): make sure the test can tell them apart
    assert np.abs(np.stack([v[:, 2], v[:, 0], v[:, 1]], 1) + t - rec.posed[0]).max() > 0.1

    rec = m.reconstruct(m.merge(angles=[0.0, 0.0, math.pi / 2]))
    v = rec.vertices[0]
    np.testing.assert_allclose(rec.posed[0], np.stack([-v[:, 1], v[:, 0], v[:, 2]], 1), atol=1e-5)

    a = [0.2, -0.4, 0.3]
    r = elementary("z", a[2]) @ elementary("y", a[1]) @ elementary("x", a[0])
    rec = m.reconstruct(m.merge(angles=a, trans=t))
    np.testing.assert_allclose(rec.posed[0], rec.vertices[0] @ r.T + t, atol=1e-5)


def test_eye_rotation_about_identity_only_centre(synthetic_model, synthetic_model_dict):
    m, d = synthetic_model, synthetic_model_dict
    rng = np.random.default_rng(2)
    eyes = np.array([0.3, -0.2, 0.1, 0.25])
    c = random_coeffs(m, rng, eyes=eyes)
    idc, exp = c[0, :156].astype(np.float64), c[0, 156:333].astype(np.float64)
    rec = m.reconstruct(c)
    vi = d["ver_inds"]
    id_only = raw_shape(d, idc, np.zeros(177))
    full = raw_shape(d, idc, exp)
    for k, (lo, hi) in enumerate([(vi[0], vi[1]), (vi[1], vi[2])]):
        centre = id_only[lo:hi].mean(0)
        # the test has teeth: expression moves the eyeball, so the full-shape centre differs
        assert np.linalg.norm(full[lo:hi].mean(0) - centre) > 1e-4
        a, b = eyes[2 * k], eyes[2 * k + 1]
        r = elementary("y", b) @ elementary("x", a)
        expected = centre + (full[lo:hi] - centre) @ r.T
        np.testing.assert_allclose(rec.vertices[0, lo:hi], expected, atol=3e-5)

    # by hand: eyes (0, pi/2) maps an offset (dx, dy, dz) from the centre to (dz, dy, -dx)
    rec0 = m.reconstruct(m.merge())
    rec1 = m.reconstruct(m.merge(eyes=[0.0, math.pi / 2, 0.0, 0.0]))
    lo, hi = vi[0], vi[1]
    centre = d["meanshape"][lo:hi].astype(np.float64).mean(0) / 100
    off = rec0.vertices[0, lo:hi] - centre
    np.testing.assert_allclose(rec1.vertices[0, lo:hi] - centre, np.stack([off[:, 2], off[:, 1], -off[:, 0]], 1),
                               atol=1e-5)
    np.testing.assert_allclose(rec1.vertices[0, vi[1]:vi[2]], rec0.vertices[0, vi[1]:vi[2]], atol=1e-6)


def test_mouth_interior_z_shift(synthetic_model, synthetic_model_dict):
    m, d = synthetic_model, synthetic_model_dict
    rng = np.random.default_rng(3)
    c = random_coeffs(m, rng, scale=1.0)
    shape = raw_shape(d, c[0, :156].astype(np.float64), c[0, 156:333].astype(np.float64))
    mean = d["meanshape"].astype(np.float64) / 100
    delta = (shape[JAW, 2] - shape[REF, 2]) - (mean[JAW, 2] - mean[REF, 2])
    assert abs(delta) > 1e-3  # the shift is really exercised
    vi = d["ver_inds"]
    mouth = slice(vi[2], vi[5])
    rec = m.reconstruct(c)
    np.testing.assert_allclose(rec.vertices[0, mouth, 2], shape[mouth, 2] - delta, atol=2e-5)
    np.testing.assert_allclose(rec.vertices[0, mouth, :2], shape[mouth, :2], atol=2e-5)
    np.testing.assert_allclose(rec.vertices[0, :vi[0]], shape[:vi[0]], atol=2e-5)


def test_vertex_normals_from_point_buf(synthetic_model, synthetic_model_dict):
    m, d = synthetic_model, synthetic_model_dict
    rng = np.random.default_rng(4)
    angles = [0.3, -0.5, 0.2]
    rec = m.reconstruct(random_coeffs(m, rng, angles=angles))
    v = rec.vertices[0].astype(np.float64)
    r = elementary("z", angles[2]) @ elementary("y", angles[1]) @ elementary("x", angles[0])
    for idx in rng.choice(20000, 25, replace=False):
        total = np.zeros(3)
        for t in d["point_buf"][idx]:
            v1, v2, v3 = v[d["tri"][t]]
            total += np.cross(v1 - v2, v2 - v3)
        n = total / (np.linalg.norm(total) + 1e-9)
        np.testing.assert_allclose(rec.normals[0, idx], r @ n, atol=1e-4)


def test_sh_basis_of_known_normals_by_hand():
    sqpi = math.sqrt(math.pi)
    a2c2 = 1.5 * math.sqrt(5 * math.pi / 6)
    h = sh_basis(np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    np.testing.assert_allclose(h[0], [sqpi / 2, 0, sqpi, 0, 0, 0, math.sqrt(5 * math.pi / 8), 0, 0], atol=1e-12)
    np.testing.assert_allclose(h[1], [sqpi / 2, 0, 0, -sqpi, 0, 0, -math.sqrt(5 * math.pi / 8) / 2, 0,
                                      a2c2 / 2], atol=1e-12)
    np.testing.assert_allclose(h[2], [sqpi / 2, -sqpi, 0, 0, 0, 0, -math.sqrt(5 * math.pi / 8) / 2, 0,
                                      -a2c2 / 2], atol=1e-12)


def test_lit_colours(synthetic_model, synthetic_model_dict):
    m, d = synthetic_model, synthetic_model_dict
    rng = np.random.default_rng(5)
    gamma = rng.normal(0, 0.2, 27)
    c = random_coeffs(m, rng, gamma=gamma, angles=[0.1, 0.2, -0.1])
    rec = m.reconstruct(c)
    tex = c[0, 333:584].astype(np.float64)
    albedo = (d["meantex"].astype(np.float64) + (d["texBase"].astype(np.float64) @ tex).reshape(-1, 3)) / 255
    np.testing.assert_allclose(rec.albedo[0], albedo, atol=2e-5)
    g = c[0, 584:611].astype(np.float64).reshape(9, 3)
    g[0] += 0.8
    sqpi, a2c2, d0 = math.sqrt(math.pi), 1.5 * math.sqrt(5 * math.pi / 6), 0.5 / math.sqrt(3)
    clipped = 0
    for idx in rng.choice(20000, 40, replace=False):
        nx, ny, nz = rec.normals[0, idx].astype(np.float64)
        h = np.array([sqpi / 2, -sqpi * ny, sqpi * nz, -sqpi * nx, a2c2 * nx * ny, -a2c2 * ny * nz,
                      a2c2 * d0 * (3 * nz * nz - 1), -a2c2 * nx * nz, a2c2 * 0.5 * (nx * nx - ny * ny)])
        lit = albedo[idx] * (h @ g)
        clipped += np.any((lit < 0) | (lit > 1))
        np.testing.assert_allclose(rec.colors[0, idx], np.clip(lit, 0, 1), atol=1e-4)
    assert rec.colors.min() >= 0 and rec.colors.max() <= 1


def test_projection_of_known_points(synthetic_model):
    np.testing.assert_allclose(project(np.array([[1.0, 2.0, 0.0]])), [[227.5, 327.5, 10.0]], atol=1e-4)
    np.testing.assert_allclose(project(np.array([[0.0, 0.0, -5.0]])), [[127.5, 127.5, 5.0]], atol=1e-4)
    m = synthetic_model
    t = [0.1, -0.2, 0.5]
    rec = m.reconstruct(m.merge(trans=t))
    v = rec.vertices[0, 123].astype(np.float64)
    z = v[2] + 0.5 + 10
    np.testing.assert_allclose(rec.projected[0, 123], [1000 * (v[0] + 0.1) / z + 127.5,
                                                       1000 * (v[1] - 0.2) / z + 127.5, z], rtol=1e-5)


def test_to_image_maps_crop_corners_to_the_box():
    p = np.array([[0.0, 0.0, 9.0], [256.0, 256.0, 9.5], [127.5, 64.0, 10.0]])
    out = to_image(p, (10, 20, 138, 276))
    np.testing.assert_allclose(out, [[10, 20, 9.0], [138, 276, 9.5], [73.75, 84.0, 10.0]], atol=1e-4)
    batch = to_image(np.stack([p, p]), np.array([(10, 20, 138, 276), (0, 0, 256, 256)]))
    np.testing.assert_allclose(batch[1], p, atol=1e-4)


def test_display_adjustments_by_hand(synthetic_model):
    m = synthetic_model
    x = np.array([-0.2, 0.1, 0.2, 0.35, 0.0])
    eye = np.array([-0.2, 0.15, 0.375, 1.0, 0.0])
    mouth_in = np.array([-0.1, 0.2, 0.3, 0.5, 0.25])
    mouth = np.array([-0.1, 0.12, 0.225, 0.5, 0.15])
    exp = np.zeros((5, 177))
    exp[:, 14], exp[:, 15], exp[:, 49] = x, x, mouth_in
    adj = m.display_adjust_exp(exp)
    np.testing.assert_allclose(adj[:, 14], eye, atol=1e-6)
    np.testing.assert_allclose(adj[:, 15], eye, atol=1e-6)
    np.testing.assert_allclose(adj[:, 49], mouth, atol=1e-6)
    assert np.all(adj[:, :14] == 0) and np.all(exp[:, 14] == x)  # input untouched
    c = m.merge(exp=exp)
    manual = c.copy()
    manual[:, 156:333] = adj
    np.testing.assert_allclose(m.reconstruct(c, display=True).vertices, m.reconstruct(manual).vertices, atol=1e-6)


def test_batch_equals_single_and_geometry_paths(synthetic_model):
    m = synthetic_model
    rng = np.random.default_rng(6)
    c = np.concatenate([random_coeffs(m, rng, angles=rng.normal(0, 0.2, 3), trans=rng.normal(0, 0.1, 3),
                                      eyes=rng.normal(0, 0.2, 4)) for _ in range(3)])
    full = m.reconstruct(c)
    for i in range(3):
        one = m.reconstruct(c[i])
        np.testing.assert_allclose(one.colors[0], full.colors[i], atol=1e-4)
        np.testing.assert_allclose(one.projected[0], full.projected[i], atol=1e-3)
    geo = m.reconstruct_geometry(c)
    np.testing.assert_allclose(geo.projected, full.projected, atol=1e-4)
    for kind, count in (("mediapipe", 478), ("dense", 370), ("68", 70)):
        lm = m.landmarks_from_coeffs(c, kind)
        assert lm.projected.shape == (3, count, 3)
        np.testing.assert_allclose(lm.projected, m.landmarks(full.projected, kind), atol=1e-3)
        np.testing.assert_allclose(lm.vertices, m.landmarks(full.vertices, kind), atol=1e-5)
    idx = [5, JAW, 19000, 18600, 5]
    sub = m.reconstruct_geometry(c, indices=idx)
    np.testing.assert_allclose(sub.posed, full.posed[:, idx], atol=1e-5)
    with pytest.raises(ValueError, match="landmark kind"):
        m.landmarks(full.projected, "dlib")
    # a named group of the dense keypoints: positions into `keypoints`
    d_idx = m.keypoints[m.keypoints_name_list["pupil_left_5"]]
    np.testing.assert_allclose(m.landmarks(full.posed, "pupil_left_5"), full.posed[:, d_idx])
    vi = m.ver_inds
    assert np.all((d_idx >= vi[0]) & (d_idx < vi[1]))  # synthetic pupils lie on the left eyeball


def test_bad_coefficients_are_refused(synthetic_model):
    m = synthetic_model
    with pytest.raises(ValueError, match=r"\(B, 621\)"):
        m.reconstruct(np.zeros((1, 620), np.float32))
    c = np.zeros((2, 621), np.float32)
    c[1, 612] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.reconstruct(c)


def test_model_loads_from_file_and_says_synthetic(synthetic_assets):
    m = FaceVerseModel.from_file(synthetic_assets.model_path)
    assert m.synthetic and "SYNTHETIC" in repr(m)
    assert (m.n_id, m.n_exp, m.n_tex) == (156, 177, 251)
