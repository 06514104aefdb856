"""Tests of Sim3DR (C++ kernels + Cython binding) and faceverse_ros.views.render.

The expected values come from an independent plain-NumPy reference
(test/sim3dr_reference.py, float64, inclusive edges, no fixed point) and
from numbers worked out by hand in the comments.
"""
import importlib
import math
import os
import sys
import threading

import numpy as np
import pytest

from sim3dr_reference import (
    reference_light,
    reference_normals,
    reference_rasterize,
    reference_render,
    to_bytes,
)

try:
    render_mod = importlib.import_module("faceverse_ros.views.render")
except ImportError as exc:  # extension not built: skip locally, fail under CI
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip(str(exc), allow_module_level=True)
from faceverse_ros import _sim3dr  # noqa: E402
from faceverse_ros.views.render import depth_image, overlay, render  # noqa: E402


# --------------------------------------------------------------------- helpers
def grid_mesh(nx, ny, x0, y0, x1, y1, rng=None, jitter=0.0):
    """Height-field mesh over [x0, x1] x [y0, y1] px; z = a smooth bump.

    Triangles are wound counter-clockwise in the image (normals towards -z).
    """
    xs = np.linspace(x0, x1, nx)
    ys = np.linspace(y0, y1, ny)
    gx, gy = np.meshgrid(xs, ys)
    if rng is not None and jitter:
        gx = gx + rng.uniform(-jitter, jitter, gx.shape)
        gy = gy + rng.uniform(-jitter, jitter, gy.shape)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    r2 = ((gx - cx) / (x1 - x0)) ** 2 + ((gy - cy) / (y1 - y0)) ** 2
    gz = 50.0 + 20.0 * r2 * (x1 - x0) / 10
    verts = np.stack([gx, gy, gz], axis=-1).reshape(-1, 3)
    idx = np.arange(nx * ny).reshape(ny, nx)
    a, b = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
    c, d = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    # (a, c, b): top-left, bottom-left, top-right = counter-clockwise on screen.
    tris = np.concatenate([np.stack([a, c, b], 1), np.stack([b, c, d], 1)])
    return verts.astype(np.float32), tris.astype(np.int32)


def raster(vertices, triangles, colors, height, width, far=1e8):
    img = np.zeros((height, width, 3), np.uint8)
    depth = np.full((height, width), np.inf, np.float32)
    writes = _sim3dr.rasterize(
        np.ascontiguousarray(vertices, np.float32),
        np.ascontiguousarray(triangles, np.int32),
        np.ascontiguousarray(colors, np.float32), img, depth, far)
    return img, depth, writes


def compare_with_reference(img, depth, ref_img, ref_depth, ambiguous):
    """Differences only on ambiguous (edge / z-tie) pixels; returns their count."""
    drawn, ref_drawn = np.isfinite(depth), np.isfinite(ref_depth)
    colour_off = np.abs(img.astype(int) - ref_img.astype(int)).max(axis=2) > 1
    both = drawn & ref_drawn
    depth_off = np.zeros_like(drawn)
    depth_off[both] = ~np.isclose(depth[both], ref_depth[both], rtol=1e-5, atol=1e-5)
    differ = (drawn != ref_drawn) | colour_off | depth_off
    unexplained = differ & ~ambiguous
    assert not unexplained.any(), (
        f"{unexplained.sum()} pixels differ away from edges, e.g. "
        f"{np.argwhere(unexplained)[:5].tolist()}")
    return int(differ.sum())


# ------------------------------------------------- pixel-by-pixel vs reference
def test_random_overlapping_triangles_match_reference():
    rng = np.random.default_rng(1)
    height, width = 48, 64
    ntri = 150
    # Coordinates on the 1/256 px grid (so the C++ snapping is exact) but
    # otherwise random, reaching 10 px outside the image on every side.
    verts = np.empty((3 * ntri, 3))
    centres = rng.uniform([-10, -10], [width + 10, height + 10], (ntri, 2))
    offsets = rng.uniform(-12, 12, (ntri, 3, 2))
    verts[:, :2] = (centres[:, None, :] + offsets).reshape(-1, 2)
    verts[:, :2] = np.round(verts[:, :2] * 256) / 256
    verts[:, 2] = rng.uniform(1, 10, 3 * ntri)
    tris = np.arange(3 * ntri).reshape(ntri, 3)
    colors = rng.uniform(0, 1, (3 * ntri, 3))

    img, depth, writes = raster(verts, tris, colors, height, width)
    ref_img, ref_depth, amb = reference_rasterize(verts, tris, colors, height, width)
    assert np.isfinite(depth).sum() > 0.5 * height * width  # a busy scene
    n_diff = compare_with_reference(img, depth, ref_img, ref_depth, amb)
    assert n_diff <= 10, n_diff
    assert writes >= np.isfinite(depth).sum()


def test_smooth_mesh_with_lighting_matches_reference():
    rng = np.random.default_rng(2)
    verts, tris = grid_mesh(13, 11, 5.3, 4.7, 70.1, 52.9, rng, jitter=1.0)
    colors = rng.uniform(0.2, 1.0, (len(verts), 3))
    rgb, depth = render((60, 80), verts, tris, colors)
    ref_img, ref_depth, amb = reference_render((60, 80), verts, tris, colors)
    n_diff = compare_with_reference(rgb, depth, ref_img, ref_depth, amb)
    # Arbitrary float coordinates: only pixels within 1/256 px of an edge may flip.
    assert n_diff <= 5, n_diff
    # The mesh is a partition of its outline: the interior is fully covered.
    assert np.isfinite(depth[10:48, 12:66]).all()


def test_render_onto_image_keeps_background_and_does_not_modify_input():
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    before = frame.copy()
    verts, tris = grid_mesh(5, 5, 10.2, 8.1, 30.7, 29.9)
    colors = np.full((len(verts), 3), 0.5)
    rgb, depth = render(frame, verts, tris, colors, lighting=False)
    np.testing.assert_array_equal(frame, before)
    empty = ~np.isfinite(depth)
    np.testing.assert_array_equal(rgb[empty], frame[empty])
    assert (rgb[~empty] == 128).all()  # round(0.5 * 255) = 127.5 -> 128
    ref_img, ref_depth, amb = reference_render(frame, verts, tris, colors, lighting=False)
    compare_with_reference(rgb, depth, ref_img, ref_depth, amb)


# ------------------------------------------------------------------ fill rule
def test_square_of_two_triangles_draws_each_pixel_exactly_once():
    # Square with integer corners (0,0)-(8,8): pixel centres lie exactly on
    # its four sides and on the shared diagonal.  Top-left rule: the top and
    # left sides are in, the bottom and right sides out, so exactly the
    # 8 x 8 pixels of rows 0..7, cols 0..7 are drawn, and each only once.
    verts = np.array([[0, 0, 1], [8, 0, 1], [8, 8, 1], [0, 8, 1]], np.float32)
    colors = np.ones((4, 3), np.float32)
    for tris in ([[0, 1, 2], [0, 2, 3]], [[0, 2, 1], [2, 0, 3]], [[1, 3, 0], [1, 2, 3]]):
        img, depth, writes = raster(verts, tris, colors, 12, 12)
        expected = np.zeros((12, 12), bool)
        expected[0:8, 0:8] = True
        np.testing.assert_array_equal(np.isfinite(depth), expected)
        assert writes == 64  # no pixel written twice along the diagonal
        # Each triangle alone: disjoint coverages that add up to the square.
        a = np.isfinite(raster(verts, tris[:1], colors, 12, 12)[1])
        b = np.isfinite(raster(verts, tris[1:], colors, 12, 12)[1])
        assert not (a & b).any()
        np.testing.assert_array_equal(a | b, expected)


def test_fan_around_a_pixel_centre_draws_it_once():
    # Eight triangles meeting at the pixel centre (5, 5): exactly one draws it.
    centre = [5.0, 5.0, 1.0]
    ring = [[5 + 3 * math.cos(a), 5 + 3 * math.sin(a), 1.0]
            for a in np.linspace(0, 2 * math.pi, 9)[:-1]]
    verts = np.array([centre] + ring, np.float32)
    tris = np.array([[0, 1 + i, 1 + (i + 1) % 8] for i in range(8)])
    colors = np.ones((9, 3))
    hits = sum(bool(np.isfinite(raster(verts, [t], colors, 11, 11)[1][5, 5])) for t in tris)
    assert hits == 1


def test_back_facing_triangles_are_drawn_the_same():
    verts = np.array([[1.3, 1.1, 2.0], [14.6, 3.2, 3.0], [4.4, 12.7, 4.0]], np.float32)
    colors = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    front = raster(verts, [[0, 1, 2]], colors, 16, 16)
    back = raster(verts, [[0, 2, 1]], colors, 16, 16)
    assert np.isfinite(front[1]).sum() > 40
    np.testing.assert_array_equal(front[0], back[0])
    np.testing.assert_array_equal(front[1], back[1])


# ---------------------------------------------------------------- z-buffer
def test_nearer_triangle_wins_regardless_of_draw_order():
    verts = np.array([
        [0, 0, 5.0], [20, 0, 5.0], [0, 20, 5.0],        # far, red
        [2, 2, 1.0], [19, 3, 1.0], [3, 19, 1.0],        # near, green
    ], np.float32)
    colors = np.array([[1, 0, 0]] * 3 + [[0, 1, 0]] * 3, np.float32)
    for tris in ([[0, 1, 2], [3, 4, 5]], [[3, 4, 5], [0, 1, 2]]):
        img, depth, _ = raster(verts, tris, colors, 24, 24)
        assert tuple(img[6, 6]) == (0, 255, 0)
        assert depth[6, 6] == pytest.approx(1.0)
        assert tuple(img[1, 1]) == (255, 0, 0)  # only the far one covers (1, 1)
        assert depth[1, 1] == pytest.approx(5.0)


def test_depth_is_screen_space_linear_and_far_plane():
    # z = 2 + x / 10 over a big triangle: at pixel (row 3, col 7) z = 2.7.
    verts = np.array([[0, 0, 2], [40, 0, 6], [0, 40, 2]], np.float32)
    img, depth, _ = raster(verts, [[0, 1, 2]], np.ones((3, 3)), 20, 20)
    assert depth[3, 7] == pytest.approx(2.7, rel=1e-6)
    assert depth[10, 15] == pytest.approx(3.5, rel=1e-6)
    # Only z < far is drawn: far = 3 keeps x < 10.
    img, depth, _ = raster(verts, [[0, 1, 2]], np.ones((3, 3)), 20, 20, far=3.0)
    drawn_cols = np.nonzero(np.isfinite(depth).any(axis=0))[0]
    assert drawn_cols.max() == 9


def test_colour_is_barycentric():
    # Red at (0,0), green at (51,0), blue at (0,51): at (x=10, y=20) the
    # weights are (21, 10, 20)/51, so the bytes are exactly (105, 50, 100).
    verts = np.array([[0, 0, 1], [51, 0, 1], [0, 51, 1]], np.float32)
    colors = np.eye(3, dtype=np.float32)
    img, _, _ = raster(verts, [[0, 1, 2]], colors, 52, 52)
    assert tuple(img[20, 10]) == (105, 50, 100)
    assert tuple(img[0, 0]) == (255, 0, 0)


# --------------------------------------------------------------- edge cases
def test_partly_and_fully_outside_triangles():
    colors = np.ones((6, 3))
    # A triangle far larger than the image covers every pixel.
    verts = np.array([[-1e5, -1e5, 1], [1e5, -1e5, 1], [0, 1e5, 1],
                      [100, 100, 1], [120, 100, 1], [100, 130, 1]], np.float32)
    img, depth, _ = raster(verts, [[0, 1, 2]], colors, 30, 40)
    assert np.isfinite(depth).all()
    # A triangle entirely right of / below the image draws nothing.
    img, depth, writes = raster(verts, [[3, 4, 5]], colors, 30, 40)
    assert writes == 0 and not np.isfinite(depth).any() and not img.any()
    # Partly outside: the part inside equals the reference.
    verts2 = np.array([[-7.3, 5.1, 1], [25.4, -9.9, 2], [12.2, 44.6, 3]], np.float32)
    img, depth, _ = raster(verts2, [[0, 1, 2]], np.eye(3), 30, 20)
    ref_img, ref_depth, amb = reference_rasterize(verts2, [[0, 1, 2]], np.eye(3), 30, 20)
    assert compare_with_reference(img, depth, ref_img, ref_depth, amb) <= 2
    assert np.isfinite(depth[:, 0]).any() and np.isfinite(depth[0, :]).any()


def test_degenerate_triangles_draw_nothing():
    verts = np.array([[1, 1, 1], [10, 10, 1], [5, 5, 1], [3, 8, 1]], np.float32)
    tris = [[0, 1, 2],   # collinear
            [0, 0, 3],   # repeated vertex
            [3, 3, 3]]   # a point
    img, depth, writes = raster(verts, tris, np.ones((4, 3)), 16, 16)
    assert writes == 0 and not img.any() and not np.isfinite(depth).any()


def test_empty_meshes():
    frame = np.full((5, 6, 3), 7, np.uint8)
    rgb, depth = render(frame, np.zeros((0, 3)), np.zeros((0, 3), int), np.zeros((0, 3)))
    np.testing.assert_array_equal(rgb, frame)
    assert depth.shape == (5, 6) and depth.dtype == np.float32
    assert np.isposinf(depth).all()
    # Vertices but no triangles: nothing drawn either (normals are zero).
    verts, _ = grid_mesh(3, 3, 0, 0, 5, 4)
    rgb, depth = render((5, 6), verts, np.zeros((0, 3), np.int64), np.ones((9, 3)))
    assert not rgb.any() and np.isposinf(depth).all()
    np.testing.assert_array_equal(_sim3dr.vertex_normals(verts, np.zeros((0, 3), np.int32)), 0)
    # A zero-sized image.
    rgb, depth = render((0, 4), verts, [[0, 1, 3]], np.ones((9, 3)))
    assert rgb.shape == (0, 4, 3) and depth.shape == (0, 4)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e30, 3e6, -2.2e6])
def test_non_finite_and_huge_vertices_skip_their_triangles(bad):
    # Triangle 0 (vertices 3, 4, 5) would cover the whole image in front of
    # triangle 1; one coordinate of its vertex 4 is made bad.  Nothing may be
    # written outside the buffers: they are views into larger arrays with
    # sentinel margins on both sides.
    base = np.array([[2, 2, 1], [12, 2, 1], [2, 12, 1],
                     [-50, -50, 0.5], [200, -50, 0.5], [-50, 200, 0.5]], np.float32)
    tris = np.array([[3, 4, 5], [0, 1, 2]], np.int32)
    colors = np.ones((6, 3), np.float32)
    h, w, pad = 20, 24, 64
    good_img, good_depth, _ = raster(base, tris[1:], colors, h, w)
    assert np.isfinite(good_depth).sum() > 40
    for coord in range(3):
        v = base.copy()
        v[4, coord] = bad
        img_store = np.full(h * w * 3 + 2 * pad, 0xAB, np.uint8)
        depth_store = np.full(h * w + 2 * pad, -7.0, np.float32)
        img = img_store[pad:-pad].reshape(h, w, 3)
        depth = depth_store[pad:-pad].reshape(h, w)
        img[:] = 0
        depth[:] = np.inf
        _sim3dr.rasterize(v, tris, colors, img, depth, 1e8)
        assert (img_store[:pad] == 0xAB).all() and (img_store[-pad:] == 0xAB).all()
        assert (depth_store[:pad] == -7).all() and (depth_store[-pad:] == -7).all()
        skipped = coord < 2 or not np.isfinite(bad)  # x/y bad, or z not finite
        if skipped:
            np.testing.assert_array_equal(img, good_img)
            np.testing.assert_array_equal(depth, good_depth)
        elif bad < 0:  # a huge finite z is only a depth: drawn in front
            assert np.isfinite(depth).all()
        else:  # z = 1e30 is beyond far = 1e8 (almost) everywhere
            assert np.isfinite(depth)[np.isfinite(good_depth)].all()
        # render() (normals + lighting with the bad vertex) copes too.
        _, d = render((h, w), v, tris, colors)
        if skipped:
            np.testing.assert_array_equal(np.isfinite(d), np.isfinite(good_depth))


def test_guard_band_edge_is_still_drawn():
    # Vertices inside the 2^21 px guard band are fine even if far away.
    g = _sim3dr.GUARD_BAND
    assert g == 2.0**21
    verts = np.array([[-g, -g, 1], [g, -g, 1], [0, g, 1]], np.float32)
    _, depth, _ = raster(verts, [[0, 1, 2]], np.ones((3, 3)), 8, 8)
    assert np.isfinite(depth).all()


@pytest.mark.parametrize("tris, nver", [
    ([[0, 1, 3]], 3),
    ([[0, -1, 2]], 3),
    ([[0, 1, 2], [0, 1, 2**40]], 3),      # would wrap to a valid int32 index
    ([[0, 1, 2], [0, 1, 2**32 + 1]], 3),
    ([[0, 0, 0]], 0),
])
def test_bad_triangle_indices_raise(tris, nver):
    verts = np.zeros((nver, 3), np.float32)
    with pytest.raises(ValueError, match="outside"):
        render((4, 4), verts, np.array(tris, np.int64), np.zeros((nver, 3)))


def test_bad_indices_raise_in_binding_too():
    verts = np.zeros((3, 3), np.float32)
    img = np.zeros((4, 4, 3), np.uint8)
    depth = np.full((4, 4), np.inf, np.float32)
    bad = np.array([[0, 1, 2], [2, 1, 3]], np.int32)
    with pytest.raises(ValueError, match=r"triangle 1 .*outside \[0, 3\)"):
        _sim3dr.rasterize(verts, bad, verts, img, depth)
    with pytest.raises(ValueError, match="outside"):
        _sim3dr.vertex_normals(verts, bad)


@pytest.mark.parametrize("kwargs, match", [
    (dict(vertices_px=np.zeros((3, 2))), "vertices_px must have shape"),
    (dict(triangles=np.zeros((1, 3), np.float32)), "integer"),
    (dict(triangles=np.zeros((3,), int)), "triangles must have shape"),
    (dict(colors=np.zeros((2, 3))), "colors has 2 rows"),
    (dict(colors=np.zeros((3, 3), complex)), "real numeric"),
    (dict(normals=np.zeros((4, 3))), "normals has 4 rows"),
    (dict(image_or_size=np.zeros((4, 4), np.uint8)), "image must be"),
    (dict(image_or_size=np.zeros((4, 4, 3), np.float32)), "image must be"),
    (dict(image_or_size="big"), "image_or_size"),
])
def test_render_rejects_bad_inputs(kwargs, match):
    args = dict(image_or_size=(4, 4), vertices_px=np.zeros((3, 3)),
                triangles=np.array([[0, 1, 2]]), colors=np.zeros((3, 3)), normals=None)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        render(**args)


def test_binding_rejects_mismatched_buffers():
    verts = np.zeros((3, 3), np.float32)
    tri = np.array([[0, 1, 2]], np.int32)
    with pytest.raises(ValueError, match="depth has shape"):
        _sim3dr.rasterize(verts, tri, verts, np.zeros((4, 4, 3), np.uint8),
                          np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="image must have shape"):
        _sim3dr.rasterize(verts, tri, verts, np.zeros((4, 4, 4), np.uint8),
                          np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError):  # wrong dtype is refused, not converted
        _sim3dr.rasterize(verts.astype(np.float64), tri, verts,
                          np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.float32))


def test_preallocated_outputs_are_filled_in_place():
    verts, tris = grid_mesh(4, 4, 1, 1, 9, 9)
    out = np.full((len(verts), 3), 99, np.float32)
    res = _sim3dr.vertex_normals(verts, tris, out=out)
    assert res is out
    np.testing.assert_allclose(out, reference_normals(verts, tris), atol=1e-6)
    colors = np.full((len(verts), 3), 0.5, np.float32)
    res = _sim3dr.light(verts, out, colors, out=colors)  # in place is allowed
    assert res is colors


# ------------------------------------------------------------- normals
def test_vertex_normals_match_independent_numpy():
    rng = np.random.default_rng(4)
    # A closed surface: an irregular ellipsoid-like polyhedron.
    u, v = np.meshgrid(np.linspace(0.2, np.pi - 0.2, 9), np.linspace(0, 2 * np.pi, 13)[:-1])
    pts = np.stack([30 * np.sin(u) * np.cos(v), 20 * np.sin(u) * np.sin(v),
                    10 * np.cos(u)], -1).reshape(-1, 3)
    pts += rng.normal(0, 0.5, pts.shape)
    nu, nv = 9, 12
    idx = np.arange(nu * nv).reshape(nv, nu)
    tris = []
    for j in range(nv):
        for i in range(nu - 1):
            a, b = idx[j, i], idx[j, i + 1]
            c, d = idx[(j + 1) % nv, i], idx[(j + 1) % nv, i + 1]
            tris += [[a, b, c], [b, d, c]]
    tris = np.array(tris, np.int32)
    got = _sim3dr.vertex_normals(pts.astype(np.float32), tris)
    np.testing.assert_allclose(got, reference_normals(pts, tris), atol=2e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_vertex_normals_by_hand():
    # Screen-counter-clockwise triangle (y down): (0,0) -> (0,1) -> (1,0):
    # (b - a) x (c - a) = (0,1,0) x (1,0,0) = (0, 0, -1), towards the camera.
    verts = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [5, 5, 5]], np.float32)
    n = _sim3dr.vertex_normals(verts, np.array([[0, 1, 2]], np.int32))
    np.testing.assert_allclose(n[:3], [[0, 0, -1]] * 3, atol=1e-7)
    np.testing.assert_array_equal(n[3], [0, 0, 0])  # unused vertex
    # Two faces meeting at a right angle along an edge: the shared vertices
    # get the normalised sum of the face normals weighted by doubled area.
    verts = np.array([[0, 0, 0], [2, 0, 0], [0, 2, 0], [0, 0, 2]], np.float32)
    # (0,1,2): (2,0,0)x(0,2,0) = (0,0,4); (0,3,1): (0,0,2)x(2,0,0) = (0,4,0).
    n = _sim3dr.vertex_normals(verts, np.array([[0, 1, 2], [0, 3, 1]], np.int32))
    s = 1 / math.sqrt(2)
    np.testing.assert_allclose(n, [[0, s, s], [0, s, s], [0, 0, 1], [0, 1, 0]], atol=1e-7)
    # A NaN vertex leaves its face out instead of poisoning its neighbours.
    verts[3] = np.nan
    n = _sim3dr.vertex_normals(verts, np.array([[0, 1, 2], [0, 3, 1]], np.int32))
    np.testing.assert_allclose(n, [[0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 0]], atol=1e-7)


# ------------------------------------------------------------- lighting
def test_lighting_by_hand():
    # Vertices (-1,0,0), (1,0,0), (0,0,0): the bounding box is already
    # [-1, 1] in x and a point in y, z, so the rescaled positions equal them.
    verts = np.array([[-1, 0, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]], np.float32)
    s30, c30 = 0.5, math.sqrt(3) / 2
    normals = np.array([
        [0, 0, -1],                       # vertex 0: n.l = 5/sqrt(26), saturates
        [0, 0, 1],                        # facing away: ambient only
        [0, 1 / math.sqrt(2), -1 / math.sqrt(2)],  # 45 deg: mirror ray is (0,1,0)
        [0, s30, -c30],                   # 30 deg: mirror ray 60 deg off the view
        [0, 0, 0],                        # no normal: ambient only
    ], np.float32)
    colors = np.full((5, 3), 0.5, np.float32)
    got = _sim3dr.light(verts, normals, colors)
    f = np.array([
        1.0,                                        # 0.3 + 0.8*0.98 + 0.1*0.92^5 > 1
        0.3,
        0.3 + 0.8 / math.sqrt(2),                   # specular term: (e.r)=0
        0.3 + 0.8 * c30 + 0.1 * 0.5**5,             # e.r = cos 60 = 0.5
        0.3,
    ])
    np.testing.assert_allclose(got, 0.5 * f[:, None] * np.ones(3), rtol=1e-6)
    # Vertex 0 unclipped by hand: k = 5/sqrt(26), r = (-1, 0, -5)/sqrt(26),
    # e.r = 24/26: 0.3 + 0.8*k + 0.1*(24/26)^5 = 1.1514 -> 1 after clipping.
    k = 5 / math.sqrt(26)
    assert 0.3 + 0.8 * k + 0.1 * (24 / 26) ** 5 == pytest.approx(1.15141, abs=1e-4)


def test_light_settings_default_to_spec_and_can_be_overridden():
    d = _sim3dr.DEFAULT_LIGHT
    assert d["ambient"] == pytest.approx(0.3) and d["diffuse"] == pytest.approx(0.8)
    assert d["specular"] == pytest.approx(0.1) and d["shininess"] == 5
    assert d["light_pos"] == (0, 0, -5) and d["view_pos"] == (0, 0, -5)
    verts = np.array([[-1, 0, 0], [1, 0, 0], [0, 0, 0]], np.float32)
    normals = np.array([[0, 0, 1]] * 3, np.float32)  # facing away: ambient only
    colors = np.full((3, 3), 0.5, np.float32)
    np.testing.assert_allclose(_sim3dr.light(verts, normals, colors, ambient=0.5), 0.25)
    # Light moved behind (+z): the +z normals now get diffuse light too.
    # Centre vertex: n.l = 1, mirror ray = view ray -> 0.3 + 0.8 + 0.1 -> 1.
    lit = _sim3dr.light(verts, normals, colors, light_pos=(0, 0, 5), view_pos=(0, 0, 5))
    assert lit[2, 0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="light_pos must have 3 values"):
        _sim3dr.light(verts, normals, colors, light_pos=(0, 1))


def test_lighting_rescaling_is_scale_and_shift_invariant():
    rng = np.random.default_rng(5)
    verts = rng.uniform(-1, 1, (50, 3)) * [4, 2, 1]
    normals = rng.normal(size=(50, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    colors = rng.uniform(0, 1, (50, 3))
    a = _sim3dr.light(verts.astype(np.float32), normals.astype(np.float32),
                      colors.astype(np.float32))
    moved = verts * 250.0 + [320, 240, 1000]
    b = _sim3dr.light(moved.astype(np.float32), normals.astype(np.float32),
                      colors.astype(np.float32))
    np.testing.assert_allclose(a, b, atol=2e-5)
    np.testing.assert_allclose(a, reference_light(verts, normals, colors), atol=2e-5)


def test_lighting_ignores_non_finite_vertices_in_rescaling():
    verts = np.array([[-1, 0, 0], [1, 0, 0], [0, 0, 0], [np.nan, 0, 0], [np.inf, 1, 1]],
                     np.float32)
    normals = np.tile(np.array([[0, 1 / math.sqrt(2), -1 / math.sqrt(2)]], np.float32), (5, 1))
    got = _sim3dr.light(verts, normals, np.ones((5, 3), np.float32))
    assert got[2, 0] == pytest.approx(0.3 + 0.8 / math.sqrt(2), rel=1e-6)
    np.testing.assert_allclose(got[3:], 0.3)  # bad position: ambient only
    assert np.isfinite(got).all()


def test_render_lighting_darkens_faces_turned_away():
    # Same colours, the mesh drawn as is (facing the camera) and mirrored in
    # winding (facing away): the away-facing one gets ambient 0.3 only.
    verts, tris = grid_mesh(6, 6, 4, 4, 28, 28)
    verts[:, 2] = 10.0  # flat: normals (0, 0, -1) exactly
    colors = np.ones((len(verts), 3))
    rgb, depth = render((32, 32), verts, tris, colors)
    rgb_away, _ = render((32, 32), verts, tris[:, ::-1], colors)
    drawn = np.isfinite(depth)
    assert (rgb_away[drawn] == to_bytes(0.3)).all()
    assert rgb[drawn].min() > 200  # near-frontal light
    # Explicit normals are used as given.
    rgb_n, _ = render((32, 32), verts, tris, colors,
                      normals=np.tile([0.0, 0.0, 1.0], (len(verts), 1)))
    np.testing.assert_array_equal(rgb_n, rgb_away)
    # lighting=False draws the colours as they are.
    rgb_flat, _ = render((32, 32), verts, tris, colors, lighting=False)
    assert (rgb_flat[drawn] == 255).all()


# ------------------------------------------------- overlay and depth image
def test_overlay_blends_only_where_depth_was_written():
    frame = np.full((4, 5, 3), 100, np.uint8)
    rgb = np.full((4, 5, 3), 200, np.uint8)
    rgb[0, 0] = 0  # not drawn: must not leak into the output
    depth = np.full((4, 5), np.inf, np.float32)
    depth[1:3, 2:4] = 3.0
    out = overlay(frame, rgb, depth, alpha=0.25)
    expected = frame.copy()
    expected[1:3, 2:4] = 125  # 100 * 0.75 + 200 * 0.25
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(overlay(frame, rgb, depth, alpha=1.0)[1:3, 2:4], 200)
    np.testing.assert_array_equal(overlay(frame, rgb, depth, alpha=0.0), frame)
    with pytest.raises(ValueError, match="alpha"):
        overlay(frame, rgb, depth, alpha=1.5)
    with pytest.raises(ValueError, match="depth must have shape"):
        overlay(frame, rgb, depth[:3])


def test_overlay_of_a_render():
    frame = np.full((32, 32, 3), 40, np.uint8)
    verts, tris = grid_mesh(4, 4, 5, 5, 20, 20)
    rgb, depth = render(frame.shape[:2], verts, tris, np.ones((16, 3)), lighting=False)
    out = overlay(frame, rgb, depth)
    drawn = np.isfinite(depth)
    assert drawn.any() and (~drawn).any()
    np.testing.assert_array_equal(out[~drawn], frame[~drawn])
    assert (out[drawn] == round(40 * 0.4 + 255 * 0.6)).all()


def _two_by_two(uncovered=()):
    """A 2x2 render: red, green / blue, grey; ``uncovered`` pixels keep a white that must
    never show (only the depth says what was drawn)."""
    small = np.array([[[200, 0, 0], [0, 200, 0]], [[0, 0, 200], [100, 100, 100]]], np.uint8)
    depth = np.ones((2, 2), np.float32)
    for r, c in uncovered:
        depth[r, c] = np.inf
        small[r, c] = 255
    return small, depth


def test_blend_scaled_by_hand():
    # region 4x4 from a 2x2 render at scale 0.5; region pixel (1, 1) samples
    # x = y = (1 + 0.5) * 0.5 - 0.5 = 0.25: weights 0.5625, 0.1875 (right), 0.1875 (below),
    # 0.0625 (diagonal). Pixel (0, 0) samples -0.25, clamped to the corner: red alone.
    small, depth = _two_by_two()
    region = np.full((4, 4, 3), 40, np.uint8)
    _sim3dr.blend_scaled(region, small, depth, 0.5, 0.5)
    # P = 0.5625 * (200,0,0) + 0.1875 * (0,200,0) + 0.1875 * (0,0,200) + 0.0625 * 100
    #   = (118.75, 43.75, 43.75); 40 * 0.5 + 0.5 * P = (79.375, 41.875, 41.875)
    np.testing.assert_array_equal(region[1, 1], [79, 42, 42])
    np.testing.assert_array_equal(region[0, 0], [120, 20, 20])   # 40 * 0.5 + 100, 20, 20
    np.testing.assert_array_equal(region[3, 3], [70, 70, 70])    # 20 + 50 (grey alone)
    # the grey pixel not drawn: coverage q = 0.9375 at (1, 1), P = (112.5, 37.5, 37.5);
    # alpha 0.6: 40 * (1 - 0.6 * 0.9375) + 0.6 * P = 17.5 + (67.5, 22.5, 22.5)
    small, depth = _two_by_two(uncovered=[(1, 1)])
    region = np.full((4, 4, 3), 40, np.uint8)
    _sim3dr.blend_scaled(region, small, depth, 0.5, 0.6)
    np.testing.assert_array_equal(region[1, 1], [85, 40, 40])
    np.testing.assert_array_equal(region[3, 3], [40, 40, 40])    # only the undrawn pixel: untouched


def test_blend_scaled_edges_are_not_darkened_by_the_empty_canvas():
    # white drawn on white, alpha 1: wherever the coverage is partial the result is still
    # white (premultiplied coverage); weighting an upscaled black-backed picture by the
    # upscaled coverage would give 255 * q * q + 255 * (1 - q) < 255 at the edge
    small = np.full((10, 10, 3), 255, np.uint8)
    depth = np.full((10, 10), np.inf, np.float32)
    depth[:, :5] = 1.0
    small[:, 5:] = 0   # the canvas behind: black
    region = np.full((30, 30, 3), 255, np.uint8)
    _sim3dr.blend_scaled(region, small, depth, 1 / 3, 1.0)
    np.testing.assert_array_equal(region, 255)
    # a black image: the edge columns take a share of the white by their coverage
    region = np.zeros((30, 30, 3), np.uint8)
    _sim3dr.blend_scaled(region, small, depth, 1 / 3, 1.0)
    row = region[15, :, 0].astype(int)
    assert (row[:13] == 255).all() and (row[17:] == 0).all()
    assert (np.diff(row) <= 0).all() and 0 < row[14] < 255


def test_blend_scaled_matches_opencv_resize_where_fully_covered():
    import cv2

    rng = np.random.default_rng(4)
    small = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    depth = np.ones((20, 30), np.float32)
    for scale, size in ((0.5, (40, 60)), (0.25, (80, 120)), (1.0, (20, 30))):
        region = rng.integers(0, 256, size + (3,), dtype=np.uint8)
        up = cv2.resize(small, size[::-1], interpolation=cv2.INTER_LINEAR)
        _sim3dr.blend_scaled(region, small, depth, scale, 1.0)
        # OpenCV interpolates bytes with 11-bit fixed-point weights: within one step
        assert np.abs(region.astype(int) - up).max() <= 1, scale


def _blend_reference(region, small, depth, scale, alpha):
    """The documented blend_scaled formula in float64 NumPy, every pixel of the region:
    bilinear weights at ((c + 0.5) * scale - 0.5, (r + 0.5) * scale - 0.5), coordinates
    clamped to the small image; q = sum w_i cov_i, P = sum w_i cov_i rgb_i; pixels with
    q > 0 become round(clip(out * (1 - alpha q) + alpha P, 0, 255))."""
    h, w = region.shape[:2]
    sh, sw = depth.shape

    def axis(n, size):
        x = np.clip((np.arange(n) + 0.5) * scale - 0.5, 0, size - 1)
        i0 = np.floor(x).astype(int)
        return i0, np.minimum(i0 + 1, size - 1), x - i0

    y0, y1, fy = axis(h, sh)
    x0, x1, fx = axis(w, sw)
    cov = np.isfinite(depth).astype(np.float64)
    col = small.astype(np.float64) * cov[..., None]
    q = np.zeros((h, w))
    p = np.zeros((h, w, 3))
    for yy, wy in ((y0, 1 - fy), (y1, fy)):
        for xx, wx in ((x0, 1 - fx), (x1, fx)):
            wgt = wy[:, None] * wx[None, :]
            q += wgt * cov[yy][:, xx]
            p += wgt[..., None] * col[yy][:, xx]
    out = region.astype(np.float64) * (1 - alpha * q[..., None]) + alpha * p
    return np.where(q[..., None] > 0, np.clip(np.rint(out), 0, 255), region).astype(np.uint8), q


def test_blend_scaled_a_sparse_render_matches_the_formula_and_leaves_the_rest():
    """A face-like render (an ellipse with holes, empty rows and columns around it) scaled up
    onto a random region: every pixel the render reaches as the formula says (within one
    step: float32 against float64 rounding), every other pixel exactly as it was (the kernel
    samples and blends only the columns a covered pixel can reach)."""
    rng = np.random.default_rng(9)
    sh, sw = 37, 41
    yy, xx = np.mgrid[0:sh, 0:sw]
    inside = ((yy - 19) / 14.0) ** 2 + ((xx - 22) / 12.0) ** 2 < 1.0
    inside &= rng.random((sh, sw)) > 0.1   # holes
    depth = np.where(inside, 1.0, np.inf).astype(np.float32)
    small = rng.integers(0, 256, (sh, sw, 3), dtype=np.uint8)
    for scale, size in ((0.55, (68, 75)), (1.0, (sh, sw)), (0.3, (124, 137))):
        region = rng.integers(0, 256, size + (3,), dtype=np.uint8)
        expected, q = _blend_reference(region, small, depth, scale, 0.8)
        got = region.copy()
        _sim3dr.blend_scaled(got, small, depth, scale, 0.8)
        untouched = q == 0
        assert untouched.sum() > 0.2 * q.size   # the test has empty surroundings
        np.testing.assert_array_equal(got[untouched], region[untouched])
        assert np.abs(got.astype(int) - expected).max() <= 1, scale


def test_blend_scaled_writes_only_its_region_of_a_larger_image():
    small, depth = _two_by_two()
    image = np.full((10, 12, 3), 7, np.uint8)
    before = image.copy()
    _sim3dr.blend_scaled(image[3:7, 5:9], small, depth, 0.5, 1.0)
    outside = np.ones((10, 12), bool)
    outside[3:7, 5:9] = False
    np.testing.assert_array_equal(image[outside], before[outside])
    np.testing.assert_array_equal(image[3, 5], [200, 0, 0])
    np.testing.assert_array_equal(image[6, 8], [100, 100, 100])


def test_blend_scaled_rejects_bad_inputs():
    small, depth = _two_by_two()
    region = np.zeros((4, 4, 3), np.uint8)
    for scale in (0.0, -1.0, 1.5):
        with pytest.raises(ValueError, match="scale"):
            _sim3dr.blend_scaled(region, small, depth, scale, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        _sim3dr.blend_scaled(region, small, depth, 0.5, 2.0)
    with pytest.raises(ValueError, match="small_depth"):
        _sim3dr.blend_scaled(region, small, depth[:1], 0.5, 0.5)
    with pytest.raises(ValueError, match="adjacent"):
        _sim3dr.blend_scaled(np.zeros((4, 4, 6), np.uint8)[:, :, ::2], small, depth, 0.5, 0.5)


def test_depth_image_near_is_bright_and_empty_is_black():
    depth = np.array([[np.inf, 2.0, 4.0], [3.0, np.inf, 6.0]], np.float32)
    img = depth_image(depth)
    assert img.dtype == np.uint8
    # Linear from nearest (2 -> 255) to farthest (6 -> 1).
    np.testing.assert_array_equal(img, [[0, 255, 128], [192, 0, 1]])
    np.testing.assert_array_equal(depth_image(np.full((2, 2), np.inf)), 0)
    np.testing.assert_array_equal(depth_image(np.array([[np.inf, 5.0]])), [[0, 255]])
    # From a render: the bump's centre is nearest, so brightest.
    verts, tris = grid_mesh(9, 9, 2, 2, 30, 30)  # bump: centre nearest
    _, d = render((32, 32), verts, tris, np.ones((81, 3)))
    img = depth_image(d)
    assert img[16, 16] == 255 and img[3, 3] < img[10, 10] < img[16, 16]


# -------------------------------------------------------------- misc
def test_threads_give_identical_results():
    verts, tris = grid_mesh(30, 30, 3.3, 2.1, 120.7, 90.2)
    colors = np.random.default_rng(6).uniform(0, 1, (900, 3))
    expected = render((96, 128), verts, tris, colors)
    results = [None] * 4

    def work(i):
        results[i] = render((96, 128), verts, tris, colors)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for rgb, depth in results:
        np.testing.assert_array_equal(rgb, expected[0])
        np.testing.assert_array_equal(depth, expected[1])


def test_missing_extension_gives_build_instructions(monkeypatch):
    import faceverse_ros
    monkeypatch.setitem(sys.modules, "faceverse_ros._sim3dr", None)
    monkeypatch.delattr(faceverse_ros, "_sim3dr")
    monkeypatch.delitem(sys.modules, "faceverse_ros.views.render")
    with pytest.raises(ImportError, match="build_ext --inplace"):
        importlib.import_module("faceverse_ros.views.render")
    monkeypatch.undo()
    assert importlib.import_module("faceverse_ros.views.render") is render_mod
