"""Per-frame time of the MediaPipe detector backends (faceverse_ros.tracking.detector).

Streams: the 316 frames of talking_256.mp4 at their own 256x256, and the same
frames upscaled to 480x480 and padded with black to 640x480 (a VGA stream
with a face of about 290 px). For each backend -- legacy Face Mesh (video
mode: tracking between frames) and the Tasks API FaceLandmarker (VIDEO
running mode) -- the whole stream is run ``--runs`` times, each run with a
fresh detector; printed: the median ms per frame of each run and the median
over all frames of all runs (the first frame of a run, which loads models
and runs the face detector, is left out). Optionally (--image-mode) also
the still-image modes, where the face detector runs on every frame.

    .venv/bin/python bench/bench_detector.py [--task ../shared/models/face_landmarker.task]
        [--runs 3] [--image-mode]

Timed with time.perf_counter around FaceDetector.detect (RGB uint8 input,
including the landmark conversion, box and eye values). The machine is
shared with other work: numbers vary from run to run.
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
sys.path.insert(0, str(ROOT / "test"))  # synthetic FaceVerse files (test-only code)

from faceverse_ros.tracking.detector import FaceDetector  # noqa: E402


def read_frames(path):
    import cv2
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(np.ascontiguousarray(frame[:, :, ::-1]))
    cap.release()
    if not frames:
        raise SystemExit(f"could not read frames from {path}")
    return frames


def to_vga(frame):
    import cv2
    big = cv2.resize(frame, (480, 480), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((480, 640, 3), np.uint8)
    out[:, 80:560] = big
    return out


def time_stream(frames, runs, **kwargs):
    per_run, all_ms, found = [], [], 0
    for _ in range(runs):
        times = []
        with FaceDetector(**kwargs) as det:
            for k, frame in enumerate(frames):
                t0 = time.perf_counter()
                faces = det.detect(frame, k / 30.0)
                times.append((time.perf_counter() - t0) * 1000.0)
                found += bool(faces)
        per_run.append(statistics.median(times[1:]))
        all_ms += times[1:]
    return per_run, statistics.median(all_ms), found / (runs * len(frames))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", default=str(ROOT.parent / "shared/testdata/video/talking_256.mp4"))
    ap.add_argument("--task", default=str(ROOT.parent / "shared/models/face_landmarker.task"),
                    help="FaceLandmarker .task bundle for the Tasks API backend")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--image-mode", action="store_true", help="also time the still-image modes")
    args = ap.parse_args(argv)

    frames = read_frames(args.video)
    streams = {"256x256": frames, "640x480": [to_vga(f) for f in frames]}
    configs = [("legacy", "video")]
    if Path(args.task).is_file():
        configs.append(("tasks", "video"))
    else:
        print(f"(no .task file at {args.task}: Tasks API rows skipped)")
    if args.image_mode:
        configs += [(b, "image") for b, _ in list(configs)]
    print(f"{len(frames)} frames per run, {args.runs} runs; median ms per frame "
          f"(first frame of each run excluded)")
    print(f"  {'stream':8s} {'backend':7s} {'mode':6s} {'median':>8s}   per run         faces found")
    for name, stream in streams.items():
        for backend, mode in configs:
            kwargs = dict(backend=backend, mode=mode)
            if backend == "tasks":
                kwargs["task_path"] = args.task
            per_run, med, found = time_stream(stream, args.runs, **kwargs)
            runs = " ".join(f"{v:5.2f}" for v in per_run)
            print(f"  {name:8s} {backend:7s} {mode:6s} {med:6.2f}ms   {runs}   {found * 100:5.1f} %")


if __name__ == "__main__":
    main()
