"""sensor_msgs <-> numpy conversions (ROS layer).

Decoding (Image, CompressedImage, CameraInfo -> numpy, with the input bounds) is ROS-free and
lives in faceverse_ros.io.image_msgs, shared with the bag reader; it is re-exported here.
This module adds the one direction that needs the rclpy message classes.
"""
import cv2
import numpy as np

from faceverse_ros.io.image_msgs import (  # noqa: F401
    DEFAULT_MAX_PIXELS, SUPPORTED_ENCODINGS, ImageConversionError, captured_native_stderr,
    check_pixels, compressed_size, compressed_to_rgb, image_to_rgb, intrinsics_from_camera_info,
    opencv_error_line, stamp_to_seconds)


def rgb_to_image(rgb, header=None, encoding="rgb8"):
    """uint8 RGB (H, W, 3) -> sensor_msgs/Image in rgb8 or bgr8."""
    from sensor_msgs.msg import Image

    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    if encoding == "bgr8":
        rgb = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    elif encoding != "rgb8":
        raise ValueError(f"rgb_to_image writes rgb8 or bgr8, not {encoding}")
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = rgb.shape[:2]
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = rgb.shape[1] * 3
    msg.data = np.ascontiguousarray(rgb).tobytes()
    return msg
