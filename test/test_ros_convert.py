"""Image <-> numpy conversions: every supported encoding and every bad input."""
import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy", reason="the ROS layer needs the ROS message packages")
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402

from faceverse_ros.ros.convert import (  # noqa: E402
    ImageConversionError, compressed_to_rgb, image_to_rgb, intrinsics_from_camera_info,
    rgb_to_image, stamp_to_seconds)

RNG = np.random.default_rng(3)
RGB = RNG.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)


def _msg(array, encoding, pad=0):
    h, w = array.shape[:2]
    row = array.reshape(h, -1).view(np.uint8).reshape(h, -1)
    padded = np.zeros((h, row.shape[1] + pad), np.uint8)
    padded[:, :row.shape[1]] = row
    return Image(height=h, width=w, encoding=encoding, step=padded.shape[1], data=padded.tobytes())


@pytest.mark.parametrize("pad", [0, 7])
def test_colour_encodings_round_trip(pad):
    assert np.array_equal(image_to_rgb(_msg(RGB, "rgb8", pad)), RGB)
    assert np.array_equal(image_to_rgb(_msg(RGB[:, :, ::-1].copy(), "bgr8", pad)), RGB)
    rgba = np.dstack([RGB, np.full(RGB.shape[:2], 9, np.uint8)])
    assert np.array_equal(image_to_rgb(_msg(rgba, "rgba8", pad)), RGB)
    bgra = np.dstack([RGB[:, :, ::-1], np.full(RGB.shape[:2], 9, np.uint8)])
    assert np.array_equal(image_to_rgb(_msg(bgra, "bgra8", pad)), RGB)


def test_grey_encodings_become_grey_rgb():
    grey = RGB[:, :, 0].copy()
    out = image_to_rgb(_msg(grey[:, :, None], "mono8"))
    assert out.shape == (6, 5, 3) and np.array_equal(out[:, :, 1], grey)
    # 16-bit grey is stretched so that the frame's brightest pixel is 255 (truncated);
    # values worked by hand: 4000 -> 255, 2000 -> 127.5 -> 127, 1000 -> 63.75 -> 63, 0 -> 0
    g16 = np.array([[0, 1000], [2000, 4000]], np.uint16)
    for encoding in ("mono16", "16UC1"):
        out16 = image_to_rgb(_msg(g16[:, :, None], encoding))
        assert out16.shape == (2, 2, 3) and out16.dtype == np.uint8
        for channel in range(3):
            assert out16[:, :, channel].tolist() == [[0, 63], [127, 255]], encoding


def test_yuv422_matches_opencv():
    uyvy = RNG.integers(0, 256, size=(4, 6, 2), dtype=np.uint8)
    expected = cv2.cvtColor(uyvy, cv2.COLOR_YUV2RGB_UYVY)
    assert np.array_equal(image_to_rgb(_msg(uyvy, "yuv422")), expected)


@pytest.mark.parametrize("mutate, words", [
    (lambda m: setattr(m, "encoding", "32FC1"), "unsupported encoding"),
    (lambda m: setattr(m, "encoding", ""), "unsupported encoding"),
    (lambda m: setattr(m, "height", 0), "zero-size"),
    (lambda m: setattr(m, "step", 3), "step"),
    (lambda m: setattr(m, "data", bytes(m.data)[:-20]), "truncated"),
    (lambda m: setattr(m, "data", b""), "truncated"),
])
def test_bad_images_are_rejected_with_a_reason(mutate, words):
    msg = _msg(RGB, "rgb8")
    mutate(msg)
    with pytest.raises(ImageConversionError, match=words):
        image_to_rgb(msg)


def test_big_endian_16_bit_rejected():
    msg = _msg(np.zeros((2, 2, 1), np.uint16), "mono16")
    msg.is_bigendian = 1
    with pytest.raises(ImageConversionError, match="big-endian"):
        image_to_rgb(msg)


def test_compressed_jpeg_png_and_corrupt():
    ok, png = cv2.imencode(".png", RGB[:, :, ::-1])
    assert ok
    assert np.array_equal(compressed_to_rgb(CompressedImage(format="png", data=png.tobytes())), RGB)
    with pytest.raises(ImageConversionError, match="corrupt"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=b"\xff\xd8 not a jpeg"))
    with pytest.raises(ImageConversionError, match="empty"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=b""))


def test_rgb_to_image_both_encodings():
    msg = rgb_to_image(RGB)
    assert (msg.encoding, msg.step, msg.height, msg.width) == ("rgb8", 15, 6, 5)
    assert np.array_equal(image_to_rgb(msg), RGB)
    assert np.array_equal(image_to_rgb(rgb_to_image(RGB, encoding="bgr8")), RGB)
    with pytest.raises(ValueError):
        rgb_to_image(RGB.astype(np.float32))


def test_camera_info_intrinsics_and_stamps():
    info = CameraInfo()
    assert intrinsics_from_camera_info(info) is None  # K all zero: unset
    info.k = [500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0]
    assert intrinsics_from_camera_info(info) == (500.0, 510.0, 320.0, 240.0)
    from builtin_interfaces.msg import Time
    assert stamp_to_seconds(Time(sec=3, nanosec=500_000_000)) == 3.5
