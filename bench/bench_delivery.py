"""Camera frames from another process: published vs received by the node (issue 16).

A camera-driver stand-in runs in a process of its own and publishes sensor_msgs/Image at
--rate Hz (30) for --frames frames; the receiver is the faceverse node (landmark-only, the
image subscription it really makes) in a second process, started once per profile setting.
For every size, encoding and publisher kind (reliable: rclpy's default QoS, depth 10;
best_effort: the sensor-data QoS, depth 5), with and without the shipped Fast DDS profile
(config/fastdds_large_frames.xml; both processes load it, as the launch file arranges), it
prints the frames received of those published, the receive rate and the latency (image stamp
to the node's image callback; one clock, one machine), medians over --runs runs.

    .venv/bin/python bench/bench_delivery.py [--runs 3] [--frames 60] [--sizes 640x480,...]
        [--encodings rgb8,bgr8,yuv422] [--publishers reliable,best_effort]
        [--profiles shipped,none] [--publisher-profile none] [--receiver node|bare] [--json FILE]

--receiver bare: a plain subscription made by faceverse_ros.ros.transport.ImageSubscription
(what the node uses) instead of the whole node; it shows the transport alone.

--publisher-profile none: the publisher loads no profile whatever the receiver's (a camera
driver started apart from this package); the receiving node's warning that frames are lost
appears in the output (its stderr).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "test")]
from helpers.dds import pin_loopback  # noqa: E402

pin_loopback()  # before rclpy is imported


BYTES_PER_PIXEL = {"rgb8": 3, "bgr8": 3, "yuv422": 2, "mono8": 1}
TOPIC = "/image"


def set_profile(setting):
    """Before rclpy starts: 'shipped' applies the shipped profile, 'none' makes sure none is used."""
    from faceverse_ros.ros import transport

    for var in (transport.FASTDDS_VAR, transport.FASTRTPS_VAR):
        os.environ.pop(var, None)
    if setting == "none":
        os.environ[transport.SWITCH_VAR] = "off"
    else:
        os.environ.pop(transport.SWITCH_VAR, None)
    return transport.apply_profile()


def publisher_qos(kind):
    from rclpy.qos import QoSProfile, qos_profile_sensor_data

    return QoSProfile(depth=10) if kind == "reliable" else qos_profile_sensor_data


# -- the camera-driver stand-in ---------------------------------------------------------------
def run_publisher(args):
    set_profile(args.profile)
    import rclpy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("bench_camera")
    pub = node.create_publisher(Image, TOPIC, publisher_qos(args.kind))
    width, height = (int(v) for v in args.size.split("x"))
    msg = Image(width=width, height=height, encoding=args.encoding, is_bigendian=0,
                step=width * BYTES_PER_PIXEL[args.encoding])
    row = (bytes(range(256)) * (msg.step // 256 + 1))[:msg.step]
    msg.data = row * height
    # wait for the node's subscription, with the reliability it should pick for this publisher
    want = args.kind if args.expect == "auto" else args.expect
    deadline = time.monotonic() + args.match_timeout
    while time.monotonic() < deadline:
        subs = [i for i in node.get_subscriptions_info_by_topic(TOPIC)
                if i.node_name != "bench_camera"]
        if pub.get_subscription_count() >= 1 and subs and all(
                i.qos_profile.reliability.name.lower() == want for i in subs):
            break
        time.sleep(0.05)
    else:
        print(json.dumps({"error": f"no {want} subscription matched in {args.match_timeout} s"}))
        return 1
    time.sleep(0.3)
    period, published = 1.0 / args.rate, 0
    start = next_time = time.monotonic()
    for index in range(args.frames):
        msg.header.frame_id = f"bench{args.run}_{index}"
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)
        published += 1
        next_time += period
        delay = next_time - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    elapsed = time.monotonic() - start
    time.sleep(1.0)  # late fragments and repairs
    print(json.dumps({"published": published, "publish_rate_hz": published / elapsed}))
    node.destroy_node()
    rclpy.shutdown()
    return 0


# -- the receiver: the node (or its subscription alone) ---------------------------------------
def run_receiver(args):
    line = set_profile(args.profile)
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    rclpy.init()
    arrivals = {}  # run -> [(index, latency_ms, arrival_s)]
    lock = threading.Lock()

    def record(msg):
        now = time.time()
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        run, _, index = msg.header.frame_id.removeprefix("bench").partition("_")
        with lock:
            arrivals.setdefault(run, []).append((int(index), (now - stamp) * 1e3, now))

    if args.receiver == "node":
        from faceverse_ros.ros.node import FaceVerseNode

        node = FaceVerseNode(parameter_overrides=[
            Parameter("landmark_only", value=True),
            Parameter("input.reliability", value=args.expect),
            Parameter("input.max_pixels", value=8192 * 4320)])
        hook_image_callback(node, record)
    else:
        from faceverse_ros.ros.transport import ImageSubscription

        node = rclpy.create_node("faceverse_node")
        node.image_subscription = ImageSubscription(node, Image, TOPIC, record, args.expect)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    print(json.dumps({"ready": True, "profile": line}), flush=True)
    for command in sys.stdin:
        words = command.split()
        if words and words[0] == "STATS":
            with lock:
                got = list(arrivals.get(words[1], []))
            print(json.dumps({"arrivals": got}), flush=True)
        elif words and words[0] == "QUIT":
            break
    executor.shutdown()
    spinner.join(timeout=10)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def hook_image_callback(node, record):
    """Record every image the node's own subscription delivers, then hand it on unchanged."""
    original = node.image_callback  # the node's hook point for a frame in (ros/node.py)

    def on_image(msg, *rest):
        record(msg)
        return original(msg, *rest)

    node.image_callback = on_image


# -- the driver: one receiver per profile, one publisher process per run ----------------------
def one_setting(args, profile, combos, results):
    env = dict(os.environ)
    common = [sys.executable, __file__, "--profiles", profile, "--expect", args.expect]
    receiver = subprocess.Popen(common + ["--role", "receiver", "--receiver", args.receiver],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    sender = [sys.executable, __file__, "--profiles", args.publisher_profile or profile,
              "--expect", args.expect]
    try:
        ready = json.loads(_read_json_line(receiver, timeout=120))
        print(f"[{profile}] receiver ready ({args.receiver}); {ready['profile']}", file=sys.stderr)
        for run, (size, encoding, kind, rep) in enumerate(combos):
            tag = f"{profile[0]}{run}"
            pub = subprocess.run(sender + ["--role", "publisher", "--size", size, "--encoding",
                                           encoding, "--kind", kind, "--run", tag, "--frames",
                                           str(args.frames), "--rate", str(args.rate)],
                                 capture_output=True, text=True, env=env,
                                 timeout=args.frames / args.rate + args.match_timeout + 30)
            out = json.loads(pub.stdout.strip().splitlines()[-1]) if pub.stdout.strip() else \
                {"error": pub.stderr.strip()[-300:]}
            receiver.stdin.write(f"STATS {tag}\n")
            receiver.stdin.flush()
            got = json.loads(_read_json_line(receiver, timeout=30))["arrivals"]
            row = summarise(out, got, args.frames)
            row.update(profile=profile if not args.publisher_profile else
                       f"{profile} (publisher: {args.publisher_profile})",
                       size=size, encoding=encoding, publisher=kind, rep=rep)
            results.append(row)
            print(f"[{profile}] {size} {encoding} {kind} run {rep + 1}: "
                  f"{row['received']}/{row['published']} frames, {row['fps']:.1f} fps, "
                  f"latency p50 {row['latency_p50_ms']:.1f} ms" + (f" ({row['error']})"
                                                                   if row.get("error") else "")
                  + (f", missing {row['missing']}" if row["missing"] else ""),
                  file=sys.stderr)
    finally:
        if receiver.poll() is None:
            try:
                receiver.stdin.write("QUIT\n")
                receiver.stdin.flush()
                receiver.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                receiver.kill()


def _read_json_line(proc, timeout):
    result = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    while result and result[0] and not result[0].lstrip().startswith("{"):
        result[0] = proc.stdout.readline()  # a stray line from a library
    if not result or not result[0]:
        state = "exited" if proc.poll() is not None else f"did not answer within {timeout} s"
        raise RuntimeError(f"the receiver {state}")
    return result[0]


def summarise(pub, arrivals, frames):
    published = int(pub.get("published", 0))
    indices = {i for i, _, _ in arrivals}
    latencies = sorted(lat for _, lat, _ in arrivals)
    times = sorted(t for _, _, t in arrivals)
    fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
    def pct(q):
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")
    return dict(published=published, received=len(indices), delivery=len(indices) / published
                if published else 0.0, fps=fps, latency_p50_ms=pct(0.5), latency_p95_ms=pct(0.95),
                error=pub.get("error"), missing=sorted(set(range(published)) - indices))


def table(results):
    keys = sorted({(r["size"], r["encoding"], r["publisher"], r["profile"]) for r in results},
                  key=lambda k: (int(k[0].split("x")[0]), k[1], k[2], k[3] != "shipped"))
    lines = ["| size | encoding | publisher | profile | received / published (median) | "
             "delivery | fps | latency p50 ms | latency p95 ms | runs |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key in keys:
        rows = [r for r in results if (r["size"], r["encoding"], r["publisher"], r["profile"]) == key]
        med = lambda name: statistics.median(r[name] for r in rows)  # noqa: E731
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {med('received'):g} / "
                     f"{med('published'):g} | {100 * med('delivery'):.0f}% | {med('fps'):.1f} | "
                     f"{med('latency_p50_ms'):.1f} | {med('latency_p95_ms'):.1f} | {len(rows)} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=("main", "publisher", "receiver"), default="main")
    ap.add_argument("--sizes", default="640x480,1280x720,1920x1080")
    ap.add_argument("--encodings", default="rgb8,bgr8,yuv422")
    ap.add_argument("--publishers", default="reliable,best_effort")
    ap.add_argument("--profiles", default="shipped,none")
    ap.add_argument("--publisher-profile", choices=("shipped", "none"), default=None,
                    help="the publisher's profile (default: the receiver's)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument("--receiver", choices=("node", "bare"), default="node")
    ap.add_argument("--expect", default="auto", help="the node's input.reliability")
    ap.add_argument("--match-timeout", type=float, default=20.0)
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    # publisher only
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--encoding", default="rgb8")
    ap.add_argument("--kind", default="reliable")
    ap.add_argument("--run", default="0")
    args = ap.parse_args(argv)
    args.profile = args.profiles
    if args.role == "publisher":
        return run_publisher(args)
    if args.role == "receiver":
        return run_receiver(args)
    combos = [(s, e, k, rep) for s in args.sizes.split(",") for e in args.encodings.split(",")
              for k in args.publishers.split(",") for rep in range(args.runs)]
    results = []
    started = time.monotonic()
    for profile in args.profiles.split(","):
        one_setting(args, profile, combos, results)
    print(table(results))
    print(f"\n{len(results)} publisher runs of {args.frames} frames at {args.rate:g} Hz, "
          f"receiver: {args.receiver}, {time.monotonic() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
