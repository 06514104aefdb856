#!/usr/bin/env python3
"""Write doc/gaze.md's pictures (doc/images/gaze_*.png).

- gaze_angles.png: the head frame face_<id> and the gaze frame gaze_<id> seen from the
  side and from above, with the signs of pitch and yaw (drawn, not measured);
- gaze_video_eyes.png: the eye region of frames 16, 85 and 250 of the shared talking
  video (8x, the legacy detector's eye corners green, iris centres red).

    .venv/bin/python scripts/make_gaze_images.py
"""
import math
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "doc" / "images"
VIDEO = ROOT.parent / "shared" / "testdata" / "video" / "talking_256.mp4"

INK, AXIS_X, AXIS_Z, GAZE, GREY = (40, 40, 40), (0, 0, 200), (200, 90, 0), (0, 150, 0), (150, 150, 150)


def arrow(img, p, d, length, colour, label, width=2):
    q = (int(p[0] + length * d[0]), int(p[1] + length * d[1]))
    cv2.arrowedLine(img, p, q, colour, width, cv2.LINE_AA, tipLength=0.12)
    cv2.putText(img, label, (q[0] + 6, q[1] + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)


def text(img, s, p, scale=0.5, colour=INK):
    cv2.putText(img, s, p, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def angles_picture():
    img = np.full((360, 900, 3), 255, np.uint8)
    # side view: camera on the left, head facing it
    text(img, "side view (person faces the camera on the left)", (20, 25))
    cam = (40, 170)
    cv2.rectangle(img, (cam[0] - 15, cam[1] - 12), (cam[0] + 15, cam[1] + 12), INK, 2)
    text(img, "camera", (cam[0] - 25, cam[1] + 35))
    head = (330, 180)
    cv2.circle(img, head, 70, GREY, 2, cv2.LINE_AA)
    s = (head[0] - 62, head[1] - 10)          # sellion: front of the head, eye height
    cam = (cam[0], s[1])
    cv2.line(img, (cam[0] + 16, s[1] - 3), (s[0], s[1] - 3), GAZE, 2, cv2.LINE_AA)
    text(img, "gaze_<id> z (to the lens)", (60, s[1] - 12), colour=GAZE)
    arrow(img, s, (-1, 0), 120, AXIS_X, "")
    text(img, "face_<id> x", (130, s[1] + 22), colour=AXIS_X)
    arrow(img, s, (0, -1), 90, AXIS_Z, "face_<id> z (scalp)")
    down = (-math.cos(math.radians(25)), math.sin(math.radians(25)))
    arrow(img, s, down, 120, GREY, "", 1)
    text(img, "pitch > 0: nose down", (90, s[1] + 75), colour=GREY)
    text(img, "level head, eyes on the lens: pitch 0, gaze z through the camera", (20, 330))
    # top view
    text(img, "top view", (520, 25))
    head = (720, 200)
    cv2.circle(img, head, 60, GREY, 2, cv2.LINE_AA)
    text(img, "camera (below)", (660, 340))
    s = (head[0], head[1] + 55)
    arrow(img, s, (0, 1), 60, AXIS_X, "")
    text(img, "x", (s[0] - 18, s[1] + 60), colour=AXIS_X)
    arrow(img, s, (1, 0), 70, (120, 0, 120), "y (left)")
    turn = (math.sin(math.radians(25)), math.cos(math.radians(25)))
    arrow(img, s, (turn[0], turn[1]), 70, GREY, "", 1)
    text(img, "yaw > 0", (s[0] + 40, s[1] + 45), colour=GREY)
    text(img, "yaw > 0: face turns to the", (520, 60))
    text(img, "person's left (image right)", (520, 80))
    return img


def eyes_picture():
    from faceverse_ros.io.sources import FrameSource
    from faceverse_ros.tracking.detector import FaceDetector

    frames = list(FrameSource(VIDEO))
    tiles = []
    with FaceDetector(mode="video") as det:
        found = {k: det.detect(f.rgb, f.stamp) for k, f in enumerate(frames)}
    for k in (16, 85, 250):
        lm = found[k][0].landmarks
        img = frames[k].rgb[:, :, ::-1]
        x0, x1 = int(lm[33, 0]) - 12, int(lm[263, 0]) + 12
        y0, y1 = int(min(lm[159, 1], lm[386, 1])) - 10, int(max(lm[145, 1], lm[374, 1])) + 10
        crop = cv2.resize(img[y0:y1, x0:x1], None, fx=8, fy=8, interpolation=cv2.INTER_CUBIC)
        for i in (33, 133, 362, 263, 468, 473):
            colour = (0, 0, 255) if i >= 468 else (0, 200, 0)
            cv2.circle(crop, (int((lm[i, 0] - x0) * 8), int((lm[i, 1] - y0) * 8)), 4, colour, -1)
        crop = cv2.resize(crop, (420, 120), interpolation=cv2.INTER_AREA)
        text(crop, f"frame {k}", (6, 18), 0.55, (255, 255, 255))
        tiles.append(crop)
    return np.vstack(tiles)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(OUT / "gaze_angles.png"), angles_picture())
    cv2.imwrite(str(OUT / "gaze_video_eyes.png"), eyes_picture())
    return 0


if __name__ == "__main__":
    sys.exit(main())
