"""Frame sources for the command line and the camera publisher (no ROS).

An input spec is a video file, an image file, a folder of images, or
`webcam` / `webcam:N`. Every source yields `Frame`s with an RGB image and a
timestamp in seconds: from the frame index and the file's frame rate for
videos, from the index at `folder_fps` for images, and from the monotonic
clock for webcams (there is no other clock for a live camera).
"""
import dataclasses
import re
import time
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


class SourceError(ValueError):
    """An input that cannot be opened or read."""


_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")


def numbered_frames(stems):
    """True when the file names are one name with a running number (frame_000001,
    frame_000002, ... or 0001, 0002, ...): the frames of a video, as a camera or a video
    splitter writes them. Names of unrelated photos (emma, portrait_small) are not."""
    patterns = set()
    for stem in stems:
        match = _NUMBERED.match(stem)
        if match is None:
            return False
        patterns.add((match.group(1), match.group(3)))
    return len(stems) > 1 and len(patterns) == 1


@dataclasses.dataclass
class Frame:
    index: int
    stamp: float          # seconds
    rgb: np.ndarray       # uint8 (H, W, 3)
    name: str             # file stem (images) or "<stem>_<index>" (video/webcam)


class FrameSource:
    """Iterable of Frames; `kind` is 'video', 'image', 'folder' or 'webcam'; len() when known."""

    def __init__(self, spec, folder_fps=30.0, loop=False):
        self.spec = str(spec)
        self.folder_fps = float(folder_fps)
        self.loop = bool(loop)
        self.fps = None
        self._files = None
        self._webcam = None
        if self.spec.startswith("webcam"):
            self.kind = "webcam"
            _, _, index = self.spec.partition(":")
            try:
                self._webcam = int(index or 0)
            except ValueError:
                raise SourceError(f"webcam spec must be 'webcam' or 'webcam:N', got '{self.spec}'") from None
            self.fps = None
            return
        path = Path(self.spec)
        if not path.exists():
            raise SourceError(f"input '{self.spec}' does not exist")
        if path.is_dir():
            self.kind = "folder"
            self._files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._files:
                raise SourceError(f"folder '{self.spec}' has no images ({', '.join(IMAGE_SUFFIXES)})")
            self.fps = self.folder_fps
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            self.kind = "image"
            self._files = [path]
            self.fps = self.folder_fps
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            self.kind = "video"
            cap = cv2.VideoCapture(str(path))
            if not cap.isOpened():
                raise SourceError(f"cannot open video '{self.spec}'")
            fps = cap.get(cv2.CAP_PROP_FPS)
            self.fps = fps if fps and np.isfinite(fps) and fps > 0 else 30.0
            self._count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
            cap.release()
        else:
            raise SourceError(
                f"input '{self.spec}' is not a video ({', '.join(VIDEO_SUFFIXES)}), an image, "
                "a folder or webcam[:N]")

    @property
    def numbered(self):
        """A folder of numbered frames (numbered_frames); False for other inputs."""
        return self.kind == "folder" and numbered_frames([p.stem for p in self._files])

    def __len__(self):
        if self.kind in ("image", "folder"):
            return len(self._files)
        if self.kind == "video" and self._count:
            return self._count
        raise TypeError("length unknown for this source")

    def __iter__(self):
        if self.kind in ("image", "folder"):
            yield from self._images()
        elif self.kind == "video":
            yield from self._video()
        else:
            yield from self._camera()

    def _images(self):
        index = 0
        while True:
            for path in self._files:
                bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if bgr is None:
                    raise SourceError(f"cannot read image '{path}'")
                yield Frame(index, index / self.fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), path.stem)
                index += 1
            if not self.loop:
                return

    def _video(self):
        stem = Path(self.spec).stem
        index = 0
        while True:
            cap = cv2.VideoCapture(self.spec)
            ok_any = False
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                ok_any = True
                yield Frame(index, index / self.fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                            f"{stem}_{index:06d}")
                index += 1
            cap.release()
            if not ok_any:
                raise SourceError(f"video '{self.spec}' has no readable frames")
            if not self.loop:
                return

    def _camera(self):
        cap = cv2.VideoCapture(self._webcam)
        if not cap.isOpened():
            raise SourceError(f"cannot open webcam {self._webcam} (is a camera at /dev/video{self._webcam}?)")
        try:
            index = 0
            while True:
                ok, bgr = cap.read()
                if not ok:
                    raise SourceError(f"webcam {self._webcam} stopped delivering frames")
                yield Frame(index, time.monotonic(), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                            f"webcam{self._webcam}_{index:06d}")
                index += 1
        finally:
            cap.release()

