"""sensor_msgs image and camera-info messages -> numpy, without ROS.

Works on any object with the sensor_msgs field names: rclpy messages in the
node (faceverse_ros.ros.convert re-exports these functions) and rosbags'
deserialised messages when reading a bag. Our own small converter, used instead
of cv_bridge (which the PyPI wheels do not provide) on every install, so
behaviour is the same everywhere. It covers the encodings cameras commonly
publish and rejects everything else with an `ImageConversionError` that says
what was wrong; nothing is guessed.
"""
import cv2
import numpy as np

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


def image_to_rgb(msg):
    """sensor_msgs/Image -> contiguous uint8 RGB array (H, W, 3).

    16-bit grey images are scaled to 8 bits by their maximum. Raises
    ImageConversionError on an unsupported encoding, zero size, a step that
    does not match, truncated data or a big-endian 16-bit image.
    """
    encoding = msg.encoding
    if encoding not in _ENCODINGS:
        raise ImageConversionError(
            f"unsupported encoding '{encoding}' (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    channels, dtype, conversion = _ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"zero-size image ({width}x{height})")
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    if step < row_bytes or step % itemsize:
        raise ImageConversionError(
            f"step {step} does not fit a {width}-pixel row of {encoding} ({row_bytes} bytes)")
    data = msg.data
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8)
    if buf.size < step * (height - 1) + row_bytes:
        raise ImageConversionError(
            f"truncated data: {buf.size} bytes for {height} rows of step {step}")
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
    return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)


def compressed_to_rgb(msg):
    """sensor_msgs/CompressedImage (jpeg, png, ...) -> uint8 RGB (H, W, 3)."""
    buf = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if buf.size == 0:
        raise ImageConversionError("empty compressed image")
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageConversionError(f"corrupt or unsupported compressed image (format '{msg.format}')")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


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
    k = intrinsics_from_camera_info(msg)
    if k is None:
        return None
    fx, fy, cx, cy = k
    if msg.width and msg.height and (int(msg.width), int(msg.height)) != (width, height):
        sx, sy = width / float(msg.width), height / float(msg.height)
        fx, cx, fy, cy = fx * sx, cx * sx, fy * sy, cy * sy
    return fx, fy, cx, cy


def stamp_to_seconds(stamp):
    """builtin_interfaces/Time -> float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9
