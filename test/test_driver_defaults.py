"""A camera driver started the usual way, apart from this package (its own shell or launch,
Fast DDS's defaults, no profile), publishing best-effort 640x480 and 1280x720 rgb8 frames at
30 Hz to the node in another process: either at least 95 % of the frames arrive, or the node
says within 5 s of the first frame that frames are being lost, once, with the fix for this
installation (the variable this Fast DDS reads and the shipped profile's path). About 25 s
per size.

The rule behind the warning (ros/transport.py FrameLossMonitor) is checked on its own below
with hand-made counts."""
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import ROOT

rclpy = pytest.importorskip("rclpy", reason="the node needs rclpy (run ./scripts/setup.sh)")

from faceverse_ros.ros import transport  # noqa: E402

CLI = Path(sys.prefix) / "bin" / "faceverse-ros"
PROFILE_VARS = (transport.FASTDDS_VAR, transport.FASTRTPS_VAR, transport.QOS_FROM_XML_VAR,
                transport.SWITCH_VAR)
WARNING = re.compile(r"\[WARN\] \[(\d+\.\d+)\] \[faceverse_node\]: image frames are being lost"
                     r"[^\n]*")
FRAMES = 150


def _without_profiles():
    return {k: v for k, v in os.environ.items() if k not in PROFILE_VARS}


class _Diagnostics:
    """The node's received_frames counter, read from /diagnostics in this process."""

    def __init__(self, context):
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor

        self.received = 0
        self.node = rclpy.create_node("driver_defaults_probe", context=context)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on, 10)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.running = True
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _on(self, msg):
        for status in msg.status:
            for kv in status.values:
                if kv.key == "received_frames":
                    self.received = max(self.received, int(kv.value))

    def _spin(self):
        while self.running:
            self.executor.spin_once(timeout_sec=0.1)

    def close(self):
        self.running = False
        self.thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()


@pytest.mark.parametrize("size", ["640x480", "1280x720"])
def test_default_driver_frames_arrive_or_the_loss_is_said(size, rclpy_context):
    if not CLI.exists():
        pytest.skip("run ./scripts/setup.sh (colcon install)")
    width, height = size.split("x")
    env = _without_profiles()
    node = subprocess.Popen(
        [str(CLI), "node", "--localhost", "--set", "landmark_only=true", "--set",
         "diagnostics.period_s=0.5", "--ros-args", "-r", "image:=/image", "-r",
         "camera_info:=/camera_info"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    log = []
    reader = threading.Thread(target=lambda: log.extend(iter(node.stdout.readline, "")),
                              daemon=True)
    reader.start()
    probe = None
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not any("[node] running" in ln for ln in log):
            assert node.poll() is None, "".join(log)[-3000:]
            time.sleep(0.2)
        assert any("[node] running" in ln for ln in log), "".join(log)[-3000:]
        probe = _Diagnostics(rclpy_context)
        pub = subprocess.run([sys.executable, str(ROOT / "test" / "sized_camera_pub.py"), width,
                              height, str(FRAMES), "30"], env=env, capture_output=True,
                             text=True, timeout=120)
        assert pub.returncode == 0, pub.stderr[-2000:]
        first = json.loads(pub.stdout.strip().splitlines()[-1])["first_frame_time"]
        time.sleep(2.0)   # the last diagnostics
    finally:
        if probe is not None:
            probe.close()
        if node.poll() is None:
            os.killpg(node.pid, 2)
        try:
            node.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, 9)
            node.wait()
        reader.join(timeout=5)
    text = "".join(log)
    warnings = WARNING.findall(text)
    said = [m for m in WARNING.finditer(text)]
    if probe.received >= 0.95 * FRAMES and not said:
        return   # the frames arrive: nothing to say
    assert len(said) == 1, f"received {probe.received} of {FRAMES}, warnings {warnings}\n" + text[-3000:]
    delay = float(said[0].group(1)) - first
    assert delay <= 5.0, (delay, said[0].group(0))
    line = said[0].group(0)
    var = transport.profile_variables()[0]
    assert f"{var}={transport.shipped_profile().resolve()}" in line, line
    assert f"{transport.QOS_FROM_XML_VAR}=1" in line, line


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _monitor():
    clock = _Clock()
    return transport.FrameLossMonitor("/camera/image_raw", fix="FIX.", clock=clock), clock


def test_loss_rule_from_lost_events():
    m, clock = _monitor()
    for _ in range(97):   # 97 arrived, 3 lost: 3 % of 100
        m.add("received")
    m.add("lost", 3)
    assert m.check() is None
    m, clock = _monitor()
    for _ in range(95):
        m.add("received")
    m.add("lost", 5)      # 5 of 100: said
    said = m.check()
    assert said == ("image frames are being lost before they reach the node: 5 of 100 on "
                    "/camera/image_raw in the last 5 s. FIX.")
    m.add("lost", 50)
    assert m.check() is None and m.said == said       # once


def test_loss_rule_forgets_old_counts():
    m, clock = _monitor()
    m.add("lost", 10)
    clock.now += 5.5      # 5.5 s later the window holds none of them
    for _ in range(20):
        m.add("received")
    assert m.check() is None


def test_loss_rule_from_camera_info_without_lost_events():
    m, clock = _monitor()
    for _ in range(30):   # 30 camera_info, 0 images: a best-effort publisher's frames lost
        m.add("camera_info")
    assert m.check(publishers=0) is None   # no image publisher: a wrong topic, not a loss
    assert m.check(publishers=1).startswith("image frames are being lost before they reach "
                                            "the node: 30 of 30 ")
    m, clock = _monitor()
    for _ in range(30):
        m.add("camera_info")
    for _ in range(20):   # the node's own keep-last queue drops a few: no warning
        m.add("received")
    assert m.check(publishers=1) is None


@pytest.mark.parametrize("environ, var", [
    ({"ROS_DISTRO": "jazzy"}, "FASTRTPS_DEFAULT_PROFILES_FILE"),
    ({"ROS_DISTRO": "humble"}, "FASTRTPS_DEFAULT_PROFILES_FILE"),
    ({"ROS_DISTRO": "kilted"}, "FASTDDS_DEFAULT_PROFILES_FILE"),
])
def test_the_fix_names_the_variable_this_fast_dds_reads(environ, var):
    fix = transport.driver_fix(environ)
    assert f"{var}=" in fix and "RMW_FASTRTPS_USE_QOS_FROM_XML=1" in fix
    other = ({"FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"} - {var}).pop()
    assert other not in fix
    assert "reliable" in transport.driver_fix({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"})
