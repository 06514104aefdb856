"""The node over DDS: image published -> FaceVerseParamsArray received.

Starts `faceverse-ros node` in a second process (synthetic FaceVerse files,
ONNX Runtime int8, keyframes every 5 frames: the node's fast configuration)
and, in this process, publishes the shared video as sensor_msgs/Image at
--rate Hz and subscribes to faceverse/params. Latency = receive time minus the
image's header stamp (one clock: the same machine). Three scenarios: params
only, with a debug-image subscriber, with debug-image and mesh subscribers.
Prints median and p95 latency, throughput and dropped frames for each, and the
views received per second. The viewers take the messages' bytes (as RViz, a
process of its own, leaves this one alone); --decode-views makes rclpy
messages of them here, in the one thread that also publishes the images and
reads the params (about 20 ms a MarkerArray, which delays both).

--configs fast,default also starts the node a second time with nothing but the
FaceVerse file paths set (the node's own defaults, what a user gets who does not
read the fast configuration) and prints default / fast params fps; the ratios
"with viewers / without" are printed per configuration. --json FILE writes one
object per configuration and scenario (fps, p50_ms, p95_ms, sent, received).

    .venv/bin/python bench/bench_node.py [--seconds 15] [--rate 30] [--landmark-only]
        [--configs fast,default] [--decode-views] [--json FILE]
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "test")]
from helpers.dds import pin_loopback  # noqa: E402

pin_loopback()  # before rclpy is imported

import numpy as np  # noqa: E402



def rss_mb(pid):
    """Resident memory of process `pid` (VmRSS), MB; NaN once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def node_command(args, config="fast"):
    exe = [sys.executable, "-m", "faceverse_ros.cli.main", "node", "--localhost",
           "--set", "publish.mesh=true", "--set", f"max_faces={args.faces}"]
    if args.landmark_only:
        return exe + ["--set", "landmark_only=true"]
    from faceverse_ros.cli.bench import int8_model, load_frames
    from faceverse_ros.paths import cache_root
    from faceverse_ros.cli.synthetic_assets import synthetic_assets

    a = synthetic_assets()
    if config == "default":  # only where the files are: every other parameter the node's own
        return exe + ["--set", f"model_path={a.model_path}",
                      "--set", f"checkpoint_path={a.checkpoint_path}"]
    frames, _ = load_frames(args.video, 64, "native")
    onnx = int8_model(a.checkpoint_path, frames, cache_root() / "bench")
    return exe + ["--set", f"model_path={a.model_path}", "--set", f"checkpoint_path={a.checkpoint_path}",
                  "--set", "engine=onnx", "--set", f"onnx_path={onnx}",
                  "--set", f"keyframe.interval={args.keyframe_interval}"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(ROOT.parent / "shared/testdata/video/talking_256.mp4"))
    ap.add_argument("--seconds", type=float, default=15.0, help="per scenario")
    ap.add_argument("--rate", type=float, default=30.0, help="image rate (Hz)")
    ap.add_argument("--keyframe-interval", type=int, default=5)
    ap.add_argument("--landmark-only", action="store_true")
    ap.add_argument("--faces", type=int, default=1, help="people per image: the video tiled "
                    "this many times into a --size frame (faceverse-ros bench --faces), "
                    "the node's max_faces set to it")
    ap.add_argument("--size", default=None, metavar="WxH", help="image size (default: the "
                    "video's own with one face, 1280x720 with more)")
    ap.add_argument("--configs", default="fast", help="comma list of fast, default")
    ap.add_argument("--json", default=None, metavar="FILE")
    ap.add_argument("--decode-views", action="store_true",
                    help="the viewers decode what they receive into rclpy messages in this "
                    "process (its one thread also publishes the images and reads the params; "
                    "a MarkerArray costs it about 20 ms); by default they take the bytes, "
                    "as a viewer in a process of its own (RViz, in C++) leaves this one alone")
    args = ap.parse_args()
    rows = []
    load = os.getloadavg()[0]
    print(f"[bench_node] load average at start {load:.1f}")
    from faceverse_ros.ros.transport import apply_profile

    # this process sends the frames: its shared-memory segment must hold one (as the
    # launch file gives the camera driver)
    print(f"[bench_node] DDS: {apply_profile()}")
    import rclpy

    rclpy.init()
    for config in args.configs.split(","):
        rows += run_config(args, config)
    rclpy.shutdown()
    for config in sorted({r["config"] for r in rows}):
        fps = {r["scenario"]: r["fps"] for r in rows if r["config"] == config}
        base = max(fps.get("params only", 0.0), 1e-9)
        for scenario in ("+ debug image", "+ debug image + mesh"):
            if scenario in fps:
                print(f"  [{config}] {scenario} / params only fps: {fps[scenario] / base:.2f}")
    fast = {r["scenario"]: r["fps"] for r in rows if r["config"] == "fast"}
    default = {r["scenario"]: r["fps"] for r in rows if r["config"] == "default"}
    for scenario in fast:
        if scenario in default:
            print(f"  default / fast fps ({scenario}): "
                  f"{default[scenario] / max(fast[scenario], 1e-9):.2f}")
    if args.json:
        for r in rows:
            r["load_avg"] = load
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
        print(f"[bench_node] wrote {len(rows)} rows to {args.json}")


def run_config(args, config):
    """Start the node with `config`, run the scenarios, stop it; one row per scenario."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image
    from visualization_msgs.msg import MarkerArray

    from faceverse_ros.msg import FaceVerseParamsArray
    from faceverse_ros.ros.node import SENSOR_QOS, VIEW_QOS
    from faceverse_ros.ros.convert import rgb_to_image
    from faceverse_ros.io.sources import FrameSource

    if args.faces == 1 and args.size is None:
        frames = [f.rgb for f in FrameSource(args.video)]
    else:
        from faceverse_ros.cli.bench import load_scene

        frames = list(load_scene(args.video, 60, args.size or "1280x720", args.faces)[0].frames)
    images = [rgb_to_image(f) for f in frames]
    node_proc = subprocess.Popen(node_command(args, config), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True, cwd=ROOT)
    bench = rclpy.create_node("faceverse_bench")
    pub = bench.create_publisher(Image, "image", SENSOR_QOS)
    received = []
    bench.create_subscription(FaceVerseParamsArray, "faceverse/params",
                              lambda m: received.append((time.time(), m.header.stamp, len(m.faces))), 50)
    executor = SingleThreadedExecutor()
    executor.add_node(bench)

    def spin_for(seconds, publish=False):
        end = time.monotonic() + seconds
        next_pub, k = time.monotonic(), 0
        sent = 0
        while time.monotonic() < end:
            if publish and time.monotonic() >= next_pub:
                msg = images[k % len(images)]
                msg.header.stamp = bench.get_clock().now().to_msg()
                msg.header.frame_id = "camera_optical_frame"
                pub.publish(msg)
                sent += 1
                k += 1
                next_pub += 1.0 / args.rate
            executor.spin_once(timeout_sec=max(0.0, min(0.005, next_pub - time.monotonic())))
        return sent

    # wait for the node (model loading, first inference)
    deadline = time.monotonic() + 180
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        spin_for(0.2)
        if node_proc.poll() is not None:
            sys.exit("the node exited:\n" + node_proc.stderr.read()[-2000:])
    spin_for(3.0, publish=True)  # warm-up
    print(f"[bench_node] {os.cpu_count()} CPUs, image {frames[0].shape[1]}x{frames[0].shape[0]} at "
          f"{args.rate:g} Hz, {args.seconds:g} s per scenario, "
          f"{'landmark-only' if args.landmark_only else 'synthetic FaceVerse files'}, config {config}")
    print(f"viewers: {'decoded in this process' if args.decode_views else 'bytes'}")
    print(f"{'scenario':<22} {'sent':>6} {'recv':>6} {'fps':>7} {'p50 ms':>8} {'p95 ms':>8} {'faces':>6} "
          f"{'dbg/s':>7} {'mesh/s':>7} {'node MB':>8}")
    subs, rows = [], []
    views = {"debug": 0, "mesh": 0}

    def count(kind):
        def got(_):
            views[kind] += 1
        return got

    raw = not args.decode_views
    for scenario in ("params only", "+ debug image", "+ debug image + mesh"):
        if scenario == "+ debug image":
            subs.append(bench.create_subscription(Image, "faceverse/debug_image", count("debug"),
                                                  VIEW_QOS, raw=raw))
        if scenario == "+ debug image + mesh":
            subs.append(bench.create_subscription(MarkerArray, "faceverse/mesh", count("mesh"),
                                                  VIEW_QOS, raw=raw))
        spin_for(1.0, publish=True)  # let the node notice the subscribers
        received.clear()
        views.update(debug=0, mesh=0)
        sent = spin_for(args.seconds, publish=True)
        spin_for(0.5)
        lat = np.array([(t - (s.sec + s.nanosec * 1e-9)) * 1000.0 for t, s, _ in received])
        faces = np.mean([n for _, _, n in received]) if received else 0.0
        print(f"{scenario:<22} {sent:6d} {len(received):6d} {len(received) / args.seconds:7.1f} "
              f"{np.percentile(lat, 50) if len(lat) else float('nan'):8.1f} "
              f"{np.percentile(lat, 95) if len(lat) else float('nan'):8.1f} {faces:6.2f} "
              f"{views['debug'] / args.seconds:7.1f} {views['mesh'] / args.seconds:7.1f} "
              f"{rss_mb(node_proc.pid):8.0f}")
        rows.append(dict(config=config, scenario=scenario, sent=sent, received=len(received),
                         fps=len(received) / args.seconds,
                         p50_ms=float(np.percentile(lat, 50)) if len(lat) else None,
                         p95_ms=float(np.percentile(lat, 95)) if len(lat) else None,
                         faces=float(faces), debug_fps=views["debug"] / args.seconds,
                         mesh_fps=views["mesh"] / args.seconds,
                         viewers="decoded" if args.decode_views else "bytes",
                         faces_tiled=args.faces, size=f"{frames[0].shape[1]}x{frames[0].shape[0]}",
                         node_rss_mb=rss_mb(node_proc.pid)))
    node_proc.terminate()
    try:
        node_proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        node_proc.kill()
    executor.remove_node(bench)
    bench.destroy_node()
    return rows


if __name__ == "__main__":
    main()
