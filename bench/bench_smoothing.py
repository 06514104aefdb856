"""Jitter and lag of the smoothers (faceverse_ros.tracking.smoothing) at 30 fps.

For each smoother -- ``original`` (FaceVerse V4's centred 3-frame mean, one
frame late per stage), ``one_euro`` with the package defaults (or the
constants given on the command line), ``none`` -- on the same inputs:

* jitter: RMS of the frame-to-frame second differences of the output's
  error (output minus the clean signal) on a still segment (a noisy
  constant) and during motion (a noisy 0.5 Hz sine). Lower is steadier.
* lag, in ms: the shift of the clean input that best matches the output in
  least squares (searched on a 1 ms grid; for the sine this is the peak of
  their cross-correlation), on a step, a ramp and the sine. The output is
  what the caller holds *when each frame arrives*: for ``original`` the
  value of the previous frame, so its structural one-frame delay counts (its
  two-stage box -> coefficients chain adds a second frame, not shown here).

Synthetic signals (30 fps, 8 s; speeds and amplitudes as printed):
* box: a 100 px box moving horizontally through FaceSmoother.smooth_box
  (centre and size filtered apart), corner noise 0.1 px = 0.1 % of the side,
  about what the legacy Face Mesh shows on talking_256.mp4 (printed below);
  lag and jitter measured on the left edge;
* head rotation (rad): noise 0.01 rad (0.6 degrees), one_euro on quaternions;
* coefficient and eye values: noise 0.02 units. The real regressor's noise
  and speeds are unknown here (no real weights), so those rows only show the
  trade-off the defaults make at that noise.

Real track: the box of talking_256.mp4 detected once with the legacy Face
Mesh (video mode) through FaceSmoother.smooth_box: jitter = RMS of the
second differences of the box corners in % of the box side (true head motion
included), lag = the least-squares shift that best aligns the output to the
raw track (mean over the 4 corners).

    .venv/bin/python bench/bench_smoothing.py [--video PATH] [--no-video]
        [--box MC,BETA,DC] [--box-size MC,BETA,DC] [--rotation ...]
        [--coeffs ...] [--eyes ...] [--sweep]

Goal stated by the issue: one_euro steadier than original at no more lag, or
less lag at equal jitter. The script prints per row whether that holds.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))  # synthetic FaceVerse files (test-only code)

from faceverse_ros.tracking import smoothing as sm  # noqa: E402

FPS = 30.0
DT = 1.0 / FPS
N = 240  # 8 s
KINDS = ("original", "one_euro", "none")


# ------------------------------------------------------------------ metrics
def jitter(out, clean, start=30):
    """RMS second difference of the error, per frame^2 (first column)."""
    err = out[start:, 0] - clean[start:, 0]
    return float(np.sqrt(np.mean(np.diff(err, 2) ** 2)))


def lag_ms(out, clean, stamps, start=30, max_ms=250):
    """Least-squares delay (ms, 1 ms grid) of out relative to clean (first column)."""
    t = stamps[start:]
    y = out[start:, 0]
    errs = [np.mean((y - np.interp(t - ms / 1000.0, stamps, clean[:, 0])) ** 2)
            for ms in range(max_ms + 1)]
    return float(np.argmin(errs))


# ------------------------------------------------------------------ running
def hold(samples, n, width):
    """Value available at each arrival from a list of (k, Sample or None)."""
    out = np.full((n, width), np.nan)
    last = None
    for k, s in samples:
        if s is not None:
            last = s
        if last is not None:
            out[k] = last
    return out


def run_signal(kind, params, stamps, values, rotation=False):
    f = sm.make_smoother(kind, rotation=rotation, **(params if kind == "one_euro" else {}))
    samples = []
    for k, (t, v) in enumerate(zip(stamps, values)):
        s = f.update(t, v)
        samples.append((k, None if s is None else s.value))
    return hold(samples, len(stamps), values.shape[1])


def run_boxes(kind, params, stamps, boxes):
    f = sm.FaceSmoother(kind=kind, **params)
    samples = []
    for k, (t, b) in enumerate(zip(stamps, boxes)):
        s = f.smooth_box(0, t, b)
        samples.append((k, None if s is None else s.box))
    return hold(samples, len(stamps), 4)


def trajectories(amp, speed):
    t = np.arange(N) * DT
    return t, {"still": np.zeros(N), "step": np.where(t >= 4.0, amp, 0.0),
               "ramp": np.clip(t - 2.0, 0.0, None) * speed,
               "sine": amp * np.sin(2 * np.pi * 0.5 * t)}


def print_rows(label, rows, note):
    print(f"\n{label}  ({note})")
    print(f"  {'smoother':9s} {'jitter still':>13s} {'jitter sine':>12s} {'lag step':>9s} "
          f"{'lag ramp':>9s} {'lag sine':>9s}")
    for kind, r in rows.items():
        print(f"  {kind:9s} {r['jit_still']:13.5f} {r['jit_sine']:12.5f} {r['lag_step']:7.0f}ms "
              f"{r['lag_ramp']:7.0f}ms {r['lag_sine']:7.0f}ms")
    o, e = rows["original"], rows["one_euro"]
    lag_ok = all(e[k] <= o[k] for k in ("lag_step", "lag_ramp", "lag_sine"))
    met = e["jit_still"] < o["jit_still"] and lag_ok
    print(f"  one_euro / original: still jitter x{e['jit_still'] / o['jit_still']:.2f}, "
          f"sine jitter x{e['jit_sine'] / o['jit_sine']:.2f}, lags "
          f"{'all <=' if lag_ok else 'NOT all <='} original's -> goal {'MET' if met else 'NOT met'}")


def synthetic_signal(label, params, noise, amp, speed, rotation=False, seed=0):
    rng = np.random.default_rng(seed)
    t, clean = trajectories(amp, speed)
    noisy_all = {name: sig + rng.normal(scale=noise, size=N) for name, sig in clean.items()}
    rows = {}
    for kind in KINDS:
        r = {}
        for name, sig in clean.items():
            noisy = noisy_all[name]
            if rotation:
                vals = np.stack([noisy, np.full(N, 0.1), np.full(N, -0.2)], axis=1)
            else:
                vals = noisy[:, None]
            out = run_signal(kind, params, t, vals, rotation)
            ref = sig[:, None]
            if name in ("still", "sine"):
                r[f"jit_{name}"] = jitter(out, ref)
            if name != "still":
                r[f"lag_{name}"] = lag_ms(out, ref, t)
        rows[kind] = r
    print_rows(label, rows, f"noise {noise}, step/sine amplitude {amp}, ramp {speed}/s; "
                            f"one_euro {params}")
    return rows


def synthetic_box(params, noise_px=0.1, side=100.0, seed=0):
    rng = np.random.default_rng(seed)
    t, clean = trajectories(0.2 * side, 0.5 * side)  # step/sine 0.2 side, ramp 0.5 side/s
    noise = {name: rng.normal(scale=noise_px, size=(N, 4)) for name in clean}
    rows = {}
    for kind in KINDS:
        r = {}
        for name, x in clean.items():
            boxes = np.stack([100 + x, np.full(N, 100.0), 100 + x + side, np.full(N, 100 + side)],
                             axis=1) + noise[name]
            out = run_boxes(kind, params if kind == "one_euro" else {}, t, boxes)
            ref = (100 + x)[:, None]
            if name in ("still", "sine"):
                r[f"jit_{name}"] = jitter(out, ref) / side * 100
            if name != "still":
                r[f"lag_{name}"] = lag_ms(out, ref, t)
        rows[kind] = r
    print_rows("box, left edge (jitter in % of the side)", rows,
               f"corner noise {noise_px} px on a {side:.0f} px box, step/sine 0.2 side, "
               f"ramp 0.5 side/s; one_euro {params}")
    return rows


# ------------------------------------------------------------------ real video
def video_boxes(path):
    from faceverse_ros.tracking.detector import FaceDetector
    from faceverse_ros.io.sources import FrameSource
    boxes, eyes = [], []
    with FaceDetector(mode="video") as det:
        for frame in FrameSource(path):
            found = det.detect(frame.rgb, frame.stamp)
            if not found:
                raise RuntimeError(f"no face in frame {frame.index} of {path}")
            boxes.append(found[0].box)
            eyes.append(found[0].eyes)
    return np.array(boxes), np.array(eyes)


def real_metrics(kind, params, boxes):
    t = np.arange(len(boxes)) * DT
    side = float(np.mean(boxes[:, 2] - boxes[:, 0]))
    out = run_boxes(kind, params if kind == "one_euro" else {}, t, boxes)
    jit = float(np.sqrt(np.mean(np.diff(out[5:], 2, axis=0) ** 2))) / side * 100
    lag = float(np.mean([lag_ms(out[:, c:c + 1], boxes[:, c:c + 1], t, start=5, max_ms=150)
                         for c in range(4)]))
    return jit, lag


def real_track(boxes, params):
    side = float(np.mean(boxes[:, 2] - boxes[:, 0]))
    # noise estimate: residual of a 5-point quadratic (Savitzky-Golay) fit, corrected
    # for the fit's own share of the noise (sqrt(1 - 17/35))
    resid = boxes[2:-2] - (-3 * boxes[:-4] + 12 * boxes[1:-3] + 17 * boxes[2:-2]
                           + 12 * boxes[3:-1] - 3 * boxes[4:]) / 35
    noise = np.std(resid) / np.sqrt(1 - 17 / 35)
    print(f"\nreal box track: {len(boxes)} frames of talking_256.mp4, mean side {side:.1f} px, "
          f"corner noise about {noise:.2f} px ({noise / side * 100:.2f} % of the side)")
    print(f"  jitter = RMS 2nd difference of the corners in % of the side; lag vs the raw track; "
          f"one_euro {params}")
    print(f"  {'smoother':9s} {'jitter %':>9s} {'lag':>7s}")
    res = {}
    for kind in KINDS:
        res[kind] = real_metrics(kind, params, boxes)
        print(f"  {kind:9s} {res[kind][0]:9.4f} {res[kind][1]:5.1f}ms")
    (jo, lo), (je, le) = res["original"], res["one_euro"]
    print(f"  one_euro / original: jitter x{je / jo:.2f}, lag {le:.1f} vs {lo:.1f} ms -> goal "
          f"{'MET' if je < jo and le <= lo else 'NOT met'}")
    return res


def real_eyes(eyes, params):
    """The detector's spec-6 eye values of the video (mean over the 4 values)."""
    t = np.arange(len(eyes)) * DT
    print(f"\nreal eye values of talking_256.mp4 (spec-6 units; range "
          f"{eyes.min():.2f}..{eyes.max():.2f}): jitter = RMS 2nd difference, lag vs raw; "
          f"one_euro {params}")
    res = {}
    for kind in KINDS:
        out = run_signal(kind, params, t, eyes)
        jit = float(np.sqrt(np.mean(np.diff(out[5:], 2, axis=0) ** 2)))
        lag = float(np.mean([lag_ms(out[:, c:c + 1], eyes[:, c:c + 1], t, start=5, max_ms=150)
                             for c in range(4)]))
        res[kind] = (jit, lag)
        print(f"  {kind:9s} {jit:9.4f} {lag:5.1f}ms")
    (jo, lo), (je, le) = res["original"], res["one_euro"]
    print(f"  one_euro / original: jitter x{je / jo:.2f}, lag {le:.1f} vs {lo:.1f} ms -> goal "
          f"{'MET' if je < jo and le <= lo else 'NOT met'}")
    return res


def sweep(boxes):
    print("\nbox constant sweep on the real track (box = centre; box_size = width/height; "
          "d_cutoff 1.0): jitter % and lag")
    jo, lo = real_metrics("original", {}, boxes)
    print(f"  original: {jo:.4f} % {lo:.1f} ms")
    best = []
    for mc in (0.5, 1.0, 1.5, 2.0, 3.0):
        for beta in (8.0, 16.0, 32.0, 64.0):
            for smc, sbeta in ((0.3, 4.0), (0.5, 8.0), (1.0, 8.0), (mc, beta)):
                p = {"box": dict(min_cutoff=mc, beta=beta, d_cutoff=1.0),
                     "box_size": dict(min_cutoff=smc, beta=sbeta, d_cutoff=1.0)}
                j, lag = real_metrics("one_euro", p, boxes)
                best.append((j, lag, mc, beta, smc, sbeta))
    for j, lag, mc, beta, smc, sbeta in sorted(best)[:60]:
        flag = "  <- beats original" if j < jo and lag <= lo else ""
        print(f"  box ({mc}, {beta}) size ({smc}, {sbeta}): {j:.4f} % {lag:5.1f} ms{flag}")


def parse_triple(text):
    mc, beta, dc = (float(v) for v in text.split(","))
    return dict(min_cutoff=mc, beta=beta, d_cutoff=dc)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", default=str(ROOT.parent / "shared/testdata/video/talking_256.mp4"))
    ap.add_argument("--no-video", action="store_true")
    ap.add_argument("--sweep", action="store_true", help="grid of box constants on the real track")
    for part in ("box", "box-size", "rotation", "coeffs", "eyes"):
        ap.add_argument(f"--{part}", type=parse_triple, metavar="MC,BETA,DC")
    args = ap.parse_args(argv)
    box = {"box": args.box or dict(sm.DEFAULT_BOX),
           "box_size": args.box_size or dict(sm.DEFAULT_BOX_SIZE)}
    print("30 fps; lags include the original's one frame per stage (its box -> coefficient "
          "chain is two frames: 67 ms)")
    synthetic_box(box)
    synthetic_signal("head rotation (rad, angle a0)", args.rotation or sm.DEFAULT_ROTATION,
                     0.01, 0.3, 1.0, rotation=True)
    synthetic_signal("coefficient (units)", args.coeffs or sm.DEFAULT_COEFFS, 0.02, 0.5, 2.0)
    synthetic_signal("eye values", args.eyes or sm.DEFAULT_EYES, 0.02, 0.3, 2.0)
    if args.no_video:
        return
    if not Path(args.video).exists():
        print(f"\n(video {args.video} not found: real-track section skipped)")
        return
    boxes, eyes = video_boxes(args.video)
    real_track(boxes, box)
    real_eyes(eyes, args.eyes or sm.DEFAULT_EYES)
    if args.sweep:
        sweep(boxes)


if __name__ == "__main__":
    main()
