"""Do the parameters jump at keyframes? (issue 14's check, on the shared video)

Runs the pipeline over the video with the fast configuration (ONNX int8, keyframes every
--interval frames, the linearised update between them; --sync for inline keyframes, else
in the background thread, each frame waiting here for a job in flight so that the run
does not depend on timing) and measures, per frame, the
change of the published (smoothed) and of the raw coefficients from the previous frame:
head rotation (radians, the angle of R_prev^T R), translation (model units) and
expression (L2 over the expression block). Frames are split into keyframes (the first
frame holding a new keyframe's identity) and the frames between; printed: median and p95 of each group and the ratio
keyframe / between. The goal: ratio <= 1 for median and p95.

With the SYNTHETIC FaceVerse files (the default here) the network is random: its
output on a keyframe is not the face the landmarks show, so a jump at keyframes is
expected from the files, not from the tracker. Give --model/--checkpoint for real ones.

    .venv/bin/python bench/eval_keyframe_jumps.py [--frames 300] [--interval 5] [--json FILE]
"""
import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))
sys.path.insert(0, str(ROOT / "bench"))


def rotation_change(a, b):
    from faceverse_ros.core.rotations import rotation_matrix

    r = rotation_matrix(np.asarray(a, np.float64)).T @ rotation_matrix(np.asarray(b, np.float64))
    return float(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(ROOT.parent / "shared/testdata/video/talking_256.mp4"))
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--model", default=None)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--sync", action="store_true", help="inline keyframes (keyframe.background false)")
    args = ap.parse_args()
    from faceverse_ros.cli.bench import int8_model, load_frames
    from faceverse_ros.paths import cache_root
    from faceverse_ros.tracking.pipeline import FacePipeline, PipelineConfig

    if args.model and args.checkpoint:
        model, ckpt = args.model, args.checkpoint
    else:
        from faceverse_ros.cli.synthetic_assets import synthetic_assets

        a = synthetic_assets()
        model, ckpt = str(a.model_path), str(a.checkpoint_path)
        print("[eval] SYNTHETIC FaceVerse files: a random network (see the doc)")
    frames, _ = load_frames(args.video, args.frames, "native")
    onnx = int8_model(ckpt, frames, cache_root() / "bench")
    pipe = FacePipeline(PipelineConfig(model_path=model, checkpoint_path=ckpt, engine="onnx",
                                       onnx_path=str(onnx), keyframe_interval=args.interval,
                                       keyframe_background=not args.sync),
                        log=lambda m: None)
    lay = pipe.layout
    rows = {"published": [], "raw": []}
    prev = {}
    for k, rgb in enumerate(frames):
        result = pipe.process(rgb, k / 30.0)
        for track in pipe._tracks.values():
            if track.keyframe_job is not None:
                track.keyframe_job.done.wait(60)
        for face in result.faces:
            raw = pipe._tracks[face.face_id].last_coeffs if face.face_id in pipe._tracks else None
            now = {"published": face.coeffs, "raw": raw}
            key = bool(face.keyframe)  # a new keyframe's identity, texture, lighting
            for kind, c in now.items():
                p = prev.get((face.face_id, kind))
                if p is not None and c is not None:
                    rows[kind].append((key, rotation_change(p[lay.angles], c[lay.angles]),
                                       float(np.linalg.norm(c[lay.trans] - p[lay.trans])),
                                       float(np.linalg.norm(c[lay.slices["exp"]] - p[lay.slices["exp"]]))))
                if c is not None:
                    prev[(face.face_id, kind)] = np.array(c, np.float64)
    pipe.close()
    out = {}
    for kind, data in rows.items():
        arr = np.array([r[1:] for r in data])
        key = np.array([r[0] for r in data])
        if not key.any() or key.all():
            print(f"[eval] {kind}: no keyframe / between split")
            continue
        print(f"\n{kind} coefficients: {key.sum()} keyframes, {(~key).sum()} frames between")
        print(f"{'':12} {'key med':>9} {'betw med':>9} {'ratio':>6} {'key p95':>9} {'betw p95':>9} {'ratio':>6}")
        for j, name in enumerate(("rotation", "translation", "expression")):
            km, bm = np.median(arr[key, j]), np.median(arr[~key, j])
            kp, bp = np.percentile(arr[key, j], 95), np.percentile(arr[~key, j], 95)
            print(f"{name:12} {km:9.4f} {bm:9.4f} {km / max(bm, 1e-12):6.2f} {kp:9.4f} {bp:9.4f} "
                  f"{kp / max(bp, 1e-12):6.2f}")
            out[f"{kind}.{name}"] = dict(key_median=km, between_median=bm, key_p95=kp, between_p95=bp)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
