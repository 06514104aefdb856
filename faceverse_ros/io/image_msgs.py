"""sensor_msgs image and camera-info messages -> numpy, without ROS.

Works on any object with the sensor_msgs field names: rclpy messages in the
node (faceverse_ros.ros.convert re-exports these functions) and rosbags'
deserialised messages when reading a bag. Our own small converter, used instead
of cv_bridge (which the PyPI wheels do not provide) on every install, so
behaviour is the same everywhere. It covers the encodings cameras commonly
publish and rejects everything else with an `ImageConversionError` that says
what was wrong; nothing is guessed.

Bounds (hostile or broken inputs): an image of more than `max_pixels` pixels (default
DEFAULT_MAX_PIXELS, parameter input.max_pixels) is refused before any pixel is touched; for
compressed images the size is read from the JPEG or PNG header first, so a decompression bomb
(a small PNG of 16384x16384) is never decoded. A raw image whose data does not have the size
its header gives (height x step) is refused, whichever of the two is larger. What OpenCV,
libjpeg and libpng print on the process's stderr while decoding is captured and handed to the
caller as one-line warnings (`on_warning`), and their exceptions become ImageConversionError.
"""
import os
import re
import struct
import sys
import tempfile
import threading

import cv2
import numpy as np

from faceverse_ros.core.camera import scaled_intrinsics

# 4096 x 2160 (DCI 4K; UHD 3840 x 2160 is smaller): larger images are refused by default
DEFAULT_MAX_PIXELS = 4096 * 2160

# encoding -> (channels, dtype, cv2 conversion to RGB or None)
_ENCODINGS = {
    "rgb8": (3, np.uint8, None),
    "bgr8": (3, np.uint8, cv2.COLOR_BGR2RGB),
    "rgba8": (4, np.uint8, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, np.uint8, cv2.COLOR_BGRA2RGB),
    "mono8": (1, np.uint8, cv2.COLOR_GRAY2RGB),
    "8UC1": (1, np.uint8, cv2.COLOR_GRAY2RGB),
    "8UC3": (3, np.uint8, cv2.COLOR_BGR2RGB),  # OpenCV's convention: BGR
    "mono16": (1, np.uint16, cv2.COLOR_GRAY2RGB),
    "16UC1": (1, np.uint16, cv2.COLOR_GRAY2RGB),
    "yuv422": (2, np.uint8, cv2.COLOR_YUV2RGB_UYVY),       # UYVY
    "uyvy": (2, np.uint8, cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": (2, np.uint8, cv2.COLOR_YUV2RGB_YUY2),  # YUYV
    "yuyv": (2, np.uint8, cv2.COLOR_YUV2RGB_YUY2),
}
SUPPORTED_ENCODINGS = tuple(sorted(_ENCODINGS))


class ImageConversionError(ValueError):
    """An image message that cannot be turned into an RGB array."""


def check_pixels(width, height, max_pixels, what="image"):
    """Raise ImageConversionError when width x height exceeds max_pixels (0 = no limit)."""
    if max_pixels and width * height > max_pixels:
        raise ImageConversionError(
            f"{what} of {width}x{height} ({width * height} pixels) exceeds input.max_pixels="
            f"{max_pixels}; refused")


def image_to_rgb(msg, max_pixels=DEFAULT_MAX_PIXELS):
    """sensor_msgs/Image -> contiguous uint8 RGB array (H, W, 3).

    16-bit grey images are scaled to 8 bits by their maximum. Raises
    ImageConversionError on an unsupported encoding, zero size, more than
    max_pixels pixels, a step that does not match, data of another size than
    the header gives (height x step; an unpadded last row is accepted), an odd
    width for yuv422 or a big-endian 16-bit image.
    """
    encoding = msg.encoding
    if encoding not in _ENCODINGS:
        raise ImageConversionError(
            f"unsupported encoding '{encoding}' (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    channels, dtype, conversion = _ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"zero-size image ({width}x{height})")
    check_pixels(width, height, max_pixels)
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    if step < row_bytes or step % itemsize:
        raise ImageConversionError(
            f"step {step} does not fit a {width}-pixel row of {encoding} ({row_bytes} bytes)")
    if channels == 2 and width % 2:
        raise ImageConversionError(f"{encoding} needs an even width (two pixels share U and V), "
                                   f"got {width}")
    data = msg.data
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8)
    expected = step * height
    if buf.size not in (expected, expected - (step - row_bytes)):
        kind = "truncated data" if buf.size < expected - (step - row_bytes) else \
            "more data than the header says"
        raise ImageConversionError(
            f"{kind}: the header says {width}x{height} {encoding} with step {step} "
            f"({expected} bytes) but the data has {buf.size} bytes")
    if itemsize > 1 and msg.is_bigendian:
        raise ImageConversionError(f"big-endian {encoding} is not supported")
    rows = np.lib.stride_tricks.as_strided(buf, shape=(height, row_bytes), strides=(step, 1))
    pixels = rows.view(dtype).reshape(height, width, channels) if itemsize > 1 else \
        rows.reshape(height, width, channels)
    if dtype == np.uint16:
        top = int(pixels.max())
        pixels = (pixels.astype(np.float32) * (255.0 / max(top, 1))).astype(np.uint8)
    if conversion is None:
        return np.ascontiguousarray(pixels)
    if channels == 1:
        pixels = pixels[:, :, 0]
    try:
        return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)
    except cv2.error as exc:
        raise ImageConversionError(
            f"{encoding} conversion failed: {opencv_error_line(exc)}") from None


def opencv_error_line(exc):
    """The informative line of a cv2.error ('(-215:Assertion failed) ... in function ...')."""
    text = " ".join(str(exc).split())
    match = re.search(r"error: (.*)", text)
    return match.group(1) if match else text


# -- compressed images: the size from the header, then decoding ---------------------------------
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (they carry the size): C0-CF without DHT C4, JPG C8 and DAC CC
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_NO_LENGTH = {0x01, 0xD8} | set(range(0xD0, 0xD8))


def compressed_size(data):
    """(format, width, height) from a JPEG's frame header or a PNG's IHDR, without decoding.

    Raises ImageConversionError for other formats or a header that cannot be read.
    """
    data = bytes(data[:1 << 20]) if len(data) > 1 << 20 else bytes(data)
    if data.startswith(_PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageConversionError("corrupt PNG: no IHDR header")
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data.startswith(b"\xff\xd8"):
        return ("jpeg",) + _jpeg_size(data)
    raise ImageConversionError("unsupported compressed image: only JPEG and PNG are decoded "
                               f"(data starts with {data[:8]!r})")


def _jpeg_size(data):
    pos, n = 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise ImageConversionError(f"corrupt JPEG: no marker at byte {pos}")
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            break
        marker = data[pos]
        pos += 1
        if marker in _JPEG_NO_LENGTH:
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before them
            break
        if pos + 2 > n:
            break
        length = struct.unpack(">H", data[pos:pos + 2])[0]
        if marker in _JPEG_SOF:
            if length < 8 or pos + 7 > n:
                break
            height, width = struct.unpack(">HH", data[pos + 3:pos + 7])
            if width == 0 or height == 0:
                raise ImageConversionError(f"corrupt JPEG: frame header gives {width}x{height}")
            return width, height
        if length < 2:
            break
        pos += length
    raise ImageConversionError("corrupt JPEG: no frame header before the image data")


def compressed_to_rgb(msg, max_pixels=DEFAULT_MAX_PIXELS, on_warning=None):
    """sensor_msgs/CompressedImage (JPEG or PNG) -> uint8 RGB (H, W, 3).

    The size is read from the header and checked against max_pixels before decoding. What the
    decoder prints (libjpeg's "Corrupt JPEG data ...", OpenCV warnings) goes to on_warning as
    one line (the image is used when it decoded); an image that does not decode raises
    ImageConversionError.
    """
    data = bytes(msg.data)
    if not data:
        raise ImageConversionError("empty compressed image")
    kind, width, height = compressed_size(data)
    check_pixels(width, height, max_pixels, what=f"{kind} image")
    buf = np.frombuffer(data, dtype=np.uint8)
    with captured_native_stderr() as noise:
        try:
            bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        except cv2.error as exc:
            bgr, noise_error = None, opencv_error_line(exc)
        else:
            noise_error = None
    said = "; ".join(filter(None, [noise_error] + noise))
    if bgr is None:
        raise ImageConversionError(f"corrupt {kind} image ({width}x{height}, format "
                                   f"'{msg.format}')" + (f": {said}" if said else ""))
    if said and on_warning is not None:
        on_warning(f"{kind} decoder: {said}")
    if bgr.shape[:2] != (height, width):
        raise ImageConversionError(f"{kind} header says {width}x{height} but it decoded to "
                                   f"{bgr.shape[1]}x{bgr.shape[0]}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# -- what native libraries print on stderr ----------------------------------------------------
_ROS_LOG_LINE = re.compile(r"^\[(DEBUG|INFO|WARN|ERROR|FATAL)\] ")
_capture_lock = threading.Lock()
_capture_file = None


class captured_native_stderr:
    """Context manager: file descriptor 2 goes to a temporary file meanwhile; the lines it got
    are in the list it yields when it exits (joined to one line each). Lines in ROS's log
    format (another thread's rclpy log) are written back to the real stderr instead. One
    capture at a time (a lock)."""

    def __enter__(self):
        global _capture_file
        _capture_lock.acquire()
        try:
            if _capture_file is None:
                _capture_file = tempfile.TemporaryFile()
            _capture_file.seek(0)
            _capture_file.truncate()
            if sys.stderr is not None:
                sys.stderr.flush()
            self._saved = os.dup(2)
            os.dup2(_capture_file.fileno(), 2)
        except Exception:
            _capture_lock.release()
            raise
        self.lines = []
        return self.lines

    def __exit__(self, *exc):
        try:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            _capture_file.seek(0)
            text = _capture_file.read(1 << 16).decode("utf-8", "replace")
        finally:
            _capture_lock.release()
        others = []
        for line in text.splitlines():
            if _ROS_LOG_LINE.match(line):
                others.append(line)
            elif line.strip():
                self.lines.append(" ".join(line.split()))
        if others:
            os.write(2, ("\n".join(others) + "\n").encode())
        return False


def intrinsics_from_camera_info(msg):
    """(fx, fy, cx, cy) in pixels from sensor_msgs/CameraInfo's K, or None if K is unset/invalid."""
    k = [float(v) for v in msg.k]
    fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    if not all(np.isfinite([fx, fy, cx, cy])) or fx <= 0 or fy <= 0:
        return None
    return fx, fy, cx, cy


def intrinsics_for_image(msg, width, height):
    """(fx, fy, cx, cy) of a CameraInfo for an image of width x height: K scaled when the
    image is a binned or resized version of the calibrated size; None if K is unset/invalid."""
    if intrinsics_from_camera_info(msg) is None:
        return None
    return scaled_intrinsics(msg.k, (int(msg.width), int(msg.height)), (width, height))


def stamp_to_seconds(stamp):
    """builtin_interfaces/Time -> float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def depth_image(msg, max_pixels=DEFAULT_MAX_PIXELS):
    """sensor_msgs/Image with a REP-118 depth encoding (16UC1 millimetres, 32FC1 metres) ->
    core.depth.DepthImage (its pixels a view of the message's data, converted to metres only
    where read), with the header's frame_id and stamp. Raises ImageConversionError on another
    encoding, zero size, more than max_pixels pixels, a step or data size that does not fit,
    or big-endian data."""
    from faceverse_ros.core.depth import DEPTH_DTYPES, DepthImage

    encoding = msg.encoding
    if encoding not in DEPTH_DTYPES:
        raise ImageConversionError(
            f"depth encoding '{encoding}' is not a REP-118 depth image (16UC1 millimetres or "
            f"32FC1 metres)")
    dtype = np.dtype(DEPTH_DTYPES[encoding])
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"zero-size depth image ({width}x{height})")
    check_pixels(width, height, max_pixels, "depth image")
    row_bytes = width * dtype.itemsize
    if step < row_bytes or step % dtype.itemsize:
        raise ImageConversionError(
            f"step {step} does not fit a {width}-pixel row of {encoding} ({row_bytes} bytes)")
    if msg.is_bigendian:
        raise ImageConversionError(f"big-endian {encoding} is not supported")
    data = msg.data
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8)
    if buf.size != step * height:
        raise ImageConversionError(
            f"the header says {width}x{height} {encoding} with step {step} ({step * height} "
            f"bytes) but the data has {buf.size} bytes")
    pixels = buf.reshape(height, step)[:, :row_bytes].view(dtype)
    return DepthImage(pixels, encoding, msg.header.frame_id, stamp_to_seconds(msg.header.stamp))
