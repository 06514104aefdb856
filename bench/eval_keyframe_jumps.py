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

By default the STAND-IN FaceVerse files (faceverse_ros/cli/standin_assets.py: MediaPipe's canonical face with
the real files' structure, and a network whose output is one fixed neutral vector, so every
keyframe's pose and expression come from the landmark fit alone): a jump at keyframes is
then the tracker's. --synthetic takes the SYNTHETIC files instead (a random network: its
keyframes are not the face the landmarks show, so they jump by construction); give
--model/--checkpoint for real ones. --stretch counts every background keyframe as done on
busy CPUs, so the interval doubles up to --max-interval (tracking.keyframes).

    .venv/bin/python bench/eval_keyframe_jumps.py [--frames 300] [--interval 5] [--stretch]
        [--synthetic] [--json FILE]
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
    ap.add_argument("--synthetic", action="store_true", help="the SYNTHETIC files (default: STAND-IN)")
    ap.add_argument("--stretch", action="store_true", help="every background keyframe stretches the interval")
    ap.add_argument("--max-interval", type=int, default=40)
    ap.add_argument("--fp32", action="store_true", help="the network in float32 (torch), not ONNX int8")
    args = ap.parse_args()
    from faceverse_ros.cli.bench import int8_model, load_frames
    from faceverse_ros.paths import cache_root
    from faceverse_ros.tracking.pipeline import FacePipeline, PipelineConfig

    if args.model and args.checkpoint:
        model, ckpt = args.model, args.checkpoint
    elif args.synthetic:
        from faceverse_ros.cli.synthetic_assets import synthetic_assets

        a = synthetic_assets()
        model, ckpt = str(a.model_path), str(a.checkpoint_path)
        print("[eval] SYNTHETIC FaceVerse files: a random network (see the doc)")
    else:
        from faceverse_ros.cli.standin_assets import standin_assets

        a = standin_assets(task_path=ROOT.parent / "shared/models/face_landmarker.task")
        model, ckpt = str(a.model_path), str(a.checkpoint_path)
        print("[eval] STAND-IN FaceVerse files: a face, and a network with one fixed output (see the doc)")
    if args.stretch:
        from faceverse_ros.tracking import keyframe_worker

        keyframe_worker.others_cpu_share = lambda job: 1.0
    frames, _ = load_frames(args.video, args.frames, "native")
    engine = dict(engine="torch") if args.fp32 else \
        dict(engine="onnx", onnx_path=str(int8_model(ckpt, frames, cache_root() / "bench")))
    pipe = FacePipeline(PipelineConfig(model_path=model, checkpoint_path=ckpt, **engine,
                                       keyframe_interval=args.interval,
                                       keyframe_max_interval=args.max_interval,
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
