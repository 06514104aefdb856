"""Does the node's memory follow the work? RSS after big frames against a small-frame run.

Starts `faceverse-ros node` (landmark-only, or the SYNTHETIC FaceVerse files with
--faceverse) in a process of its own and publishes sensor_msgs/Image to it over DDS
(loopback), two phases per run:

  big-then-small  --big-seconds of --big frames, then --small-seconds of --small frames
  small-only      --big-seconds + --small-seconds of --small frames

each at --rate Hz, the shared talking video tiled --faces times into the frame
(faceverse-ros bench --faces). It samples the node's VmRSS every second and prints
both runs' RSS at the end, their ratio (the goal: within 15 %), and the peak.
--checkout DIR runs the node of another source checkout (its .venv), for an A/B
against older code in the same invocation; the runs alternate.

    .venv/bin/python bench/bench_memory.py [--faceverse] [--runs 1] [--json FILE]
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
os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def node_command(checkout, faceverse, faces):
    python = str(Path(checkout) / ".venv" / "bin" / "python")
    cmd = [python, "-m", "faceverse_ros.cli.main", "node", "--localhost",
           "--set", f"max_faces={faces}"]
    if not faceverse:
        return cmd + ["--set", "landmark_only=true"]
    from faceverse_ros.cli.synthetic_assets import synthetic_assets

    a = synthetic_assets()
    return cmd + ["--set", f"model_path={a.model_path}", "--set",
                  f"checkpoint_path={a.checkpoint_path}"]


def one_run(args, checkout, phases, images):
    """Start the node from `checkout`, publish `phases` [(size, seconds)], sample RSS."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from faceverse_ros.msg import FaceVerseParamsArray
    from faceverse_ros.ros.node import SENSOR_QOS

    proc = subprocess.Popen(node_command(checkout, args.faceverse, args.faces),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=checkout)
    node = rclpy.create_node("memory_bench")
    pub = node.create_publisher(Image, "image", SENSOR_QOS)
    got = []
    node.create_subscription(FaceVerseParamsArray, "faceverse/params",
                             lambda m: got.append(len(m.faces)), 50)
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    deadline = time.monotonic() + 180
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        ex.spin_once(timeout_sec=0.2)
        if proc.poll() is not None:
            sys.exit("the node exited:\n" + proc.stderr.read()[-2000:])
    samples = []  # (phase, t, rss)
    for phase, (size, seconds) in enumerate(phases):
        msgs = images[size]
        start = next_pub = next_sample = time.monotonic()
        k = 0
        while time.monotonic() < start + seconds:
            now = time.monotonic()
            if now >= next_pub:
                msg = msgs[k % len(msgs)]
                msg.header.stamp = node.get_clock().now().to_msg()
                msg.header.frame_id = "camera_optical_frame"
                pub.publish(msg)
                k += 1
                next_pub += 1.0 / args.rate
            if now >= next_sample:
                samples.append((phase, now - start, rss_mb(proc.pid)))
                next_sample += 1.0
            ex.spin_once(timeout_sec=max(0.0, min(0.005, next_pub - time.monotonic())))
    final = rss_mb(proc.pid)
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    ex.remove_node(node)
    node.destroy_node()
    return dict(final_mb=final, peak_mb=max(s[2] for s in samples), params=len(got),
                faces=float(np.median(got)) if got else 0.0, samples=samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(ROOT.parent / "shared/testdata/video/talking_256.mp4"))
    ap.add_argument("--big", default="4096x2160")
    ap.add_argument("--small", default="640x480")
    ap.add_argument("--big-seconds", type=float, default=20.0)
    ap.add_argument("--small-seconds", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--faces", type=int, default=1)
    ap.add_argument("--faceverse", action="store_true", help="SYNTHETIC FaceVerse files")
    ap.add_argument("--checkout", action="append", default=None,
                    help="source checkout(s) whose node to run (default: this one)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    import rclpy

    from faceverse_ros.cli.bench import load_scene
    from faceverse_ros.ros.convert import rgb_to_image

    images = {size: [rgb_to_image(f) for f in load_scene(args.video, 20, size, args.faces)[0].frames]
              for size in (args.big, args.small)}
    plans = {"big-then-small": [(args.big, args.big_seconds), (args.small, args.small_seconds)],
             "small-only": [(args.small, args.big_seconds + args.small_seconds)]}
    checkouts = args.checkout or [str(ROOT)]
    print(f"[bench_memory] load {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs, "
          f"{'SYNTHETIC FaceVerse files' if args.faceverse else 'landmark-only'}, "
          f"{args.faces} face(s), {args.rate:g} Hz")
    from faceverse_ros.ros.transport import apply_profile

    # this process sends the frames: its shared-memory segment must hold one (as the
    # launch file gives the camera driver)
    print(f"[bench_memory] DDS: {apply_profile()}")
    rclpy.init()
    rows = []
    for run in range(args.runs):
        for checkout in checkouts:  # alternate: load changes hit every checkout alike
            for plan, phases in plans.items():
                r = one_run(args, checkout, phases, images)
                r.update(checkout=checkout, plan=plan, run=run)
                rows.append(r)
                print(f"  {checkout} {plan:<15} RSS end {r['final_mb']:7.1f} MB, peak "
                      f"{r['peak_mb']:7.1f} MB, {r['params']} params, faces {r['faces']:.1f}",
                      flush=True)
    rclpy.shutdown()
    for checkout in checkouts:
        mine = [r for r in rows if r["checkout"] == checkout]
        ratios = [a["final_mb"] / b["final_mb"] for a, b in
                  zip([r for r in mine if r["plan"] == "big-then-small"],
                      [r for r in mine if r["plan"] == "small-only"])]
        print(f"{checkout}: RSS after big-then-small / small-only: "
              f"{np.median(ratios):.2f} (runs: {', '.join(f'{x:.2f}' for x in ratios)})")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
