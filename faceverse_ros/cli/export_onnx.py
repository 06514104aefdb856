"""`faceverse-ros export-onnx`: the regressor as an ONNX file (fp32, or int8 calibrated on
face crops read from a .npy, a folder of images or a video).

The graph itself is written by faceverse_ros.core.onnx_export; this module reads the
command line and the calibration crops (cropped with MediaPipe when asked).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from faceverse_ros.core.assets import AssetError, load_model_dict, validate_model_dict
from faceverse_ros.core.network import CROP_SIZE, check_crops
from faceverse_ros.core.onnx_export import export_onnx


def _read_calibration(source: str, count: int, landmarker: Optional[str]) -> np.ndarray:
    """uint8 (K, 256, 256, 3) crops from a .npy of crops, a folder of images or a video.

    Images/frames are face-cropped with MediaPipe when ``landmarker`` (a Face
    Landmarker .task file) is given; otherwise they must already be face
    crops and are only resized to 256x256.
    """
    import cv2

    p = Path(source)
    if p.suffix == ".npy":
        arr = np.load(p, allow_pickle=False)
        return check_crops(arr)[:count]
    frames = []
    if p.is_dir():
        for f in sorted(p.iterdir()):
            if f.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"):
                img = cv2.imread(str(f), cv2.IMREAD_COLOR)
                if img is not None:
                    frames.append(img[:, :, ::-1].copy())
    elif p.is_file():
        cap = cv2.VideoCapture(str(p))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or count
        step = max(1, total // max(count, 1))
        i = 0
        while len(frames) < count:
            ok, img = cap.read()
            if not ok:
                break
            if i % step == 0:
                frames.append(img[:, :, ::-1].copy())
            i += 1
        cap.release()
    else:
        raise ValueError(f"calibration source {source} not found")
    if not frames:
        raise ValueError(f"no images found in {source}")
    if landmarker:
        crops = face_crops_mediapipe(frames, landmarker)
    else:
        crops = np.stack([cv2.resize(f, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR)
                          for f in frames])
    if len(crops) == 0:
        raise ValueError(f"no faces found in {source}")
    return crops[:count]


def face_crops_mediapipe(frames, landmarker_task) -> np.ndarray:
    """Face crops like the tracker's (MediaPipe landmark box, squared, spec-5
    crop) from RGB frames; frames without a face are skipped. A helper
    for calibration and benchmarks; the pipeline has its own detector."""
    import mediapipe as mp

    from faceverse_ros.landmarks.boxes import landmark_box, square_box
    from faceverse_ros.core.crop import crop_face

    opts = mp.tasks.vision.FaceLandmarkerOptions(
        base_options=mp.tasks.BaseOptions(model_asset_path=str(landmarker_task)),
        running_mode=mp.tasks.vision.RunningMode.IMAGE, num_faces=1)
    crops = []
    with mp.tasks.vision.FaceLandmarker.create_from_options(opts) as lm:
        for f in frames:
            f = np.ascontiguousarray(f, dtype=np.uint8)
            res = lm.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=f))
            if not res.face_landmarks:
                continue
            pts = np.array([(p.x * f.shape[1], p.y * f.shape[0]) for p in res.face_landmarks[0]])
            crop, _ = crop_face(f, square_box(landmark_box(pts)))
            crops.append(crop)
    return np.stack(crops) if crops else np.zeros((0, CROP_SIZE, CROP_SIZE, 3), np.uint8)


def main(argv=None) -> int:
    """``faceverse-ros export-onnx``: write the regressor as ONNX (fp32 or int8)."""
    ap = argparse.ArgumentParser(
        prog="faceverse-ros export-onnx",
        description="Export the FaceVerse V4 ResNet-50 regressor to ONNX for ONNX Runtime "
                    "(fp32, or int8 with --quantize static/dynamic).")
    ap.add_argument("--checkpoint", default=None, help="faceverse_resnet50.pth (default: data/)")
    ap.add_argument("--model", default=None,
                    help="faceverse_v4_2.npy, to check the heads against the model's basis sizes "
                         "(default: data/ when present)")
    ap.add_argument("--out", required=True, help="output .onnx path")
    ap.add_argument("--quantize", choices=("none", "static", "dynamic"), default="none",
                    help="static: QDQ int8 calibrated on --calibration face crops (fastest on CPU); "
                         "dynamic: int8 weights only (usually slower than fp32 for a CNN)")
    ap.add_argument("--calibration", default=None,
                    help="face crops for static calibration: a .npy of uint8 (K,256,256,3), a folder "
                         "of images or a video (face crops, or whole frames with --landmarker)")
    ap.add_argument("--calibration-count", type=int, default=32, help="crops used for calibration")
    ap.add_argument("--landmarker", default=None,
                    help="MediaPipe face_landmarker.task: crop faces from the calibration images")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    args = ap.parse_args(argv)
    quant = None if args.quantize == "none" else args.quantize
    try:
        head_sizes = None
        try:
            d, model_path = load_model_dict(args.model, validate=False)
            head_sizes = validate_model_dict(d, model_path).head_sizes
        except AssetError as exc:
            if args.model is not None:
                raise
            print(f"[export-onnx] note: no model file to check the heads against ({exc.problem})",
                  file=sys.stderr)
        crops = None
        if args.calibration:
            crops = _read_calibration(args.calibration, args.calibration_count, args.landmarker)
        elif quant == "static":
            print("[export-onnx] error: --quantize static needs --calibration (real face crops)",
                  file=sys.stderr)
            return 2
        report = export_onnx(args.checkpoint, args.out, quant, crops, head_sizes=head_sizes,
                             threads=args.threads)
    except (AssetError, ValueError) as exc:
        print(f"[export-onnx] error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
