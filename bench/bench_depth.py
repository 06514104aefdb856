"""Depth over DDS: colour only vs colour + registered depth, image published -> params received.

Starts `faceverse-ros node` (landmark-only) in a second process and, in this process (with
the shipped Fast DDS profile, as the node uses), publishes the shared video scaled to
640x480 rgb8 at --rate Hz, and in the second scenario also a 640x480 16UC1 depth image
with the same stamp and frame_id, sent after the colour image (a plane 10 % behind the colour-only head distance, so
that every face is depth-measured). The node runs once per scenario: depth.enabled false,
then true. Latency = receive time minus the image's header stamp (one clock). Printed per
scenario: params rate, p50 / p95 latency, the share of faces depth-measured; then the
ratios colour+depth / colour-only.

Also, in this process, the depth path's own stages per frame or face (median of --repeat
runs on a 640x480 16UC1 image of a head at 1 m, test/depth_scene.py): decoding the message
(io.image_msgs.depth_image), matching by stamp (io.depth_input), the per-face measurement
and fusion (tracking.face_depth.TrackDepth.fuse, which includes
landmarks.landmark_depth.measure_face).

    .venv/bin/python bench/bench_depth.py [--seconds 15] [--rate 30] [--rounds 1] [--repeat 500]
        [--json FILE]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_LOCALHOST_ONLY"] = "1"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))  # our own DDS domain

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))   # the known-geometry head (test-only code)

SIZE = (640, 480)
FRAME_ID = "camera_color_optical_frame"


def stage_costs(repeat):
    """Median ms of the depth stages (module doc)."""
    from depth_scene import INTRINSICS, Head, to_16uc1
    from sensor_msgs.msg import Image

    from faceverse_ros.landmarks.landmark_pose import estimate_head_pose
    from faceverse_ros.io.depth_input import DepthInput
    from faceverse_ros.io.image_msgs import depth_image
    from faceverse_ros.tracking.face_depth import TrackDepth

    head = Head(63.0, (0.05, 0.0, 1.0), yaw=0.2)
    lm = head.landmarks()
    pose = estimate_head_pose(lm, INTRINSICS)
    pixels = to_16uc1(head.depth(wall_m=2.0))
    msg = Image(height=SIZE[1], width=SIZE[0], encoding="16UC1", is_bigendian=0, step=SIZE[0] * 2)
    msg.data = pixels.tobytes()
    msg.header.frame_id = FRAME_ID
    matcher = DepthInput(0.02, 10, warn=lambda m: None, info=lambda m: None)
    for k in range(10):
        msg.header.stamp.sec = k
        matcher.add(msg)
    track = TrackDepth()
    times = {"decode (per frame)": [], "match (per frame)": [], "measure + fuse (per face)": []}
    depth = depth_image(msg)
    for _ in range(repeat):
        t0 = time.perf_counter()
        depth_image(msg)
        t1 = time.perf_counter()
        matcher.match(9.0, FRAME_ID, 0.0)
        t2 = time.perf_counter()
        fusion = track.fuse(depth, SIZE, lm, pose)
        t3 = time.perf_counter()
        times["decode (per frame)"].append(t1 - t0)
        times["match (per frame)"].append(t2 - t1)
        times["measure + fuse (per face)"].append(t3 - t2)
        track = TrackDepth() if len(track._scales) > 50 else track
    assert fusion.measured
    return {k: float(np.median(v) * 1000.0) for k, v in times.items()}


def run_scenario(args, frames, depth_m, name):
    """Start the node (depth.enabled when depth_m is not None), publish for args.seconds."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from faceverse_ros.msg import FaceVerseParamsArray
    from faceverse_ros.ros.convert import rgb_to_image
    from faceverse_ros.ros.node import SENSOR_QOS

    with_depth = depth_m is not None
    cmd = [sys.executable, "-m", "faceverse_ros.cli.main", "node", "--localhost",
           "--set", "landmark_only=true", "--set", f"depth.enabled={'true' if with_depth else 'false'}"]
    node_proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                 cwd=ROOT)
    bench = rclpy.create_node("faceverse_depth_bench")
    pub = bench.create_publisher(Image, "image", SENSOR_QOS)
    dpub = bench.create_publisher(Image, "depth/image", SENSOR_QOS)
    images = [rgb_to_image(f) for f in frames]
    depth_msg = None
    if with_depth:
        pixels = np.full((SIZE[1], SIZE[0]), int(round(depth_m * 1000)), np.uint16)
        depth_msg = Image(height=SIZE[1], width=SIZE[0], encoding="16UC1", is_bigendian=0,
                          step=SIZE[0] * 2)
        depth_msg.data = pixels.tobytes()
    received = []
    bench.create_subscription(
        FaceVerseParamsArray, "faceverse/params",
        lambda m: received.append((time.time(), m.header.stamp, [f.head_pose.position.z for f in m.faces],
                                   [f.depth_measured for f in m.faces])), 50)
    executor = SingleThreadedExecutor()
    executor.add_node(bench)

    def spin_for(seconds, publish=False):
        end = time.monotonic() + seconds
        next_pub, k, sent = time.monotonic(), 0, 0
        while time.monotonic() < end:
            if publish and time.monotonic() >= next_pub:
                stamp = bench.get_clock().now().to_msg()
                msg = images[k % len(images)]
                msg.header.stamp, msg.header.frame_id = stamp, FRAME_ID
                pub.publish(msg)
                if depth_msg is not None:   # after the colour image, as an aligning driver
                    depth_msg.header.stamp, depth_msg.header.frame_id = stamp, FRAME_ID
                    dpub.publish(depth_msg)
                sent, k = sent + 1, k + 1
                next_pub += 1.0 / args.rate
            executor.spin_once(timeout_sec=max(0.0, min(0.005, next_pub - time.monotonic())))
        return sent

    deadline = time.monotonic() + 180
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        spin_for(0.2)
        if node_proc.poll() is not None:
            sys.exit("the node exited:\n" + node_proc.stderr.read()[-2000:])
    if with_depth:
        while dpub.get_subscription_count() == 0 and time.monotonic() < deadline:
            spin_for(0.2)
    spin_for(3.0, publish=True)   # warm-up
    received.clear()
    sent = spin_for(args.seconds, publish=True)
    spin_for(0.5)
    lat = np.array([(t - (s.sec + s.nanosec * 1e-9)) * 1000.0 for t, s, _, _ in received])
    zs = [v for _, _, z, _ in received for v in z]
    measured = [d for _, _, _, ds in received for d in ds]
    row = dict(scenario=name, sent=sent, received=len(received), fps=len(received) / args.seconds,
               p50_ms=float(np.percentile(lat, 50)) if len(lat) else None,
               p95_ms=float(np.percentile(lat, 95)) if len(lat) else None,
               faces=len(zs), median_z_m=float(np.median(zs)) if zs else None,
               depth_measured_share=float(np.mean(measured)) if measured else 0.0)
    node_proc.terminate()
    try:
        node_proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        node_proc.kill()
    executor.remove_node(bench)
    bench.destroy_node()
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(ROOT.parent / "shared/testdata/video/talking_256.mp4"))
    ap.add_argument("--seconds", type=float, default=15.0, help="per scenario")
    ap.add_argument("--rate", type=float, default=30.0, help="image rate (Hz)")
    ap.add_argument("--repeat", type=int, default=500, help="runs of each depth stage")
    ap.add_argument("--rounds", type=int, default=1, help="colour-only and colour+depth runs "
                    "alternated this many times (a loaded machine: compare the medians)")
    ap.add_argument("--json", default=None, metavar="FILE")
    args = ap.parse_args()
    import cv2

    from faceverse_ros.io.sources import FrameSource
    from faceverse_ros.ros import transport

    print(f"[bench_depth] {transport.apply_profile()}")
    load = os.getloadavg()[0]
    print(f"[bench_depth] {os.cpu_count()} CPUs, load average at start {load:.1f}")
    costs = stage_costs(args.repeat)
    for stage, ms in costs.items():
        print(f"  depth stage {stage:<28} median {ms:.3f} ms")
    import rclpy

    frames = [cv2.resize(f.rgb, SIZE, interpolation=cv2.INTER_LINEAR) for f in FrameSource(args.video)]
    rclpy.init()
    rows, z = [], None
    for k in range(args.rounds):
        rows.append(run_scenario(args, frames, None, "colour only"))
        z = z or rows[-1]["median_z_m"] or 0.5
        rows.append(run_scenario(args, frames, 1.1 * z, "colour + depth 16UC1"))
        for r in rows:
            r.setdefault("round", k)
    rclpy.shutdown()
    print(f"{'round':>5} {'scenario':<22} {'sent':>6} {'recv':>6} {'fps':>7} {'p50 ms':>8} "
          f"{'p95 ms':>8} {'median z':>9} {'depth share':>12}")
    for r in rows:
        print(f"{r['round']:5d} {r['scenario']:<22} {r['sent']:6d} {r['received']:6d} {r['fps']:7.1f} "
              f"{r['p50_ms'] or float('nan'):8.1f} {r['p95_ms'] or float('nan'):8.1f} "
              f"{r['median_z_m'] or float('nan'):9.3f} {r['depth_measured_share']:12.2f}")

    def median(scenario, key):
        return float(np.median([r[key] or float("nan") for r in rows if r["scenario"] == scenario]))

    base, depth = "colour only", "colour + depth 16UC1"
    print(f"  medians over {args.rounds} round(s), colour+depth / colour-only: params fps "
          f"{median(depth, 'fps') / median(base, 'fps'):.2f}, p50 latency "
          f"{median(depth, 'p50_ms') / median(base, 'p50_ms'):.2f}, p95 latency "
          f"{median(depth, 'p95_ms') / median(base, 'p95_ms'):.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(stages_ms=costs, scenarios=rows, load_avg=load,
                                                   rate_hz=args.rate), indent=1) + "\n")
        print(f"[bench_depth] wrote {args.json}")


if __name__ == "__main__":
    main()
