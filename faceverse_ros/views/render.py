"""Render stage: draw a coloured triangle mesh with Sim3DR (our C++ rasteriser).

Frames and units
----------------
* ``vertices_px`` (N, 3): x and y in image pixels of the target image, pixel
  centres on integers (x right, y down; pixel (row r, col c) is sampled at
  x = c, y = r, the OpenCV convention), z = depth (any unit, smaller =
  nearer; e.g. the camera-frame z of FaceVerse, section 3.9 of the spec).
* ``triangles`` (T, 3): vertex indices in [0, N).
* ``colors`` (N, 3): per-vertex RGB in [0, 1] (values outside are clipped when
  drawn, NaN draws as 0).

What ``render`` does (FaceVerse V4 spec, section 8)
----------------------------------------------------
1. Vertex normals, unless given: normalised sum of the area-weighted face
   normals (b - a) x (c - a) of ``vertices_px``.  With y down and z away from
   the camera, a triangle whose vertices look counter-clockwise in the image
   faces the camera (normal towards -z).  z should then be in units
   comparable with pixels for meaningful shading; otherwise pass ``normals``
   (e.g. the model's rotated normals, which face -z towards the camera).
2. Lighting (``lighting=True``): per vertex, on the positions rescaled so that
   their bounding box is centred at 0 with its longest side spanning [-1, 1],
   f = clip(0.3 + 0.8*clip(n.l, 0, 1) + 0.1*clip(e.r, 0, 1)**5, 0, 1) with
   one white light and the viewer both at (0, 0, -5) in that rescaled frame
   (l, e unit vectors to them, r = 2(n.l)n - l, specular only where n.l > 0);
   colour = colors * f.
3. Rasterisation with a z-buffer: no back-face culling (both windings are
   drawn), no anti-aliasing, pixel centres inside the triangle (top-left rule
   for centres exactly on an edge), screen-space linear depth and
   barycentric colours, the nearer (smaller z) triangle wins, the earlier one
   on exact ties; only z < ``far`` (1e8, the original's depth-buffer
   initial value) is drawn.  Triangles with a non-finite coordinate, a vertex
   more than ``GUARD_BAND`` (2^21) pixels from the origin in x or y, or zero
   area are skipped.  Colour bytes are round(255 * clip(c, 0, 1)).

Outputs: ``rgb`` uint8 (H, W, 3) and ``depth`` float32 (H, W) holding the
drawn z, and +inf where nothing was drawn (``np.isfinite(depth)`` is the
coverage mask).  The C++ kernels run single-threaded with the GIL released.
"""
from __future__ import annotations

import numpy as np

try:
    from faceverse_ros import _sim3dr
except ImportError as exc:  # pragma: no cover - depends on the build
    raise ImportError(
        "the Sim3DR extension faceverse_ros._sim3dr is not built: run "
        "`python setup.py build_ext --inplace` in the package root (or "
        "`pip install -e .`, or the colcon/CMake build)"
    ) from exc

__all__ = ["render", "overlay", "depth_image", "GUARD_BAND", "FAR"]

GUARD_BAND = _sim3dr.GUARD_BAND
"""Triangles with a vertex whose |x| or |y| exceeds this (pixels) are skipped."""
FAR = 1e8
"""Only depths below this are drawn (the original's z-buffer initial value)."""


def _as_points(name: str, array, rows: int | None = None) -> np.ndarray:
    """``array`` as a C-contiguous float32 (N, 3) array, or ValueError."""
    a = np.asarray(array)
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {a.shape}")
    if rows is not None and a.shape[0] != rows:
        raise ValueError(f"{name} has {a.shape[0]} rows, expected {rows} (one per vertex)")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)


def _as_triangles(triangles, nver: int) -> np.ndarray:
    """``triangles`` as C-contiguous int32 (T, 3) with indices in [0, nver)."""
    t = np.asarray(triangles)
    if t.ndim != 2 or t.shape[1] != 3:
        raise ValueError(f"triangles must have shape (T, 3), got {t.shape}")
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"triangles must be an integer array, got dtype {t.dtype}")
    if t.size and t.dtype != np.int32:
        # Check before narrowing so that a wrap-around cannot hide a bad index.
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= nver:
            bad = int(np.flatnonzero(((t < 0) | (t >= nver)).any(axis=1))[0])
            raise ValueError(
                f"triangle {bad} has vertex indices {t[bad].tolist()} outside "
                f"[0, {nver}) (the mesh has {nver} vertices)")
    # The extension checks int32 indices itself (and again after narrowing).
    return np.ascontiguousarray(t, dtype=np.int32)


def _target(image_or_size) -> np.ndarray:
    """A fresh uint8 (H, W, 3) canvas: a copy of an image, or black (H, W)."""
    if isinstance(image_or_size, np.ndarray):
        img = image_or_size
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(
                "image must be a uint8 (H, W, 3) array, got "
                f"{img.dtype} {img.shape}")
        return np.array(img, dtype=np.uint8, order="C", copy=True)
    try:
        height, width = (int(s) for s in image_or_size)
    except (TypeError, ValueError):
        raise ValueError(
            "image_or_size must be a uint8 (H, W, 3) image or a (height, width) "
            f"pair, got {image_or_size!r}") from None
    if height < 0 or width < 0 or max(height, width) > _sim3dr.MAX_IMAGE_SIDE:
        raise ValueError(f"bad image size {(height, width)}")
    return np.zeros((height, width, 3), dtype=np.uint8)


def render(image_or_size, vertices_px, triangles, colors, normals=None,
           lighting: bool = True, far: float = FAR):
    """Render a coloured mesh; returns ``(rgb, depth)``.

    Args:
        image_or_size: a uint8 (H, W, 3) RGB image to draw onto (it is copied,
            never modified) or a (height, width) pair for a black canvas.
        vertices_px: (N, 3) vertices, x and y in pixels (centres on integers,
            y down), z depth (smaller = nearer).  Non-finite vertices are
            allowed: their triangles are not drawn.
        triangles: (T, 3) integer vertex indices in [0, N).
        colors: (N, 3) per-vertex RGB in [0, 1].
        normals: optional (N, 3) unit vertex normals (same frame as the
            lighting positions); computed from ``vertices_px`` when None.
            Only used when ``lighting`` is true.
        lighting: apply the spec-8 Phong-style lighting (see module doc);
            False draws ``colors`` as they are.
        far: only depths z < far are drawn.

    Returns:
        rgb: uint8 (H, W, 3), the image with the mesh drawn on it.
        depth: float32 (H, W), drawn z per pixel, +inf where nothing was drawn.

    Raises:
        ValueError: bad shapes or dtypes, or a triangle index outside [0, N).
    """
    rgb = _target(image_or_size)
    v = _as_points("vertices_px", vertices_px)
    nver = v.shape[0]
    tri = _as_triangles(triangles, nver)
    col = _as_points("colors", colors, nver)
    if lighting:
        if normals is None:
            n = _sim3dr.vertex_normals(v, tri)
        else:
            n = _as_points("normals", normals, nver)
        col = _sim3dr.light(v, n, col, out=col if col is not colors else None)
    depth = np.full(rgb.shape[:2], np.inf, dtype=np.float32)
    _sim3dr.rasterize(v, tri, col, rgb, depth, float(far))
    return rgb, depth


def overlay(frame, rgb, depth, alpha: float = 0.6) -> np.ndarray:
    """Blend a render onto ``frame`` where the render drew something.

    Args:
        frame: uint8 (H, W, 3) image (not modified).
        rgb: uint8 (H, W, 3) render, e.g. from :func:`render`.
        depth: (H, W) depth from :func:`render`; pixels with a finite depth
            are the drawn ones.
        alpha: weight of the render in [0, 1] (1 = paste, 0 = frame only).

    Returns:
        uint8 (H, W, 3): round(frame * (1 - alpha) + rgb * alpha) on drawn
        pixels, ``frame`` elsewhere.
    """
    frame = np.asarray(frame)
    rgb = np.asarray(rgb)
    depth = np.asarray(depth)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame must be a uint8 (H, W, 3) array, got {frame.dtype} {frame.shape}")
    if rgb.shape != frame.shape or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be uint8 {frame.shape} like frame, got {rgb.dtype} {rgb.shape}")
    if depth.shape != frame.shape[:2]:
        raise ValueError(f"depth must have shape {frame.shape[:2]}, got {depth.shape}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    out = frame.copy()
    drawn = np.isfinite(depth)
    rows = np.flatnonzero(drawn.any(axis=1))
    if rows.size == 0:
        return out
    cols = np.flatnonzero(drawn.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))  # the drawn pixels' bounds
    import cv2

    roi = frame[box].copy()   # C-contiguous, never the caller's frame itself
    blend = cv2.addWeighted(roi, 1.0 - alpha, np.ascontiguousarray(rgb[box]), alpha, 0.0)
    out[box] = cv2.copyTo(blend, np.ascontiguousarray(drawn[box]).view(np.uint8), roi)
    return out


def depth_image(depth) -> np.ndarray:
    """Depth map as a uint8 (H, W) picture: near = bright, 0 = nothing drawn.

    Drawn (finite) depths map linearly from the nearest, 255, to the
    farthest, 1, so that every drawn pixel stays distinguishable from the
    empty background (0).  A single drawn depth maps to 255.
    """
    d = np.asarray(depth)
    if d.ndim != 2:
        raise ValueError(f"depth must have shape (H, W), got {d.shape}")
    out = np.zeros(d.shape, dtype=np.uint8)
    drawn = np.isfinite(d)
    if not drawn.any():
        return out
    values = d[drawn].astype(np.float64)
    near, far = values.min(), values.max()
    if far > near:
        scaled = 255.0 - 254.0 * (values - near) / (far - near)
    else:
        scaled = np.full_like(values, 255.0)
    out[drawn] = np.rint(scaled).astype(np.uint8)
    return out
