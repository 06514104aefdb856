#!/usr/bin/env python3
"""Write STAND-IN FaceVerse-V4-shaped assets (model .npy + ReconNet .pth) to a folder.

The exact structure and sizes of the official files, with a face in them: MediaPipe's
canonical face geometry (from shared/models/face_landmarker.task) as the mean shape,
keypoints_mediapipe on the matching vertices, hand-made expression movements, and a
network whose output is one fixed coefficient vector (mean face, frontal, centred).
See faceverse_ros/cli/standin_assets.py for what they can and cannot show. They are not FaceVerse: never
report their output as a FaceVerse reconstruction. Files are named *_standin.*.

    python scripts/make_standin_assets.py --out /tmp/fv_standin --task ../shared/models/face_landmarker.task
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faceverse_ros.cli.standin_assets import STANDIN_NOTE, write_standin_assets  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--overwrite", action="store_true", help="rewrite existing files")
    ap.add_argument("--task", default=None,
                    help="face_landmarker.task (default: the detector's search, e.g. data/)")
    args = ap.parse_args(argv)
    try:
        assets = write_standin_assets(args.out, seed=args.seed, overwrite=args.overwrite,
                                      task_path=args.task)
    except (OSError, ValueError) as exc:
        print(f"make_standin_assets: {exc}", file=sys.stderr)
        return 1
    print(STANDIN_NOTE)
    print(f"model:      {assets.model_path}")
    print(f"checkpoint: {assets.checkpoint_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
