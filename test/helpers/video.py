"""Frames of the shared test video and photos as uint8 RGB arrays."""
from pathlib import Path
from typing import List, Tuple

import numpy as np


def video_frames(path: Path, count: int) -> Tuple[List[np.ndarray], float]:
    """The first `count` frames of a video (fewer if it is shorter) and its frame rate."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames: List[np.ndarray] = []
    try:
        while len(frames) < count:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return frames, fps


def read_rgb(path: Path, longest: int = 0) -> np.ndarray:
    """A photo as RGB; with `longest` > 0 scaled so that its longer side has that many pixels."""
    import cv2

    bgr = cv2.imread(str(path))
    if bgr is None:
        raise FileNotFoundError(f"cannot read {path}")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if longest:
        scale = longest / max(rgb.shape[:2])
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return rgb
