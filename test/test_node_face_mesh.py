"""The node's MediaPipe face mesh and blendshapes over real DDS (issue 11): landmark-only
mode with the Tasks detector (.task mesh, 52 blendshapes) and with the legacy detector
(tesselation mesh, no blendshapes), and the FaceVerse path (SYNTHETIC files) with the
Tasks detector, which still publishes blendshapes."""
import numpy as np
import pytest

from helpers import shared_path

rclpy = pytest.importorskip("rclpy", reason="the node needs rclpy (run ./scripts/setup.sh)")
from rclpy.parameter import Parameter  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from faceverse_ros.landmarks.blendshapes import BLENDSHAPE_NAMES  # noqa: E402
from faceverse_ros.msg import FaceVerseParams  # noqa: E402
from helpers.node_harness import FRAME, Harness, small_photo, stamp_key, wait_for  # noqa: E402


@pytest.fixture(scope="module")
def tasks_node(rclpy_context):
    h = Harness(rclpy_context, [Parameter("landmark_only", value=True),
                                Parameter("task_path",
                                          value=str(shared_path("models/face_landmarker.task"))),
                                Parameter("views.max_rate_hz", value=0.0)])
    yield h
    h.close()


@pytest.fixture(scope="module")
def legacy_node(rclpy_context):
    h = Harness(rclpy_context, [Parameter("landmark_only", value=True),
                                Parameter("detector", value="legacy"),
                                Parameter("views.max_rate_hz", value=0.0)])
    yield h
    h.close()


def _views_of(h, msg, timeout=30):
    """The debug image and the mesh array published for the image of ``msg`` (same stamp)."""
    key = stamp_key(msg.header)
    assert wait_for(lambda: any(stamp_key(d.header) == key for d in h.got["debug"]) and
                    any(m.markers and stamp_key(m.markers[-1].header) == key for m in h.got["mesh"]),
                    timeout)
    debug = [d for d in h.got["debug"] if stamp_key(d.header) == key][0]
    mesh = [m for m in h.got["mesh"] if m.markers and stamp_key(m.markers[-1].header) == key][0]
    return debug, mesh


def _check_mesh(mesh, msg, n_triangles):
    assert [m.action for m in mesh.markers] == [Marker.DELETEALL, Marker.ADD]
    tri = mesh.markers[1]
    assert tri.type == Marker.TRIANGLE_LIST and tri.header.frame_id == FRAME
    assert (tri.header.stamp.sec, tri.header.stamp.nanosec) == \
        (msg.header.stamp.sec, msg.header.stamp.nanosec)
    assert len(tri.points) == 3 * n_triangles and len(tri.colors) == 3 * n_triangles
    pts = np.array([[p.x, p.y, p.z] for p in tri.points])
    face = msg.faces[0]
    head = np.array([face.head_pose.position.x, face.head_pose.position.y,
                     face.head_pose.position.z])
    # a face-sized mesh around the published head pose, in front of the camera
    assert np.all(pts[:, 2] > 0)
    assert np.linalg.norm(pts.mean(axis=0) - head) < 0.08
    assert 0.10 < np.ptp(pts[:, 0]) < 0.25 and 0.12 < np.ptp(pts[:, 1]) < 0.30


def _check_rendered(debug, rgb, face):
    """The debug image differs from the input inside the face's box (the shaded mesh)
    much more than outside it (only the box line, labels and axes there)."""
    img = np.frombuffer(bytes(debug.data), np.uint8).reshape(debug.height, debug.width, 3)
    diff = np.abs(img.astype(int) - rgb.astype(int)).sum(axis=2) > 30
    r = face.roi
    inner = diff[r.y_offset + 5:r.y_offset + r.height - 5, r.x_offset + 5:r.x_offset + r.width - 5]
    assert inner.mean() > 0.3


def test_tasks_detector_blendshapes_and_the_task_mesh(tasks_node):
    tasks_node.watch_views()
    rgb = small_photo("portrait_small.jpg")
    msg = tasks_node.send_settled(rgb)
    assert msg is not None and len(msg.faces) == 1
    face = msg.faces[0]
    assert face.mode == FaceVerseParams.MODE_LANDMARK_ONLY
    weights = np.array(face.blendshapes)
    assert weights.shape == (len(BLENDSHAPE_NAMES),) == (52,)
    assert np.all((weights >= 0) & (weights <= 1)) and weights.max() > 0.1
    debug, mesh = _views_of(tasks_node, msg)
    _check_mesh(mesh, msg, 898)
    _check_rendered(debug, rgb, face)


def test_legacy_detector_no_blendshapes_and_the_tesselation_mesh(legacy_node):
    legacy_node.watch_views()
    rgb = small_photo("frontal_1080p.jpg")
    msg = legacy_node.send_settled(rgb)
    assert msg is not None and len(msg.faces) == 1
    assert msg.faces[0].mode == FaceVerseParams.MODE_LANDMARK_ONLY
    assert len(msg.faces[0].blendshapes) == 0
    debug, mesh = _views_of(legacy_node, msg)
    _check_mesh(mesh, msg, 852)
    _check_rendered(debug, rgb, msg.faces[0])


def test_faceverse_path_with_tasks_detector_publishes_blendshapes(rclpy_context, synthetic_assets):
    h = Harness(rclpy_context, [Parameter("model_path", value=str(synthetic_assets.model_path)),
                                Parameter("checkpoint_path",
                                          value=str(synthetic_assets.checkpoint_path)),
                                Parameter("detector", value="tasks"),
                                Parameter("keyframe.interval", value=1),  # the ResNet path
                                Parameter("task_path",
                                          value=str(shared_path("models/face_landmarker.task")))])
    try:
        msg = h.send_settled(small_photo("portrait_small.jpg"))
        assert msg is not None and len(msg.faces) == 1
        face = msg.faces[0]
        assert face.mode == FaceVerseParams.MODE_REGRESSOR
        assert len(face.blendshapes) == 52
        assert np.all((np.array(face.blendshapes) >= 0) & (np.array(face.blendshapes) <= 1))
    finally:
        h.close()
