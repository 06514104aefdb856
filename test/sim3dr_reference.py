"""Slow, plain NumPy reference of the Sim3DR contract, for tests and benchmarks only.

Written from the documented rules (faceverse_ros/views/render.py), not from the C++
code: float64 everywhere, no fixed point, no incremental edge functions, a
Python loop over triangles, and inclusive edges (a centre exactly on an edge
is inside).  Because the C++ kernel snaps x, y to 1/256 px and applies the
top-left rule, the two may legitimately differ on pixels whose centre is
(almost) on a triangle edge, or where two triangles are (almost) at the same
depth; ``reference_rasterize`` reports those pixels in an ``ambiguous`` mask
so that tests can allow differences there, and only there.
"""
from __future__ import annotations

import numpy as np

GUARD_BAND = 2.0**21  # documented: |x| or |y| beyond this skips the triangle
FAR = 1e8


def reference_normals(vertices, triangles):
    """Normalised sums of (b - a) x (c - a) face normals, float64 (N, 3)."""
    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    acc = np.zeros_like(v)
    if len(t):
        a, b, c = v[t[:, 0]], v[t[:, 1]], v[t[:, 2]]
        face = np.cross(b - a, c - a)
        ok = np.isfinite(face).all(axis=1)
        for k in range(3):
            np.add.at(acc, t[ok, k], face[ok])
    length = np.linalg.norm(acc, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(length > 0, acc / length, 0.0)
    return out


def reference_light(vertices, normals, colors, ambient=0.3, diffuse=0.8,
                    specular=0.1, shininess=5, light_pos=(0, 0, -5), view_pos=(0, 0, -5)):
    """Spec-8 Phong-style per-vertex lighting, float64 (N, 3)."""
    v = np.asarray(vertices, dtype=np.float64)
    n = np.asarray(normals, dtype=np.float64)
    col = np.asarray(colors, dtype=np.float64)
    finite = np.isfinite(v).all(axis=1)
    if finite.any():
        lo = v[finite].min(axis=0)
        hi = v[finite].max(axis=0)
    else:
        lo = hi = np.zeros(3)
    centre = (lo + hi) / 2
    extent = (hi - lo).max()
    scale = 2.0 / extent if extent > 0 else 1.0
    p = (v - centre) * scale

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    with np.errstate(invalid="ignore"):
        l = unit(np.asarray(light_pos, dtype=np.float64) - p)
        e = unit(np.asarray(view_pos, dtype=np.float64) - p)
        k = np.sum(n * l, axis=1)
        k = np.nan_to_num(k, nan=0.0)
        r = 2 * k[:, None] * n - l
        s = np.nan_to_num(np.clip(np.sum(e * r, axis=1), 0, 1), nan=0.0)
    spec = np.where(k > 0, s**shininess, 0.0)
    f = np.clip(ambient + diffuse * np.clip(k, 0, 1) + specular * spec, 0, 1)
    return col * f[:, None]


def to_bytes(c):
    """round-half-up(255 * clip(c, 0, 1)), NaN -> 0."""
    c = np.nan_to_num(np.asarray(c, dtype=np.float64), nan=0.0)
    return np.floor(np.clip(c, 0, 1) * 255 + 0.5).astype(np.uint8)


def reference_rasterize(vertices, triangles, colors, height, width, image=None,
                        far=FAR, edge_tol=0.02, depth_tol=1e-4):
    """Reference z-buffer rasteriser.

    Returns (image uint8 (H, W, 3), depth float64 (H, W) with +inf where
    empty, ambiguous bool (H, W)).  ``ambiguous`` marks pixels whose centre is
    within ``edge_tol`` px of an edge of a triangle that (nearly) covers it,
    or where the two nearest covering triangles are within ``depth_tol``
    (relative) in depth.
    """
    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    col = np.asarray(colors, dtype=np.float64)
    img = np.zeros((height, width, 3), np.uint8) if image is None else image.copy()
    depth = np.full((height, width), np.inf)
    second = np.full((height, width), np.inf)
    ambiguous = np.zeros((height, width), bool)
    for tri in t:
        p = v[tri]
        if not np.isfinite(p).all() or (np.abs(p[:, :2]) > GUARD_BAND).any():
            continue
        (xa, ya), (xb, yb), (xc, yc) = p[:, :2]
        area = (xb - xa) * (yc - ya) - (yb - ya) * (xc - xa)
        if area == 0:
            continue
        x0 = max(int(np.floor(p[:, 0].min())) - 1, 0)
        x1 = min(int(np.ceil(p[:, 0].max())) + 1, width - 1)
        y0 = max(int(np.floor(p[:, 1].min())) - 1, 0)
        y1 = min(int(np.ceil(p[:, 1].max())) + 1, height - 1)
        if x0 > x1 or y0 > y1:
            continue
        ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1].astype(np.float64)
        # Barycentric weights of each pixel centre (signed areas / area).
        w0 = ((xb - xs) * (yc - ys) - (yb - ys) * (xc - xs)) / area
        w1 = ((xc - xs) * (ya - ys) - (yc - ys) * (xa - xs)) / area
        w2 = 1.0 - w0 - w1
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        # Distance (px) of the centre to each edge line, signed positive inside.
        lengths = np.array([np.hypot(xc - xb, yc - yb), np.hypot(xa - xc, ya - yc),
                            np.hypot(xb - xa, yb - ya)])
        dist = np.stack([w0, w1, w2]) * abs(area) / lengths[:, None, None]
        near_edge = np.abs(dist.min(axis=0)) <= edge_tol
        ambiguous[y0:y1 + 1, x0:x1 + 1] |= near_edge
        z = w0 * p[0, 2] + w1 * p[1, 2] + w2 * p[2, 2]
        cover = (inside | near_edge) & (z < far)
        yy, xx = np.nonzero(cover)
        yy += y0
        xx += x0
        zc = z[cover]
        # Track the two nearest depths for the z-fighting check.
        nearer = zc < depth[yy, xx]
        second[yy, xx] = np.where(nearer, depth[yy, xx],
                                  np.minimum(second[yy, xx], zc))
        win = inside[cover] & nearer
        wy, wx = yy[win], xx[win]
        depth[wy, wx] = zc[win]
        wc = (w0[cover][win, None] * col[tri[0]] + w1[cover][win, None] * col[tri[1]]
              + w2[cover][win, None] * col[tri[2]])
        img[wy, wx] = to_bytes(wc)
    with np.errstate(invalid="ignore"):
        close = np.isfinite(second) & (
            np.abs(second - depth) <= depth_tol * np.maximum(1.0, np.abs(depth)))
    ambiguous |= close
    return img, depth, ambiguous


def reference_render(image_or_size, vertices, triangles, colors, normals=None,
                     lighting=True, far=FAR):
    """normals + lighting + rasterisation like faceverse_ros.views.render.render."""
    if isinstance(image_or_size, np.ndarray):
        height, width = image_or_size.shape[:2]
        image = image_or_size
    else:
        height, width = image_or_size
        image = None
    col = np.asarray(colors, dtype=np.float64)
    if lighting:
        n = reference_normals(vertices, triangles) if normals is None else normals
        col = reference_light(vertices, n, col)
    return reference_rasterize(vertices, triangles, col, height, width, image, far)
