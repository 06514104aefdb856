import numpy as np
import pytest

from faceverse_ros.views.mesh_decimate import MeshDecimator


def grid_mesh(n):
    xs, ys = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float))
    verts = np.stack([xs.ravel(), ys.ravel(), np.zeros(n * n)], axis=1)
    tris = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c, (r + 1) * n + c + 1
            tris += [(a, b, d), (b, e, d)]
    return verts, np.array(tris)


def test_factor_one_is_identity():
    verts, tris = grid_mesh(5)
    dec = MeshDecimator(verts, tris, 1)
    assert np.array_equal(dec(verts), verts) and np.array_equal(dec.triangles, tris)


@pytest.mark.parametrize("factor", [2, 4, 9])
def test_reduces_vertices_and_keeps_valid_triangles(factor):
    verts, tris = grid_mesh(40)
    dec = MeshDecimator(verts, tris, factor)
    kept = len(dec.vertex_index)
    assert abs(kept - len(verts) / factor) <= 0.1 * len(verts) / factor
    assert dec.triangles.min() >= 0 and dec.triangles.max() < kept
    t = dec.triangles
    assert np.all((t[:, 0] != t[:, 1]) & (t[:, 1] != t[:, 2]) & (t[:, 0] != t[:, 2]))
    # the decimated surface still spans the original one
    small = dec(verts)
    assert np.allclose(small.min(axis=0)[:2], 0, atol=factor) and small.max() >= 39 - factor


def test_bad_factor():
    verts, tris = grid_mesh(3)
    with pytest.raises(ValueError, match="factor"):
        MeshDecimator(verts, tris, 0)


def test_coarser_labels_keep_the_others_cells_and_close_the_seam():
    verts, tris = grid_mesh(40)
    groups = (verts[:, 0] >= 20).astype(np.int64)        # left half 0, right half 1
    plain = MeshDecimator(verts, tris, 4, groups=groups)
    coarse = MeshDecimator(verts, tris, 4, groups=groups, coarser={1: 2})
    left = lambda d: set(d.vertex_index[groups[d.vertex_index] == 0].tolist())  # noqa: E731
    assert left(coarse) == left(plain)                   # the left half as before
    right = lambda d: int(np.sum(groups[d.vertex_index] == 1))  # noqa: E731
    # a plane in cells twice as wide: about a quarter of the vertices
    assert abs(right(coarse) - right(plain) / 4) <= 0.3 * right(plain) / 4
    t = coarse.triangles
    assert np.all((t[:, 0] != t[:, 1]) & (t[:, 1] != t[:, 2]) & (t[:, 0] != t[:, 2]))
    # triangles join the two halves: no gap where the cell size changes
    side = groups[coarse.vertex_index][t]
    seam = np.any(side != side[:, :1], axis=1)
    assert seam.sum() > 0
    # and no hole along it: every point of a band across the seam lies in a kept triangle
    v = coarse(verts)[:, :2]
    a, b, c = v[t[:, 0]], v[t[:, 1]], v[t[:, 2]]

    def cross(o, p, q):
        return (p[..., 0] - o[..., 0]) * (q[..., 1] - o[..., 1]) - \
            (p[..., 1] - o[..., 1]) * (q[..., 0] - o[..., 0])

    px, py = np.meshgrid(np.arange(16.25, 24.0, 0.5), np.arange(2.25, 34.0, 0.5))
    pts = np.stack([px.ravel(), py.ravel()], axis=1)[:, None, :]
    d1, d2, d3 = cross(a, b, pts), cross(b, c, pts), cross(c, a, pts)
    inside = ((d1 >= 0) & (d2 >= 0) & (d3 >= 0)) | ((d1 <= 0) & (d2 <= 0) & (d3 <= 0))
    assert inside.any(axis=1).all()


def test_coarser_needs_groups_and_a_scale_of_one_or_more():
    verts, tris = grid_mesh(10)
    groups = np.zeros(len(verts), np.int64)
    with pytest.raises(ValueError, match="groups"):
        MeshDecimator(verts, tris, 4, coarser={0: 2})
    with pytest.raises(ValueError, match=">= 1"):
        MeshDecimator(verts, tris, 4, groups=groups, coarser={0: 0.5})


def test_part_labels_with_a_face_mask():
    from faceverse_ros.views.mesh_decimate import part_labels

    ver_inds = [6, 7, 8, 9, 9, 10]   # head 0-5, eyeballs 6 and 7, mouth interior 8-9
    mask = np.array([1, 0, 2, 0, 0, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(part_labels(ver_inds, 10, mask), [0, 4, 0, 4, 4, 0, 1, 2, 3, 3])
    np.testing.assert_array_equal(part_labels(ver_inds, 10), [0, 0, 0, 0, 0, 0, 1, 2, 3, 3])
    # a mask with no head vertex in it: no face to keep apart, the head stays one part
    no_face = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(part_labels(ver_inds, 10, no_face), part_labels(ver_inds, 10))
    with pytest.raises(ValueError, match="one entry per vertex"):
        part_labels(ver_inds, 10, mask[:-1])
