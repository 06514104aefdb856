"""The node under test beside a tester node, both spun in a background thread.

`Harness` publishes stamped images to a FaceVerseNode in a namespace of its own and collects
what the node publishes (params, TF, diagnostics, and the views on request).
"""
import time

import numpy as np
import rclpy
from rcl_interfaces.msg import Log
from rclpy.qos import QoSProfile, ReliabilityPolicy
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, Image
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from faceverse_ros.msg import FaceVerseParamsArray
from faceverse_ros.ros.convert import rgb_to_image
from faceverse_ros.ros.node import SENSOR_QOS, VIEW_QOS, FaceVerseNode
from faceverse_ros.ros.tf import TF_QOS
from helpers.paths import shared_path
from helpers.spin import SpinThread
from helpers.video import read_rgb
from helpers.waiting import wait_for

__all__ = ["FRAME", "FRAME_NS", "SENSOR_QOS", "Harness", "Inputs", "face_image", "k_of", "small_photo",
           "stamp_key", "wait_for"]

FRAME = "test_camera_optical"
FRAME_NS = 33_000_000  # 30 Hz stamps


def small_photo(name: str) -> np.ndarray:
    """A shared test photo as RGB, ~480 px on its longer side (keeps the node tests quick)."""
    return read_rgb(shared_path(f"testdata/faces/{name}"), longest=480)


RESEND_S = 5.0  # Harness.send: a best-effort frame not taken after this is sent again


class Harness:
    """The node under test plus a tester node, spun by an executor in a background thread."""

    _instances = 0

    def __init__(self, context, overrides, threads: int = 1):
        # each harness in its own namespace with its own stamps: no cross-talk between them
        Harness._instances += 1
        ns = f"h{Harness._instances}"
        # stamps 33 ms apart (a 30 Hz camera: the smoother is active); a scene change starts
        # after a 1 s gap (the smoother restarts), as a new shot would
        self.base = 10000 * Harness._instances
        self.t_ns = self.base * 10**9
        self.node = FaceVerseNode(context=context, parameter_overrides=overrides, namespace=ns)
        self.tester = rclpy.create_node("faceverse_tester", context=context, namespace=ns)
        self.image_pub = self.tester.create_publisher(Image, "image", SENSOR_QOS)
        self.info_pub = self.tester.create_publisher(CameraInfo, "camera_info", SENSOR_QOS)
        self.got = {"params": [], "tf": [], "debug": [], "mesh": [], "diag": []}
        t = self.tester
        t.create_subscription(FaceVerseParamsArray, "faceverse/params", self.got["params"].append, 10)
        t.create_subscription(TFMessage, "/tf", self.got["tf"].append, TF_QOS)
        t.create_subscription(DiagnosticArray, "/diagnostics", self.got["diag"].append, 10)
        self._debug_sub = self._mesh_sub = None
        # one thread, as the node's own spin (ros/spin.py); with rclpy's multi-threaded
        # executor a frame re-sent for a minute was not taken once in Kilted CI (cause not
        # shown; the multi-threaded executor is the suspect)
        self.spin = SpinThread(self.node, self.tester, context=context, threads=threads)
        self.seq = 0

    def watch_views(self):
        if self._debug_sub is None:
            self._debug_sub = self.tester.create_subscription(
                Image, "faceverse/debug_image", self.got["debug"].append, VIEW_QOS)
            self._mesh_sub = self.tester.create_subscription(
                MarkerArray, "faceverse/mesh", self.got["mesh"].append, VIEW_QOS)
            wait_for(lambda: self.node.outputs.debug_pub.get_subscription_count() > 0, 10)

    def stamp(self, msg, gap=False):
        """Stamps msg 33 ms after the previous frame (1 s after it with gap=True)."""
        self.seq += 1
        self.t_ns += 10**9 if gap else FRAME_NS
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(self.t_ns, 10**9)
        msg.header.frame_id = FRAME
        return stamp_key(msg.header)

    def send(self, msg, timeout=60.0, gap=False):
        """Publishes one image message (stamped 33 ms after the last) and waits for its params."""
        stamp_key = self.stamp(msg, gap)
        self.publish_taken(msg, timeout)
        return self.params_for(stamp_key)

    def publish_taken(self, msg, timeout=60.0):
        """Publishes a stamped image message and waits until the node took it (processed or
        refused as bad). Best-effort images: one published before DDS has matched the node's
        subscription is lost, and so, now and then under load, is a large one (UDP fragments
        on the loopback; seen in CI): this waits for the match and sends the same message
        (same stamp) again every RESEND_S while the node has not taken it."""
        processed = self.node.counts["processed"] + self.node.counts["bad"]
        wait_for(lambda: self.image_pub.get_subscription_count() > 0, 10)
        deadline = time.monotonic() + timeout
        while True:
            self.image_pub.publish(msg)
            if wait_for(lambda: self.node.counts["processed"] + self.node.counts["bad"] > processed,
                        min(RESEND_S, max(deadline - time.monotonic(), 0.0))):
                return
            if time.monotonic() >= deadline:
                c = self.node.counts
                raise AssertionError(
                    f"the node did not take the frame: received {c['received']}, processed "
                    f"{c['processed']}, dropped {c['dropped']}, bad {c['bad']} (a received count "
                    "that did not rise means the image never reached the node's callback)")

    def send_rgb(self, rgb, **kw):
        return self.send(rgb_to_image(rgb), **kw)

    def send_settled(self, rgb, **kw):
        """A new scene (after a 1 s gap): the params of the second of two copies of `rgb`
        (MediaPipe's tracking mode may need one frame to re-detect, as with a real camera)."""
        self.send_rgb(rgb, gap=True, **kw)
        return self.send_rgb(rgb, **kw)

    def params_for(self, want, timeout=10.0):
        found = []
        wait_for(lambda: found.extend(m for m in self.got["params"] if stamp_key(m.header) == want)
                 or found, timeout)
        return found[0] if found else None

    def close(self):
        self.spin.close()
        self.node.destroy_node()
        self.tester.destroy_node()



def stamp_key(header) -> tuple:
    """A header's stamp as (sec, nanosec): how the tests match outputs to their frame."""
    return header.stamp.sec, header.stamp.nanosec


class Inputs(Harness):
    """The harness plus the node's log lines (from /rosout) and camera_info helpers."""

    def __init__(self, context, overrides):
        super().__init__(context, overrides)
        self.log = []
        name = self.node.get_logger().name
        self.tester.create_subscription(
            Log, "/rosout", lambda m: self.log.append(m.msg) if m.name == name else None,
            QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
        time.sleep(0.5)

    def said(self, words, timeout=5.0):
        return wait_for(lambda: any(words in line for line in self.log), timeout)

    def send_info(self, k, size):
        info = CameraInfo(width=size[0], height=size[1], k=[float(v) for v in k])
        info.header.frame_id = FRAME
        self.info_pub.publish(info)
        # camera_info and images are separate topics: the image waits until the node has it
        assert wait_for(lambda: (got := self.node._camera_info) is not None
                        and np.array_equal(got.k, info.k, equal_nan=True)
                        and got.width == info.width, 10)

    def face_tf(self, msg):
        stamp = msg.header.stamp.sec
        assert wait_for(lambda: any(t.header.stamp.sec == stamp and t.child_frame_id.startswith("face_")
                                    for m in self.got["tf"] for t in m.transforms), 10)
        return [t for m in self.got["tf"] for t in m.transforms
                if t.header.stamp.sec == stamp and t.child_frame_id.startswith("face_")][0]


def k_of(fx: float, fy: float, cx: float, cy: float) -> list:
    """The 9 values of a camera matrix K."""
    return [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]


FACE = None


def face_image() -> np.ndarray:
    """frontal_1080p.jpg at 480 x 270 (read once)."""
    global FACE
    if FACE is None:
        FACE = small_photo("frontal_1080p.jpg")   # 480 x 270
    return FACE
