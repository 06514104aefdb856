"""Cost of face recognition in the node over DDS: params fps with identity.enabled on / off.

Starts `faceverse-ros node` in a second process (bench_node's configurations: synthetic
FaceVerse files with ONNX Runtime int8 and keyframes every 5 frames, or --landmark-only),
publishes the shared video as sensor_msgs/Image at --rate Hz and counts the
FaceVerseParamsArray messages received per second, and the faces in them. One face: the
video as it is; four faces: the video tiled 2x2 (512x512, max_faces 4). Each configuration
runs --repeats times, alternating off and on, and the medians are compared.

    .venv/bin/python bench/bench_identity.py [--seconds 20] [--rate 30] [--faces 1,4]
        [--landmark-only] [--repeats 2] [--json FILE]
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
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "test"))


def run_once(args, images, identity, faces):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from bench_node import node_command
    from faceverse_ros.msg import FaceVerseParamsArray
    from faceverse_ros.ros.node import SENSOR_QOS

    cmd = node_command(args) + ["--set", f"identity.enabled={'true' if identity else 'false'}",
                                "--set", f"max_faces={faces}", "--set", "publish.mesh=false"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    bench = rclpy.create_node("identity_bench")
    pub = bench.create_publisher(Image, "image", SENSOR_QOS)
    received = []
    bench.create_subscription(FaceVerseParamsArray, "faceverse/params",
                              lambda m: received.append((len(m.faces),
                                                         sum(bool(f.person_id) for f in m.faces))),
                              50)
    executor = SingleThreadedExecutor()
    executor.add_node(bench)

    def spin_for(seconds, publish=False):
        end = time.monotonic() + seconds
        next_pub, k = time.monotonic(), 0
        while time.monotonic() < end:
            if publish and time.monotonic() >= next_pub:
                msg = images[k % len(images)]
                msg.header.stamp = bench.get_clock().now().to_msg()
                msg.header.frame_id = "camera_optical_frame"
                pub.publish(msg)
                k += 1
                next_pub += 1.0 / args.rate
            executor.spin_once(timeout_sec=max(0.0, min(0.005, next_pub - time.monotonic())))

    deadline = time.monotonic() + 180
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        spin_for(0.2)
        if proc.poll() is not None:
            sys.exit("the node exited:\n" + proc.stderr.read()[-2000:])
    spin_for(3.0, publish=True)  # warm-up (recognition decides in the first frames)
    received.clear()
    spin_for(args.seconds, publish=True)
    spin_for(0.5)
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    executor.remove_node(bench)
    bench.destroy_node()
    n = len(received)
    return dict(identity=identity, faces=faces, fps=n / args.seconds,
                faces_per_msg=float(np.mean([f for f, _ in received])) if n else 0.0,
                with_person=float(np.mean([p for _, p in received])) if n else 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(ROOT.parent / "shared/testdata/video/talking_256.mp4"))
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument("--keyframe-interval", type=int, default=5)
    ap.add_argument("--landmark-only", action="store_true")
    ap.add_argument("--faces", default="1,4")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", default=None, metavar="FILE")
    args = ap.parse_args()
    import rclpy

    from faceverse_ros.io.sources import FrameSource
    from faceverse_ros.ros.convert import rgb_to_image

    frames = [f.rgb for f in FrameSource(args.video)]
    print(f"[bench_identity] {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"{args.rate:g} Hz, {args.seconds:g} s per run, "
          f"{'landmark-only' if args.landmark_only else 'synthetic FaceVerse files (fast)'}")
    rclpy.init()
    rows = []
    for faces in [int(x) for x in args.faces.split(",")]:
        tiles = frames if faces == 1 else [np.vstack([np.hstack([f, f[:, ::-1]])] * 2)
                                           for f in frames]
        images = [rgb_to_image(np.ascontiguousarray(t)) for t in tiles]
        for _ in range(args.repeats):
            for identity in (False, True):
                row = run_once(args, images, identity, faces)
                rows.append(row)
                print(f"  faces {faces} identity {'on ' if identity else 'off'}: "
                      f"{row['fps']:5.1f} params/s, {row['faces_per_msg']:.2f} faces/msg, "
                      f"{row['with_person']:.2f} with a person id")
        off = np.median([r["fps"] for r in rows if r["faces"] == faces and not r["identity"]])
        on = np.median([r["fps"] for r in rows if r["faces"] == faces and r["identity"]])
        print(f"  faces {faces}: on / off params fps (medians) {on / max(off, 1e-9):.2f}")
    rclpy.shutdown()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
