import cv2
import numpy as np
import pytest

from helpers import shared_path
from faceverse_ros.io.sources import FrameSource, SourceError


def test_video_frames_and_stamps():
    src = FrameSource(shared_path("testdata/video/talking_256.mp4"))
    assert src.kind == "video" and src.fps == pytest.approx(30.0, rel=0.01)
    frames = []
    for frame in src:
        frames.append(frame)
        if len(frames) == 5:
            break
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert frames[3].stamp == pytest.approx(3 / src.fps)
    assert frames[0].rgb.shape == (256, 256, 3) and frames[0].rgb.dtype == np.uint8


def test_folder_sorted_rgb(tmp_path):
    img = np.zeros((4, 6, 3), np.uint8)
    img[:, :, 0] = 200  # red in RGB
    cv2.imwrite(str(tmp_path / "b.png"), img[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "a.png"), img[:, :, ::-1])
    (tmp_path / "notes.txt").write_text("not an image")
    frames = list(FrameSource(tmp_path, folder_fps=10))
    assert [f.name for f in frames] == ["a", "b"]
    assert frames[1].stamp == pytest.approx(0.1)
    assert frames[0].rgb[0, 0, 0] == 200 and frames[0].rgb[0, 0, 2] == 0


@pytest.mark.parametrize("spec, words", [
    ("/nonexistent/file.mp4", "does not exist"),
    ("webcam:x", "webcam:N"),
])
def test_bad_specs(spec, words):
    with pytest.raises(SourceError, match=words):
        FrameSource(spec)


def test_empty_folder_and_unknown_suffix(tmp_path):
    with pytest.raises(SourceError, match="no images"):
        FrameSource(tmp_path)
    other = tmp_path / "data.bin"
    other.write_bytes(b"123")
    with pytest.raises(SourceError, match="not a video"):
        FrameSource(other)


def test_corrupt_image_and_video(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    with pytest.raises(SourceError, match="cannot read image"):
        list(FrameSource(bad))
    badv = tmp_path / "bad.mp4"
    badv.write_bytes(b"garbage")
    with pytest.raises(SourceError):
        list(FrameSource(badv))

