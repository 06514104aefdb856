"""Throughput from a rosbag2 bag against the video file, in one run.

    .venv/bin/python bench/bench_bag.py [--video V] [--frames 150] [--runs 3] [--landmark-only]

Writes bags of the shared video with rosbags (test/bag_maker.py: raw rgb8 in MCAP and
sqlite3, JPEG CompressedImage in MCAP, with camera_info), then measures:

1. reading alone: frames/s of decoded RGB frames out of FrameSource (the video, OpenCV)
   and out of BagSource (each bag), all frames, medians of --runs x 2 passes;
2. the whole `faceverse-ros run` (a subprocess each, --no-render, the fps it reports over
   its frame loop): from the video file, from the raw MCAP bag, and from the raw MCAP
   bag with --output-bag (params + /tf written), medians of --runs runs, with ratios to
   the video run.

Uses SYNTHETIC FaceVerse files (real sizes, so the real network cost) unless
--landmark-only; their outputs are never a face reconstruction.
"""
import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "test")]
DEFAULT_VIDEO = ROOT.parent / "shared/testdata/video/talking_256.mp4"


def read_rate(make_source):
    """Frames per second of iterating a fresh source to its end."""
    source = make_source()
    start, n = time.perf_counter(), 0
    for _ in source:
        n += 1
    elapsed = time.perf_counter() - start
    if hasattr(source, "close"):
        source.close()
    return n / elapsed, n


def run_fps(args):
    out = subprocess.run([sys.executable, "-m", "faceverse_ros.cli.main", "run", *map(str, args)],
                         cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"faceverse-ros run failed: {out.stderr.strip().splitlines()[-1:]}")
    found = re.search(r"\[run\] (\d+) frames, \d+ faces, ([\d.]+) fps", out.stdout)
    return float(found.group(2)), int(found.group(1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--frames", type=int, default=150, help="frames per whole-run measurement")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--landmark-only", action="store_true")
    args = ap.parse_args(argv)

    from bag_maker import write_camera_bag
    from helpers.video import video_frames
    from faceverse_ros.io.bag_source import BagSource
    from faceverse_ros.io.sources import FrameSource

    tmp = Path(tempfile.mkdtemp(prefix="bench_bag_"))
    try:
        frames, fps = video_frames(args.video, 10_000)
        bags = {}
        for label, storage, kind in (("bag mcap rgb8", "mcap", "rgb8"),
                                     ("bag sqlite3 rgb8", "sqlite3", "rgb8"),
                                     ("bag mcap jpeg", "mcap", "jpeg")):
            path = tmp / label.replace(" ", "_")
            write_camera_bag(path, frames, fps, storage=storage, kind=kind)
            bags[label] = path
        del frames
        print(f"video {args.video}: {fps:.0f} fps; bags in {tmp}")

        sources = {"video (OpenCV)": lambda: FrameSource(args.video)}
        for label, path in bags.items():
            sources[label] = lambda p=path: BagSource(p, log=lambda m: None)
        print("\n1. reading decoded RGB frames (frames/s, median of "
              f"{2 * args.runs} passes over all frames)")
        read = {label: [] for label in sources}
        for _ in range(2 * args.runs):
            for label, make in sources.items():
                read[label].append(read_rate(make))
        video_read = statistics.median(r for r, _ in read["video (OpenCV)"])
        for label, results in read.items():
            rate = statistics.median(r for r, _ in results)
            print(f"   {label:18s} {rate:8.0f} frames/s  ({results[0][1]} frames; "
                  f"x{rate / video_read:.2f} of the video)")

        if args.landmark_only:
            common = ["--landmark-only"]
        else:
            from faceverse_ros.cli.synthetic_assets import synthetic_assets

            assets = synthetic_assets()
            common = ["--model", assets.model_path, "--checkpoint", assets.checkpoint_path]
        common += ["--no-render", "--quiet", "--max-frames", args.frames]
        cases = {"video file": [args.video],
                 "bag mcap rgb8": [bags["bag mcap rgb8"]],
                 "bag mcap rgb8 + --output-bag": [bags["bag mcap rgb8"]]}
        which = 'landmark-only' if args.landmark_only else 'synthetic FaceVerse files'
        print(f"\n2. faceverse-ros run, {args.frames} frames ({which}),"
              f" frames/s over the frame loop, median of {args.runs} runs")
        whole = {label: [] for label in cases}
        labels = list(cases)
        for r in range(args.runs):
            # interleaved, the order rotated each run, so a change of machine load between
            # runs does not favour one input
            for k, label in enumerate(labels[r % 3:] + labels[:r % 3]):
                extra = ["--output", tmp / f"out_{r}_{k}"]
                if "--output-bag" in label:
                    extra += ["--output-bag", tmp / f"outbag_{r}"]
                whole[label].append(run_fps(["--input", *cases[label], *common, *extra])[0])
        base = statistics.median(whole["video file"])
        for label, rates in whole.items():
            med = statistics.median(rates)
            print(f"   {label:30s} {med:6.1f} fps  (runs {', '.join(f'{x:.1f}' for x in rates)};"
                  f" x{med / base:.2f} of the video file)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
