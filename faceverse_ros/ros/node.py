"""The faceverse_ros node: camera images in, face parameters, TF, debug views out.

Threading: the image callback only hands the message to a TwoStageRunner
(pipeline.py), which keeps the newest frame in a slot of one (a frame still
waiting when a newer one arrives is dropped and counted) and runs two worker
threads: the first converts the image and runs detection (frame t+1), the
second computes and publishes the faces (frame t). The executor keeps serving
camera_info, parameters and diagnostics meanwhile, and the output is always
about a recent image.

Follow a frame: _on_image -> _first_stage: convert (ros_convert),
FacePipeline.detect_stage (detect, ids, box smoothing) -> _second_stage:
FacePipeline.face_stage (crop, regress or fit, smooth, pose, mesh) ->
publish params (ros_messages) -> /tf -> debug image / mesh when subscribed.
"""
import sys
import threading
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, \
    SetParametersResult
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from faceverse_ros.msg import FaceVerseParamsArray
from faceverse_ros.tracking.pipeline import FacePipeline, PipelineConfig, TwoStageRunner
from faceverse_ros.ros.convert import ImageConversionError, compressed_to_rgb, image_to_rgb, \
    intrinsics_from_camera_info, rgb_to_image, stamp_to_seconds
from faceverse_ros.ros.markers import mesh_array
from faceverse_ros.ros.messages import face_transforms, params_array
from faceverse_ros.ros.params import BY_NAME, PARAMS, SMOOTHER_PARTS
from faceverse_ros.ros.tf import TfPublisher
from faceverse_ros.runtime.stats import LatencyStats, RateMeter

# Camera input: newest frame wins, never queue stale frames; best effort
# accepts both reliable and best-effort camera drivers.
SENSOR_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.BEST_EFFORT,
                        durability=DurabilityPolicy.VOLATILE)
OUTPUT_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.RELIABLE)
VIEW_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                      reliability=ReliabilityPolicy.RELIABLE)
WARN_EVERY_S = 5.0


def _descriptor(spec):
    d = ParameterDescriptor(description=spec.description, read_only=not spec.runtime)
    if spec.choices:
        d.additional_constraints = "one of: " + ", ".join(spec.choices)
    if spec.range is not None:
        lo, hi = spec.range
        if isinstance(spec.default, bool):
            pass
        elif isinstance(spec.default, int):
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
        else:
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi),
                                                         step=0.0)]
    return d


class _FaceVerseBehaviour:
    """The node's work, shared by FaceVerseNode (starts at once) and FaceVerseLifecycleNode
    (configure: load the pipeline and create the publishers; activate: subscribe and run)."""

    def _declare(self):
        for spec in PARAMS:
            self.declare_parameter(spec.name, spec.default, _descriptor(spec))
        self._p = {spec.name: self.get_parameter(spec.name).value for spec in PARAMS}
        for name, spec in BY_NAME.items():
            if spec.choices and self._p[name] not in spec.choices:
                raise ValueError(f"parameter {name}={self._p[name]!r} must be one of {spec.choices}")
        self.add_on_set_parameters_callback(self._check_params)
        self.add_post_set_parameters_callback(self._apply_params)
        self.pipeline = None
        self._camera_info = None
        self._warned_default_intrinsics = False
        self._lock = threading.Lock()
        self.counts = dict(received=0, processed=0, dropped=0, bad=0, faces=0)
        self._in_rate, self._out_rate = RateMeter(), RateMeter()
        self._latency = LatencyStats()
        self._fps_meter = RateMeter(window_s=1.0)
        self._last_views = -1e9
        self._active = []   # subscriptions and the timer of the active state
        self._runner = self._views = None

    def _configure(self):
        """Load the pipeline (assets, models) and create the publishers."""
        self.pipeline = FacePipeline(self._pipeline_config(), log=self.get_logger().info)
        if self.pipeline.landmark_only:
            self.get_logger().warning(
                "LANDMARK-ONLY MODE: " + self.pipeline.landmark_only_reason + " Publishing head "
                "pose, gaze and landmarks from MediaPipe; coefficient blocks are zero and every "
                "FaceVerseParams has mode=MODE_LANDMARK_ONLY.")
        self.params_pub = self.create_publisher(FaceVerseParamsArray, "faceverse/params", OUTPUT_QOS)
        self.debug_pub = self.create_publisher(Image, "faceverse/debug_image", VIEW_QOS)
        self.mesh_pub = self.create_publisher(MarkerArray, "faceverse/mesh", VIEW_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", OUTPUT_QOS)
        self.tf = TfPublisher(self)

    def _activate(self):
        """Start the worker threads, subscribe to the camera, publish diagnostics."""
        self._runner = TwoStageRunner(self._first_stage, self._second_stage, self._stage_failed)
        # debug image and mesh in threads of their own (newest frame wins): views never delay
        # the parameters and TF
        self._views = TwoStageRunner(self._build_views, self._publish_views, self._stage_failed,
                                     name="faceverse_views")
        if self._p["input.compressed"]:
            image = self.create_subscription(
                CompressedImage, "image/compressed", lambda m: self._on_image(m, compressed_to_rgb),
                SENSOR_QOS)
        else:
            image = self.create_subscription(Image, "image", lambda m: self._on_image(m, image_to_rgb),
                                             SENSOR_QOS)
        self._active = [
            image,
            self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, SENSOR_QOS),
            self.create_timer(float(self._p["diagnostics.period_s"]), self._publish_diagnostics),
        ]
        self.get_logger().info(
            f"faceverse_node active: {'compressed ' if self._p['input.compressed'] else ''}images "
            f"from {self.resolve_topic_name('image')}, engine {self._p['engine']}, detector "
            f"{self._p['detector']}, smoother {self._p['smoother.kind']}")

    def _deactivate(self):
        for entity in self._active:
            if hasattr(entity, "cancel"):
                self.destroy_timer(entity)
            else:
                self.destroy_subscription(entity)
        self._active = []
        for runner in (self._runner, self._views):
            if runner is not None:
                runner.close()
        self._runner = self._views = None

    def _cleanup(self):
        for name in ("params_pub", "debug_pub", "mesh_pub", "diag_pub"):
            pub = self.__dict__.pop(name, None)
            if pub is not None:
                self.destroy_publisher(pub)
        tf = self.__dict__.pop("tf", None)
        if tf is not None:
            tf.destroy()
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None

    # -- configuration --------------------------------------------------------------------------
    def _pipeline_config(self):
        p = self._p
        smoothing = dict(kind=p["smoother.kind"], max_gap_s=p["smoother.max_gap_s"])
        for part in SMOOTHER_PARTS:
            smoothing[part] = {k: p[f"smoother.{part}.{k}"] for k in ("min_cutoff", "beta", "d_cutoff")}
        return PipelineConfig(
            model_path=p["model_path"] or None, checkpoint_path=p["checkpoint_path"] or None,
            engine=p["engine"], onnx_path=p["onnx_path"] or None, device=p["device"],
            threads=p["threads"], detector=p["detector"], task_path=p["task_path"] or None,
            max_faces=p["max_faces"], min_detection_confidence=p["min_detection_confidence"],
            birth_frames=p["tracker.birth_frames"], max_missed=p["tracker.max_missed"],
            smoothing=smoothing, keyframe_interval=p["keyframe.interval"],
            keyframe_drift_px=p["keyframe.drift_px"], landmark_only=p["landmark_only"], stream=True)

    def _check_params(self, params):
        for param in params:
            spec = BY_NAME.get(param.name)
            if spec is not None and spec.choices and param.value not in spec.choices:
                return SetParametersResult(
                    successful=False, reason=f"{param.name} must be one of {', '.join(spec.choices)}")
        return SetParametersResult(successful=True)

    def _apply_params(self, params):
        for param in params:
            self._p[param.name] = param.value
            if self.pipeline is None:  # not configured yet: read at configure
                continue
            if param.name == "smoother.kind":
                self.pipeline.set_smoothing(kind=param.value)
            elif param.name == "smoother.max_gap_s":
                self.pipeline.set_smoothing(max_gap_s=param.value)
            elif param.name.startswith("smoother."):
                _, part, key = param.name.split(".")
                self.pipeline.set_smoothing(part=part, **{key: param.value})

    # -- input ----------------------------------------------------------------------------------
    def _on_camera_info(self, msg):
        self._camera_info = msg

    def _on_image(self, msg, convert):
        now = time.monotonic()
        runner = self._runner
        if runner is None:  # deactivating
            return
        with self._lock:
            self.counts["received"] += 1
            self._in_rate.tick(now)
        runner.submit((msg, convert, now))
        self.counts["dropped"] = runner.dropped

    def _intrinsics(self, width, height):
        info = self._camera_info
        if info is not None:
            k = intrinsics_from_camera_info(info)
            if k is not None:
                fx, fy, cx, cy = k
                if info.width and info.height and (info.width, info.height) != (width, height):
                    sx, sy = width / info.width, height / info.height  # binned / resized stream
                    fx, cx, fy, cy = fx * sx, cx * sx, fy * sy, cy * sy
                return fx, fy, cx, cy
        if not self._warned_default_intrinsics:
            self._warned_default_intrinsics = True
            self.get_logger().warning(
                "no valid camera_info yet: using the camera.* parameters / defaults (fx = image "
                "width, principal point at the centre); metric head positions are approximate")
        p = self._p
        fx = p["camera.fx"] or float(width)
        fy = p["camera.fy"] or fx
        cx = p["camera.cx"] if p["camera.cx"] >= 0 else (width - 1) / 2.0
        cy = p["camera.cy"] if p["camera.cy"] >= 0 else (height - 1) / 2.0
        return fx, fy, cx, cy

    # -- processing -----------------------------------------------------------------------------
    def _stage_failed(self, stage, exc):  # the node goes on; say what happened
        self.counts["bad"] += 1
        self.get_logger().error(f"frame failed in the {stage} stage: {type(exc).__name__}: {exc}",
                                throttle_duration_sec=WARN_EVERY_S)

    def _first_stage(self, item):
        msg, convert, received = item
        try:
            rgb = convert(msg)
        except ImageConversionError as exc:
            self.counts["bad"] += 1
            self.get_logger().warning(f"skipping image: {exc}", throttle_duration_sec=WARN_EVERY_S)
            return None
        height, width = rgb.shape[:2]
        staged = self.pipeline.detect_stage(rgb, stamp_to_seconds(msg.header.stamp),
                                            self._intrinsics(width, height))
        return msg, received, rgb, staged

    def _second_stage(self, item):
        msg, received, rgb, staged = item
        height, width = rgb.shape[:2]
        p = self._p
        result = self.pipeline.face_stage(staged)
        for problem in result.problems:
            self.counts["bad"] += 1
            self.get_logger().warning(problem, throttle_duration_sec=WARN_EVERY_S)
        faces = result.faces
        if p["publish.params"]:
            self.params_pub.publish(params_array(msg.header, faces, (width, height),
                                                 p["publish.landmarks"]))
        if p["publish.tf"] and faces:
            self.tf.send([t for f in faces for t in face_transforms(msg.header, f)])
        done = time.monotonic()
        self._latency.add(done - received)
        self._out_rate.tick(done)
        self._fps_meter.tick(done)
        self.counts["processed"] += 1
        self.counts["faces"] = len(faces)
        want_debug = p["publish.debug_image"] and self.debug_pub.get_subscription_count() > 0
        want_mesh = (p["publish.mesh"] and not self.pipeline.landmark_only
                     and self.mesh_pub.get_subscription_count() > 0)
        max_rate = p["views.max_rate_hz"]
        if (want_debug or want_mesh) and (max_rate <= 0 or done - self._last_views >= 1.0 / max_rate):
            # uncapped views are not counted: switching the cap on lets the next view through
            self._last_views = done if max_rate > 0 else -1e9
            self._views.submit((msg.header, rgb, result, want_debug, want_mesh,
                                self._fps_meter.rate(done)))

    def _build_views(self, item):
        header, rgb, result, want_debug, want_mesh, fps = item
        p = self._p
        if want_mesh or (want_debug and p["debug.render"]):
            self.pipeline.add_mesh(result)
        debug = self.pipeline.draw_debug(rgb, result, render=p["debug.render"], fps=fps) \
            if want_debug else None
        meshes = self.pipeline.mesh_for_markers(result, int(p["mesh.decimation"])) \
            if want_mesh else None
        return header, debug, meshes

    def _publish_views(self, item):
        header, debug, meshes = item
        if debug is not None:
            self.debug_pub.publish(rgb_to_image(debug, header))
        if meshes is not None:
            self.mesh_pub.publish(mesh_array(header, meshes))

    # -- diagnostics ----------------------------------------------------------------------------
    def _publish_diagnostics(self):
        now = time.monotonic()
        p = self._p
        in_rate, out_rate = self._in_rate.rate(now), self._out_rate.rate(now)
        p50, p95 = self._latency.percentile_ms(50), self._latency.percentile_ms(95)
        status = DiagnosticStatus(name=f"{self.get_fully_qualified_name()}: face tracking",
                                  hardware_id="faceverse_ros")
        if in_rate == 0.0:
            status.level, status.message = DiagnosticStatus.STALE, "no images arriving"
        elif out_rate < p["diagnostics.rate_error_hz"] or p95 > p["diagnostics.latency_error_ms"]:
            status.level, status.message = DiagnosticStatus.ERROR, "output rate or latency out of bounds"
        elif out_rate < p["diagnostics.rate_warn_hz"] or p95 > p["diagnostics.latency_warn_ms"]:
            status.level, status.message = DiagnosticStatus.WARN, "output rate or latency degraded"
        else:
            status.level, status.message = DiagnosticStatus.OK, "tracking"
        if self.pipeline.landmark_only:
            status.message += " (landmark-only mode)"
        values = dict(input_rate_hz=f"{in_rate:.2f}", output_rate_hz=f"{out_rate:.2f}",
                      latency_p50_ms=f"{p50:.1f}", latency_p95_ms=f"{p95:.1f}",
                      faces=str(self.counts["faces"]), dropped_frames=str(self.counts["dropped"]),
                      bad_frames=str(self.counts["bad"]), received_frames=str(self.counts["received"]),
                      processed_frames=str(self.counts["processed"]),
                      mode="landmark_only" if self.pipeline.landmark_only else "faceverse")
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(msg)

    def destroy_node(self):
        # also called by rclpy's shutdown on a node whose __init__ failed half-way
        if hasattr(self, "_active"):
            self._deactivate()
            self._cleanup()
        return super().destroy_node()


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
    rclpy.init(args=sys.argv if argv is None else argv)
    try:
        node = FaceVerseLifecycleNode() if lifecycle else FaceVerseNode()
    except Exception as exc:  # bad assets / parameters: one readable line, non-zero exit
        print(f"faceverse_node: error: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 1
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def lifecycle_main(argv=None):
    """Entry point of `ros2 run faceverse_ros faceverse_lifecycle_node`."""
    return main(argv, lifecycle=True)


if __name__ == "__main__":
    sys.exit(main())
