#!/usr/bin/env python3
"""Write the README's example debug images (doc/images/*.png), one per mode.

Each is the overlay `faceverse-ros run` writes for a shared test photo (the same
drawing as the node's faceverse/debug_image), in:

- mode_landmark_only_tasks.png: landmark-only mode with face_landmarker.task
  (Tasks detector: the .task canonical mesh rendered, 3 strongest blendshapes);
- mode_landmark_only_legacy.png: landmark-only mode without it (legacy Face
  Mesh: the mesh rebuilt from the tesselation, eyes and mouth open, no
  blendshapes);
- mode_faceverse_synthetic.png: the FaceVerse path with SYNTHETIC files of the
  real structure (the research files are not available here), stamped as such:
  it shows what the view carries in that mode, NOT a face reconstruction.

    .venv/bin/python scripts/make_doc_images.py [--photo ../shared/testdata/faces/portrait_small.jpg]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
EXE = ROOT / ".venv" / "bin" / "faceverse-ros"


def run(args, out, env=None):
    cmd = [str(EXE), "run", *args, "--output", str(out), "--quiet"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"make_doc_images: {' '.join(cmd)} failed: {done.stderr.strip()[-500:]}")
    return next(Path(out).glob("*_overlay.png"))


def stamp(path, text):
    import cv2

    img = cv2.imread(str(path))
    h, w = img.shape[:2]
    cv2.rectangle(img, (0, h - 26), (w, h), (0, 0, 0), -1)
    cv2.putText(img, text, (6, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 200, 255), 1,
                cv2.LINE_AA)
    cv2.imwrite(str(path), img)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo", default=str(SHARED / "testdata" / "faces" / "portrait_small.jpg"))
    ap.add_argument("--task", default=str(SHARED / "models" / "face_landmarker.task"))
    ap.add_argument("--out", default=str(ROOT / "doc" / "images"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        empty = tmp / "no_data"
        empty.mkdir()
        no_task = dict(os.environ, FACEVERSE_DATA=str(empty))
        shutil.copy(run(["--input", args.photo, "--task", args.task, "--landmark-only"],
                        tmp / "tasks"), out / "mode_landmark_only_tasks.png")
        shutil.copy(run(["--input", args.photo, "--detector", "legacy", "--landmark-only"],
                        tmp / "legacy", env=no_task), out / "mode_landmark_only_legacy.png")
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_synthetic_assets.py"),
                        "--out", str(tmp / "synthetic")], check=True, capture_output=True)
        model = next((tmp / "synthetic").glob("*.npy"))
        checkpoint = next((tmp / "synthetic").glob("*.pth"))
        path = out / "mode_faceverse_synthetic.png"
        shutil.copy(run(["--input", args.photo, "--task", args.task, "--model", str(model),
                         "--checkpoint", str(checkpoint)], tmp / "faceverse"), path)
        stamp(path, "SYNTHETIC FaceVerse test files: not a reconstruction")
    for name in sorted(p.name for p in out.glob("mode_*.png")):
        print(out / name)


if __name__ == "__main__":
    main()
