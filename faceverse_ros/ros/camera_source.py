"""A camera source node: publishes a video, an image folder or a webcam (ROS layer).

For machines without `ros2 launch` (and for tests and benchmarks): it
publishes sensor_msgs/Image (rgb8) on `image` and sensor_msgs/CameraInfo on
`camera_info` with the same header, at the source's frame rate (or `rate_hz`).
Stamps are the node clock's time of publication, so the tracker's latency and
TF lookups behave as with a live camera.
"""
import threading
import time

from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from faceverse_ros.core.camera import CameraIntrinsics
from faceverse_ros.ros.convert import rgb_to_image
from faceverse_ros.io.sources import FrameSource

CAMERA_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.RELIABLE)


def camera_info_for(header, width, height, intrinsics):
    fx, fy, cx, cy = intrinsics
    info = CameraInfo()
    info.header = header
    info.width, info.height = width, height
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


class CameraSourceNode(Node):
    """Publishes frames of `spec` (see faceverse_ros.io.sources) in a thread of its own.

    Published intrinsics: CameraIntrinsics.default (fx = fy = image width,
    principal point at the centre), the node's own default without camera_info.
    loop: start files again at the end; else `finished` is set at the end.
    max_frames: stop after this many frames (0 = no limit).
    """

    def __init__(self, spec, frame_id="camera_optical_frame", rate_hz=0.0, loop=False,
                 max_frames=0, **node_kwargs):
        super().__init__("faceverse_camera", **node_kwargs)
        self.source = FrameSource(spec, loop=loop)
        self.rate_hz = float(rate_hz) or float(self.source.fps or 30.0)
        self.frame_id = frame_id
        self.max_frames = int(max_frames)
        self.image_pub = self.create_publisher(Image, "image", CAMERA_QOS)
        self.info_pub = self.create_publisher(CameraInfo, "camera_info", CAMERA_QOS)
        self.published = 0
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._publish_lock = threading.Lock()   # destroy_node waits for a publish in flight
        self._thread = threading.Thread(target=self._run, name="faceverse_camera", daemon=True)
        self._thread.start()

    def _run(self):
        period = 1.0 / self.rate_hz
        next_time = time.monotonic()
        try:
            for frame in self.source:
                if self._stop.is_set():
                    break
                delay = next_time - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                next_time = max(next_time + period, time.monotonic() - period)
                msg = rgb_to_image(frame.rgb)
                msg.header.stamp = self.get_clock().now().to_msg()
                msg.header.frame_id = self.frame_id
                h, w = frame.rgb.shape[:2]
                cam = CameraIntrinsics.default(w, h)
                with self._publish_lock:
                    if self._stop.is_set():   # never publish once destroy_node began
                        break
                    self.info_pub.publish(camera_info_for(msg.header, w, h, (cam.fx, cam.fy, cam.cx, cam.cy)))
                    self.image_pub.publish(msg)
                self.published += 1
                if self.max_frames and self.published >= self.max_frames:
                    break
        except Exception as exc:  # a broken file or camera: say so, stop this source
            self.get_logger().error(f"camera source stopped: {exc}")
        finally:
            self.finished.set()

    def destroy_node(self):
        with self._publish_lock:
            self._stop.set()
        self._thread.join(timeout=5.0)
        return super().destroy_node()
