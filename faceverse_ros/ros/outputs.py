"""The node's outputs of one processed frame: params, TF, debug views, diagnostics.

:class:`FrameOutputs` owns the publishers, the rate and latency statistics
and the bounded :class:`~faceverse_ros.runtime.workers.FrameHistory` of recent
frames (header, image, intrinsics). :meth:`FrameOutputs.publish_frame` is the
one place a processed frame is published: every group of faces of one frame
(tracking.pipeline.FrameResult.groups) goes out with THAT frame's header (a
face describing an earlier frame, as with smoother kind "original", gets the
earlier frame's header); a frame without faces gets an empty array with its
own header. A frame older than the history (a track ended after more than
HISTORY_FRAMES frames unseen) gets a header rebuilt from its stamp in the
current frame_id, and no debug view. The debug image and the mesh markers are
drawn on / for the newest frame of the result, in the views worker, at most
views.max_rate_hz.
"""
import functools
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from faceverse_ros.msg import FaceVerseParamsArray
from faceverse_ros.ros.convert import rgb_to_image
from faceverse_ros.ros.hri import create_hri_publisher, hri_face
from faceverse_ros.io.face_ids import face_id_string, resolve_prefix
from faceverse_ros.ros.markers import mesh_array, mesh_array_cdr
from faceverse_ros.ros.messages import face_transforms, params_array
from faceverse_ros.ros.tf import TfPublisher
from faceverse_ros.runtime.stats import Counters, LatencyStats, RateMeter
from faceverse_ros.runtime.workers import FrameHistory, TwoStageRunner
from faceverse_ros.views.overlay import ViewBuilder, ViewRequest

OUTPUT_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.RELIABLE)
VIEW_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                      reliability=ReliabilityPolicy.RELIABLE)
# the views are worth less than the parameters (issue 14): their threads run at a lower OS
# priority, and the next view is built only once the views have used at most this share of
# one core since the last (building the views and their messages and sending them: 20 ms
# wait 113 ms), from the newest frame then: they drop their own frames, never the last one.
# 0.15: measured with bench/bench_node.py --configs fast (256x256 at 30 Hz), params fps with
# debug-image and mesh viewers / without 0.88 at 0.25, 0.91 at 0.15
VIEWS_NICE = 10
VIEWS_CPU_SHARE = 0.15
HISTORY_FRAMES = 16   # frames whose header / image a delayed or flushed result may need
COUNTERS = ("received", "processed", "dropped", "bad", "faces", "faces_published",
            "faces_depth_measured")


def header_for(stamp_s, like):
    """A header for ``stamp_s`` seconds in ``like``'s frame (a frame older than the history)."""
    h = Header(frame_id=like.frame_id)
    ns = int(round(stamp_s * 1e9))
    h.stamp.sec, h.stamp.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
    return h


class FrameOutputs:
    """Publishers and statistics of the node (see module doc)."""

    def __init__(self, node, params, model=None, canonical=None, prefix=None):
        self.node = node
        self._p = params            # the node's live parameter values (a dict it updates)
        self.params_pub = node.create_publisher(FaceVerseParamsArray, "faceverse/params",
                                                OUTPUT_QOS)
        self.debug_pub = node.create_publisher(Image, "faceverse/debug_image", VIEW_QOS)
        self.mesh_pub = node.create_publisher(MarkerArray, "faceverse/mesh", VIEW_QOS)
        self._mesh_raw = True   # the markers go out as CDR bytes (_publish_views)
        self.diag_pub = node.create_publisher(DiagnosticArray, "/diagnostics", OUTPUT_QOS)
        self.tf = TfPublisher(node)
        # face id prefix ((io/face_ids.py)): ids, TF frame names and the ROS4HRI topics
        self.id_prefix = prefix if prefix is not None else \
            resolve_prefix(params["face_id_prefix"], node.get_namespace())
        self.hri = create_hri_publisher(node, params["hri.enabled"], self._hri_size())
        self.counts = Counters(*COUNTERS)
        self.in_rate, self.out_rate = RateMeter(), RateMeter()
        self.latency = LatencyStats()
        self._fps = RateMeter(window_s=1.0)
        self._last_views = -1e9
        self._views_next = -1e9
        self.history = FrameHistory(HISTORY_FRAMES)
        self.landmark_only = model is None
        self._builder = ViewBuilder(model, canonical, face_label=functools.partial(
            face_id_string, self.id_prefix))   # the debug image names faces as the messages do
        self._views = None
        self.depth_values = lambda: {}   # extra diagnostics of the depth input (the node's)
        # no publish after destroy(): a worker still finishing a frame checks this under the lock
        self._publish_lock = threading.Lock()
        self._closed = False

    def _hri_size(self):
        return self._p["humans.faces.width"], self._p["humans.faces.height"]

    def start(self, on_error):
        """Start the views worker (build in one thread, publish in another)."""
        self._views = TwoStageRunner(self._timed_build, self._publish_views, on_error=on_error,
                                     name="faceverse_views", nice=VIEWS_NICE,
                                     cooldown=lambda: self._views_next - time.monotonic())

    def wait_views(self, timeout=None):
        """True once every view handed to the views worker was built and sent (or dropped for
        a newer one); True at once without a worker."""
        return self._views is None or self._views.wait_idle(timeout)

    def stop(self):
        if self._views is not None:
            self._views.close()
            self._views = None

    def destroy(self):
        self.stop()
        with self._publish_lock:
            self._closed = True
        for pub in (self.params_pub, self.debug_pub, self.mesh_pub, self.diag_pub):
            self.node.destroy_publisher(pub)
        self.tf.destroy()
        if self.hri is not None:
            self.hri.destroy()

    # -- one frame ------------------------------------------------------------------------------
    def publish_frame(self, output, tf=True):
        """Publish one processed frame (runtime.workers.FrameOutput whose job.tag is the
        image's header): params and TF per frame described, then the views. tf False: no /tf
        (the header's frame_id cannot be a tf2 parent). Nothing after destroy()."""
        with self._publish_lock:
            if not self._closed:
                self._publish_frame(output, tf)

    def _publish_frame(self, output, tf):
        job, result = output.job, output.result
        p = self._p
        header = job.tag
        self.history.add(job.stamp, (header, output.rgb, result.intrinsics))
        groups = result.groups()
        published = []
        for stamp, faces in groups or [(job.stamp, [])]:
            record = self.history.get(stamp)
            frame_header = record[0] if record is not None else header_for(stamp, header)
            if p["publish.params"]:
                self.params_pub.publish(params_array(frame_header, faces, result.image_size,
                                                     p["publish.landmarks"], self.id_prefix))
            if p["publish.tf"] and faces and tf:
                self.tf.send([t for f in faces for t in face_transforms(frame_header, f,
                                                                        self.id_prefix)])
            if self.hri is not None and record is not None:  # ROS4HRI needs that frame's image
                self.hri.set_size(self._hri_size())
                self.hri.publish(frame_header, record[1], [
                    hri_face(f, face_id_string(self.id_prefix, f.face_id)) for f in faces])
            published.append((record, faces))
        done = time.monotonic()
        self.latency.add(done - job.received)
        self.out_rate.tick(done)
        self._fps.tick(done)
        self.counts.add("processed")
        self.counts.set("faces", len(groups[-1][1]) if groups else 0)
        every = [f for _, group in groups for f in group]
        self.counts.add("faces_published", len(every))
        self.counts.add("faces_depth_measured", sum(bool(getattr(f, "depth_measured", False))
                                                    for f in every))
        record, faces = published[-1]
        if record is not None:
            self._submit_views(record, faces, done)

    def _submit_views(self, record, faces, now):
        p = self._p
        want_debug = p["publish.debug_image"] and self.debug_pub.get_subscription_count() > 0
        want_mesh = (p["publish.mesh"] and self._builder.triangles is not None
                     and self.mesh_pub.get_subscription_count() > 0)
        max_rate = p["views.max_rate_hz"]
        if not (want_debug or want_mesh) or self._views is None:
            return
        if max_rate > 0 and now - self._last_views < 1.0 / max_rate:
            return
        # uncapped views are not counted: switching the cap on lets the next view through
        self._last_views = now if max_rate > 0 else -1e9
        header, rgb, intrinsics = record
        self._views.submit(ViewRequest(rgb, faces, intrinsics, debug=want_debug, mesh=want_mesh,
                                       render=p["debug.render"],
                                       decimation=int(p["mesh.decimation"]),
                                       render_decimation=int(p["debug.render_decimation"]),
                                       fps=self._fps.rate(now), tag=header))

    def _timed_build(self, request):
        """Build the views and charge the time to the views' share (_charge_views)."""
        t = time.monotonic()
        try:
            return self._builder.build(request)
        finally:
            self._charge_views(t)

    def _charge_views(self, start):
        """Views work from ``start`` until now (c seconds) puts the next build at least
        c * (1 / VIEWS_CPU_SHARE - 1) later (after any charge already made: the build of one
        view and the sending of the last run in two threads)."""
        now = time.monotonic()
        self._views_next = max(self._views_next, now) + (now - start) * (1.0 / VIEWS_CPU_SHARE - 1.0)

    def _publish_views(self, views):
        # the messages are built outside the lock the parameters are published under, and
        # the MarkerArray is serialised there too (ros/cdr.py: 0.5-1 ms; as a message, rclpy
        # took about 15 ms to convert it in publish, with the GIL and that lock held)
        t = time.monotonic()
        try:
            debug = None if views.debug is None else rgb_to_image(views.debug, views.tag)
            mesh = None
            if views.meshes is not None:
                mesh = (mesh_array_cdr if self._mesh_raw else mesh_array)(views.tag, views.meshes)
            with self._publish_lock:
                if self._closed:
                    return
                if debug is not None:
                    self.debug_pub.publish(debug)
                if mesh is not None:
                    try:
                        self.mesh_pub.publish(mesh)
                    except TypeError:   # an rclpy that cannot send raw bytes: messages from now
                        self._mesh_raw = False
                        self.mesh_pub.publish(mesh_array(views.tag, views.meshes))
        finally:  # building and sending the messages count against the views' CPU share too
            self._charge_views(t)

    # -- diagnostics ----------------------------------------------------------------------------
    def publish_diagnostics(self):
        now = time.monotonic()
        p = self._p
        in_rate, out_rate = self.in_rate.rate(now), self.out_rate.rate(now)
        p50, p95 = self.latency.percentile_ms(50), self.latency.percentile_ms(95)
        status = DiagnosticStatus(name=f"{self.node.get_fully_qualified_name()}: face tracking",
                                  hardware_id="faceverse_ros")
        if in_rate == 0.0:
            status.level, status.message = DiagnosticStatus.STALE, "no images arriving"
        elif out_rate < p["diagnostics.rate_error_hz"] or p95 > p["diagnostics.latency_error_ms"]:
            status.level, status.message = DiagnosticStatus.ERROR, "output rate or latency out of bounds"
        elif out_rate < p["diagnostics.rate_warn_hz"] or p95 > p["diagnostics.latency_warn_ms"]:
            status.level, status.message = DiagnosticStatus.WARN, "output rate or latency degraded"
        else:
            status.level, status.message = DiagnosticStatus.OK, "tracking"
        if self.landmark_only:
            status.message += " (landmark-only mode)"
        c = self.counts.snapshot()
        values = dict(input_rate_hz=f"{in_rate:.2f}", output_rate_hz=f"{out_rate:.2f}",
                      latency_p50_ms=f"{p50:.1f}", latency_p95_ms=f"{p95:.1f}",
                      faces=str(c["faces"]), dropped_frames=str(c["dropped"]),
                      bad_frames=str(c["bad"]), received_frames=str(c["received"]),
                      processed_frames=str(c["processed"]),
                      mode="landmark_only" if self.landmark_only else "faceverse")
        depth = self.depth_values()
        seen = (c["faces_published"], c["faces_depth_measured"])
        last, self._depth_seen = getattr(self, "_depth_seen", (0, 0)), seen
        if depth.get("depth") == "on":  # faces published since the last diagnostics
            faces, measured = seen[0] - last[0], seen[1] - last[1]
            depth["depth_measured_face_share"] = f"{measured / faces:.3f}" if faces else "nan"
        values.update(depth)
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.diag_pub.publish(msg)
