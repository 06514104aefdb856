"""The node against hostile or broken inputs (issue 16): absurd camera_info, bad frame_ids, a
header that claims less than its data, a PNG bomb, decoder noise; each gives a plausible
output or a warning (read back from /rosout) and the node goes on."""
import math
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy", reason="the node needs rclpy")
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from helpers.node_harness import FRAME, SENSOR_QOS, Inputs, face_image, k_of, wait_for  # noqa: E402
from faceverse_ros.ros.convert import rgb_to_image  # noqa: E402


@pytest.fixture(scope="module")
def node(rclpy_context):
    h = Inputs(rclpy_context, [Parameter("landmark_only", value=True),
                               Parameter("smoother.kind", value="none")])
    yield h
    h.close()


# the cases of issue 16: what reached /tf before, and now
ABSURD = {
    "fx 1e30 (z was 9.8e26 m)": (k_of(1e30, 1e30, 240, 135), (480, 270)),
    "fx 1e-30 (negative or 2e82 m depth)": (k_of(1e-30, 1e-30, 240, 135), (480, 270)),
    "cx 1e12 (x was -9.8e8 m)": (k_of(480, 480, 1e12, 135), (480, 270)),
    "K zeros": (k_of(0, 0, 0, 0), (480, 270)),
    "K NaN": (k_of(math.nan, math.nan, 240, 135), (480, 270)),
    "fx negative": (k_of(-480, -480, 240, 135), (480, 270)),
    "overflow when scaled (latched before)": (k_of(1e308, 1e308, 1e308, 1e308), (1, 1)),
}


@pytest.mark.parametrize("case", list(ABSURD))
def test_absurd_camera_info_gives_plausible_tf_and_a_warning(node, case):
    rgb = face_image()
    node.send_info(k_of(480, 480, 240, 135), (480, 270))   # a good one first: resets the throttle
    good = node.send_settled(rgb)
    assert good is not None and len(good.faces) == 1
    z_good = node.face_tf(good).transform.translation.z
    node.log.clear()
    node.send_info(*ABSURD[case])
    msg = node.send_rgb(rgb)
    assert msg is not None and len(msg.faces) == 1, "output stopped (latched)"
    assert node.said("camera_info rejected"), node.log
    t = node.face_tf(msg).transform.translation
    assert all(math.isfinite(v) for v in (t.x, t.y, t.z))
    # the last good intrinsics are used: the same face at the same depth, within noise
    assert abs(t.x) < 1.0 and abs(t.y) < 1.0 and 0.2 < t.z < 5.0
    assert t.z == pytest.approx(z_good, rel=0.1)
    # and it keeps going, warned again only after the throttle period
    assert node.send_rgb(rgb) is not None


@pytest.mark.parametrize("frame_id", ["", "/camera_optical"])
def test_bad_frame_id_params_out_no_tf_one_warning(node, frame_id):
    rgb = face_image()
    node.log.clear()
    node.got["tf"].clear()
    stamps = []
    for _ in range(2):
        msg = rgb_to_image(rgb)
        key = node.stamp(msg, gap=True)   # 1 s apart: each second holds one frame
        msg.header.frame_id = frame_id
        processed = node.node.counts["processed"]
        node.image_pub.publish(msg)
        assert wait_for(lambda: node.node.counts["processed"] > processed, 30)
        stamps.append(msg.header.stamp.sec)
        params = node.params_for(key)
        assert params is not None and params.header.frame_id == frame_id
    time.sleep(0.5)
    assert not [t for m in node.got["tf"] for t in m.transforms if t.header.stamp.sec in stamps]
    said = [line for line in node.log if "/tf is not published" in line]
    assert len(said) == 1, node.log
    assert ("empty frame_id" if not frame_id else "starts with '/'") in said[0]


def test_header_smaller_than_data_is_refused_and_the_node_goes_on(node):
    bad_before = node.node.counts["bad"]
    msg = Image(height=180, width=320, encoding="rgb8", step=960, data=bytes(640 * 360 * 3))
    assert node.send(msg) is None
    assert node.node.counts["bad"] == bad_before + 1
    assert node.said("more data than the header says: the header says 320x180")
    assert len(node.send_settled(face_image()).faces) == 1


def test_view_failures_are_labelled_and_not_bad_frames(node):
    bad = node.node.counts["bad"]
    node.node._view_failed("first", OverflowError("Python int too large\nto convert"))
    assert node.said("debug view failed (drawing; the frame's params were published): "
                     "OverflowError: Python int too large to convert")
    node.node._stage_failed("second", RuntimeError("x"))
    assert node.said("frame failed in the second stage (faces, publishing): RuntimeError: x")
    assert node.node.counts["bad"] == bad + 1


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def test_png_bomb_and_noisy_jpeg_through_the_node(rclpy_context):
    h = Inputs(rclpy_context, [Parameter("landmark_only", value=True),
                               Parameter("input.compressed", value=True)])
    try:
        pub = h.tester.create_publisher(CompressedImage, "image/compressed", SENSOR_QOS)
        assert wait_for(lambda: pub.get_subscription_count() > 0, 10)
        bomb = cv2.imencode(".png", np.zeros((16384, 16384), np.uint8))[1].tobytes()
        before = _rss_mb()
        for k in range(3):
            msg = CompressedImage(format="png", data=bomb)
            msg.header.frame_id = FRAME
            pub.publish(msg)
            assert wait_for(lambda: h.node.counts["bad"] == k + 1, 20)
        assert _rss_mb() - before < 50.0, f"RSS {before:.0f} -> {_rss_mb():.0f} MB"
        assert h.said("png image of 16384x16384 (268435456 pixels) exceeds input.max_pixels")
        # a JPEG with corrupt entropy-coded data: libjpeg's complaint as our warning, frame used
        jpeg = bytearray(cv2.imencode(".jpg", face_image()[:, :, ::-1])[1])
        jpeg[-400:-300] = bytes(100)
        msg = CompressedImage(format="jpeg", data=bytes(jpeg))
        key = h.stamp(msg, gap=True)
        pub.publish(msg)
        assert h.params_for(key, timeout=30) is not None
        assert h.said("image input: jpeg decoder: Corrupt JPEG data"), h.log
    finally:
        h.close()
