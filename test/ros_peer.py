"""A second process for the cross-process DDS tests: publishes known messages.

usage: python ros_peer.py params|tf SECONDS
It publishes every 50 ms until SECONDS pass; the test process kills it sooner.
The values are a function of the field index, so the receiver recomputes them.
"""
import os
import sys
import time

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_LOCALHOST_ONLY"] = "1"

import rclpy  # noqa: E402
from rclpy.qos import QoSProfile  # noqa: E402

BLOCKS = ("shape", "expression", "texture", "lighting", "rotation", "translation", "eyes")


def block_values(face_index, block_index, size):
    """Distinct float32-exact values per face, block and element."""
    return [face_index * 1000.0 + block_index * 100.0 + k * 0.25 for k in range(size)]


def make_params_array():
    from faceverse_ros.msg import FaceVerseParams, FaceVerseParamsArray

    msg = FaceVerseParamsArray()
    msg.header.stamp.sec = 1234
    msg.header.stamp.nanosec = 567890
    msg.header.frame_id = "camera_color_optical_frame"
    for f in range(2):
        face = FaceVerseParams()
        face.face_id = 7 + f
        face.confidence = 0.5 + 0.25 * f
        face.mode = FaceVerseParams.MODE_REGRESSOR
        face.roi.x_offset, face.roi.y_offset = 10 + f, 20 + f
        face.roi.width, face.roi.height = 100, 100
        for b, name in enumerate(BLOCKS):
            size = len(getattr(face, name))
            setattr(face, name, block_values(f, b, size))
        face.head_pose.position.x = 0.1 * (f + 1)
        face.head_pose.position.z = 0.8
        face.head_pose.orientation.w = 1.0
        face.gaze_direction.z = -1.0
        face.landmarks = [float(k) for k in range(956)]
        msg.faces.append(face)
    return msg


def make_tf():
    from faceverse_ros.ros.tf import make_transform
    from builtin_interfaces.msg import Time

    stamp = Time(sec=42, nanosec=5)
    return [
        make_transform(stamp, "camera_optical", "face_3", (0.1, -0.05, 0.9), (0.0, 0.0, 0.0, 1.0)),
        make_transform(stamp, "camera_optical", "gaze_3", (0.1, -0.05, 0.9), (0.5, 0.5, 0.5, 0.5)),
    ]


def main():
    mode, seconds = sys.argv[1], float(sys.argv[2])
    rclpy.init()
    node = rclpy.create_node("faceverse_test_peer")
    if mode == "params":
        from faceverse_ros.msg import FaceVerseParamsArray

        pub = node.create_publisher(FaceVerseParamsArray, "faceverse/params", QoSProfile(depth=10))
        send = lambda: pub.publish(make_params_array())  # noqa: E731
    elif mode == "tf":
        from faceverse_ros.ros.tf import TfPublisher

        tf = TfPublisher(node)
        send = lambda: tf.send(make_tf())  # noqa: E731
    else:
        sys.exit(f"unknown mode {mode}")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        send()
        time.sleep(0.05)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
