"""The node with real rclpy over DDS: images in, params / TF / debug image / mesh / diagnostics out.

Two node set-ups, one per module-scoped fixture: landmark-only (no FaceVerse
files) and the full path with SYNTHETIC FaceVerse files (formats and code
paths only, never face accuracy).
"""
import threading
import time

import cv2
import numpy as np
import pytest

from conftest import shared_path

rclpy = pytest.importorskip("rclpy", reason="the node needs rclpy (run ./scripts/setup.sh)")
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from faceverse_ros.msg import FaceVerseParams, FaceVerseParamsArray  # noqa: E402
from faceverse_ros.ros.node import SENSOR_QOS, VIEW_QOS, FaceVerseNode  # noqa: E402
from faceverse_ros.ros.convert import rgb_to_image  # noqa: E402
from faceverse_ros.ros.tf import TF_QOS  # noqa: E402

FRAME = "test_camera_optical"
SIZES = dict(shape=156, expression=177, texture=251, lighting=27, rotation=3, translation=3, eyes=4)


def _image(name):
    bgr = cv2.imread(str(shared_path(f"testdata/faces/{name}")))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    scale = 480.0 / max(rgb.shape[:2])  # keep the tests quick: ~480 px frames
    return cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


RESEND_S = 5.0  # Harness.send: a best-effort frame not taken after this is sent again


class Harness:
    """The node under test plus a tester node, spun by an executor in a background thread."""

    _instances = 0

    def __init__(self, context, overrides):
        # each harness in its own namespace with its own stamps: no cross-talk between them
        Harness._instances += 1
        ns = f"h{Harness._instances}"
        # stamps 33 ms apart (a 30 Hz camera: the smoother is active); a scene change starts
        # after a 1 s gap (the smoother restarts), as a new shot would
        self.base = 10000 * Harness._instances
        self.t_ns = self.base * 10**9
        self.node = FaceVerseNode(context=context, parameter_overrides=overrides, namespace=ns)
        self.tester = rclpy.create_node("faceverse_tester", context=context, namespace=ns)
        self.image_pub = self.tester.create_publisher(Image, "image", SENSOR_QOS)
        self.info_pub = self.tester.create_publisher(CameraInfo, "camera_info", SENSOR_QOS)
        self.got = {"params": [], "tf": [], "debug": [], "mesh": [], "diag": []}
        t = self.tester
        t.create_subscription(FaceVerseParamsArray, "faceverse/params", self.got["params"].append, 10)
        t.create_subscription(TFMessage, "/tf", self.got["tf"].append, TF_QOS)
        t.create_subscription(DiagnosticArray, "/diagnostics", self.got["diag"].append, 10)
        self._debug_sub = self._mesh_sub = None
        # one thread, as the node's own spin (ros/spin.py); with rclpy's multi-threaded
        # executor a frame re-sent for a minute was not taken once in Kilted CI (cause not
        # shown; the multi-threaded executor is the suspect)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.tester)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        self.seq = 0

    def watch_views(self):
        if self._debug_sub is None:
            self._debug_sub = self.tester.create_subscription(
                Image, "faceverse/debug_image", self.got["debug"].append, VIEW_QOS)
            self._mesh_sub = self.tester.create_subscription(
                MarkerArray, "faceverse/mesh", self.got["mesh"].append, VIEW_QOS)
            wait_for(lambda: self.node.outputs.debug_pub.get_subscription_count() > 0, 10)

    def stamp(self, msg, gap=False):
        """Stamps msg 33 ms after the previous frame (1 s after it with gap=True)."""
        self.seq += 1
        self.t_ns += 10**9 if gap else FRAME_NS
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(self.t_ns, 10**9)
        msg.header.frame_id = FRAME
        return _key(msg.header)

    def send(self, msg, timeout=60.0, gap=False):
        """Publishes one image message (stamped 33 ms after the last) and waits for its params."""
        key = self.stamp(msg, gap)
        self.publish_taken(msg, timeout)
        return self.params_for(key)

    def publish_taken(self, msg, timeout=60.0):
        """Publishes a stamped image message and waits until the node took it (processed or
        refused as bad). Best-effort images: one published before DDS has matched the node's
        subscription is lost, and so, now and then under load, is a large one (UDP fragments
        on the loopback; seen in CI): this waits for the match and sends the same message
        (same stamp) again every RESEND_S while the node has not taken it."""
        processed = self.node.counts["processed"] + self.node.counts["bad"]
        wait_for(lambda: self.image_pub.get_subscription_count() > 0, 10)
        deadline = time.monotonic() + timeout
        while True:
            self.image_pub.publish(msg)
            if wait_for(lambda: self.node.counts["processed"] + self.node.counts["bad"] > processed,
                        min(RESEND_S, max(deadline - time.monotonic(), 0.0))):
                return
            if time.monotonic() >= deadline:
                c = self.node.counts
                raise AssertionError(
                    f"the node did not take the frame: received {c['received']}, processed "
                    f"{c['processed']}, dropped {c['dropped']}, bad {c['bad']} (a received count "
                    "that did not rise means the image never reached the node's callback)")

    def send_rgb(self, rgb, **kw):
        return self.send(rgb_to_image(rgb), **kw)

    def send_settled(self, rgb, **kw):
        """A new scene (after a 1 s gap): the params of the second of two copies of `rgb`
        (MediaPipe's tracking mode may need one frame to re-detect, as with a real camera)."""
        self.send_rgb(rgb, gap=True, **kw)
        return self.send_rgb(rgb, **kw)

    def params_for(self, key, timeout=10.0):
        found = []
        wait_for(lambda: found.extend(m for m in self.got["params"] if _key(m.header) == key)
                 or found, timeout)
        return found[0] if found else None

    def close(self):
        self.executor.shutdown()
        self._thread.join(timeout=10)
        self.node.destroy_node()
        self.tester.destroy_node()


FRAME_NS = 33_000_000


def _key(header):
    return header.stamp.sec, header.stamp.nanosec


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


@pytest.fixture(scope="module")
def landmark_node(rclpy_context):
    h = Harness(rclpy_context, [Parameter("landmark_only", value=True),
                                Parameter("views.max_rate_hz", value=0.0)])
    yield h
    h.close()


@pytest.fixture(scope="module")
def full_node(rclpy_context, synthetic_assets):
    h = Harness(rclpy_context, [Parameter("model_path", value=str(synthetic_assets.model_path)),
                                Parameter("checkpoint_path",
                                          value=str(synthetic_assets.checkpoint_path)),
                                Parameter("mesh.decimation", value=16),
                                Parameter("keyframe.interval", value=1),  # the ResNet path
                                Parameter("views.max_rate_hz", value=0.0)])
    yield h
    h.close()


def _rotation(q):
    x, y, z, w = q.x, q.y, q.z, q.w
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


# ------------------------------------------------------------------------- landmark-only path
def test_landmark_only_params_header_ids_and_sizes(landmark_node):
    rgb = _image("emma.jpg")
    ids = set()
    for _ in range(3):
        msg = landmark_node.send_rgb(rgb)
        assert msg is not None and msg.header.frame_id == FRAME
        assert _key(msg.header) == divmod(landmark_node.t_ns, 10**9)
        assert len(msg.faces) == 1
        face = msg.faces[0]
        assert face.mode == FaceVerseParams.MODE_LANDMARK_ONLY
        for name, size in SIZES.items():
            assert len(getattr(face, name)) == size
        assert not np.any(face.shape) and not np.any(face.expression)  # nothing invented
        assert len(face.landmarks) == 956
        assert 0 < face.roi.width <= rgb.shape[1] and face.roi.x_offset + face.roi.width <= rgb.shape[1]
        ids.add(face.face_id)
    assert len(ids) == 1


def test_frontal_face_tf_axes(landmark_node):
    """face_<id>: parent = image frame; x toward the camera, z up (REP-155)."""
    landmark_node.got["tf"].clear()
    msg = landmark_node.send_settled(_image("frontal_1080p.jpg"))
    # the REP-155 id string: prefix from the harness namespace /hN -> "hN_f" ((io/face_ids.py))
    face_id = msg.faces[0].id
    assert face_id == f"{landmark_node.node.get_namespace().strip('/')}_f{msg.faces[0].face_id}"
    assert wait_for(lambda: landmark_node.got["tf"], 10)
    frames = {t.child_frame_id: t for m in landmark_node.got["tf"] for t in m.transforms
              if _key(t.header) == _key(msg.header)}
    face, gaze = frames[f"face_{face_id}"], frames[f"gaze_{face_id}"]
    assert face.header.frame_id == gaze.header.frame_id == FRAME
    r = _rotation(face.transform.rotation)
    assert r[:, 0] @ np.array([0, 0, -1.0]) > 0.8, r   # x out of the face, toward the camera
    assert r[:, 2] @ np.array([0, -1.0, 0]) > 0.8, r   # z toward the scalp (image up)
    assert face.transform.translation.z > 0.1          # in front of the camera
    g = _rotation(gaze.transform.rotation)
    assert g[:, 2] @ np.array([0, 0, -1.0]) > 0.7      # looking roughly at the camera
    pose = msg.faces[0].head_pose
    assert pose.position.z == pytest.approx(face.transform.translation.z)


def test_gaze_target_over_dds_matches_the_gaze_frame(landmark_node):
    """A person looking into the lens: gaze_target "camera", and the published gaze_<id>
    z axis points from its origin to the camera within the documented cone."""
    from faceverse_ros.core.gaze_target import CAMERA_CONE_DEG
    landmark_node.got["tf"].clear()
    rgb = _image("portrait_small.jpg")
    msg = landmark_node.send_settled(rgb)
    for _ in range(3):               # a new face after another: re-detected within a few frames
        if msg.faces:
            break
        msg = landmark_node.send_rgb(rgb)
    face = msg.faces[0]
    assert (face.gaze_target, face.mutual_gaze) == (FaceVerseParams.GAZE_TARGET_CAMERA, False)
    assert 0 < face.gaze_target_confidence <= 1 and face.gaze_confidence > 0.9
    assert wait_for(lambda: landmark_node.got["tf"], 10)
    gaze = {t.child_frame_id: t for m in landmark_node.got["tf"] for t in m.transforms
            if _key(t.header) == _key(msg.header)}[f"gaze_{face.id}"]
    z = _rotation(gaze.transform.rotation)[:, 2]
    p = gaze.transform.translation
    to_camera = -np.array([p.x, p.y, p.z]) / np.linalg.norm([p.x, p.y, p.z])
    assert np.degrees(np.arccos(np.clip(z @ to_camera, -1, 1))) <= CAMERA_CONE_DEG


def test_no_face_gives_an_empty_array_and_no_tf(landmark_node):
    landmark_node.got["tf"].clear()
    blank = np.full((240, 320, 3), 90, np.uint8)
    msg = landmark_node.send_rgb(blank)
    assert msg is not None and msg.faces == []
    time.sleep(0.3)
    assert not [m for m in landmark_node.got["tf"]
                if m.transforms and _key(m.transforms[0].header) == _key(msg.header)]


def _bad_images():
    good = rgb_to_image(np.zeros((8, 8, 3), np.uint8))

    def variant(**changes):
        m = rgb_to_image(np.zeros((8, 8, 3), np.uint8))
        for k, v in changes.items():
            setattr(m, k, v)
        return m

    return {
        "unsupported encoding": variant(encoding="32FC1"),
        "zero size": variant(height=0, width=0, step=0, data=b""),
        "truncated": variant(data=bytes(good.data)[:50]),
        "step mismatch": variant(step=5),
    }


@pytest.mark.parametrize("case", list(_bad_images()))
def test_bad_images_are_skipped_and_the_node_goes_on(landmark_node, case):
    bad_before = landmark_node.node.counts["bad"]
    assert landmark_node.send(_bad_images()[case]) is None  # no params for a bad frame
    assert landmark_node.node.counts["bad"] == bad_before + 1
    msg = landmark_node.send_settled(_image("emma.jpg"))
    assert msg is not None and len(msg.faces) == 1


def test_corrupt_compressed_image_is_skipped(rclpy_context):
    h = Harness(rclpy_context, [Parameter("landmark_only", value=True),
                                Parameter("input.compressed", value=True)])
    try:
        pub = h.tester.create_publisher(CompressedImage, "image/compressed", SENSOR_QOS)
        assert wait_for(lambda: pub.get_subscription_count() > 0, 10)
        bad = CompressedImage(format="jpeg", data=b"\xff\xd8 broken")
        h.stamp(bad)
        pub.publish(bad)
        assert wait_for(lambda: h.node.counts["bad"] == 1, 20)
        ok, jpg = cv2.imencode(".jpg", _image("emma.jpg")[:, :, ::-1])
        good = CompressedImage(format="jpeg", data=jpg.tobytes())
        key = h.stamp(good)
        pub.publish(good)
        msg = h.params_for(key, timeout=30)
        assert msg is not None and len(msg.faces) == 1
    finally:
        h.close()


def test_debug_image_size_and_encoding(landmark_node):
    landmark_node.watch_views()
    rgb = _image("emma.jpg")
    msg = landmark_node.send_settled(rgb)
    assert wait_for(lambda: any(_key(d.header) == _key(msg.header)
                                for d in landmark_node.got["debug"]), 20)
    dbg = [d for d in landmark_node.got["debug"] if _key(d.header) == _key(msg.header)][0]
    assert (dbg.height, dbg.width, dbg.encoding) == (rgb.shape[0], rgb.shape[1], "rgb8")
    pixels = np.frombuffer(bytes(dbg.data), np.uint8).reshape(rgb.shape)
    assert np.any(pixels != rgb)  # something was drawn on it


def test_views_rate_cap(landmark_node):
    """At views.max_rate_hz 0.5, frames sent within t seconds get at most 1 + t / 2 views, and
    the first gets one. The views are counted once the views worker is idle and their messages
    arrived: the worker runs at a lower priority and after its CPU-share wait, which on a
    loaded CI machine took longer than a fixed sleep (stop 21's CI: 0 views seen)."""
    landmark_node.watch_views()
    node = landmark_node.node
    node.set_parameters([Parameter("views.max_rate_hz", value=0.5)])
    try:
        rgb = _image("emma.jpg")
        start = landmark_node.t_ns
        t0 = time.monotonic()
        landmark_node.send_settled(rgb)
        for _ in range(6):
            landmark_node.send_rgb(rgb)
        sent_s = time.monotonic() - t0
        assert node.outputs.wait_views(60)

        def seen():
            return {k for k in map(_key, (d.header for d in landmark_node.got["debug"]))
                    if start < k[0] * 10**9 + k[1] <= landmark_node.t_ns}

        assert wait_for(seen, 20)
        time.sleep(0.5)  # any later view (reliable, depth 1) is in by now
        # 8 frames; uncapped, the views' CPU share lets one in about every 0.1-0.2 s through
        assert 1 <= len(seen()) <= 1 + int(sent_s / 2.0), sent_s
    finally:
        node.set_parameters([Parameter("views.max_rate_hz", value=0.0)])


def test_camera_info_intrinsics_are_used(landmark_node):
    rgb = _image("emma.jpg")
    h, w = rgb.shape[:2]
    base = landmark_node.send_settled(rgb).faces[0].head_pose.position.z
    info = CameraInfo(width=w, height=h)
    info.k = [2.0 * w, 0.0, (w - 1) / 2, 0.0, 2.0 * w, (h - 1) / 2, 0.0, 0.0, 1.0]
    landmark_node.info_pub.publish(info)
    assert wait_for(lambda: landmark_node.node._camera_info is not None, 10)
    doubled = landmark_node.send_settled(rgb).faces[0].head_pose.position.z
    assert doubled == pytest.approx(2.0 * base, rel=0.05)  # twice the focal length: twice as far


def test_runtime_parameters(landmark_node):
    node = landmark_node.node
    res = node.set_parameters([Parameter("smoother.kind", value="one_euro"),
                               Parameter("smoother.box.beta", value=3.0)])
    assert all(r.successful for r in res)
    assert node.pipeline.smoothing.kind == "one_euro"
    assert node.pipeline.smoothing.params()["box"]["beta"] == 3.0
    bad = node.set_parameters([Parameter("smoother.kind", value="kalman")])[0]
    assert not bad.successful and "one of" in bad.reason
    read_only = node.set_parameters([Parameter("max_faces", value=3)])[0]
    assert not read_only.successful
    node.set_parameters([Parameter("smoother.kind", value="none")])


def test_diagnostics_report_rates_and_counts(landmark_node):
    landmark_node.got["diag"].clear()
    for _ in range(3):
        landmark_node.send_settled(_image("emma.jpg"))
    assert wait_for(lambda: landmark_node.got["diag"], 5)
    name = landmark_node.node.get_fully_qualified_name()
    assert wait_for(lambda: [m for m in landmark_node.got["diag"] if name in m.status[0].name], 5)
    status = [m for m in landmark_node.got["diag"] if name in m.status[0].name][-1].status[0]
    values = {kv.key: kv.value for kv in status.values}
    for key in ("input_rate_hz", "output_rate_hz", "latency_p50_ms", "latency_p95_ms", "faces",
                "dropped_frames", "bad_frames", "mode"):
        assert key in values
    assert values["mode"] == "landmark_only" and int(values["received_frames"]) >= 3
    assert float(values["latency_p50_ms"]) > 0


# ----------------------------------------------------------------------------- full path
def test_full_path_params_mesh_and_tf(full_node):
    full_node.watch_views()
    rgb = _image("emma.jpg")
    msg = None
    for _ in range(2):
        msg = full_node.send_rgb(rgb, timeout=120)
    assert msg is not None and len(msg.faces) == 1
    face = msg.faces[0]
    assert face.mode == FaceVerseParams.MODE_REGRESSOR
    for name, size in SIZES.items():
        values = np.asarray(getattr(face, name))
        assert values.shape == (size,) and np.all(np.isfinite(values))
    assert np.any(np.asarray(face.shape) != 0)  # the regressor's output, not zeros
    assert wait_for(lambda: any(m.markers and _key(m.markers[-1].header) == _key(msg.header)
                                for m in full_node.got["mesh"]), 30)
    mesh = [m for m in full_node.got["mesh"] if _key(m.markers[-1].header) == _key(msg.header)][0]
    assert [m.action for m in mesh.markers] == [Marker.DELETEALL, Marker.ADD]
    tri = mesh.markers[1]
    assert tri.type == Marker.TRIANGLE_LIST and tri.header.frame_id == FRAME
    assert len(tri.points) % 3 == 0 and len(tri.points) == len(tri.colors) > 300
    zs = np.array([p.z for p in tri.points])
    assert np.all(zs > 0)  # in front of the camera, metres
    assert full_node.node.outputs._mesh_raw   # sent as CDR bytes (ros/cdr.py), read as above
    dbg = [d for d in full_node.got["debug"] if _key(d.header) == _key(msg.header)]
    assert wait_for(lambda: dbg or [d for d in full_node.got["debug"]
                                    if _key(d.header) == _key(msg.header)], 20)


def test_nan_regressor_output_is_dropped_with_a_warning(full_node):
    regressor = full_node.node.pipeline.regressor
    original = regressor.predict
    regressor.predict = lambda crops: np.full((len(crops), 621), np.nan, np.float32)
    try:
        bad_before = full_node.node.counts["bad"]
        msg = full_node.send_rgb(_image("emma.jpg"), timeout=60)
        assert msg is not None and msg.faces == []
        assert full_node.node.counts["bad"] == bad_before + 1
    finally:
        regressor.predict = original
    msg = full_node.send_settled(_image("emma.jpg"), timeout=60)
    assert len(msg.faces) == 1


# ------------------------------------------------------------------------------- lifecycle
def test_lifecycle_node_transitions(rclpy_context):
    from lifecycle_msgs.msg import State

    from faceverse_ros.ros.node import FaceVerseLifecycleNode

    node = FaceVerseLifecycleNode(context=rclpy_context, namespace="lc",
                                  parameter_overrides=[Parameter("landmark_only", value=True)])
    tester = rclpy.create_node("lc_tester", context=rclpy_context, namespace="lc")
    pub = tester.create_publisher(Image, "image", SENSOR_QOS)
    got = []
    tester.create_subscription(FaceVerseParamsArray, "faceverse/params", got.append, 10)
    executor = MultiThreadedExecutor(num_threads=2, context=rclpy_context)
    executor.add_node(node)
    executor.add_node(tester)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        assert node.pipeline is None and pub.get_subscription_count() == 0  # unconfigured
        node.trigger_configure()
        assert node.pipeline is not None and node.pipeline.landmark_only
        assert node._state_machine.current_state[1] == "inactive"
        assert pub.get_subscription_count() == 0  # inactive: not subscribed to the camera
        node.trigger_activate()
        assert wait_for(lambda: pub.get_subscription_count() == 1, 10)
        msg = rgb_to_image(_image("emma.jpg"))
        msg.header.frame_id = FRAME
        pub.publish(msg)
        assert wait_for(lambda: got, 30) and got[0].header.frame_id == FRAME
        node.trigger_deactivate()
        assert wait_for(lambda: pub.get_subscription_count() == 0, 10)
        node.trigger_cleanup()
        assert node.pipeline is None
        assert node._state_machine.current_state[0] == State.PRIMARY_STATE_UNCONFIGURED
    finally:
        executor.shutdown()
        thread.join(timeout=10)
        node.destroy_node()
        tester.destroy_node()


def test_lifecycle_configure_failure_stays_unconfigured(rclpy_context, tmp_path):
    from lifecycle_msgs.msg import State

    from faceverse_ros.ros.node import FaceVerseLifecycleNode

    node = FaceVerseLifecycleNode(
        context=rclpy_context, namespace="lcbad",
        parameter_overrides=[Parameter("model_path", value=str(tmp_path / "missing.npy"))])
    try:
        node.trigger_configure()
        assert node.pipeline is None
        assert node._state_machine.current_state[0] == State.PRIMARY_STATE_UNCONFIGURED
    finally:
        node.destroy_node()
