#!/usr/bin/env python3
"""Benchmark of the FaceVerse core on CPU: regressor engines and reconstruction.

Prints median milliseconds per image (median of --runs timed runs after
warm-up) for the regressor at batch 1 and 4 with each engine (PyTorch fp32,
ONNX Runtime fp32, ONNX Runtime int8 static QDQ, ONNX Runtime int8 dynamic),
the int8 models' output difference from fp32 on held-out face crops, and the
model arithmetic per face (full reconstruction with colours, geometry only,
landmarks only, head pose).

Without --checkpoint/--model it uses the SYNTHETIC assets: timings are valid
(same network and mesh sizes), accuracy numbers say nothing about real faces.
Face crops for calibration and accuracy come from ../shared/testdata (MediaPipe
face boxes) when present, else synthetic images. Machines shared with other
jobs give noisy numbers: compare runs made side by side.

    .venv/bin/python bench/bench_core.py [--runs 10] [--threads 2] [--skip-int8]
"""
import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))  # synthetic FaceVerse files (test-only code)

from faceverse_ros.core.camera import CameraIntrinsics  # noqa: E402
from faceverse_ros.core.headpose import head_pose  # noqa: E402
from faceverse_ros.core.model import FaceVerseModel  # noqa: E402
from faceverse_ros.paths import cache_root  # noqa: E402
from faceverse_ros.cli.export_onnx import face_crops_mediapipe  # noqa: E402
from faceverse_ros.core.network import file_sha256  # noqa: E402
from faceverse_ros.core.onnx_export import export_onnx  # noqa: E402
from faceverse_ros.core.regressor import Regressor  # noqa: E402
from faceverse_ros.cli.synthetic_assets import _calibration_images, synthetic_assets  # noqa: E402

SHARED = ROOT.parent / "shared"


def median_ms(fn, runs, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def face_crops(n):
    """Real face crops from the shared test video and photos, or synthetic images."""
    import cv2

    video = SHARED / "testdata/video/talking_256.mp4"
    task = SHARED / "models/face_landmarker.task"
    if video.is_file() and task.is_file():
        cap = cv2.VideoCapture(str(video))
        frames, i = [], 0
        while True:
            ok, f = cap.read()
            if not ok:
                break
            if i % 7 == 0:
                frames.append(f[:, :, ::-1].copy())
            i += 1
        cap.release()
        for name in ("emma.jpg", "frontal_1080p.jpg", "portrait_small.jpg"):
            img = cv2.imread(str(SHARED / "testdata/faces" / name))
            if img is not None:
                frames.append(img[:, :, ::-1].copy())
        crops = face_crops_mediapipe(frames, task)
        if len(crops) >= n:
            rng = np.random.default_rng(0)
            return crops[rng.permutation(len(crops))[:n]], "real face crops (../shared/testdata, MediaPipe boxes)"
    return _calibration_images(n, seed=11), "SYNTHETIC images (../shared not found)"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None, help="faceverse_resnet50.pth (default: synthetic)")
    ap.add_argument("--model", default=None, help="faceverse_v4_2.npy (default: synthetic)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    ap.add_argument("--calibration", type=int, default=24, help="crops for static int8 calibration")
    ap.add_argument("--skip-int8", action="store_true")
    args = ap.parse_args(argv)

    synth = synthetic_assets()
    ckpt = Path(args.checkpoint) if args.checkpoint else synth.checkpoint_path
    model_path = Path(args.model) if args.model else synth.model_path
    synthetic = args.checkpoint is None or args.model is None
    print(f"checkpoint {ckpt}\nmodel      {model_path}")
    if synthetic:
        print("NOTE: SYNTHETIC assets - timings are valid, accuracy numbers are not about real faces")

    model = FaceVerseModel.from_file(model_path)
    crops, source = face_crops(args.calibration + 8)
    calib, held = crops[:args.calibration], crops[args.calibration:]
    print(f"crops: {source}; {len(calib)} for calibration, {len(held)} held out")

    engines = {"torch fp32": Regressor(ckpt, "torch", threads=args.threads, head_sizes=model.sizes.head_sizes),
               "ORT fp32": Regressor(ckpt, "onnx", threads=args.threads, head_sizes=model.sizes.head_sizes)}
    print(f"threads: {engines['torch fp32'].threads}")
    if not args.skip_int8:
        key = file_sha256(ckpt)[:16]
        ckey = hashlib.sha1(calib.tobytes()).hexdigest()[:8]
        for mode in ("static", "dynamic"):
            out = cache_root() / "onnx" / f"reconnet-{key}-int8-{mode}-{ckey if mode == 'static' else 'na'}.onnx"
            if not out.is_file():
                t = time.perf_counter()
                rep = export_onnx(ckpt, out, mode, calib if mode == "static" else None,
                                  head_sizes=model.sizes.head_sizes, threads=args.threads)
                print(f"exported in {time.perf_counter() - t:.1f} s: {rep.summary()}")
            engines[f"ORT int8 {mode}"] = Regressor(out, "onnx", threads=args.threads,
                                                    head_sizes=model.sizes.head_sizes)

    print("\nregressor, median ms per image (256x256 crop):")
    print(f"  {'engine':18s} {'batch 1':>9s} {'batch 4':>9s}")
    ref = engines["ORT fp32"].predict(held)
    for name, reg in engines.items():
        b1 = median_ms(lambda: reg.predict(held[:1]), args.runs)
        b4 = median_ms(lambda: reg.predict(held[:4]), max(3, args.runs // 2)) / 4
        print(f"  {name:18s} {b1:9.1f} {b4:9.1f}")
    print("\noutput difference from ORT fp32 on the held-out crops:")
    sl = model.slices
    for name, reg in engines.items():
        d = np.abs(reg.predict(held) - ref)
        print(f"  {name:18s} max {d.max():.3g}  mean {d.mean():.3g}  angles mean "
              f"{np.degrees(d[:, sl['angles']].mean()):.3g} deg  trans mean {d[:, sl['trans']].mean():.3g} units")

    coeffs = engines["ORT fp32"].predict(held[:4])
    box = np.array([[500, 200, 756, 456]] * 4)
    cam = CameraIntrinsics.default(1280, 720)
    print("\nmodel arithmetic, median ms per face:")
    rows = [
        ("reconstruct (colours) b1", lambda: model.reconstruct(coeffs[:1]), 1),
        ("reconstruct (colours) b4", lambda: model.reconstruct(coeffs), 4),
        ("reconstruct display b1", lambda: model.reconstruct(coeffs[:1], display=True), 1),
        ("geometry only b1", lambda: model.reconstruct_geometry(coeffs[:1]), 1),
        ("478 landmarks b1", lambda: model.landmarks_from_coeffs(coeffs[:1]), 1),
        ("head pose closed form b1", lambda: head_pose(model, coeffs[:1], box[:1], cam, refine=False), 1),
        ("head pose + PnP b1", lambda: head_pose(model, coeffs[:1], box[:1], cam), 1),
    ]
    for name, fn, per in rows:
        print(f"  {name:26s} {median_ms(fn, args.runs) / per:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
