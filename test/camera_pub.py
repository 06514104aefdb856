"""Test helper: a camera publisher process for the launch tests (a stand-in camera driver).

usage: python camera_pub.py VIDEO [--rate HZ] [--frame-id ID] [--ros-args ...]
Publishes VIDEO in a loop as sensor_msgs/Image + CameraInfo on `image` / `camera_info`
(remap and namespace them with --ros-args, e.g. -r __ns:=/cam1 -r image:=image_raw) through
the package's CameraSourceNode, until SIGINT.
"""
import argparse
import os
import sys

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")



def main():
    argv = sys.argv[1:]
    ros_args = argv[argv.index("--ros-args"):] if "--ros-args" in argv else []
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--frame-id", default="camera_optical_frame")
    args = ap.parse_args(argv[:len(argv) - len(ros_args)])
    from faceverse_ros.ros import spin
    from faceverse_ros.ros.camera_source import CameraSourceNode

    spin.init(["camera_pub"] + ros_args)
    node = CameraSourceNode(args.video, frame_id=args.frame_id, rate_hz=args.rate, loop=True)
    spin.spin_until_signal([node])
    return 0


if __name__ == "__main__":
    sys.exit(main())
