"""Do MediaPipe's blendshapes follow the face? jawOpen and eyeBlink against the landmarks.

On every frame of a video (default ../shared/testdata/video/talking_256.mp4) the
Tasks API Face Landmarker (faceverse_ros.tracking.detector, backend "tasks",
VIDEO mode, blendshapes on) gives 478 landmarks and 52 blendshape weights.
Printed, in one run:

- frames, faces found, the range of all 52 weights (they must lie in [0, 1]);
- the Pearson r between jawOpen and the mouth opening measured from the inner
  lip landmarks (faceverse_ros.landmarks.blendshapes.mouth_opening);
- the blink check: the mean of (eyeBlinkLeft + eyeBlinkRight) / 2 over the frames
  whose eye-aspect ratio (eyelid landmarks, both eyes) is in the lowest 5 %,
  against the frames in the highest 50 %;
- which eye each eyeBlink weight follows (r against each eye's aspect ratio).

    .venv/bin/python bench/eval_blendshapes.py [--video V] [--task F]

test/test_blendshapes.py runs evaluate() and asserts r >= 0.7 and the blink
ordering (issue 11's acceptance numbers).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faceverse_ros.landmarks.blendshapes import INDEX, eye_aspect_ratio, mouth_opening  # noqa: E402

DEFAULT_VIDEO = ROOT.parent / "shared" / "testdata" / "video" / "talking_256.mp4"
DEFAULT_TASK = ROOT.parent / "shared" / "models" / "face_landmarker.task"


def pearson(a, b) -> float:
    a = np.asarray(a, dtype=np.float64) - np.mean(a)
    b = np.asarray(b, dtype=np.float64) - np.mean(b)
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def collect(video=DEFAULT_VIDEO, task=DEFAULT_TASK):
    """(frames, landmarks list, blendshapes list) over the video; one face per frame kept."""
    from faceverse_ros.io.sources import FrameSource
    from faceverse_ros.tracking.detector import FaceDetector

    landmarks, weights, frames = [], [], 0
    with FaceDetector("tasks", task_path=task, mode="video") as det:
        for frame in FrameSource(str(video)):
            frames += 1
            found = det.detect(frame.rgb, frame.stamp)
            if found:
                landmarks.append(found[0].landmarks)
                weights.append(found[0].blendshapes)
    return frames, landmarks, weights


def evaluate(video=DEFAULT_VIDEO, task=DEFAULT_TASK) -> dict:
    frames, landmarks, weights = collect(video, task)
    w = np.stack(weights).astype(np.float64)
    mouth = np.array([mouth_opening(lm) for lm in landmarks])
    ear = np.array([eye_aspect_ratio(lm) for lm in landmarks])
    ear_left = np.array([eye_aspect_ratio(lm, "left") for lm in landmarks])
    ear_right = np.array([eye_aspect_ratio(lm, "right") for lm in landmarks])
    blink = (w[:, INDEX["eyeBlinkLeft"]] + w[:, INDEX["eyeBlinkRight"]]) / 2.0
    low = ear <= np.percentile(ear, 5)
    high = ear >= np.percentile(ear, 50)
    return {
        "frames": frames, "faces": len(landmarks), "min": float(w.min()), "max": float(w.max()),
        "shape": w.shape,
        "r_jaw_mouth": pearson(w[:, INDEX["jawOpen"]], mouth),
        "blink_low_ear": float(blink[low].mean()), "blink_high_ear": float(blink[high].mean()),
        "n_low": int(low.sum()), "n_high": int(high.sum()),
        "r_blink_left": (pearson(w[:, INDEX["eyeBlinkLeft"]], ear_left),
                         pearson(w[:, INDEX["eyeBlinkLeft"]], ear_right)),
        "r_blink_right": (pearson(w[:, INDEX["eyeBlinkRight"]], ear_right),
                          pearson(w[:, INDEX["eyeBlinkRight"]], ear_left)),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--task", default=str(DEFAULT_TASK))
    args = ap.parse_args(argv)
    r = evaluate(args.video, args.task)
    print(f"{args.video}: {r['frames']} frames, {r['faces']} with a face, "
          f"{r['shape'][1]} blendshapes, all in [{r['min']:.3g}, {r['max']:.3g}]")
    print(f"jawOpen vs inner-lip mouth opening: Pearson r = {r['r_jaw_mouth']:.3f} "
          "(issue 11 asks >= 0.7)")
    print(f"mean (eyeBlinkLeft + eyeBlinkRight) / 2: {r['blink_low_ear']:.3f} on the "
          f"{r['n_low']} frames with the lowest 5 % eye-aspect ratio, {r['blink_high_ear']:.3f} "
          f"on the {r['n_high']} in the highest 50 %")
    print(f"eyeBlinkLeft vs aspect ratio of the left / right eye: r = {r['r_blink_left'][0]:.3f} / "
          f"{r['r_blink_left'][1]:.3f}; eyeBlinkRight vs right / left eye: "
          f"r = {r['r_blink_right'][0]:.3f} / {r['r_blink_right'][1]:.3f}")


if __name__ == "__main__":
    main()
