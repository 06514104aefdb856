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
