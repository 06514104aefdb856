"""views.mesh_builder.FaceMeshBuilder (per-track identity/albedo cache, decimated sub-meshes) and
the views that use it, checked against the full reconstruction (model.reconstruct through
face_meshes) and against hand-written normals, on the SYNTHETIC model (arithmetic only)."""
import numpy as np
import pytest

from faceverse_ros.core.face_mesh import face_meshes
from faceverse_ros.views.mesh_builder import FaceMeshBuilder
from faceverse_ros.core.layout import MODE_LANDMARK_FIT
from faceverse_ros.views.mesh_decimate import MeshDecimator, part_labels
from faceverse_ros.views.overlay import ViewBuilder, ViewRequest
from faceverse_ros.views.render import overlay

BOX = np.array([30.0, 40.0, 190.0, 200.0])
FIELDS = ("image_vertices", "colors", "normals", "vertices", "vertices_m")


class Pose:
    def __init__(self, yaw=0.0):
        c, s = np.cos(yaw), np.sin(yaw)
        self.model_rotation = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
        self.model_translation = np.array([0.01, -0.02, 0.6])
        self.position, self.rotation = self.model_translation, self.model_rotation  # axes


def coeffs(model, seed, scale=0.3):
    rng = np.random.default_rng(seed)
    c = (rng.normal(size=model.n_coeffs) * scale).astype(np.float32)
    c[model.slices["angles"]] = rng.uniform(-0.4, 0.4, 3)
    c[model.slices["trans"]] = rng.uniform(-0.2, 0.2, 3)
    c[model.slices["eyes"]] = rng.uniform(-0.3, 0.3, 4)
    return c


def full_mesh(model, c, pose):
    return face_meshes(model, c[None], [BOX], [pose])[0]


def assert_close(a, b, atol):
    for k in FIELDS:
        np.testing.assert_allclose(getattr(a, k), getattr(b, k), atol=atol, err_msg=k)


def test_full_builder_equals_the_full_reconstruction_frame_after_frame(synthetic_model):
    m = synthetic_model
    b = FaceMeshBuilder(m)
    c = coeffs(m, 0)
    for frame in range(4):  # same identity and texture, new expression, eyes, pose, light
        c = c.copy()
        for name in ("exp", "angles", "trans", "eyes", "gamma"):
            c[m.slices[name]] = coeffs(m, 10 + frame)[m.slices[name]]
        got = b.meshes([7], c[None], [BOX], [Pose(0.1 * frame)])[0]
        assert_close(got, full_mesh(m, c, Pose(0.1 * frame)), atol=2e-4)
        assert got.triangles is None
    assert (b.identity_updates, b.albedo_updates, b.frames) == (1, 1, 4)


def test_cache_stays_within_its_bounds_and_recomputes_beyond(synthetic_model):
    m = synthetic_model
    b = FaceMeshBuilder(m, id_tolerance_mm=0.05, tex_tolerance=0.5 / 255)
    c = coeffs(m, 1)
    b.meshes([3], c[None], [BOX], [Pose()])
    # a change of the id block just inside the bound: the cached identity is kept and no
    # vertex is further from the exact geometry than the stated 0.05 mm
    d = np.random.default_rng(2).normal(size=m.n_id)
    d *= 0.9 * (0.05 / 100.0) / (3.0 * np.abs(d) @ m.identity_bound())
    c2 = c.copy()
    c2[m.slices["id"]] += d.astype(np.float32)
    got = b.meshes([3], c2[None], [BOX], [Pose()])[0]
    assert b.identity_updates == 1
    exact = full_mesh(m, c2, Pose())
    err_mm = np.linalg.norm(got.vertices - exact.vertices, axis=1).max() * 100.0
    assert 0 < err_mm <= 0.05
    # the texture likewise: the cached albedo within half a colour step of the exact one
    t = np.random.default_rng(3).normal(size=m.n_tex)
    t *= 0.9 * (0.5 / 255) / (np.abs(t) @ m.texture_bound())
    c3 = c2.copy()
    c3[m.slices["tex"]] += t.astype(np.float32)
    b.meshes([3], c3[None], [BOX], [Pose()])
    assert b.albedo_updates == 1
    alb_err = np.abs(b._tracks[3].albedo - m.albedo(c3[m.slices["tex"]])[0]).max()
    assert 0 < alb_err <= 0.5 / 255
    # ten times the bound: both recomputed, exact again
    c4 = c3.copy()
    c4[m.slices["id"]] += 10 * d.astype(np.float32)
    c4[m.slices["tex"]] += 10 * t.astype(np.float32)
    got = b.meshes([3], c4[None], [BOX], [Pose()])[0]
    assert (b.identity_updates, b.albedo_updates) == (2, 2)
    assert_close(got, full_mesh(m, c4, Pose()), atol=2e-4)


def test_tracks_are_kept_apart_and_forgotten_when_gone(synthetic_model):
    m = synthetic_model
    b = FaceMeshBuilder(m)
    ca, cb = coeffs(m, 4), coeffs(m, 5)
    two = b.meshes([1, 2], np.stack([ca, cb]), [BOX, BOX], [Pose(), Pose(0.2)])
    assert_close(two[0], full_mesh(m, ca, Pose()), atol=2e-4)
    assert_close(two[1], full_mesh(m, cb, Pose(0.2)), atol=2e-4)
    b.meshes([2], cb[None], [BOX], [Pose(0.2)])
    assert set(b._tracks) == {2} and b.identity_updates == 2
    # face 1 comes back (or a new face gets its id) with another identity: recomputed
    got = b.meshes([1], cb[None], [BOX], [Pose()])[0]
    assert b.identity_updates == 3
    assert_close(got, full_mesh(m, cb, Pose()), atol=2e-4)
    with pytest.raises(ValueError, match="NaN"):
        bad = cb.copy()
        bad[0] = np.nan
        b.meshes([1], bad[None], [BOX], [Pose()])


def _plain_normals(v, tris):
    """Normalised sum of the face normals (a - b) x (b - c) at each vertex, by np.add.at."""
    a, bb, c = v[tris[:, 0]], v[tris[:, 1]], v[tris[:, 2]]
    fn = np.cross(a - bb, bb - c).astype(np.float64)
    vn = np.zeros(v.shape, np.float64)
    for k in range(3):
        np.add.at(vn, tris[:, k], fn)
    return vn / (np.linalg.norm(vn, axis=1, keepdims=True) + 1e-9)


def test_decimated_builder_computes_the_kept_vertices_exactly(synthetic_model):
    m = synthetic_model
    dec = MeshDecimator(m.meanshape_raw, m.tri, 4, groups=part_labels(m.ver_inds, m.n_vertices))
    b = FaceMeshBuilder(m, dec.vertex_index, dec.triangles)
    c = coeffs(m, 6)
    got = b.meshes([1], c[None], [BOX], [Pose(0.3)])[0]
    full = full_mesh(m, c, Pose(0.3))
    assert len(got.vertices) == b.n_vertices < m.n_vertices / 3
    pos = np.searchsorted(b.sub.rows, dec.vertex_index)   # the kept vertices among the rows
    assert np.array_equal(b.sub.rows[pos], dec.vertex_index)
    for k in ("image_vertices", "vertices", "vertices_m"):
        np.testing.assert_allclose(getattr(got, k)[pos], getattr(full, k)[dec.vertex_index],
                                   atol=2e-5, err_msg=k)
    # its triangles are the decimated ones, on its own vertex numbering
    np.testing.assert_array_equal(b.sub.rows[got.triangles], dec.vertex_index[dec.triangles])
    # normals: those of the decimated triangles, rotated by the head rotation
    ref = _plain_normals(got.vertices.astype(np.float64), got.triangles)
    rot = np.linalg.lstsq(ref[pos], got.normals[pos], rcond=None)[0]   # ref @ R^T = got
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-4)
    np.testing.assert_allclose(ref[pos] @ rot, got.normals[pos], atol=1e-4)
    # and close to the full mesh's normals (a coarser surface, same orientation)
    assert np.median((got.normals[pos] * full.normals[dec.vertex_index]).sum(1)) > 0.99
    with pytest.raises(ValueError, match="triangles"):
        FaceMeshBuilder(m, dec.vertex_index, dec.triangles + len(dec.vertex_index))


def test_part_labels_keep_eyeballs_apart_from_the_head(synthetic_model):
    m = synthetic_model
    labels = part_labels(m.ver_inds, m.n_vertices)
    assert not np.any(labels[m.tri] != labels[m.tri][:, :1])   # the model's own triangles
    for groups, mixed in ((None, True), (labels, False)):
        dec = MeshDecimator(m.meanshape_raw, m.tri, 8, groups=groups)
        kept = labels[dec.vertex_index][dec.triangles]
        assert np.any(kept != kept[:, :1]) == mixed
    with pytest.raises(ValueError, match="label per vertex"):
        MeshDecimator(m.meanshape_raw, m.tri, 8, groups=labels[:-1])


class Face:
    def __init__(self, face_id, c, pose, mesh=None):
        self.face_id, self.coeffs, self.pose, self.mesh = face_id, c, pose, mesh
        self.mode, self.crop_box, self.box = MODE_LANDMARK_FIT, BOX, BOX
        self.landmarks = np.zeros((478, 3))
        self.blendshapes = None


class Cam:
    fx = fy = 256.0
    cx = cy = 127.5


def test_view_builder_renders_and_marks_from_the_decimated_mesh(synthetic_model):
    m = synthetic_model
    c = coeffs(m, 8, scale=0.1)
    c[m.slices["trans"]] = 0
    rgb = np.full((256, 256, 3), 90, np.uint8)
    vb = ViewBuilder(m, render_decimation=4)
    face = Face(5, c, Pose(0.2))
    views = vb.build(ViewRequest(rgb, [face], Cam(), debug=True, mesh=True, decimation=16))
    assert face.mesh is None   # the face's own (full) mesh is not made for the views
    # the same drawing from the full mesh: the decimated render covers nearly the same pixels
    full = vb.overlay(rgb, [Face(5, c, Pose(0.2), full_mesh(m, c, Pose(0.2)))], Cam(), decimation=1)
    lines = np.any(vb.overlay(rgb, [face], Cam(), render=False) != rgb, axis=2)  # box, axes
    drawn_dec = np.any(views.debug != rgb, axis=2) & ~lines
    drawn_full = np.any(full != rgb, axis=2) & ~lines
    assert drawn_full.sum() > 2000
    iou = (drawn_dec & drawn_full).sum() / (drawn_dec | drawn_full).sum()
    assert iou > 0.95
    # markers: the decimated vertices in metres, exactly those of the full mesh
    (fid, verts, tris, cols), = views.meshes
    dec = vb.decimator(16)
    b = vb._builders[(16, 1.0)]
    pos = np.searchsorted(b.sub.rows, dec.vertex_index)
    np.testing.assert_allclose(verts[pos], full_mesh(m, c, Pose(0.2)).vertices_m[dec.vertex_index],
                               atol=1e-6)
    assert fid == 5 and tris.max() < len(verts) and cols.shape == verts.shape
    # a face carrying its full mesh (the command line's PLY path): markers decimated from it
    with_mesh = Face(5, c, Pose(0.2), full_mesh(m, c, Pose(0.2)))
    (_, v2, t2, _), = vb.marker_meshes([with_mesh], 16)
    np.testing.assert_allclose(v2, with_mesh.mesh.vertices_m[dec.vertex_index])
    np.testing.assert_array_equal(t2, dec.triangles)
    # a face that is gone is dropped from the builders' caches
    vb.build(ViewRequest(rgb, [], Cam(), debug=True, mesh=True))
    assert all(not bb._tracks for bb in vb._builders.values())
    with pytest.raises(ValueError, match="decimation"):
        ViewBuilder(m, render_decimation=0)


def test_overlay_blend_matches_the_formula_and_leaves_the_frame_alone():
    rng = np.random.default_rng(9)
    frame = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    before = frame.copy()
    for pattern in ("blob", "scattered", "everywhere", "nothing"):
        depth = np.full((48, 64), np.inf, np.float32)
        if pattern == "blob":
            depth[10:30, 20:40] = 1.0
        elif pattern == "scattered":
            depth[rng.random((48, 64)) < 0.3] = 2.0
        elif pattern == "everywhere":
            depth[:] = 3.0
        drawn = np.isfinite(depth)
        for alpha in (0.8, 0.35, 0.0, 1.0):
            out = overlay(frame, rgb, depth, alpha)
            exact = frame * (1 - alpha) + rgb * alpha     # float64
            diff = np.abs(out.astype(np.float64) - exact)
            np.testing.assert_array_equal(out[~drawn], frame[~drawn])
            # rounded to the nearest (float32 arithmetic: exact halves may go either way)
            assert diff[drawn].max(initial=0) <= 0.5 + 1e-4, (pattern, alpha)
    np.testing.assert_array_equal(frame, before)


def test_render_decimation_is_a_node_parameter_and_a_run_option(capsys):
    from faceverse_ros.cli.main import build_parser
    from faceverse_ros.ros.params import PARAMS

    spec = {p.name: p for p in PARAMS}["debug.render_decimation"]
    assert spec.default == 4 and spec.runtime
    args = build_parser().parse_args(["run", "--input", "video.mp4", "--render-decimation", "8"])
    assert args.render_decimation == 8
    assert build_parser().parse_args(["run", "--input", "video.mp4"]).render_decimation == spec.default
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["run", "--input", "video.mp4", "--render-decimation", "0"])
    assert exc.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert "--render-decimation" in err[-1] and ">= 1" in err[-1]


def test_large_faces_render_at_a_capped_size_and_look_the_same(synthetic_model):
    from faceverse_ros.views.overlay import draw_overlay

    m = synthetic_model
    c = coeffs(m, 8, scale=0.1)
    c[m.slices["trans"]] = 0
    rgb = np.full((256, 256, 3), 90, np.uint8)
    face = Face(5, c, Pose(0.2))
    mesh = full_mesh(m, c, Pose(0.2))
    span = np.ptp(mesh.image_vertices[:, :2], axis=0).max()
    assert span > 120
    lines = np.any(draw_overlay(rgb, [face], Cam()) != rgb, axis=2)
    full = draw_overlay(rgb, [face], Cam(), m.tri, meshes=[mesh])
    small = draw_overlay(rgb, [face], Cam(), m.tri, meshes=[mesh], max_px=64)
    a = np.any(full != rgb, axis=2) & ~lines
    b = np.any(small != rgb, axis=2) & ~lines
    assert (a & b).sum() / (a | b).sum() > 0.9
    inner = a & b
    diff = np.abs(full[inner].astype(np.int64) - small[inner]).mean()
    assert diff < 4, diff   # the same shading, softened by the scaling
    assert not np.array_equal(full, small)   # it did render at the smaller size
    # no cap, or a face smaller than the cap: the full-resolution render, unchanged
    np.testing.assert_array_equal(draw_overlay(rgb, [face], Cam(), m.tri, meshes=[mesh],
                                               max_px=int(span) + 10), full)


@pytest.mark.parametrize("not_finite", [False, True])
def test_overlay_renders_on_the_meshes_bounds_exactly_like_the_whole_image(not_finite):
    """not_finite: some vertices NaN/inf (their triangles are not drawn); the bounds come
    from the others."""
    from faceverse_ros import _sim3dr  # noqa: F401  (the extension is built)
    from faceverse_ros.views.overlay import draw_overlay
    from faceverse_ros.views.render import render

    rng = np.random.default_rng(11)
    rgb = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    # a random soup of triangles, partly outside the image on the left and the bottom
    verts = np.column_stack([rng.uniform(-30, 110, 60), rng.uniform(20, 150, 60),
                             rng.uniform(5, 9, 60)]).astype(np.float32)
    if not_finite:
        verts[3] = (np.nan, 50.0, 6.0)
        verts[7] = (40.0, np.inf, 6.0)
        verts[11, 0] = -np.inf
    tris = rng.integers(0, 60, (80, 3))
    cols = rng.uniform(0, 1, (60, 3)).astype(np.float32)
    norms = rng.normal(size=(60, 3)).astype(np.float32)
    norms[:, 2] = -np.abs(norms[:, 2])
    norms /= np.linalg.norm(norms, axis=1, keepdims=True)

    class M:
        image_vertices, colors, normals, triangles = verts, cols, norms, tris

    face = Face(1, None, Pose())
    face.box = np.array([1000.0, 1000.0, 1005.0, 1005.0])   # box, label, landmarks, axes: off
    face.landmarks = np.full((478, 3), -100.0)
    face.pose = type("P", (), {"position": np.array([0, 0, -1.0]), "rotation": np.eye(3)})()
    got = draw_overlay(rgb, [face], Cam(), tris, meshes=[M()])
    picture, depth = render(rgb.shape[:2], verts, tris, cols, normals=norms)
    want = overlay(rgb, picture, depth, alpha=0.8)
    drawn = np.isfinite(depth)
    assert drawn.sum() > 1000
    np.testing.assert_array_equal(got[~drawn], rgb[~drawn])   # the same coverage ...
    np.testing.assert_array_equal(got, want)                  # ... and the same colours


def test_decimated_builder_one_cpp_pass_equals_its_numpy_steps(synthetic_model):
    """The decimated path's C++ pass (_sim3dr.face_mesh_frame: articulation, pose, normals,
    SH lighting, projection, metres) against the same builder's NumPy steps (the path of
    subsets whose part rows are not contiguous), frame after frame with new expression, eyes,
    pose and light: every output, colours included."""
    m = synthetic_model
    dec = MeshDecimator(m.meanshape_raw, m.tri, 4, groups=part_labels(m.ver_inds, m.n_vertices))
    fast = FaceMeshBuilder(m, dec.vertex_index, dec.triangles)
    slow = FaceMeshBuilder(m, dec.vertex_index, dec.triangles)
    assert fast._rows is not None
    slow._rows = None
    c = coeffs(m, 21)
    for frame in range(3):
        c = c.copy()
        for name in ("exp", "angles", "trans", "eyes", "gamma"):
            c[m.slices[name]] = coeffs(m, 30 + frame)[m.slices[name]]
        pose = Pose(0.2 * frame - 0.1)
        got = fast.meshes([3], c[None], [BOX], [pose])[0]
        ref = slow.meshes([3], c[None], [BOX], [pose])[0]
        assert_close(got, ref, atol=2e-5)
        assert got.vertices_m.dtype == np.float64 and got.colors.dtype == np.float32
        assert 0.0 < got.colors.max() <= 1.0 and got.colors.min() >= 0.0
        np.testing.assert_array_equal(got.triangles, ref.triangles)


def test_the_render_keeps_the_face_and_coarsens_the_rest_of_the_head(synthetic_model):
    m = synthetic_model
    vb = ViewBuilder(m)                       # the defaults: decimation 4, the rest in 3x cells
    plain = ViewBuilder(m, render_rest_cells=1)
    assert vb.render_rest_cells == 3
    labels = part_labels(m.ver_inds, m.n_vertices)
    face = m.face_mask > 0
    rest = (labels == 0) & ~face
    assert face.sum() > 1000 and rest.sum() > 1000
    fine, render = vb.decimator(4), vb.decimator(4, vb.render_rest_cells)
    assert render is not fine and vb.decimator(4, 3) is render    # cached per kind
    kept = lambda d, part: int(part[d.vertex_index].sum())      # noqa: E731
    # the face (and the eyeballs) keep their density; the rest of the head, a surface in
    # cells 3x as wide, about a ninth of its vertices
    assert abs(kept(render, face) - kept(fine, face)) <= 0.05 * kept(fine, face)
    eyes = (labels == 1) | (labels == 2)
    assert abs(kept(render, eyes) - kept(fine, eyes)) <= 0.05 * kept(fine, eyes)
    assert kept(fine, rest) / 9 * 0.6 < kept(render, rest) < kept(fine, rest) / 9 * 1.6
    assert len(render.vertex_index) < 0.6 * len(fine.vertex_index)
    rgb = np.full((256, 256, 3), 90, np.uint8)
    for yaw in (0.2, 0.9):                     # facing the camera, and turned: the side shows
        c = coeffs(m, 8, scale=0.1)
        c[m.slices["trans"]] = 0
        a = vb.overlay(rgb, [Face(5, c, Pose(yaw))], Cam())
        b = plain.overlay(rgb, [Face(5, c, Pose(yaw))], Cam())
        da, db = np.any(a != rgb, axis=2), np.any(b != rgb, axis=2)
        assert db.sum() > 2000
        assert (da & db).sum() / (da | db).sum() > 0.97, yaw
        both = da & db
        diff = np.abs(a.astype(int) - b.astype(int)).max(axis=2)[both]
        assert np.median(diff) <= 2, yaw
    # the render reconstructs only its own vertices, the markers keep the plain decimation
    rows = vb._builders[(4, 3.0)].sub.rows   # its vertices, and the two the mouth closing reads
    assert np.isin(render.vertex_index, rows).all() and len(rows) <= len(render.vertex_index) + 2
    views = vb.build(ViewRequest(rgb, [Face(5, c, Pose(0.2))], Cam(), debug=True, mesh=True,
                                 decimation=4))
    (_, verts, _, _), = views.meshes
    assert len(verts) == len(vb._builders[(4, 1.0)].sub.rows) > len(rows) * 1.5
    with pytest.raises(ValueError, match="rest cells"):
        ViewBuilder(m, render_rest_cells=0.5)


def test_normals_turned_outward_however_densely_each_side_is_sampled():
    from faceverse_ros.views.overlay import outward

    rng = np.random.default_rng(4)
    p = rng.normal(size=(4000, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    # a head seen from -z with its back sampled 10x more densely than its front: the sum of
    # n_z of the outward normals is positive, yet they are the ones to keep
    p = np.concatenate([p[p[:, 2] > 0][:2000], p[p[:, 2] < 0][:200]]) * [80.0, 100.0, 90.0]
    n = p / np.linalg.norm(p, axis=1, keepdims=True)      # outward (on the sphere it came from)
    v = p + [120.0, 140.0, 600.0]
    assert n[:, 2].sum() > 0
    np.testing.assert_array_equal(outward(v, n), n)
    np.testing.assert_array_equal(outward(v, -n), n)
    bad = n.copy()
    bad[:5] = np.nan                                       # non-finite rows are left out
    assert np.array_equal(outward(v, -bad)[5:], n[5:])
    assert outward(v[:0], n[:0]).shape == (0, 3)


def test_full_and_decimated_renders_are_lit_alike(synthetic_model):
    m = synthetic_model
    c = coeffs(m, 8, scale=0.1)
    c[m.slices["trans"]] = 0
    rgb = np.full((256, 256, 3), 90, np.uint8)
    vb = ViewBuilder(m)
    for pose in (Pose(0.2), Pose(-0.5)):
        full = vb.overlay(rgb, [Face(5, c, pose, full_mesh(m, c, pose))], Cam(), decimation=1)
        dec = vb.overlay(rgb, [Face(5, c, pose)], Cam())
        both = np.any(full != rgb, axis=2) & np.any(dec != rgb, axis=2)
        assert both.sum() > 2000
        # the same light on both: outward normals face the camera on the side it sees
        diff = np.abs(full.astype(int) - dec.astype(int)).max(axis=2)[both]
        assert np.median(diff) <= 6
