"""Gaze toward the camera and head pitch on the shared material where people look into the lens.

For each input (the talking video, portrait_small.jpg, frontal_1080p.jpg, the left panel of
emma.jpg; each as is, mirrored and downscaled 0.5x) it runs the landmark-only pipeline in
this process and prints, over the frames with a face:

- gaze-to-camera angle: the angle between the published gaze direction and the direction
  from the face position (the sellion) to the camera origin; median and p90, degrees;
- looking: the share of frames whose gaze target is the camera (FaceResult.gaze_target when
  the tree has it, else the angle within --cone degrees);
- pitch: the head pitch of the face frame (landmarks.landmark_pose.yaw_pitch_roll), median, degrees.

A control where the subject looks aside (emma's middle panel) is printed after them.
Photos are fed --repeats times as a stream (the smoothers settle) and the last frame counts.

    .venv/bin/python bench/eval_gaze.py [--detector legacy|tasks] [--every 1] [--json]
"""
import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "testdata"

from faceverse_ros.landmarks.landmark_pose import yaw_pitch_roll  # noqa: E402
from faceverse_ros.io.sources import FrameSource  # noqa: E402
from faceverse_ros.tracking.config import PipelineConfig  # noqa: E402
from faceverse_ros.tracking.pipeline import FacePipeline  # noqa: E402

VIDEO = SHARED / "video" / "talking_256.mp4"
PHOTOS = ("portrait_small.jpg", "frontal_1080p.jpg", "emma_left")
VARIANTS = ("orig", "mirror", "half")


def load_photo(name):
    """RGB of a shared photo; emma_left / emma_middle are thirds of emma.jpg."""
    if name.startswith("emma_"):
        img = cv2.imread(str(SHARED / "faces" / "emma.jpg"))
        third = img.shape[1] // 3
        k = {"emma_left": 0, "emma_middle": 1, "emma_right": 2}[name]
        img = img[:, k * third:(k + 1) * third]
    else:
        img = cv2.imread(str(SHARED / "faces" / name))
    return np.ascontiguousarray(img[:, :, ::-1])


def variant(rgb, kind):
    if kind == "mirror":
        return np.ascontiguousarray(rgb[:, ::-1])
    if kind == "half":
        h, w = rgb.shape[:2]
        return cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return rgb


TASK = ROOT.parent / "shared" / "models" / "face_landmarker.task"


def make_pipeline(detector):
    task = str(TASK) if detector == "tasks" else None
    return FacePipeline(PipelineConfig(landmark_only=True, detector=detector, task_path=task,
                                       stream=True), log=lambda *a: None)


def gaze_to_camera_deg(pose):
    to_cam = -np.asarray(pose.position, float)
    to_cam /= np.linalg.norm(to_cam)
    return math.degrees(math.acos(float(np.clip(np.dot(pose.gaze_direction, to_cam), -1, 1))))


def looking(face, angle, cone):
    target = getattr(face, "gaze_target", None)
    if target is None:
        return angle <= cone
    return target == "camera"


def row_of(face, cone):
    angle = gaze_to_camera_deg(face.pose)
    pitch = math.degrees(yaw_pitch_roll(face.pose.rotation)[1])
    return angle, looking(face, angle, cone), pitch


def run_frames(pipeline, frames, cone):
    """frames: iterable of (rgb, stamp). Rows of every face result (one face expected)."""
    rows = []
    for rgb, stamp in frames:
        for face in pipeline.process(rgb, stamp).faces:
            rows.append(row_of(face, cone))
    for face in pipeline.finish().faces:
        rows.append(row_of(face, cone))
    return rows


def video_rows(detector, kind, every, cone):
    frames = [(variant(f.rgb, kind), f.stamp) for k, f in enumerate(FrameSource(VIDEO))
              if k % every == 0]
    with_pipe = make_pipeline(detector)
    try:
        return run_frames(with_pipe, frames, cone), len(frames)
    finally:
        with_pipe.close()


def photo_rows(detector, name, kind, repeats, cone):
    rgb = variant(load_photo(name), kind)
    pipe = make_pipeline(detector)
    try:
        rows = [r for k in range(repeats) for r in
                [row_of(f, cone) for f in pipe.process(rgb, k / 30.0).faces]]
    finally:
        pipe.close()
    return rows[-1:], 1


def summary(name, rows, total):
    if not rows:
        return dict(name=name, frames=total, faces=0)
    a = np.array([r[0] for r in rows])
    return dict(name=name, frames=total, faces=len(rows),
                median_deg=round(float(np.median(a)), 2),
                p90_deg=round(float(np.percentile(a, 90)), 2),
                looking=round(float(np.mean([r[1] for r in rows])), 3),
                pitch_median_deg=round(float(np.median([r[2] for r in rows])), 2))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detector", choices=("legacy", "tasks"), default="legacy")
    ap.add_argument("--every", type=int, default=1, help="use every Nth video frame")
    ap.add_argument("--repeats", type=int, default=5, help="times each photo is fed")
    ap.add_argument("--cone", type=float, default=10.0,
                    help="looking = angle within this (degrees) when the tree has no gaze target")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = []
    for kind in VARIANTS:
        rows, n = video_rows(args.detector, kind, args.every, args.cone)
        out.append(summary(f"video/{kind}", rows, n))
    for name in PHOTOS:
        for kind in VARIANTS:
            rows, n = photo_rows(args.detector, name, kind, args.repeats, args.cone)
            out.append(summary(f"{name}/{kind}", rows, n))
    for kind in VARIANTS:
        rows, n = photo_rows(args.detector, "emma_middle", kind, args.repeats, args.cone)
        out.append(summary(f"looking_aside:emma_middle/{kind}", rows, n))
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"detector {args.detector}, video every {args.every} frame(s)")
    print(f"{'input':36s} {'faces':>5s} {'median':>7s} {'p90':>6s} {'looking':>7s} {'pitch':>6s}")
    for r in out:
        if not r.get("faces"):
            print(f"{r['name']:36s} {0:5d}  (no face)")
            continue
        print(f"{r['name']:36s} {r['faces']:5d} {r['median_deg']:7.2f} {r['p90_deg']:6.2f} "
              f"{r['looking']:7.3f} {r['pitch_median_deg']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
