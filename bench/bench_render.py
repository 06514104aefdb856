"""Benchmark of Sim3DR rendering (faceverse_ros.views.render) against the NumPy reference.

Mesh: a 20,000-vertex / 39,402-triangle smooth bump (a 100 x 200 vertex grid
bent into a dome) whose outline covers about a third of a 640 x 480 image,
like a face close to the camera.  Prints medians in milliseconds of:
  * the whole call ``render((480, 640), ...)``: vertex normals + lighting +
    rasterisation with depth, including input checks and buffer allocation;
  * rasterisation only (``_sim3dr.rasterize`` into preallocated buffers,
    including refilling the depth buffer with +inf);
  * the NumPy reference (test/sim3dr_reference.py) on the same mesh, fewer runs;
and the speed-up ratio.  Single thread (the kernels are single-threaded).

Then the FaceVerse debug view as the node builds it (views.overlay.ViewBuilder.build of a
ViewRequest with render on: reconstruction of the rendered vertices, Sim3DR, blend, box and
axes), SYNTHETIC FaceVerse files of the real sizes, one face of random coefficients, at
256x256 and 640x480, per render decimation: medians with the per-face identity/albedo cache
hit (same id/tex blocks every frame) and missed (they change every frame), and the ratio to
the full mesh.

    .venv/bin/python bench/bench_render.py [--runs 200] [--ref-runs 2] [--view-runs 100]

Timings depend on machine load (the development machines are shared).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))

from faceverse_ros import _sim3dr  # noqa: E402
from faceverse_ros.views.render import render  # noqa: E402
from sim3dr_reference import reference_render  # noqa: E402

HEIGHT, WIDTH = 480, 640


def dome_mesh(nx: int = 200, ny: int = 100):
    """Vertices (nx*ny, 3) in pixels/depth and triangles (2(nx-1)(ny-1), 3)."""
    # Elliptical outline of area ~ WIDTH*HEIGHT/3 centred in the image.
    rx, ry = 170.0, 190.0  # pi * 170 * 190 = 101,473 px ~ 307,200 / 3
    t = np.linspace(0.0, 1.0, ny)[:, None]          # radius fraction
    a = np.linspace(0.0, 2 * np.pi, nx)[None, :]    # angle (seam duplicated)
    r = np.sqrt(t) * np.ones_like(a)
    x = WIDTH / 2 + rx * r * np.cos(a)
    y = HEIGHT / 2 + ry * r * np.sin(a)
    z = 1000.0 - 150.0 * np.sqrt(np.clip(1 - r**2, 0, 1))  # dome bulging to the camera
    verts = np.stack([x, y, z], -1).reshape(-1, 3).astype(np.float32)
    idx = np.arange(nx * ny).reshape(ny, nx)
    p, q = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
    s, u = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    # Wound counter-clockwise in the image (angle grows clockwise with y down,
    # so (p, q, s) turns counter-clockwise): normals face the camera (-z).
    tris = np.concatenate([np.stack([p, q, s], 1), np.stack([q, u, s], 1)]).astype(np.int32)
    return verts, tris


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--ref-runs", type=int, default=2)
    parser.add_argument("--view-runs", type=int, default=100)
    args = parser.parse_args()

    verts, tris = dome_mesh()
    rng = np.random.default_rng(0)
    colors = rng.uniform(0.4, 0.9, (len(verts), 3)).astype(np.float32)

    rgb, depth = render((HEIGHT, WIDTH), verts, tris, colors)
    coverage = np.isfinite(depth).mean()
    print(f"mesh: {len(verts)} vertices, {len(tris)} triangles, "
          f"covers {100 * coverage:.1f}% of {WIDTH}x{HEIGHT}")

    for _ in range(5):  # warm-up
        render((HEIGHT, WIDTH), verts, tris, colors)
    full = median_ms(lambda: render((HEIGHT, WIDTH), verts, tris, colors), args.runs)

    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    zbuf = np.empty((HEIGHT, WIDTH), np.float32)

    def raster_only():
        zbuf.fill(np.inf)
        _sim3dr.rasterize(verts, tris, colors, img, zbuf, 1e8)

    raster = median_ms(raster_only, args.runs)
    normals = median_ms(lambda: _sim3dr.vertex_normals(verts, tris), args.runs)
    n = _sim3dr.vertex_normals(verts, tris)
    light = median_ms(lambda: _sim3dr.light(verts, n, colors), args.runs)

    ref = median_ms(lambda: reference_render((HEIGHT, WIDTH), verts, tris, colors),
                    args.ref_runs)

    print(f"render (normals + lighting + rasterise + depth), median of {args.runs}: "
          f"{full:.2f} ms  (goal < 5 ms)")
    print(f"  rasterise only (preallocated buffers, incl. depth clear): {raster:.2f} ms")
    print(f"  vertex normals only:                              {normals:.2f} ms")
    print(f"  lighting only:                                    {light:.2f} ms")
    print(f"numpy reference, same call, median of {args.ref_runs}:         {ref:.0f} ms")
    print(f"speed-up over the numpy reference: {ref / full:.0f}x")
    faceverse_views(args.view_runs)


class _Pose:
    model_rotation = rotation = np.eye(3)
    model_translation = position = np.array([0.0, 0.0, 0.6])


class _Face:
    def __init__(self, coeffs, box):
        from faceverse_ros.core.layout import MODE_LANDMARK_FIT

        self.face_id, self.coeffs, self.mode, self.pose, self.mesh = 0, coeffs, MODE_LANDMARK_FIT, _Pose(), None
        self.box = self.crop_box = np.asarray(box, dtype=np.float64)
        self.landmarks = np.zeros((478, 3))
        self.blendshapes = None


def faceverse_views(runs: int) -> None:
    from faceverse_ros.cli.synthetic_assets import synthetic_assets

    from faceverse_ros.core.model import FaceVerseModel
    from faceverse_ros.views.overlay import RENDER_REST_CELLS, ViewBuilder, ViewRequest

    class Cam:
        fx = fy = 500.0
        cx = cy = 128.0

    model = FaceVerseModel.from_file(synthetic_assets().model_path)
    rng = np.random.default_rng(1)
    base = (rng.normal(size=model.n_coeffs) * 0.1).astype(np.float32)
    base[model.slices["trans"]] = 0.0
    print("\nFaceVerse debug view (ViewBuilder.build, render on), SYNTHETIC model, "
          f"median of {runs}, ms:")
    for (h, w), box in (((256, 256), (48, 48, 208, 208)), ((480, 640), (210, 130, 430, 350))):
        frame = np.full((h, w, 3), 100, np.uint8)
        full = None
        for dec, rest in ((1, 1), (4, 1), (4, RENDER_REST_CELLS), (8, 1), (16, 1)):
            builder = ViewBuilder(model, render_decimation=dec, render_rest_cells=rest)
            row = []
            for change in (False, True):
                k = [0]

                def build():
                    c = base.copy()
                    k[0] += 1
                    if change:   # a new identity and texture every frame: the cache misses
                        c[model.slices["id"]] += 0.01 * (k[0] % 7)
                        c[model.slices["tex"]] += 0.01 * (k[0] % 7)
                    builder.build(ViewRequest(frame, [_Face(c, box)], Cam()))

                build()
                row.append(median_ms(build, runs))
            full = full or row
            verts = builder._builders[(dec, float(rest) if dec > 1 else 1.0)].n_vertices
            print(f"  {w}x{h} decimation {dec:2d}, rest of the head x{rest} cells ({verts:5d} "
                  f"vertices): cache hit {row[0]:5.2f}, "
                  f"miss {row[1]:5.2f}  (x{row[1] / full[1]:.2f} of the full mesh's miss)")


if __name__ == "__main__":
    main()
