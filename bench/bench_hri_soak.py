"""Soak of the ROS4HRI topics: faces appearing and disappearing for thousands of frames.

Starts `faceverse-ros node` (landmark-only) in a second process and, in this
process, publishes --frames images alternating a face photo and an empty
(black) frame: every face frame creates that face's /humans/faces/<id>/...
publishers and every empty frame destroys them; with tracker.max_missed 0
(default here) every appearance is a new face id, so 2500 distinct faces. Each frame is sent once the
node's /humans/faces/tracked answer for the previous one has arrived (one
frame in flight, none dropped). Every --every frames it prints the node
process's resident memory (VmRSS from /proc) and the number of publishers the
node has (from the ROS graph, taken right after an empty frame and right after
a face frame), then the first/last ratio and the growth per 1000 frames after
a warm-up of the first --warmup frames.

    .venv/bin/python bench/bench_hri_soak.py [--frames 5000] [--every 500] [--warmup 1000]

The reference for what rclpy itself costs: ``--mode rclpy`` creates and destroys
four sensor_msgs/Image publishers per face under /humans/faces/<id>/ in this
process, with no faceverse code, for --frames / 2 faces (new names each time),
once in the node's default callback group and once with a callback group per
face (what faceverse_ros/ros/hri.py does), and prints the RSS growth per 1000
faces of each.
"""
import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "test")]
from helpers.dds import pin_loopback  # noqa: E402

pin_loopback()  # before rclpy is imported

import cv2  # noqa: E402
import numpy as np  # noqa: E402



def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS")


def rclpy_reference(faces):
    import rclpy
    from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("rclpy_churn")
    warm = faces // 5
    for own_group in (False, True):
        start = None
        for k in range(faces + warm):
            if k == warm:
                start = rss_mb(os.getpid())
            group = MutuallyExclusiveCallbackGroup() if own_group else None
            pubs = [node.create_publisher(Image, f"/humans/faces/{'g' if own_group else 'd'}{k}/{s}",
                                          1, callback_group=group)
                    for s in ("roi", "cropped", "aligned", "landmarks")]
            for pub in pubs:
                node.destroy_publisher(pub)
        growth = (rss_mb(os.getpid()) - start) / faces * 1000
        print(f"bare rclpy, {faces} faces x 4 publishers created and destroyed, "
              f"{'a callback group per face' if own_group else 'the default callback group'}: "
              f"RSS {growth:+.2f} MB per 1000 faces", flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=5000)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--max-missed", type=int, default=0,
                    help="tracker.max_missed of the node: 0 (default) gives every appearance a new "
                    "face id (thousands of faces); 5 (the node's default) keeps one id")
    ap.add_argument("--photo", default=str(ROOT.parent / "shared/testdata/faces/portrait_small.jpg"))
    ap.add_argument("--mode", choices=("node", "rclpy"), default="node")
    args = ap.parse_args()
    if args.mode == "rclpy":
        rclpy_reference(args.frames // 2)
        return

    import rclpy
    from sensor_msgs.msg import Image

    from hri_msgs.msg import IdsList
    from faceverse_ros.ros.convert import rgb_to_image
    from faceverse_ros.ros.node import SENSOR_QOS
    from helpers.spin import SpinThread

    bgr = cv2.imread(args.photo)
    if bgr is None:
        raise SystemExit(f"bench_hri_soak: cannot read {args.photo}")
    face = cv2.cvtColor(cv2.resize(bgr, (240, 320), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    empty = np.zeros_like(face)
    face_msg, empty_msg = rgb_to_image(face), rgb_to_image(empty)

    proc = subprocess.Popen([sys.executable, "-m", "faceverse_ros.cli.main", "node", "--localhost",
                             "--set", "landmark_only=true", "--set", "smoother.kind=none",
                             "--set", f"tracker.max_missed={args.max_missed}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rclpy.init()
    peer = rclpy.create_node("hri_soak_peer")
    pub = peer.create_publisher(Image, "image", SENSOR_QOS)
    answered, ids_seen, lock = {}, set(), threading.Lock()

    def on_tracked(msg):
        with lock:
            answered[msg.header.stamp.sec] = list(msg.ids)
            ids_seen.update(msg.ids)

    peer.create_subscription(IdsList, "/humans/faces/tracked", on_tracked, 10)
    spin = SpinThread(peer, period_s=0.01)

    def node_publishers():
        try:
            return len(peer.get_publisher_names_and_types_by_node("faceverse_node", "/"))
        except Exception:  # noqa: BLE001 - not discovered yet
            return -1

    def send(sec, msg, timeout=30.0):
        msg.header.stamp.sec, msg.header.frame_id = sec, "soak_camera"
        deadline = time.monotonic() + timeout
        resend = time.monotonic() + 1.0
        pub.publish(msg)
        while sec not in answered:
            if time.monotonic() > deadline:
                raise SystemExit(f"bench_hri_soak: no answer for frame {sec}")
            if time.monotonic() > resend:  # best-effort camera QoS: a lost frame is sent again
                pub.publish(msg)
                resend = time.monotonic() + 1.0
            time.sleep(0.001)
        return answered[sec]

    try:
        start = time.monotonic()
        while pub.get_subscription_count() == 0:
            if time.monotonic() - start > 120 or proc.poll() is not None:
                raise SystemExit("bench_hri_soak: the node did not start")
            time.sleep(0.1)
        rows = []
        faces_found = 0
        t0 = time.monotonic()
        for k in range(1, args.frames + 1):
            ids = send(k, face_msg if k % 2 else empty_msg)
            faces_found += bool(ids)
            if k % args.every == 0:   # k even: right after an empty frame
                time.sleep(0.5)       # let the graph settle before counting
                after_empty = node_publishers()
                rows.append((k, rss_mb(proc.pid), after_empty))
                print(f"frame {k:5d}  node RSS {rows[-1][1]:7.1f} MB  node publishers after an "
                      f"empty frame {after_empty:3d}  faces so far {faces_found}  "
                      f"{(time.monotonic() - t0) / k * 1000:.1f} ms/frame", flush=True)
        sec = args.frames + 1
        send(sec, face_msg)
        time.sleep(0.5)
        with_face = node_publishers()
        print(f"publishers with one face in view: {with_face}; after an empty frame: "
              f"{rows[-1][2]} (REP-155 per face: roi, cropped, aligned, landmarks)")
        print(f"face frames answered with a face: {faces_found} of {(args.frames + 1) // 2}; "
              f"distinct ids over the run: {len(ids_seen)}")
        warm = [r for r in rows if r[0] >= args.warmup] or rows
        first, last = warm[0], warm[-1]
        per_k = (last[1] - first[1]) / max(last[0] - first[0], 1) * 1000
        pubs = sorted({r[2] for r in rows})
        print(f"RSS after warm-up (frame {first[0]}): {first[1]:.1f} MB; at frame {last[0]}: "
              f"{last[1]:.1f} MB; ratio {last[1] / first[1]:.3f}; growth {per_k:+.2f} MB per 1000 "
              f"frames; median RSS {np.median([r[1] for r in warm]):.1f} MB")
        print(f"node publisher counts seen after empty frames: {pubs}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        spin.close()
        peer.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
