"""`faceverse-ros bench`: the whole pipeline on a video, baseline against ours, in one run.

Uses SYNTHETIC FaceVerse files (same structure and sizes as the real ones, so
the same arithmetic and network cost) unless --model/--checkpoint are given.

Modes:
  baseline     as the original FaceVerse V4 tracker works: detect, then regress,
               then render, one frame at a time, batch 1, PyTorch fp32, the
               original's 3-frame smoothing, a render on every frame.
  ours         ONNX Runtime int8 (static, calibrated on the video's face crops),
               the ResNet on keyframes (after a face's first frame in the background
               keyframe worker, tracking/keyframe_worker.py) with the landmark update
               in between, One Euro smoothing, detection of frame t+1 overlapping
               frame t (two threads), no render (the node renders only while someone
               watches). The "keyfr" column counts the frames that took a new keyframe.
  ours+render  ours, with the debug render (the node's debug image with the face rendered)
               on every frame, in a thread of its own, in order, none dropped: as
               `faceverse-ros run` draws its overlay beside the two stages.
  detector_only  the same frames through detection and the id/box tracking only
               (landmark-only pipeline, no coefficients, no pose): the floor every
               face tracker pays on this machine; "ours / detector_only" is the
               share of that floor our own stages leave.

Two ways of feeding frames, both reported:
  offline  every frame is processed, as fast as possible (throughput = fps,
           latency = frame handed in -> parameters ready);
  live     frames arrive at --camera-fps like a camera; a frame that finds the
           pipeline busy waits in a slot of one and is replaced by a newer one
           (published fps, latency, dropped frames).

Per-stage medians (ms per frame where the stage ran): decode, detect, track, crop,
regress, fit, smooth, pose, reconstruct, render, publish (message build and
serialisation; DDS transport is in bench/bench_node.py).
"""
import argparse
import json
import math
import os
import queue
import sys
import threading
import time
from pathlib import Path

import numpy as np

SHARED_VIDEO = "shared/testdata/video/talking_256.mp4"
STAGES = ("decode", "detect", "track", "crop", "regress", "keyframe_wait", "fit", "smooth", "pose",
          "reconstruct", "render", "publish")
EXTRA_STAGES = ("landmark_pose",)
# (printed name, numerator mode, denominator mode): fps ratios the issue's goals name
RATIOS = (("ours / detector_only throughput", "ours", "detector_only"),
          ("ours+render / ours throughput", "ours+render", "ours"))


def default_video() -> Path:
    """The shared talking video beside the source checkout: above $FACEVERSE_ROOT, the
    current directory, or this package's source tree (the first that has it)."""
    roots = [os.environ.get("FACEVERSE_ROOT", ""), os.getcwd(),
             str(Path(__file__).resolve().parents[2])]
    candidates = [Path(root).parent / SHARED_VIDEO for root in roots if root]
    return next((c for c in candidates if c.is_file()), candidates[0])


def load_frames(video, count, size):
    """Decoded RGB frames (and the median decode ms); size 'native' or 'WxH' (letterboxed)."""
    import cv2

    from faceverse_ros.io.sources import FrameSource

    frames, decode_ms = [], []
    t = time.perf_counter()
    for frame in FrameSource(video, loop=True):
        rgb = frame.rgb
        if size != "native":
            w, h = (int(v) for v in size.split("x"))
            scale = min(w / rgb.shape[1], h / rgb.shape[0])
            resized = cv2.resize(rgb, (int(rgb.shape[1] * scale), int(rgb.shape[0] * scale)),
                                 interpolation=cv2.INTER_LINEAR)
            canvas = np.full((h, w, 3), 114, np.uint8)
            y0, x0 = (h - resized.shape[0]) // 2, (w - resized.shape[1]) // 2
            canvas[y0:y0 + resized.shape[0], x0:x0 + resized.shape[1]] = resized
            rgb = canvas
        now = time.perf_counter()
        decode_ms.append((now - t) * 1000.0)
        frames.append(rgb)
        if len(frames) >= count:
            break
        t = time.perf_counter()
    return frames, float(np.median(decode_ms))


def scene_layout(width, height, faces):
    """Where `faces` copies of a square face video go in a width x height frame: a grid of
    about square cells (rows from the frame's aspect), each copy a square of side
    min(cell, height / 2) centred in its cell, so that a face fills the share of the
    image it fills in a camera of that resolution and field of view. [(x0, y0, side)]."""
    if faces < 1 or width < 16 or height < 16:
        raise ValueError(f"a scene needs >= 1 face and a frame of >= 16x16, got {faces} faces "
                         f"in {width}x{height}")
    rows = min(faces, max(1, int(round(math.sqrt(faces / (width / height))))))
    cols = math.ceil(faces / rows)
    cell_w, cell_h = width // cols, height // rows
    side = min(cell_w, cell_h, height // 2)
    if side < 32:
        raise ValueError(f"{faces} faces do not fit in {width}x{height} (tiles of {side} px)")
    return [((k % cols) * cell_w + (cell_w - side) // 2,
             (k // cols) * cell_h + (cell_h - side) // 2, side) for k in range(faces)]


class Cycle:
    """`total` frames made of a shorter list played in a loop (the scene's frames are a few
    seconds of the video: 150 frames of 1920x1080 would hold a gigabyte)."""

    def __init__(self, frames, total):
        self.frames, self.total = frames, int(total)

    def __len__(self):
        return self.total

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        return self.frames[k % len(self.frames)]


def load_scene(video, count, size, faces, distinct=60):
    """Frames of `faces` people: the video tiled `faces` times into one WxH frame
    (scene_layout), every other copy mirrored and each copy at another point of the
    video (so faces move and key-frame apart); a Cycle of `count` frames over at most
    `distinct` composed ones. Returns (frames, median decode ms of one video frame)."""
    import cv2

    w, h = (int(v) for v in size.split("x"))
    tiles = scene_layout(w, h, faces)
    from faceverse_ros.io.sources import FrameSource

    t = time.perf_counter()
    source = [f.rgb for f in FrameSource(video)]  # the whole video, once
    if not source:
        raise ValueError(f"no frames in {video}")
    decode_ms = (time.perf_counter() - t) * 1000.0 / len(source)
    n = len(source)
    composed = []
    for i in range(min(count, distinct)):
        canvas = np.full((h, w, 3), 114, np.uint8)
        for k, (x0, y0, side) in enumerate(tiles):
            rgb = source[(i + k * 53) % n]
            if k % 2:
                rgb = rgb[:, ::-1]
            canvas[y0:y0 + side, x0:x0 + side] = cv2.resize(
                np.ascontiguousarray(rgb), (side, side), interpolation=cv2.INTER_AREA)
        composed.append(canvas)
    return Cycle(composed, count), decode_ms


def rss_mb():
    """This process's resident memory (VmRSS), MB; NaN where /proc is not there."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def per_face_costs(rows):
    """The slope (ms per extra face, least squares over the face counts) of each stage's
    median, the median compute of one frame and p50 latency, per size, feed and mode; and
    RSS MB per extra face. Sets row["per_face_ms"] and row["rss_mb_per_face"] on every row
    of a group with two or more face counts."""
    groups = {}
    for r in rows:
        groups.setdefault((r["size"], r["feed"], r["mode"]), []).append(r)
    out = {}
    for key, group in groups.items():
        counts = np.array([r["faces"] for r in group], dtype=np.float64)
        if len(set(counts)) < 2:
            continue

        def slope(values):
            ok = [(c, v) for c, v in zip(counts, values) if v is not None and np.isfinite(v)]
            if len({c for c, _ in ok}) < 2:
                return None
            x, y = np.array(ok).T
            return float(np.polyfit(x, y, 1)[0])

        costs = {s: slope([r["stages_ms"].get(s, 0.0) for r in group])
                 for s in sorted({s for r in group for s in r["stages_ms"]})}
        costs["compute"] = slope([r["compute_ms"] for r in group])
        costs["p50_latency"] = slope([r["p50_ms"] for r in group])
        rss = slope([r["rss_mb"] for r in group])
        for r in group:
            r["per_face_ms"], r["rss_mb_per_face"] = costs, rss
        out[key] = (costs, rss)
    return out


def int8_model(checkpoint, frames, cache_dir):
    """Static int8 ONNX of `checkpoint`, calibrated on face crops of `frames` (cached)."""
    from faceverse_ros.core.crop import crop_face
    from faceverse_ros.tracking.detector import FaceDetector
    from faceverse_ros.core.onnx_export import export_onnx
    from faceverse_ros.core.network import file_sha256

    out = Path(cache_dir) / f"reconnet-{file_sha256(checkpoint)[:16]}-int8-static.onnx"
    if out.is_file():
        return out
    crops = []
    with FaceDetector(mode="image") as det:
        for rgb in frames[::max(len(frames) // 32, 1)][:32]:
            found = det.detect(rgb, 0.0)
            if found:
                crops.append(crop_face(rgb, found[0].box)[0])
    if not crops:
        raise RuntimeError("no face found in the benchmark video for int8 calibration")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = export_onnx(checkpoint, out, "static", np.stack(crops))
    print(f"[bench] {report.summary()}", file=sys.stderr)
    return out


class _Publisher:
    """What publishing costs on the CPU: building FaceVerseParamsArray and serialising it."""

    def __init__(self):
        try:
            from rclpy.serialization import serialize_message
            from std_msgs.msg import Header

            from faceverse_ros.ros.messages import params_array
        except ImportError:
            self.available = False
            return
        self.available = True
        self._serialize, self._header, self._array = serialize_message, Header, params_array

    def __call__(self, result):
        if self.available:
            self._serialize(self._array(self._header(frame_id="camera"), result.faces,
                                        result.image_size))


def make_pipeline(mode, assets, onnx_int8, keyframe_interval, threads, drift_px=0.0,
                  max_faces=1):
    from faceverse_ros.tracking.pipeline import FacePipeline, PipelineConfig

    if mode in ("detector_only", "landmark_only", "landmark_only+render"):
        return FacePipeline(PipelineConfig(landmark_only=True, threads=threads,
                                           max_faces=max_faces), log=lambda m: None)
    common = dict(model_path=str(assets[0]), checkpoint_path=str(assets[1]), threads=threads,
                  max_faces=max_faces)
    if mode == "baseline":
        cfg = PipelineConfig(engine="torch", smoothing={"kind": "original"}, keyframe_interval=1,
                             **common)
    else:
        cfg = PipelineConfig(engine="onnx", onnx_path=str(onnx_int8),
                             keyframe_interval=keyframe_interval, keyframe_drift_px=drift_px,
                             smoothing={"kind": "one_euro"}, **common)
    return FacePipeline(cfg, log=lambda m: None)


def run_mode(mode, frames, feed, assets, onnx_int8, args, decode_ms):
    """One pass over `frames`; returns the stats dict of this run."""
    from faceverse_ros.views.overlay import ViewBuilder, ViewRequest, draw_overlay

    pipe = make_pipeline(mode, assets, onnx_int8, args.keyframe_interval, args.threads,
                         args.drift_px, max_faces=getattr(args, "max_faces", 1))
    publish = _Publisher()
    render = mode in ("baseline", "ours+render", "landmark_only+render")
    # +render: the node's debug image with render on (ros/outputs.py: ViewBuilder.build of
    # a ViewRequest, meshes reconstructed there); baseline: the full mesh drawn as before
    views = ViewBuilder(pipe.model, pipe.canonical_mesh) \
        if mode in ("ours+render", "landmark_only+render") else None
    need_mesh = render and views is None
    if need_mesh and pipe.model is not None:
        from faceverse_ros.views.mesh_builder import FaceMeshBuilder

        pipe.mesh_builder = FaceMeshBuilder(pipe.model)
    detect_only = mode == "detector_only"
    stages = {name: [] for name in STAGES}
    stages["decode"] = [decode_ms]
    latencies, done_times, faces, compute, keyframes = [], [], [0], [], [0]
    seen = []  # faces out per frame
    lock = threading.Lock()

    def finish(result, handed_in):
        """Publish (and for the baseline draw) in the calling thread, then account the frame
        (ours+render: the render thread accounts it once rendered)."""
        t = time.perf_counter()
        publish(result)
        t2 = time.perf_counter()
        if views is not None:  # the render thread takes it from here, in order
            render_q.put((result, handed_in, t, t2))
            return
        if render:
            for stamp, group in result.groups()[-1:]:  # drawn on the frame the faces describe
                draw_overlay(frame_of[stamp], group, result.intrinsics, pipe.model.tri)
        account(result, handed_in, t, t2, time.perf_counter())

    def account(result, handed_in, t, t2, t3, render_s=None):
        with lock:
            for name, ms in result.timings.items():
                stages.setdefault(name, []).append(ms)
            stages["publish"].append((t2 - t) * 1000.0)
            if render:
                stages["render"].append((t3 - t2 if render_s is None else render_s) * 1000.0)
            latencies.append(t3 - handed_in)
            compute.append(sum(result.timings.values()) + (t2 - t) * 1000.0
                           + (t3 - t2 if render_s is None else render_s) * 1000.0)
            done_times.append(t3)
            faces[0] += len(result.faces)
            seen.append(len(result.faces))
            keyframes[0] += sum(bool(getattr(f, "keyframe", False)) for f in result.faces)

    def render_loop():
        """ours+render: the debug render of every frame in a thread of its own, in order and
        none dropped, as `faceverse-ros run` draws its overlay (in its caller's thread while
        the two stages work on the next frames; the node's views have threads of their own
        too). The face stage waits when the render is a frame behind (a queue of one)."""
        while True:
            item = render_q.get()
            if item is None:
                render_q.task_done()
                return
            result, handed_in, t, t2 = item
            r = time.perf_counter()
            try:
                for stamp, group in result.groups()[-1:]:  # drawn on the frame they describe
                    views.build(ViewRequest(frame_of[stamp], group, result.intrinsics))
                t3 = time.perf_counter()
                account(result, handed_in, t, t2, t3, render_s=t3 - r)
            except Exception as exc:  # noqa: BLE001 - said, the frame is not counted
                print(f"[bench] render: {exc}")
            finally:
                render_q.task_done()

    render_q = queue.Queue(maxsize=1)
    renderer = threading.Thread(target=render_loop, name="bench_render", daemon=True) \
        if views is not None else None

    frame_of = {}  # stamp -> frame, for the render

    fps_in = args.camera_fps
    # warm-up outside the timing: the first inference and detector start-up
    for k in range(3):
        warm = pipe.process(frames[k], -1.0 + k * 0.01, need_mesh=need_mesh)
        if views is not None:  # and the views' one-time set-up (the node's first debug image)
            for _, group in warm.groups():
                views.build(ViewRequest(frames[k], group, warm.intrinsics))
    # the stamps jump by more than smoother.max_gap_s after the warm-up: the filters restart
    start = time.perf_counter()
    dropped = 0
    if mode == "baseline":
        for k, rgb in enumerate(frames):
            stamp = k / fps_in
            frame_of[stamp] = rgb
            handed_in = time.perf_counter()
            if feed == "live":  # a camera: frame k arrives at start + k / fps
                arrival = start + k / fps_in
                if handed_in < arrival:
                    time.sleep(arrival - handed_in)
                elif handed_in >= arrival + 1.0 / fps_in:  # a newer frame is there: newest wins
                    dropped += 1
                    continue
                handed_in = arrival  # latency counts from the frame's arrival
            finish(pipe.process(rgb, stamp, need_mesh=need_mesh), handed_in)
    else:
        from faceverse_ros.runtime.workers import TwoStageRunner

        def first(item):
            k, handed_in = item
            stamp = k / fps_in
            frame_of[stamp] = frames[k]
            return pipe.detect_stage(frames[k], stamp), handed_in

        def second(item):
            staged, handed_in = item
            if detect_only:  # detection and tracking only: the stage-1 result is the output
                t = time.perf_counter()
                with lock:
                    for name, ms in staged.timings.items():
                        stages.setdefault(name, []).append(ms)
                    latencies.append(t - handed_in)
                    compute.append(sum(staged.timings.values()))
                    done_times.append(t)
                    faces[0] += len(staged.frames)
                    seen.append(len(staged.frames))
                return
            finish(pipe.face_stage(staged, need_mesh=need_mesh), handed_in)

        # offline, the next frame goes in when the first stage takes one (woken, not polled:
        # a 0.2 ms polling loop here took a third of a core and the GIL from the stages)
        taken = threading.Semaphore(0)
        runner = TwoStageRunner(first, second, on_error=lambda s, e: print(f"[bench] {s}: {e}"),
                                on_taken=taken.release)
        if renderer is not None:
            renderer.start()
        for k in range(len(frames)):
            if feed == "live":
                arrival = start + k / fps_in
                now = time.perf_counter()
                if now < arrival:
                    time.sleep(arrival - now)
                runner.submit((k, time.perf_counter()))
            else:  # offline: hand in the next frame as soon as the slot is free
                if k:
                    taken.acquire()
                runner.submit((k, time.perf_counter()))
        runner.wait_idle(60)
        if renderer is not None:
            render_q.put(None)
            renderer.join(60)
        dropped = runner.dropped
        runner.close()
    elapsed = (done_times[-1] if done_times else time.perf_counter()) - start
    rss = rss_mb()  # with the pipeline still open: what this case holds
    pipe.close()
    lat = np.array(latencies) * 1000.0
    if feed == "live" and len(done_times) > 1:
        # a rate of the frames out: n frames span n - 1 periods (n / elapsed said 32.2 fps
        # for 12 frames of a 30 fps camera)
        done = sorted(done_times)
        fps = (len(done) - 1) / max(done[-1] - done[0], 1e-9)
    else:  # offline: every frame's work, from the first handed in to the last out
        fps = len(done_times) / elapsed
    return dict(fps=fps, p50=float(np.percentile(lat, 50)),
                p95=float(np.percentile(lat, 95)), frames=len(done_times), dropped=dropped,
                faces=faces[0], compute_ms=float(np.median(compute)),
                stages={k: float(np.median(v)) for k, v in stages.items() if v},
                regress_runs=len(stages["regress"]), fit_runs=len(stages["fit"]),
                keyframes=keyframes[0], faces_seen=float(np.median(seen)) if seen else 0.0,
                faces_min=min(seen) if seen else 0, rss_mb=rss)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="faceverse-ros bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=None, help="a video file (default: the shared talking "
                    "video beside the source checkout)")
    ap.add_argument("--frames", type=int, default=150, help="frames per run")
    ap.add_argument("--runs", type=int, default=3, help="runs per mode (medians reported)")
    ap.add_argument("--sizes", default="native,640x480", help="comma list: native and/or WxH")
    ap.add_argument("--modes", default="baseline,detector_only,ours,ours+render",
                    help="comma list of baseline, detector_only, ours, ours+render, "
                    "landmark_only, landmark_only+render")
    ap.add_argument("--faces", default=None, metavar="N,N,...",
                    help="a scene of N people per frame (e.g. 1,2,4,8): the video tiled N times "
                    "into each WxH size of --sizes (faces the share of the frame a face has "
                    "in a camera of that resolution), max_faces N; prints the ms each extra "
                    "face costs per stage. Default: the video as it is"),
    ap.add_argument("--feeds", default="offline,live")
    ap.add_argument("--camera-fps", type=float, default=30.0)
    ap.add_argument("--keyframe-interval", type=int, default=5)
    ap.add_argument("--drift-px", type=float, default=0.0, help="keyframe on fit RMS above this "
                    "(0 = off: the synthetic network's identity jumps between frames, which real "
                    "faces do not)")
    ap.add_argument("--threads", type=int, default=0, help="regressor threads (0 = all cores)")
    ap.add_argument("--json", default=None, metavar="FILE",
                    help="also write the medians as JSON: one object per size, feed and mode")
    ap.add_argument("--model", default=None, help="real faceverse_v4_2.npy (default: synthetic)")
    ap.add_argument("--checkpoint", default=None, help="real faceverse_resnet50.pth")
    args = ap.parse_args(argv)
    modes = args.modes.split(",")
    feeds = args.feeds.split(",")
    known = ("baseline", "detector_only", "ours", "ours+render", "landmark_only",
             "landmark_only+render")
    bad = [m for m in modes if m not in known] + [f for f in feeds if f not in ("offline", "live")]
    try:
        counts = [int(n) for n in args.faces.split(",")] if args.faces else [None]
        if any(n is not None and not 1 <= n <= 16 for n in counts):
            raise ValueError("face counts are 1 to 16")
        if args.faces:
            for size in args.sizes.split(","):
                w, h = (int(v) for v in size.split("x"))
                for n in counts:
                    scene_layout(w, h, n)
    except ValueError as exc:
        print(f"faceverse-ros bench: error: --faces/--sizes: {exc} (--faces takes counts such "
              "as 1,2,4,8 and --sizes WxH sizes such as 1280x720)", file=sys.stderr)
        return 2
    if bad:
        print(f"faceverse-ros bench: error: unknown mode or feed {', '.join(bad)}",
              file=sys.stderr)
        return 2
    args.video = args.video or str(default_video())
    if not Path(args.video).is_file():
        print(f"faceverse-ros bench: error: video {args.video} not found", file=sys.stderr)
        return 1
    if args.model and args.checkpoint:
        assets = (Path(args.model), Path(args.checkpoint))
    else:
        from faceverse_ros.cli.synthetic_assets import synthetic_assets

        a = synthetic_assets()
        assets = (a.model_path, a.checkpoint_path)
        print("[bench] SYNTHETIC FaceVerse files (real sizes; timings only, no accuracy)")
    from faceverse_ros.paths import cache_root

    rows = []
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"[bench] load average at start {load:.1f}")
    print(f"[bench] {os.cpu_count()} CPUs, {args.frames} frames x {args.runs} runs per mode, "
          f"keyframe interval {args.keyframe_interval}, camera {args.camera_fps:g} fps")
    onnx_int8 = None
    for size, n_faces in [(size, n) for size in args.sizes.split(",") for n in counts]:
        if n_faces is None:
            frames, decode_ms = load_frames(args.video, args.frames, size)
        else:
            frames, decode_ms = load_scene(args.video, args.frames, size, n_faces)
        args.max_faces = n_faces or 1
        if onnx_int8 is None and any(m in ("ours", "ours+render") for m in modes):
            onnx_int8 = int8_model(assets[1], frames, cache_root() / "bench")
        h, w = frames[0].shape[:2]
        for feed in feeds:
            who = "" if n_faces is None else f", {n_faces} face{'s' * (n_faces > 1)}"
            print(f"\n== {w}x{h}{who}, {feed} ==")
            table = {}
            for run in range(args.runs):  # interleave modes so load changes hit all alike
                for mode in modes:
                    table.setdefault(mode, []).append(
                        run_mode(mode, frames, feed, assets, onnx_int8, args, decode_ms))
            print(f"{'mode':<20} {'fps':>7} {'p50 ms':>8} {'p95 ms':>8} {'dropped':>8} "
                  f"{'regress':>8} {'fits':>6} {'keyfr':>6} {'faces':>6} {'RSS MB':>7}")
            med = {}
            for mode, runs in table.items():
                m = {k: float(np.median([r[k] for r in runs]))
                     for k in ("fps", "p50", "p95", "dropped", "regress_runs", "fit_runs",
                          "compute_ms", "keyframes", "faces_seen", "rss_mb")}
                m["faces_min"] = min(r["faces_min"] for r in runs)
                med[mode] = m
                print(f"{mode:<20} {m['fps']:7.1f} {m['p50']:8.1f} {m['p95']:8.1f} "
                      f"{m['dropped']:8.0f} {m['regress_runs']:8.0f} {m['fit_runs']:6.0f} "
                      f"{m['keyframes']:6.0f} {m['faces_seen']:6.1f} {m['rss_mb']:7.0f}")
            if "baseline" in med:
                for mode in med:
                    if mode not in ("baseline", "detector_only"):
                        ratio = med[mode]["fps"] / max(med["baseline"]["fps"], 1e-9)
                        print(f"  {mode} / baseline throughput: {ratio:.2f}x")
            for ratio_name, num, den in RATIOS:
                if num in table and den in table:
                    # the ratio per run (both modes saw the same load), then the median
                    per_run = [a["fps"] / max(b["fps"], 1e-9)
                               for a, b in zip(table[num], table[den])]
                    print(f"  {ratio_name}: {np.median(per_run):.2f} "
                          f"(runs: {', '.join(f'{r:.2f}' for r in per_run)})")
            if feed == "live":
                for mode, runs in table.items():  # queueing: p95 against one frame's compute
                    per_run = [r["p95"] / max(r["compute_ms"], 1e-9) for r in runs]
                    print(f"  {mode} live p95 / median compute of one frame: "
                          f"{np.median(per_run):.2f}, dropped {med[mode]['dropped']:.0f}")
            for mode, runs in table.items():
                rows.append(dict(size=f"{w}x{h}", feed=feed, mode=mode, runs=len(runs),
                                 faces=n_faces or 1, faces_seen=med[mode]["faces_seen"],
                                 faces_min=med[mode]["faces_min"], rss_mb=med[mode]["rss_mb"],
                                 fps=med[mode]["fps"], p50_ms=med[mode]["p50"],
                                 p95_ms=med[mode]["p95"], compute_ms=med[mode]["compute_ms"],
                                 dropped=med[mode]["dropped"],
                                 regress_runs=med[mode]["regress_runs"],
                                 fit_runs=med[mode]["fit_runs"],
                                 keyframes=med[mode]["keyframes"],
                                 stages_ms={s: float(np.median([r["stages"][s] for r in runs
                                                                if s in r["stages"]]))
                                            for s in STAGES + EXTRA_STAGES
                                            if any(s in r["stages"] for r in runs)},
                                 load_avg=load))
            print("  per-stage medians (ms/frame where run; median over runs):")
            for mode, runs in table.items():
                names = [s for s in STAGES + EXTRA_STAGES if any(s in r["stages"] for r in runs)]
                cells = [f"{s} {np.median([r['stages'][s] for r in runs if s in r['stages']]):.1f}"
                         for s in names]
                print(f"    {mode:<12} " + ", ".join(cells))
    marginal = per_face_costs(rows)
    if marginal:
        print("\n== what one more face costs (ms per extra face, least squares over "
              f"{args.faces} faces) ==")
        for (size, feed, mode), (costs, rss) in sorted(marginal.items()):
            cells = [f"{k} {v:+.2f}" for k, v in costs.items() if v is not None]
            print(f"  {size} {feed:<7} {mode:<20} " + ", ".join(cells)
                  + (f"; RSS {rss:+.1f} MB/face" if rss is not None else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
        print(f"[bench] wrote {len(rows)} rows to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
