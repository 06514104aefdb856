"""Depth images matched to colour frames (io.depth_input) and read from their CDR bytes
(ros.cdr.RawImage): stamps within the slop, the colour frame_id, a late depth image waited
for, each problem said once."""
import threading
import time

import numpy as np
import pytest

from faceverse_ros.io.depth_input import DepthInput


class Msg:
    class header:
        pass

    def __init__(self, stamp, frame_id="cam", encoding="16UC1", value=1000):
        self.header = Msg.header()
        self.header.stamp = type("T", (), {"sec": int(stamp), "nanosec": int(round((stamp % 1) * 1e9))})
        self.header.frame_id = frame_id
        self.encoding, self.height, self.width, self.is_bigendian = encoding, 2, 3, 0
        self.step = 6
        self.data = np.full((2, 3), value, np.uint16).tobytes()


def _input():
    said = []
    return DepthInput(slop_s=0.02, queue_size=4, warn=said.append, info=said.append), said


def test_the_nearest_depth_within_the_slop_in_the_colour_frame_is_taken():
    depth, said = _input()
    for t in (10.0, 10.033, 10.066):
        depth.add(Msg(t, value=int(t * 1000) % 1000))
    got = depth.match(10.040, "cam", 0.0)
    assert got is not None and got.stamp == pytest.approx(10.033)
    assert got.metres()[0, 0] == pytest.approx(0.033)
    assert depth.slop_ms()[1] == pytest.approx(7.0, abs=0.01)
    assert depth.match(10.110, "cam", 0.0) is None          # 44 ms from the nearest
    assert sum("depth.slop_s" in s for s in said) == 1
    assert depth.match(10.033, "other_cam", 0.0) is None    # not registered
    assert depth.match(10.033, "other_cam", 1.0) is None    # throttled: said once
    assert sum("is not the colour image's" in s for s in said) == 1


def test_a_late_depth_image_is_waited_for_and_a_stopped_stream_is_said():
    depth, said = _input()
    depth.add(Msg(5.0))
    threading.Timer(0.01, lambda: depth.add(Msg(5.033))).start()
    t = time.monotonic()
    got = depth.match(5.033, "cam", 0.0)
    assert got is not None and got.stamp == pytest.approx(5.033)
    assert time.monotonic() - t < 0.5
    assert depth.match(7.0, "cam", 0.0) is None   # 2 s without depth: stopped, no wait
    assert sum("stopped" in s for s in said) == 1
    depth.add(Msg(7.1))
    assert depth.match(7.1, "cam", 0.0) is not None
    assert sum("are back" in s for s in said) == 1


def test_bad_encoding_is_said_once():
    depth, said = _input()
    depth.add(Msg(1.0, encoding="mono16"))
    assert depth.match(1.0, "cam", 0.0) is None and depth.match(1.0, "cam", 0.0) is None
    assert sum("not a REP-118 depth image" in s for s in said) == 1


def test_raw_image_reads_the_cdr_bytes_rclpy_writes():
    pytest.importorskip("rclpy")
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    from faceverse_ros.ros.cdr import RawImage

    m = Image(height=3, width=5, encoding="16UC1", step=10, is_bigendian=0)
    m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id = 12, 345, "cam_x"
    m.data = bytes(range(30))
    r = RawImage(serialize_message(m))
    assert (r.header.stamp.sec, r.header.stamp.nanosec, r.header.frame_id) == (12, 345, "cam_x")
    assert (r.height, r.width, r.encoding, r.is_bigendian, r.step) == (3, 5, "16UC1", 0, 10)
    assert r.data.tolist() == list(range(30))
    with pytest.raises(ValueError, match="end early|holds"):
        RawImage(serialize_message(m)[:-10])


def test_a_depth_camera_info_of_another_camera_is_refused_once():
    depth, said = _input()
    depth.add(Msg(3.0))
    colour_k = [600.0, 0, 320.0, 0, 600.0, 240.0, 0, 0, 1]
    info = type("Info", (), {"k": [300.0, 0, 160.0, 0, 300.0, 120.0, 0, 0, 1], "width": 320,
                             "height": 240})
    depth.set_camera_info(info)   # the same camera at half size: accepted
    assert depth.match(3.0, "cam", 0.0, (colour_k, (640, 480)), (640, 480)) is not None
    info.k = [420.0, 0, 160.0, 0, 420.0, 120.0, 0, 0, 1]   # another lens
    depth.set_camera_info(info)
    for _ in range(2):
        assert depth.match(3.0, "cam", 0.0, (colour_k, (640, 480)), (640, 480)) is None
    assert sum("not the same camera" in s for s in said) == 1
