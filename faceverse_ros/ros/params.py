"""The node's parameters: one table with defaults, ranges and descriptions (ROS layer).

config/faceverse.yaml holds the same defaults (a test keeps them equal).
Parameters marked `runtime` can be changed while the node runs
(`ros2 param set /faceverse_node smoother.kind original`); the others are read
at start-up and are declared read-only.
"""
import dataclasses

from faceverse_ros.tracking.config import RANGES
from faceverse_ros.tracking.face_smoothing import PARTS as SMOOTHER_PARTS
from faceverse_ros.tracking.keyframes import DEFAULT_DRIFT_PX, DEFAULT_INTERVAL, DEFAULT_MAX_INTERVAL
from faceverse_ros.tracking.smoothing import DEFAULT_BLENDSHAPES, DEFAULT_BOX, DEFAULT_BOX_SIZE, \
    DEFAULT_COEFFS, DEFAULT_EYES, DEFAULT_MAX_GAP_S, DEFAULT_ROTATION


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    name: str
    default: object
    description: str
    runtime: bool = False
    range: tuple = None          # (min, max) for numbers
    choices: tuple = None        # allowed strings


def _smoother_specs():
    specs = [
        ParamSpec("smoother.kind", "one_euro",
                  "Temporal filter for box, coefficients, rotation, eyes and blendshapes: one_euro "
                  "(no delay, "
                  "adaptive), original (FaceVerse V4's 3-frame means, two frames late), none.",
                  runtime=True, choices=("one_euro", "original", "none")),
        ParamSpec("smoother.max_gap_s", DEFAULT_MAX_GAP_S,
                  "A face unseen for longer than this (seconds of image stamps) restarts its filters.",
                  runtime=True, range=(0.0, 10.0)),
    ]
    units = {"box": "box sides/s", "box_size": "box sides/s", "coeffs": "coefficient units/s",
             "rotation": "rad/s", "eyes": "rad/s", "blendshapes": "weight units/s"}
    what = {"box": "box centre", "box_size": "box width and height", "coeffs": "coefficients",
            "rotation": "head rotation", "eyes": "eye values", "blendshapes": "blendshape weights"}
    defaults_by_part = {"box": DEFAULT_BOX, "box_size": DEFAULT_BOX_SIZE, "coeffs": DEFAULT_COEFFS,
                        "rotation": DEFAULT_ROTATION, "eyes": DEFAULT_EYES,
                        "blendshapes": DEFAULT_BLENDSHAPES}
    for part in SMOOTHER_PARTS:
        defaults = defaults_by_part[part]
        specs += [
            ParamSpec(f"smoother.{part}.min_cutoff", float(defaults["min_cutoff"]),
                      f"One Euro minimum cutoff (Hz) for the {what[part]}: lower = steadier when "
                      "still.",
                      runtime=True, range=(0.001, 100.0)),
            ParamSpec(f"smoother.{part}.beta", float(defaults["beta"]),
                      f"One Euro speed coefficient for the {what[part]} (per {units[part]}): "
                      "higher = less lag when moving.", runtime=True, range=(0.0, 1000.0)),
            ParamSpec(f"smoother.{part}.d_cutoff", float(defaults["d_cutoff"]),
                      f"One Euro cutoff (Hz) of the speed estimate of the {what[part]}.",
                      runtime=True, range=(0.001, 100.0)),
        ]
    return specs


PARAMS = [
    # assets and engines
    ParamSpec("model_path", "", "FaceVerse V4 model faceverse_v4_2.npy; empty = data/ of the "
              "package. Missing: landmark-only mode (pose, eyes, landmarks; no coefficients)."),
    ParamSpec("landmark_only", False, "Do not load the FaceVerse files even when present: head "
              "pose, gaze and landmarks from MediaPipe only (fastest)."),
    ParamSpec("checkpoint_path", "", "FaceVerse ResNet-50 faceverse_resnet50.pth; empty = data/."),
    ParamSpec("engine", "auto", "Regressor engine: auto (a CUDA GPU: torch on cuda; else ONNX "
              "Runtime int8, calibrated once on the first face crops and cached), torch or onnx.",
              choices=("auto", "torch", "onnx")),
    ParamSpec("onnx_path", "", "ONNX file for engine onnx (faceverse-ros export-onnx); empty = "
              "export the checkpoint once into the cache."),
    ParamSpec("device", "cpu", "cpu or cuda (torch engine; onnx uses CUDA when its provider is there).",
              choices=("cpu", "cuda")),
    ParamSpec("threads", 0, "CPU threads for the regressor; 0 = all cores.", range=RANGES["threads"]),
    ParamSpec("face_id_prefix", "", "Prefix of face ids (FaceVerseParams.id, the ROS4HRI "
              "/humans/faces/<id>/ topics) and TF frames (face_<prefix><n>, gaze_<prefix><n>): a "
              "letter, then letters, digits or '_'; empty "
              "= derived from the namespace ('f' at the root, 'robot1_f' under /robot1), so "
              "trackers in different namespaces never share a frame."),
    # detection and tracking
    ParamSpec("detector", "auto", "MediaPipe backend: auto (tasks when a face_landmarker.task "
              "is found, else legacy), tasks (Face Landmarker with 52 ARKit blendshapes, needs "
              "the .task file) or legacy (bundled Face Mesh, no blendshapes).",
              choices=("auto", "tasks", "legacy")),
    ParamSpec("task_path", "", "MediaPipe face_landmarker.task (file or folder); empty = "
              "$FACEVERSE_DATA, ./data, then the ROS share data folder."),
    ParamSpec("max_faces", 1, "Most faces tracked per image.", range=RANGES["max_faces"]),
    ParamSpec("min_detection_confidence", 0.5, "MediaPipe detection confidence threshold.",
              range=(0.0, 1.0)),
    ParamSpec("tracker.birth_frames", 1, "Frames a new face must be seen before it gets an id.",
              range=(1, 100)),
    ParamSpec("tracker.max_missed", 5, "Frames a face may be missed before its id ends.",
              range=(0, 1000)),
    # keyframes (landmark fitting between regressor runs)
    ParamSpec("keyframe.interval", DEFAULT_INTERVAL, "Run the ResNet every N frames per face (1 = every frame); "
              "frames in between fit pose and expression to the landmarks (every frame regresses "
              "anyway while a regression costs no more than a fit).", range=RANGES["keyframe.interval"]),
    ParamSpec("keyframe.max_interval", DEFAULT_MAX_INTERVAL, "Background keyframes the CPU has "
              "no time for (one still running two intervals after it went in, or done while "
              "the frames kept most CPUs busy) double a face's interval, up to this many frames; "
              "one done before the next is due, with CPUs to spare, halves it again, down to "
              "keyframe.interval (at or below it: no stretching).",
              range=RANGES["keyframe.max_interval"]),
    ParamSpec("keyframe.drift_px", float(DEFAULT_DRIFT_PX), "Also run the ResNet when the fitted landmarks drift "
              "more than this (pixels, RMS) from the detected ones; 0 = off.", range=(0.0, 1000.0)),
    ParamSpec("keyframe.background", True, "Run keyframes after a face's first in a background "
              "thread below the frame path (the frame due one is fitted; the next frames take "
              "the new keyframe when it is done); false = inline, reproducible output."),
    # input
    ParamSpec("input.compressed", False, "Subscribe to image/compressed (sensor_msgs/"
              "CompressedImage) instead of image (sensor_msgs/Image)."),
    ParamSpec("input.reliability", "auto", "Reliability of the image subscription: auto (match "
              "the publishers: reliable when all of them are, else best effort; re-checked every "
              "2 s), reliable, best_effort.", choices=("auto", "reliable", "best_effort")),
    ParamSpec("input.max_pixels", 4096 * 2160, "Largest image accepted (width x height, raw and "
              "compressed; compressed sizes are read from the JPEG/PNG header before decoding); "
              "larger ones are refused with a warning. Default: 4K (4096x2160).",
              range=(1, 1 << 31)),
    # depth (doc/depth.md)
    ParamSpec("depth.enabled", False, "Subscribe to depth/image (sensor_msgs/Image, REP-118 "
              "16UC1 mm or 32FC1 m) and depth/camera_info: a depth image REGISTERED to the colour "
              "camera (same frame_id, e.g. a RealSense's aligned_depth_to_color/image_raw) makes "
              "each face's position measured (FaceVerseParams.depth_measured); off = colour only.",
              runtime=True),
    ParamSpec("depth.slop_s", 0.02, "Largest stamp difference (s) between a colour image and "
              "the depth image matched to it; farther ones are not used.", runtime=True,
              range=(0.0, 1.0)),
    ParamSpec("depth.wait_s", 0.03, "Longest wait (s) of a colour frame for its depth image "
              "while the depth stream is live but has nothing as new yet (drivers that align "
              "depth send it after the colour image); 0 = never wait.", runtime=True,
              range=(0.0, 0.5)),
    ParamSpec("depth.queue_size", 10, "Depth images kept for matching by stamp (the newest "
              "win).", range=(1, 100)),
    ParamSpec("camera.fx", 0.0, "Focal length x (px) used without camera_info; 0 = image width.",
              range=(0.0, 100000.0)),
    ParamSpec("camera.fy", 0.0, "Focal length y (px) used without camera_info; 0 = fx.",
              range=(0.0, 100000.0)),
    ParamSpec("camera.cx", -1.0, "Principal point x (px) used without camera_info; -1 = centre.",
              range=(-1.0, 100000.0)),
    ParamSpec("camera.cy", -1.0, "Principal point y (px) used without camera_info; -1 = centre.",
              range=(-1.0, 100000.0)),
    # outputs (run time)
    ParamSpec("publish.params", True, "Publish faceverse/params.", runtime=True),
    ParamSpec("publish.landmarks", True, "Fill the 478 landmarks in each FaceVerseParams.",
              runtime=True),
    ParamSpec("publish.tf", True, "Publish face_<id> and gaze_<id> on /tf.", runtime=True),
    ParamSpec("publish.debug_image", True, "Publish faceverse/debug_image (only computed while "
              "someone subscribes).", runtime=True),
    ParamSpec("publish.mesh", True, "Publish faceverse/mesh markers (only computed while someone "
              "subscribes): the FaceVerse mesh, or in landmark-only mode the MediaPipe face "
              "mesh.", runtime=True),
    ParamSpec("views.max_rate_hz", 10.0, "Most debug images and mesh arrays per second (they are "
              "built in their own thread; a cap keeps them from taking the CPU from the "
              "parameters); 0 = every frame.", runtime=True, range=(0.0, 1000.0)),
    ParamSpec("mesh.decimation", 16, "Keep about 1/N of the FaceVerse mesh vertices in the "
              "markers (the 468-vertex MediaPipe mesh is sent whole).",
              runtime=True, range=(1, 64)),
    ParamSpec("debug.render", True, "Draw the rendered face in the debug image (else only box, "
              "landmarks and axes).", runtime=True),
    ParamSpec("debug.render_decimation", 4, "Render the FaceVerse face in the debug image on a "
              "mesh decimated to about 1/N of its vertices, the head outside the model's "
              "face_mask in 3x larger cells (only those vertices are reconstructed; 4 looks "
              "like the full mesh at 256x256 and 640x480; 1 = full mesh).",
              runtime=True, range=(1, 64)),
    # face ids and the ROS4HRI (REP-155) topics
    ParamSpec("hri.enabled", True, "Publish the ROS4HRI (REP-155) topics /humans/faces/tracked "
              "and /humans/faces/<id>/{roi,cropped,aligned,landmarks,facs} when hri_msgs is "
              "installed (without it the node says so once and goes on)."),
    ParamSpec("humans.faces.width", 128, "Width (px) of /humans/faces/<id>/cropped and /aligned "
              "(REP-155's /humans/faces/width).", runtime=True, range=(1, 4096)),
    ParamSpec("humans.faces.height", 128, "Height (px) of /humans/faces/<id>/cropped and "
              "/aligned (REP-155's /humans/faces/height).", runtime=True, range=(1, 4096)),
    # diagnostics
    ParamSpec("diagnostics.period_s", 1.0, "Seconds between /diagnostics messages.",
              range=(0.1, 60.0)),
    ParamSpec("diagnostics.rate_warn_hz", 5.0, "WARN when the output rate falls below this while "
              "images arrive.", runtime=True, range=(0.0, 1000.0)),
    ParamSpec("diagnostics.rate_error_hz", 1.0, "ERROR below this output rate.", runtime=True,
              range=(0.0, 1000.0)),
    ParamSpec("diagnostics.latency_warn_ms", 200.0, "WARN when p95 latency (image received to "
              "params published) exceeds this.", runtime=True, range=(0.0, 100000.0)),
    ParamSpec("diagnostics.latency_error_ms", 1000.0, "ERROR above this p95 latency.",
              runtime=True, range=(0.0, 100000.0)),
] + _smoother_specs()

BY_NAME = {p.name: p for p in PARAMS}


def yaml_text():
    """config/faceverse.yaml as generated from PARAMS (`python -m faceverse_ros.ros.params`)."""
    import json
    import textwrap

    lines = ["# faceverse_ros node parameters and their defaults, generated from",
             "# faceverse_ros/ros/params.py (python -m faceverse_ros.ros.params > config/faceverse.yaml).",
             "# Use a copy with: ros2 launch faceverse_ros faceverse.launch.py params_file:=<copy>",
             "# or: faceverse-ros node --params-file <copy>. [runtime]: changeable with ros2 param set.",
             "# '/**' applies the section to the node under any namespace and name.",
             "/**:", "  ros__parameters:"]
    for p in PARAMS:
        extra = f" Choices: {', '.join(p.choices)}." if p.choices else \
            (f" Range: {p.range[0]}..{p.range[1]}." if p.range else "")
        tag = " [runtime]" if p.runtime else ""
        lines += ["    # " + line for line in textwrap.wrap(p.description + extra + tag, 92)]
        value = json.dumps(p.default) if not isinstance(p.default, float) else repr(p.default)
        lines.append(f"    {p.name}: {value}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(yaml_text(), end="")
