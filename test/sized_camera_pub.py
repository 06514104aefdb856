"""Test helper: a stand-in camera driver started the usual way, apart from this package: it
loads no Fast DDS profile (the caller's environment has none) and publishes FRAMES best-effort
rgb8 images of WIDTHxHEIGHT (sensor-data QoS, as camera drivers do) with a camera_info each, at
RATE Hz, on /image and /camera_info, once a subscription has matched.

usage: python sized_camera_pub.py WIDTH HEIGHT [FRAMES] [RATE]
Prints one JSON line: {"first_frame_time": <time.time() of the first frame>, "published": N}.
"""
import json
import sys
import time


def main():
    width, height = int(sys.argv[1]), int(sys.argv[2])
    frames = int(sys.argv[3]) if len(sys.argv) > 3 else 150
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    rclpy.init()
    node = rclpy.create_node("sized_camera")
    image_pub = node.create_publisher(Image, "/image", qos_profile_sensor_data)
    info_pub = node.create_publisher(CameraInfo, "/camera_info", qos_profile_sensor_data)
    msg = Image(width=width, height=height, encoding="rgb8", step=width * 3)
    msg.data = bytes(range(256)) * (width * height * 3 // 256) + bytes(width * height * 3 % 256)
    fx = float(width)
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob",
                      k=[fx, 0.0, width / 2.0, 0.0, fx, height / 2.0, 0.0, 0.0, 1.0])
    deadline = time.monotonic() + 60.0
    while image_pub.get_subscription_count() < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    first = time.time()
    next_time = time.monotonic()
    for index in range(frames):
        msg.header.stamp = info.header.stamp = node.get_clock().now().to_msg()
        msg.header.frame_id = info.header.frame_id = "camera_optical_frame"
        image_pub.publish(msg)
        info_pub.publish(info)
        next_time += 1.0 / rate
        delay = next_time - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    time.sleep(0.5)
    print(json.dumps({"first_frame_time": first, "published": frames}), flush=True)
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
