"""Hostile images are refused before they cost memory (ros/convert.py, issue 16): the PNG bomb,
fake JPEG headers, header/data size mismatches, odd-width yuv422, and decoder noise turned into
one-line warnings."""
import os
import struct
import subprocess
import sys

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy", reason="the ROS layer needs the ROS message packages")
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from helpers import ROOT  # noqa: E402
from faceverse_ros.ros.convert import DEFAULT_MAX_PIXELS, ImageConversionError, \
    compressed_size, compressed_to_rgb, image_to_rgb  # noqa: E402

RNG = np.random.default_rng(16)
IMG = RNG.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)


def _jpeg(rgb=IMG, quality=90):
    return bytearray(cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])[1])


def _sof_offset(jpeg):
    """Byte offset of the SOF0 segment's height field, found by walking the segments by hand."""
    pos = 2
    while True:
        marker, length = jpeg[pos + 1], struct.unpack(">H", jpeg[pos + 2:pos + 4])[0]
        if marker == 0xC0:
            return pos + 5
        pos += 2 + length


def test_default_covers_4k():
    assert DEFAULT_MAX_PIXELS >= 4096 * 2160 >= 3840 * 2160


def test_sizes_read_from_headers_match_the_encoder():
    assert compressed_size(_jpeg()) == ("jpeg", 64, 48)
    png = cv2.imencode(".png", np.zeros((33, 17), np.uint8))[1].tobytes()
    assert compressed_size(png) == ("png", 17, 33)
    progressive = cv2.imencode(".jpg", IMG, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert compressed_size(progressive) == ("jpeg", 64, 48)


def test_fake_jpeg_header_of_60000x60000_is_refused_before_decoding():
    jpeg = _jpeg()
    at = _sof_offset(jpeg)
    jpeg[at:at + 4] = struct.pack(">HH", 60000, 60000)
    with pytest.raises(ImageConversionError, match="60000x60000 .* exceeds input.max_pixels"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=bytes(jpeg)))


def test_max_pixels_is_the_limit_for_raw_and_compressed():
    raw = Image(height=48, width=64, encoding="rgb8", step=192, data=IMG.tobytes())
    assert image_to_rgb(raw, max_pixels=64 * 48).shape == (48, 64, 3)
    with pytest.raises(ImageConversionError, match="exceeds input.max_pixels=3071"):
        image_to_rgb(raw, max_pixels=64 * 48 - 1)
    msg = CompressedImage(format="jpeg", data=bytes(_jpeg()))
    assert compressed_to_rgb(msg, max_pixels=64 * 48).shape == (48, 64, 3)
    with pytest.raises(ImageConversionError, match="exceeds"):
        compressed_to_rgb(msg, max_pixels=64 * 48 - 1)


@pytest.mark.parametrize("header, data_size, words", [
    ((180, 320), 640 * 360 * 3, "more data than the header says"),   # the case in the issue
    ((360, 640), 320 * 180 * 3, "truncated data"),
    ((360, 640), 640 * 360 * 3 + 1, "more data than the header says"),
])
def test_header_and_data_sizes_must_agree(header, data_size, words):
    h, w = header
    msg = Image(height=h, width=w, encoding="rgb8", step=w * 3, data=bytes(data_size))
    with pytest.raises(ImageConversionError, match=words) as err:
        image_to_rgb(msg)
    assert f"{w}x{h}" in str(err.value) and str(data_size) in str(err.value)


def test_odd_width_yuv422_is_refused_in_one_line():
    msg = Image(height=4, width=5, encoding="yuv422", step=10, data=bytes(40))
    with pytest.raises(ImageConversionError, match="even width") as err:
        image_to_rgb(msg)
    assert "\n" not in str(err.value)


def test_corrupt_jpeg_data_becomes_one_warning_and_nothing_on_stderr(capfd):
    rgb = RNG.integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
    jpeg = _jpeg(rgb)
    jpeg[len(jpeg) // 2:len(jpeg) // 2 + 300] = bytes(300)   # zeros inside the entropy-coded data
    warnings = []
    out = compressed_to_rgb(CompressedImage(format="jpeg", data=bytes(jpeg)),
                            on_warning=warnings.append)
    assert out.shape == (120, 160, 3)
    assert len(warnings) == 1 and warnings[0].startswith("jpeg decoder: Corrupt JPEG data")
    assert "\n" not in warnings[0]
    captured = capfd.readouterr()
    assert "Corrupt JPEG" not in captured.err
    # stderr works as before afterwards
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_undecodable_and_unknown_formats_are_refused():
    with pytest.raises(ImageConversionError, match="corrupt jpeg"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=bytes(_jpeg()[:200])))
    with pytest.raises(ImageConversionError, match="only JPEG and PNG"):
        compressed_to_rgb(CompressedImage(format="bmp", data=cv2.imencode(".bmp", IMG)[1].tobytes()))


BOMB_SCRIPT = r"""
import sys, cv2, numpy as np
from sensor_msgs.msg import CompressedImage
from faceverse_ros.ros.convert import ImageConversionError, compressed_to_rgb

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

bomb = cv2.imencode(".png", np.zeros((16384, 16384), np.uint8))[1].tobytes()
msg = CompressedImage(format="png", data=bomb)
before = rss_mb()
peak = before
for _ in range(3):
    try:
        compressed_to_rgb(msg)
        print("DECODED")
    except ImageConversionError as exc:
        print("REFUSED", exc)
    peak = max(peak, rss_mb())
print(f"BOMB {len(bomb)} {before:.1f} {peak:.1f}")
"""


def test_png_bomb_is_refused_and_memory_stays_flat():
    """A 16384x16384 PNG (under 1 MB) would decode to 768 MB of BGR: refused from its header."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", BOMB_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines.count("REFUSED png image of 16384x16384 (268435456 pixels) exceeds "
                       f"input.max_pixels={DEFAULT_MAX_PIXELS}; refused") == 3
    _, size, before, peak = lines[-1].split()
    assert int(size) < 1_000_000
    assert float(peak) - float(before) < 20.0, f"RSS rose from {before} to {peak} MB"
