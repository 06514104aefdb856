"""The node's depth input: off by default, switched on with a parameter at run time, depth
images matched by stamp, bad depth said once per kind while the node goes on.

The depth here is a plane at a chosen distance behind the photo's face (a face seen as a
flat surface): the published head depth follows the plane (within the face's relief, 5 %);
the accuracy against a head of known geometry is in test_depth.py / test_depth_pipeline.py.
"""
import math
import time

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="the node needs rclpy")
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from helpers.node_harness import (FRAME, FRAME_NS, SENSOR_QOS, Inputs, face_image, k_of,  # noqa: E402
                                  wait_for)


class DepthHarness(Inputs):
    def __init__(self, context, overrides):
        super().__init__(context, overrides)
        self.depth_pub = self.tester.create_publisher(Image, "depth/image", SENSOR_QOS)

    def enable(self, on=True):
        self.node.set_parameters([Parameter("depth.enabled", value=on)])
        assert wait_for(lambda: (self.depth_pub.get_subscription_count() > 0) == on, 10)

    def send_pair(self, rgb, depth, dt_ns=0, frame_id=FRAME):
        """A depth message stamped like the next colour frame (+ dt_ns), then that frame."""
        t = self.t_ns + FRAME_NS + dt_ns
        depth.header.stamp.sec, depth.header.stamp.nanosec = divmod(t, 10**9)
        depth.header.frame_id = frame_id
        queue = lambda: [s for s, _ in list(self.node._depth._queue)]  # noqa: E731
        want = t * 1e-9
        for _ in range(5):   # best effort: resend until the node holds it
            self.depth_pub.publish(depth)
            if wait_for(lambda: any(abs(s - want) < 1e-6 for s in queue()), 2.0):
                break
        return self.send_rgb(rgb)

    def count(self, words):
        return sum(words in line for line in self.log)


def depth_msg(values, encoding="16UC1"):
    arr = np.ascontiguousarray(values)
    msg = Image(height=arr.shape[0], width=arr.shape[1], encoding=encoding, is_bigendian=0,
                step=arr.shape[1] * arr.itemsize)
    msg.data = arr.tobytes()
    return msg


def plane(metres, size, encoding="16UC1"):
    w, h = size
    if encoding == "16UC1":
        return depth_msg(np.full((h, w), int(round(metres * 1000)), np.uint16))
    return depth_msg(np.full((h, w), metres, np.float32), "32FC1")


@pytest.fixture(scope="module")
def node(rclpy_context):
    h = DepthHarness(rclpy_context, [Parameter("landmark_only", value=True),
                                     Parameter("smoother.kind", value="none")])
    yield h
    h.close()


def _face(msg):
    assert msg is not None and len(msg.faces) == 1
    face = msg.faces[0]
    p = face.head_pose.position
    assert all(math.isfinite(v) for v in (p.x, p.y, p.z))
    return face


def test_depth_is_off_by_default_then_on_at_run_time_and_measured(node):
    rgb = face_image()
    size = (rgb.shape[1], rgb.shape[0])
    node.send_info(k_of(480.0, 480.0, size[0] / 2, size[1] / 2), size)
    assert node.node.get_parameter("depth.enabled").value is False
    assert node.depth_pub.get_subscription_count() == 0
    mono = _face(node.send_settled(rgb))
    assert not mono.depth_measured and mono.depth_confidence == 0.0
    node.enable()
    target = 1.3 * mono.head_pose.position.z   # depth puts the face 30 % farther
    for encoding, half in (("16UC1", False), ("32FC1", True)):   # also a half-size 32FC1 image
        dsize = (size[0] // 2, size[1] // 2) if half else size
        msg = node.send_pair(rgb, plane(target, dsize, encoding))
        assert msg.header.frame_id == FRAME
        face = _face(msg)
        assert face.depth_measured and 0.3 < face.depth_confidence <= 1.0
        assert face.head_pose.position.z == pytest.approx(target, rel=0.05)
    # depth stops: the kept scale, not the colour-only 63 mm distance
    kept = _face(node.send_rgb(rgb))
    assert not kept.depth_measured
    assert kept.head_pose.position.z == pytest.approx(target, rel=0.05)
    diag = {}
    assert wait_for(lambda: any(
        (diag.update({kv.key: kv.value for kv in s.values}) or "depth_slop_max_ms" in diag)
        for m in list(node.got["diag"]) for s in m.status), 5)
    assert diag["depth"] == "on" and float(diag["depth_slop_max_ms"]) == pytest.approx(0.0, abs=1)
    node.enable(False)
    assert _face(node.send_rgb(rgb)).depth_measured is False


BAD = [  # (name, depth message maker(size, colour-only z), send_pair keywords, warning words)
    ("other camera", lambda size, z: plane(z, size), dict(frame_id="camera_depth_optical_frame"),
     "is not the colour image's"),
    ("wrong encoding", lambda size, z: depth_msg(np.zeros((size[1], size[0]), np.uint8), "mono8"), {},
     "not a REP-118 depth image"),
    ("all zero", lambda size, z: plane(0.0, size), {}, "holds no measurement"),
    ("all NaN", lambda size, z: depth_msg(np.full((size[1], size[0]), np.nan, np.float32), "32FC1"),
     {}, "holds no measurement"),
    ("stamps far apart", lambda size, z: plane(z, size), dict(dt_ns=300_000_000),
     "no depth image within depth.slop_s"),
    ("implausible", lambda size, z: plane(4.0 * z, size), {}, "outside 0.6-1.5"),
]


def _colour_only_z(node, rgb):
    """The head depth of a new track of the face from colour alone (depth off)."""
    node.enable(False)
    for _ in range(8):   # no face: the old track (and its kept scale) ends
        node.send_rgb(np.zeros_like(rgb))
    face = _face(node.send_settled(rgb))
    assert not face.depth_measured
    return face.head_pose.position.z


def test_bad_depth_is_said_once_each_and_the_node_goes_on(node):
    rgb = face_image()
    size = (rgb.shape[1], rgb.shape[0])
    node.send_info(k_of(480.0, 480.0, size[0] / 2, size[1] / 2), size)
    z = _colour_only_z(node, rgb)
    node.log.clear()
    node.enable()
    try:
        for name, make, kw, words in BAD:
            for _ in range(3):
                face = _face(node.send_pair(rgb, make(size, z), **kw))
                assert not face.depth_measured, name
            assert wait_for(lambda: node.count(words) >= 1, 5), (name, node.log[-5:])
            time.sleep(0.2)
            assert node.count(words) == 1, (name, [line for line in node.log if words in line])
        # a stream that stops (1.5 s of colour without depth) and comes back
        good = node.send_pair(rgb, plane(1.1 * z, size))
        assert _face(good).depth_measured
        for _ in range(3):
            node.send_rgb(rgb, gap=True)
        assert wait_for(lambda: node.count("depth images stopped") == 1, 5)
        node.send_rgb(rgb)
        face = _face(node.send_pair(rgb, plane(1.1 * z, size)))
        assert face.depth_measured
        assert wait_for(lambda: node.count("depth images are back") == 1, 5)
        assert node.count("depth images stopped") == 1
    finally:
        node.enable(False)
