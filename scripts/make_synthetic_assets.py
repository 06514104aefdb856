#!/usr/bin/env python3
"""Write SYNTHETIC FaceVerse-V4-shaped assets (model .npy + ReconNet .pth) to a folder.

They have the exact structure of the official files (every key, V4 sizes,
N = 20000 vertices, a ResNet-50 ReconNet state_dict) but random fixed-seed
contents: use them to exercise formats and code paths, never as a face
model. Pass their paths explicitly (--model/--checkpoint); they are named
*_synthetic.* so they are never mistaken for the real files.

    python scripts/make_synthetic_assets.py --out /tmp/fv_synthetic
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faceverse_ros.cli.synthetic_assets import SYNTHETIC_NOTE, write_synthetic_assets  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--overwrite", action="store_true", help="rewrite existing files")
    args = ap.parse_args(argv)
    assets = write_synthetic_assets(args.out, seed=args.seed, overwrite=args.overwrite)
    print(SYNTHETIC_NOTE)
    print(f"model:      {assets.model_path}")
    print(f"checkpoint: {assets.checkpoint_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
