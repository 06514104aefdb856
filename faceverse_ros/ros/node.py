"""The faceverse_ros node: camera images in, face parameters, TF, debug views out.

Threading: the image callback only hands the frame to a PipelineWorker
(runtime/workers.py), which keeps the newest frame in a slot of one (a frame
still waiting when a newer one arrives is dropped and counted) and runs two
threads: the first decodes the image and runs detection (frame t+1), the
second the faces of frame t, then FrameOutputs.publish_frame (ros/outputs.py)
publishes them. The executor keeps serving camera_info, parameters and
diagnostics meanwhile.

Hook points (stable names): image_callback (a frame in), choose_intrinsics
(camera_info or the camera.* parameters for one frame), publish_frame (one
processed frame's params, TF, views and statistics, with that frame's header).
"""
import functools
import sys
import time

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, \
    SetParametersResult
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from faceverse_ros.core.camera import CameraIntrinsics
from faceverse_ros.ros import transport
from faceverse_ros.ros.cdr import RawImage
from faceverse_ros.ros.camera_info import FrameIdCheck, IntrinsicsFilter
from faceverse_ros.ros.convert import ImageConversionError, compressed_to_rgb, image_to_rgb, \
    stamp_to_seconds
from faceverse_ros.ros.messages import check_layout
from faceverse_ros.ros.outputs import OUTPUT_QOS, VIEW_QOS, FrameOutputs  # noqa: F401 (re-exported)
from faceverse_ros.ros import spin
from faceverse_ros.ros.compat import add_parameter_callbacks
from faceverse_ros.io.depth_input import DepthInput
from faceverse_ros.io.face_ids import resolve_prefix
from faceverse_ros.ros.param_check import ParameterValueError, accepts, checked_value
from faceverse_ros.ros.params import BY_NAME, PARAMS
from faceverse_ros.runtime.workers import FrameJob, PipelineWorker
from faceverse_ros.tracking.config import config_from_params, smoother_change
from faceverse_ros.tracking.pipeline import FacePipeline

# camera_info: newest wins; best effort accepts both kinds of drivers. The image subscription's
# reliability is the input.reliability parameter (ros/transport.py).
SENSOR_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.BEST_EFFORT,
                        durability=DurabilityPolicy.VOLATILE)
WARN_EVERY_S = 5.0


def _descriptor(spec):
    # types are checked by _check_params (param_check), not by rclpy's strict typing, which
    # would refuse an integer for a double (what users type) and say only "Wrong parameter type"
    d = ParameterDescriptor(description=spec.description, read_only=not spec.runtime,
                            dynamic_typing=True)
    if spec.choices:
        d.additional_constraints = "one of: " + ", ".join(spec.choices)
    if spec.range is not None and not isinstance(spec.default, bool):
        lo, hi = spec.range
        if isinstance(spec.default, int):
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
        else:
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi),
                                                         step=0.0)]
    return d


class _FaceVerseBehaviour:
    """The node's work, shared by FaceVerseNode (starts at once) and FaceVerseLifecycleNode
    (configure: load the pipeline and create the publishers; activate: subscribe and run)."""

    def _declare(self):
        """Declare every parameter; values as users write them (ros/param_check.py): an
        integer for a double is taken as a double, anything else that does not fit raises
        one ParameterValueError line (the executables print it and exit 1)."""
        # the values given at start (--ros-args -p, parameter files, launch, --set), checked
        # before rclpy's typed declaration sees them (getattr: rclpy keeps them in this
        # attribute on Humble to Kilted; without it rclpy's own refusal is reported)
        overrides = getattr(self, "_parameter_overrides", None)
        if isinstance(overrides, dict):
            for spec in PARAMS:
                given = overrides.get(spec.name)
                if given is not None:
                    value = checked_value(spec, given.value)
                    if type(value) is not type(given.value):
                        overrides[spec.name] = Parameter(spec.name, value=value)
        for spec in PARAMS:
            try:
                self.declare_parameter(spec.name, spec.default, _descriptor(spec))
            except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
                raise ParameterValueError(f"parameter {spec.name} must be {accepts(spec)}: "
                                          + " ".join(str(exc).split())) from None
        self._p = {spec.name: checked_value(spec, self.get_parameter(spec.name).value)
                   for spec in PARAMS}
        self.face_id_prefix = resolve_prefix(self._p["face_id_prefix"], self.get_namespace())
        unknown = sorted(name for name in (overrides or {}) if not self.has_parameter(name))
        if unknown:
            self.get_logger().warning(f"ignoring unknown parameters: {', '.join(unknown)} (the "
                                      "node's parameters are listed in config/faceverse.yaml)")
        self._parameter_callbacks_kind = add_parameter_callbacks(self, self._check_params,
                                                                 self._apply_params)
        self.pipeline = self.outputs = None
        self._camera_info = None
        self._warned_default_intrinsics = False
        self._intrinsics_filter = IntrinsicsFilter(warn_every_s=WARN_EVERY_S)
        self.frame_ids = FrameIdCheck()
        self._active = []   # subscriptions and the timer of the active state
        self._worker = None
        self._depth = None        # ros.depth_input.DepthInput while depth.enabled and active
        self._depth_subs = []

    @property
    def counts(self):
        """Frame counters (received, processed, dropped, bad, faces), thread-safe."""
        return self.outputs.counts

    def _configure(self):
        """Load the pipeline (assets, models) and create the publishers."""
        self.pipeline = FacePipeline(config_from_params(self._p), log=self.get_logger().info)
        check_layout(self.pipeline.layout)
        if self.pipeline.landmark_only:
            self.get_logger().warning(
                "LANDMARK-ONLY MODE: " + self.pipeline.landmark_only_reason + " Publishing head "
                "pose, gaze and landmarks from MediaPipe; coefficient blocks are zero and every "
                "FaceVerseParams has mode=MODE_LANDMARK_ONLY.")
        self.outputs = FrameOutputs(self, self._p, self.pipeline.model,
                                    self.pipeline.canonical_mesh, prefix=self.face_id_prefix)
        self.outputs.depth_values = self._depth_values

    def _activate(self):
        """Start the worker threads, subscribe to the camera, publish diagnostics."""
        self._worker = PipelineWorker(self.pipeline, self.publish_frame, self._stage_failed)
        self.outputs.start(self._view_failed)
        max_pixels, warn = self._p["input.max_pixels"], self._input_warning
        topic = "image/compressed" if self._p["input.compressed"] else "image"
        self._loss = transport.FrameLossMonitor(self.resolve_topic_name(topic))
        if self._p["input.compressed"]:
            convert = functools.partial(compressed_to_rgb, max_pixels=max_pixels, on_warning=warn)
            image = transport.ImageSubscription(
                self, CompressedImage, topic, lambda m: self.image_callback(m, convert),
                self._p["input.reliability"], on_lost=self._on_frames_lost)
        else:
            convert = functools.partial(image_to_rgb, max_pixels=max_pixels)
            image = transport.ImageSubscription(
                self, Image, topic, lambda m: self.image_callback(m, convert),
                self._p["input.reliability"], on_lost=self._on_frames_lost)
        self._image_subscription = image
        self._active = [
            image,
            self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, SENSOR_QOS),
            self.create_timer(float(self._p["diagnostics.period_s"]),
                              self.outputs.publish_diagnostics),
            self.create_timer(1.0, self._check_frame_loss),
        ]
        self._set_depth(self._p["depth.enabled"])
        self.get_logger().info(
            f"faceverse_node active: {'compressed ' if self._p['input.compressed'] else ''}images "
            f"from {self.resolve_topic_name('image')}, engine {self._p['engine']}, detector "
            f"{self._p['detector']}, smoother {self._p['smoother.kind']}, {image.reliability} "
            f"image subscription (input.reliability {self._p['input.reliability']})")

    def _set_depth(self, enabled):
        """Subscribe to depth/image and depth/camera_info (enabled) or stop (executor thread:
        start-up and `ros2 param set ... depth.enabled`)."""
        if enabled and not self._depth_subs:
            log = self.get_logger()
            self._depth = DepthInput(self._p["depth.slop_s"], self._p["depth.queue_size"],
                                     warn=log.warning, info=log.info,
                                     wait_s=self._p["depth.wait_s"])
            depth = self._depth
            self._depth_subs = [   # CDR bytes: no rclpy conversion of the image in this thread
                transport.ImageSubscription(self, Image, "depth/image",
                                            lambda data: self._on_depth(depth, data),
                                            self._p["input.reliability"], raw=True),
                self.create_subscription(CameraInfo, "depth/camera_info",
                                         self._depth.set_camera_info, SENSOR_QOS)]
            log.info(f"depth input on: {self.resolve_topic_name('depth/image')} matched to the "
                     f"colour images within {self._p['depth.slop_s']:g} s")
        elif not enabled and self._depth_subs:
            image, info = self._depth_subs
            image.destroy()
            self.destroy_subscription(info)
            self._depth_subs, self._depth = [], None
            self.get_logger().info("depth input off: positions from the colour images alone")

    @staticmethod
    def _on_depth(depth, data):
        try:
            depth.add(RawImage(data))
        except ValueError as exc:
            depth.note("cdr", f"depth image not readable, not used: {exc}")

    def _depth_values(self):
        """Diagnostics of the depth input (FrameOutputs.publish_diagnostics)."""
        depth = self._depth
        if depth is None:
            return {"depth": "off"}
        median, worst = depth.slop_ms()
        return {"depth": "on", "depth_matched_frames": str(depth.matched),
                "depth_unmatched_frames": str(depth.unmatched),
                "depth_slop_median_ms": f"{median:.1f}", "depth_slop_max_ms": f"{worst:.1f}"}

    def _deactivate(self):
        self._set_depth(False)
        for entity in self._active:
            if isinstance(entity, transport.ImageSubscription):
                entity.destroy()
            elif hasattr(entity, "cancel"):
                self.destroy_timer(entity)
            else:
                self.destroy_subscription(entity)
        self._active = []
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        if self.outputs is not None:
            self.outputs.stop()

    def _cleanup(self):
        if self.outputs is not None:
            self.outputs.destroy()
            self.outputs = None
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None

    # -- parameters -----------------------------------------------------------------------------
    def set_parameters(self, parameter_list):
        # every way to set parameters at run time (`ros2 param set`, the parameter services,
        # code) comes through these two: see _as_declared
        return super().set_parameters(_as_declared(parameter_list))

    def set_parameters_atomically(self, parameter_list):
        return super().set_parameters_atomically(_as_declared(parameter_list))

    def _check_params(self, params):
        """Run-time changes: refused with the reason (read-only, type, range, choices)."""
        for param in params:
            spec = BY_NAME.get(param.name)
            if spec is None:
                continue
            if not spec.runtime:
                return SetParametersResult(successful=False, reason=(
                    f"parameter {param.name} is read-only while the node runs: set it at start "
                    "(parameter file, --ros-args -p, launch)"))
            try:
                checked_value(spec, param.value)
            except ParameterValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply_params(self, params):
        for param in params:
            spec = BY_NAME.get(param.name)
            if spec is None:
                continue
            value = checked_value(spec, param.value)   # an integer for a double: a double
            self._p[param.name] = value
            if param.name == "depth.enabled" and self._worker is not None:
                self._set_depth(value)      # else: at activation
            elif param.name == "depth.slop_s" and self._depth is not None:
                self._depth.slop_s = float(value)
            elif param.name == "depth.wait_s" and self._depth is not None:
                self._depth.wait_s = float(value)
            change = smoother_change(param.name, value)
            if change is not None and self.pipeline is not None:  # else: read at configure
                self.pipeline.set_smoothing(**change)  # thread-safe: the tracks pick it up

    # -- input ----------------------------------------------------------------------------------
    def _on_camera_info(self, msg):
        self._camera_info = msg
        self._loss.add("camera_info")

    def _on_frames_lost(self, count):  # DDS: frames of a best-effort publisher that never came
        self._loss.add("lost", count)

    def _check_frame_loss(self):
        """Say once when the camera's frames are lost on the way (ros/transport.py)."""
        if self._loss.said is not None:
            return
        topic = self._image_subscription.topic
        best_effort = [i for i in self.get_publishers_info_by_topic(topic)
                       if transport.reliability_for_publishers([i.qos_profile.reliability])
                       == "best_effort"]
        warning = self._loss.check(publishers=len(best_effort))
        if warning:
            self.get_logger().warning(warning)

    def image_callback(self, msg, convert):
        """Hook: one image message in (executor thread): hand it to the worker."""
        now = time.monotonic()
        worker, outputs = self._worker, self.outputs
        if worker is None:  # deactivating
            return
        outputs.counts.add("received")
        self._loss.add("received")
        outputs.in_rate.tick(now)
        stamp, depth = stamp_to_seconds(msg.header.stamp), self._depth
        worker.submit(FrameJob(stamp, lambda: self._decode(msg, convert),
                               self.choose_intrinsics, tag=msg.header, received=now,
                               depth=None if depth is None else
                               lambda: self._match_depth(depth, stamp, msg.header.frame_id)))
        outputs.counts.set("dropped", worker.dropped)

    def _match_depth(self, depth, stamp, frame_id):
        """The depth image matched to one colour frame (worker thread), or None."""
        info = self._camera_info
        colour = None if info is None else (info.k, (info.width, info.height))
        return depth.match(stamp, frame_id, time.monotonic(), colour,
                           None if info is None else (info.width, info.height))

    def _decode(self, msg, convert):
        try:
            return convert(msg)
        except ImageConversionError as exc:
            self.outputs.counts.add("bad")
            self.get_logger().warning(f"skipping image: {exc}", throttle_duration_sec=WARN_EVERY_S)
            return None

    def _input_warning(self, text):  # decoder noise (libjpeg, OpenCV) as one line
        self.get_logger().warning(f"image input: {text}", throttle_duration_sec=WARN_EVERY_S)

    def choose_intrinsics(self, width, height) -> CameraIntrinsics:
        """Hook: the intrinsics of one (width x height) frame: the latest camera_info (scaled
        to the image size when the stream is binned or resized) when it passes the bounds of
        ros/camera_info.py, else the last good one, else the camera.* parameters over the
        documented default (core/camera.py); rejections are warned (throttled)."""
        p = self._p
        default = CameraIntrinsics.from_settings(width, height, p["camera.fx"], p["camera.fy"],
                                                 p["camera.cx"], p["camera.cy"])
        info = self._camera_info
        k, size = (info.k, (info.width, info.height)) if info is not None else (None, (0, 0))
        chosen, source, warning = self._intrinsics_filter.choose(
            k, size, (width, height), (default.fx, default.fy, default.cx, default.cy),
            time.monotonic())
        if warning:
            self.get_logger().warning(warning)  # throttled by the filter, with a count
        if source == "default" and not self._warned_default_intrinsics:
            self._warned_default_intrinsics = True
            self.get_logger().warning(
                "no valid camera_info yet: using the camera.* parameters / defaults (fx = image "
                "width, principal point at the centre); metric head positions are approximate")
        return default if source == "default" else CameraIntrinsics(*chosen)

    # -- output ---------------------------------------------------------------------------------
    def publish_frame(self, output):
        """Hook: one processed frame (runtime.workers.FrameOutput) out, in the worker thread."""
        for problem in output.result.problems:
            self.outputs.counts.add("bad")
            self.get_logger().warning(problem, throttle_duration_sec=WARN_EVERY_S)
        depth = self._depth
        for key, text in output.result.notes:   # depth not used for a face or frame: once each
            if depth is not None:
                depth.note(key, text)
        ok, warning = self.frame_ids.check(output.job.tag.frame_id)
        if warning:
            self.get_logger().warning(warning)  # once per bad frame_id
        self.outputs.publish_frame(output, tf=ok)

    # where a failure happened: the worker's stages, then the views (drawn after publishing)
    _STAGES = {"first": "the first stage (decoding, detection)",
               "second": "the second stage (faces, publishing)"}

    def _stage_failed(self, stage, exc):  # the node goes on; say what happened
        self.outputs.counts.add("bad")
        self.get_logger().error(f"frame failed in {self._STAGES.get(stage, stage)}: "
                                f"{type(exc).__name__}: {_one_line(exc)}",
                                throttle_duration_sec=WARN_EVERY_S)

    def _view_failed(self, stage, exc):  # the frame's params and TF are out already: not bad
        what = "drawing" if stage == "first" else "publishing"
        self.get_logger().warning(f"debug view failed ({what}; the frame's params were "
                                  f"published): {type(exc).__name__}: {_one_line(exc)}",
                                  throttle_duration_sec=WARN_EVERY_S)

    def destroy_node(self):
        # also called by rclpy's shutdown on a node whose __init__ failed half-way
        if hasattr(self, "_active"):
            self._deactivate()
            self._cleanup()
        return super().destroy_node()


def _as_declared(params):
    """An integer for a double parameter as that double (`ros2 param set ... beta 5` sends an
    integer): the parameter keeps its declared type instead of becoming an integer (the
    descriptors allow dynamic typing so that such a value is not refused). Other values are
    passed on as given and checked by _check_params."""
    out = []
    for param in params:
        spec = BY_NAME.get(param.name)
        if spec is not None and isinstance(spec.default, float) and type(param.value) is int:
            param = Parameter(param.name, value=float(param.value))
        out.append(param)
    return out


def _one_line(exc):
    return " ".join(str(exc).split())


class FaceVerseNode(_FaceVerseBehaviour, Node):
    """The node: configured and active as soon as it is made."""

    def __init__(self, **node_kwargs):
        Node.__init__(self, "faceverse_node", **node_kwargs)
        self._declare()
        self._configure()
        self._activate()


class FaceVerseLifecycleNode(_FaceVerseBehaviour, LifecycleNode):
    """The managed (lifecycle) variant: unconfigured at start; configure loads the FaceVerse
    files and models (a failure is logged and leaves it unconfigured), activate subscribes to
    the camera, deactivate stops, cleanup releases the models."""

    def __init__(self, **node_kwargs):
        LifecycleNode.__init__(self, "faceverse_node", **node_kwargs)
        self._declare()

    def on_configure(self, state):
        try:
            self._configure()
        except Exception as exc:  # noqa: BLE001 - reported; the node stays unconfigured
            self.get_logger().error(f"configure failed: {exc}")
            self._cleanup()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        self._activate()
        return super().on_activate(state)

    def on_deactivate(self, state):
        self._deactivate()
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        self._cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        self._deactivate()
        self._cleanup()
        return TransitionCallbackReturn.SUCCESS


def main(argv=None, lifecycle=False):
    """Entry point of `ros2 run faceverse_ros faceverse_node` (takes --ros-args)."""
    from faceverse_ros.runtime.native_logs import quiet_native_logs

    quiet_native_logs()   # MediaPipe's and TF Lite's INFO/WARNING lines; FACEVERSE_VERBOSE=1 keeps them
    try:  # the Fast DDS profile for large frames, before rclpy starts (ros/transport.py)
        dds_profile = transport.apply_profile()
    except transport.ProfileError as exc:
        print(f"faceverse_node: error: {exc}", file=sys.stderr)
        return 1
    spin.init(sys.argv if argv is None else argv)
    rclpy.logging.get_logger("faceverse_node").info(dds_profile)  # what this process's Fast DDS got
    try:
        node = FaceVerseLifecycleNode() if lifecycle else FaceVerseNode()
    except Exception as exc:  # bad assets / parameters: one readable line, non-zero exit
        print(f"faceverse_node: error: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 1
    spin.spin_until_signal([node])   # SIGINT / SIGTERM / SIGHUP: workers stop, then the context
    return 0


def lifecycle_main(argv=None):
    """Entry point of `ros2 run faceverse_ros faceverse_lifecycle_node`."""
    return main(argv, lifecycle=True)


if __name__ == "__main__":
    sys.exit(main())
