"""Camera frames from another process reach the node (issue 16): with the shipped Fast DDS
profile, at least 95% of 640x480 and 1280x720 rgb8 frames published at 30 Hz by a reliable and
by a best-effort publisher in a separate process are received by the node (its own image
subscription, landmark-only). Runs bench/bench_delivery.py: the publisher and the node each in
a process of their own; about 50 s.

A loaded CI machine can starve the node's executor for a moment (a frame replaced in the
keep-last-1 queue before it is taken), so a size/publisher pair below 95% gets one more run of
60 frames. Without the profile (bench_delivery.py, medians of 3 runs) best effort delivered
5-38% at 640x480 and 3-18% at 1280x720, reliable 45-78% at 1280x720, so a second chance
does not hide a transport that fails; a reliable publisher at 640x480 gets through without
the profile too (98-100%, at 12 ms p50 instead of 2 ms).
"""
import json
import os
import subprocess
import sys

from helpers import ROOT

SIZES = ("640x480", "1280x720")
KINDS = ("reliable", "best_effort")
FRAMES = 60


def run_bench(tmp_path, sizes, kinds, name):
    out = tmp_path / f"{name}.json"
    cmd = [sys.executable, str(ROOT / "bench" / "bench_delivery.py"), "--receiver", "node",
           "--sizes", ",".join(sizes), "--encodings", "rgb8", "--publishers", ",".join(kinds),
           "--profiles", "shipped", "--runs", "1", "--frames", str(FRAMES), "--json", str(out)]
    env = {k: v for k, v in os.environ.items()
           if k not in ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE",
                        "FACEVERSE_DDS_PROFILE")}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stderr


def test_shipped_profile_delivers_large_frames_between_processes(tmp_path):
    rows, log = run_bench(tmp_path, SIZES, KINDS, "first")
    assert sorted((r["size"], r["publisher"]) for r in rows) == sorted(
        (s, k) for s in SIZES for k in KINDS)
    for r in rows:
        assert r["published"] == FRAMES, r
        assert r["latency_p50_ms"] < 1000.0, r      # stamps are the publisher's, one clock
    for r in [r for r in rows if r["delivery"] < 0.95]:
        again, log2 = run_bench(tmp_path, [r["size"]], [r["publisher"]], f"again_{r['size']}")
        assert again[0]["delivery"] >= 0.95, (
            f"{r['size']} {r['publisher']}: {r['received']} then {again[0]['received']} of "
            f"{FRAMES} received\n{log[-1500:]}\n{log2[-1500:]}")


NODE_SCRIPT = r"""
import json, subprocess, sys, threading, time
from faceverse_ros.ros import transport
transport.apply_profile()
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from faceverse_ros.ros.node import FaceVerseNode

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

rclpy.init()
node = FaceVerseNode(parameter_overrides=[Parameter("landmark_only", value=True)])
executor = SingleThreadedExecutor()
executor.add_node(node)
threading.Thread(target=executor.spin, daemon=True).start()
publish = lambda seq: subprocess.run([sys.executable, "-c", sys.argv[1], seq], check=True, timeout=120)
publish("s:20")
time.sleep(1.0)
baseline = rss_mb()
publish("b:3,s:20")
time.sleep(1.0)
after = rss_mb()
print(json.dumps(dict(baseline=baseline, after=after, counts=node.counts.snapshot())))
executor.shutdown()
node.destroy_node()
rclpy.try_shutdown()
"""

PUBLISHER_SCRIPT = r"""
import sys, time
from faceverse_ros.ros import transport
transport.apply_profile()
import rclpy
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image

rclpy.init()
node = rclpy.create_node("huge_frame_camera")
pub = node.create_publisher(Image, "image", QoSProfile(depth=1))
while pub.get_subscription_count() == 0:
    time.sleep(0.05)
time.sleep(0.5)
def image(w, h):
    m = Image(height=h, width=w, encoding="rgb8", step=w * 3, data=bytes(w * h * 3))
    m.header.frame_id = "camera"
    return m
small = image(640, 480)
for part in sys.argv[1].split(","):
    kind, count = part.split(":")
    msg = small if kind == "s" else image(7680, 4320)   # 8K rgb8: 99.5 MB
    for _ in range(int(count)):
        pub.publish(msg)
        time.sleep(0.1 if kind == "s" else 1.5)   # time for the 1500 fragments of an 8K frame
time.sleep(1.0)
"""


def test_memory_comes_back_after_one_8k_frame():
    """7680x4320 frames from another process (refused by input.max_pixels): the node's RSS
    returns to its level. With rmw_fastrtps's own reader memory policy the reader kept buffers
    of the largest frame: +126 MB measured; what remains is the camera's shared-memory segment
    mapped in (at most its 32 MiB)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE",
                        "FACEVERSE_DDS_PROFILE", "RMW_FASTRTPS_USE_QOS_FROM_XML")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-c", NODE_SCRIPT, PUBLISHER_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 1 <= out["counts"]["bad"] <= 3     # 8K frames arrived (of 3 sent) and were refused
    assert out["counts"]["processed"] >= 35   # the small ones went through
    assert out["after"] - out["baseline"] < 48.0, out
