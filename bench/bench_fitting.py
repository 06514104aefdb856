"""Speed and round-trip accuracy of the landmark fitter (faceverse_ros.core.fitting).

On the SYNTHETIC FaceVerse model (synthetic; its numbers say
nothing about real faces), for random plausible coefficients (angles within
+-0.3 rad, small trans, expression ~ N(0, 0.5)), the model's MediaPipe
keypoints are projected into a 300x300 px crop box and fitted from a
perturbed start:

* "keyframe": the start is the keyframe a few frames back (pose moved by
  ~0.03 rad and ~0.01 model units, each fitted expression value by ~0.1),
  landmark noise 0.5 px per axis;
* "warm": the start is the previous frame's fit (0.01 rad, 0.003, 0.03),
  same noise.

Printed per setting: median and 90th percentile ms per fit, mean LM
iterations, and the round-trip errors (max over cases): angles (rad), trans
(model units), landmark RMS (image px, against the noisy detections) and the
error of the fitted landmarks against the clean ones.

Two models: ``file`` is the synthetic model as written; its expression basis
(a few global smooth functions) reproduces rigid motions exactly, so its pose
errors with many expression values are not meaningful; ``local`` is the same
model with the expression basis confined to mouth, eyes, brows and jaw, like a
real one (pose observable). Timings do not depend on the basis content.

Numbers are taken on a shared 2-core machine while other work may run: the
load average is printed. NumPy's OpenBLAS uses 2 threads by default; on a
busy 2-core machine one thread is much faster for these small products
(``--threads`` runs the timing twice, in subprocesses with
OPENBLAS_NUM_THREADS=1 and 2).

    .venv/bin/python bench/bench_fitting.py [--cases 30] [--threads] [--quick]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))  # synthetic FaceVerse files (test-only code)

from faceverse_ros.core.fitting import LandmarkFitter  # noqa: E402
from faceverse_ros.core.model import FaceVerseModel  # noqa: E402
from faceverse_ros.core.projection import to_image  # noqa: E402
from faceverse_ros.cli.synthetic_assets import localised_expression_basis, synthetic_assets  # noqa: E402

BOX = np.array([100.0, 80.0, 400.0, 380.0])
SCENARIOS = {"keyframe": (0.03, 0.01, 0.1), "warm": (0.01, 0.003, 0.03)}


def make_cases(model, n, scenario, noise, exp_dims, seed=0):
    rng = np.random.default_rng(seed)
    s = model.slices
    da, dt, de = SCENARIOS[scenario]
    cases = []
    for _ in range(n):
        c = np.zeros(model.n_coeffs, np.float32)
        c[s["id"]] = rng.normal(0, 0.5, model.n_id)
        c[s["exp"]] = rng.normal(0, 0.5, model.n_exp)
        c[s["angles"]] = rng.uniform(-0.3, 0.3, 3)
        c[s["trans"]] = rng.normal(0, 0.05, 3)
        init = c.copy()
        init[s["angles"]] += rng.normal(0, da, 3).astype(np.float32)
        init[s["trans"]] += rng.normal(0, dt, 3).astype(np.float32)
        init[s["exp"].start:s["exp"].start + exp_dims] += rng.normal(0, de, exp_dims).astype(np.float32)
        clean = to_image(model.landmarks_from_coeffs(c).projected[0], BOX)[:, :2].astype(np.float64)
        cases.append((c, init, clean, clean + rng.normal(0, noise, clean.shape)))
    return cases


def run(model, cases, **kwargs):
    fitter = LandmarkFitter(model, **kwargs)
    s = model.slices
    ids = fitter.landmark_ids
    fitter.fit(cases[0][3], BOX, cases[0][1])  # warm-up
    ms, its, ea, et, rms, clean_err = [], [], [], [], [], []
    for true, init, clean, noisy in cases:
        t0 = time.perf_counter()
        res = fitter.fit(noisy, BOX, init)
        ms.append((time.perf_counter() - t0) * 1e3)
        its.append(res.iterations)
        ea.append(np.abs(res.coeffs[s["angles"]] - true[s["angles"]]).max())
        et.append(np.abs(res.coeffs[s["trans"]] - true[s["trans"]]).max())
        rms.append(res.rms_px)
        got = to_image(model.landmarks_from_coeffs(res.coeffs).projected[0], BOX)[ids, :2]
        clean_err.append(np.sqrt(((got - clean[ids]) ** 2).sum(1).mean()))
    return dict(med=np.median(ms), p90=np.percentile(ms, 90), it=np.mean(its), ang=max(ea), trans=max(et),
                rms=max(rms), clean=max(clean_err), exp_dims=fitter.exp_dims)


def row(label, r):
    return (f"{label:<38} {r['med']:7.2f} {r['p90']:7.2f} {r['it']:5.1f}   {r['ang']:.1e}  {r['trans']:.1e}"
            f"  {r['rms']:6.3f}  {r['clean']:6.3f}")


HEADER = (f"{'setting':<38} {'med ms':>7} {'p90 ms':>7} {'iters':>5}   {'ang err':>7}  {'tr err':>7}"
          f"  {'rms px':>6}  {'clean':>6}")


def timing_table(models, n, quick):
    print(HEADER)
    dims = [0, 20, 50, 100, None, 177] if not quick else [0, None]
    for name in ("local",):
        m = models[name]
        for scen in ("keyframe", "warm"):
            for ed in dims:
                k = LandmarkFitter(m, exp_dims=ed).exp_dims
                cases = make_cases(m, n, scen, 0.5, k)
                print(row(f"{name} {scen} exp_dims={k}" + (" (default)" if ed is None else ""),
                          run(m, cases, exp_dims=ed)), flush=True)


def accuracy_table(models, n):
    print("\nround trip, 'keyframe' start (tolerances of test/test_fitting.py in the module doc there)")
    print(HEADER)
    for name, m in models.items():
        for noise in (0.0, 0.5):
            for ed, extra in ((10, dict(exp_prior=1e-8, iterations=50, tolerance=0.0, step_tol_px=0.0)),
                              (None, {})):
                k = LandmarkFitter(m, exp_dims=ed).exp_dims
                cases = make_cases(m, n, "keyframe", noise, k, seed=1)
                label = f"{name} noise={noise} exp_dims={k}" + (" converged" if extra else " default")
                print(row(label, run(m, cases, exp_dims=ed, **extra)), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=30, help="random faces per setting (default 30)")
    ap.add_argument("--threads", action="store_true", help="time with OPENBLAS_NUM_THREADS=1 and 2")
    ap.add_argument("--quick", action="store_true", help="fewer settings")
    ap.add_argument("--timing-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads:
        for t in ("1", "2"):
            print(f"\n=== OPENBLAS_NUM_THREADS={t}", flush=True)
            env = dict(os.environ, OPENBLAS_NUM_THREADS=t)
            cmd = [sys.executable, __file__, "--timing-only", "--cases", str(args.cases)]
            subprocess.run(cmd + (["--quick"] if args.quick else []), env=env, check=True)
        return 0
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset (2)')}")
    assets = synthetic_assets()
    d = np.load(assets.model_path, allow_pickle=True).item()
    models = {"file": FaceVerseModel(d), "local": FaceVerseModel(localised_expression_basis(d))}
    print(f"SYNTHETIC model, {models['file'].n_exp} expression values, crop box {BOX.tolist()} "
          f"({BOX[2] - BOX[0]:.0f} px), noise 0.5 px per axis for timing\n")
    timing_table(models, args.cases, args.quick)
    if not args.timing_only:
        accuracy_table(models, max(5, args.cases // 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
