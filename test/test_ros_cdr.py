"""ros/cdr.py against rclpy's own serialiser (rmw_serialize of the middleware in use): the
same message once each is read back with rclpy's deserialiser, and no longer (the padding
bytes are not compared: CDR leaves them unspecified and rclpy leaves them unset; Fast DDS's
length also counts alignment for the elements of an empty sequence of doubles that it does
not write, so only the mesh markers, which have none, are compared length for length)."""
import numpy as np
import pytest

pytest.importorskip("rclpy", reason="the CDR checks need rclpy's serialiser")
from builtin_interfaces.msg import Time  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue  # noqa: E402
from geometry_msgs.msg import Point  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, JointState  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from faceverse_ros.ros.cdr import ENCAPSULATION, serialize  # noqa: E402
from faceverse_ros.ros.markers import mesh_array, mesh_array_cdr  # noqa: E402


def same_as_rclpy(msg, ours, same_length=False):
    ref = serialize_message(msg)
    assert ours[:4] == ENCAPSULATION == ref[:4]
    assert len(ours) == len(ref) if same_length else len(ours) <= len(ref)
    assert deserialize_message(ours, type(msg)) == deserialize_message(ref, type(msg))


def mesh(seed, n_vertices, n_triangles):
    rng = np.random.default_rng(seed)
    verts = rng.normal(size=(n_vertices, 3)) * 0.1 + [0, 0, 0.8]
    cols = rng.uniform(-0.2, 1.2, (n_vertices, 3))      # clipped to [0, 1] in the marker
    tris = rng.integers(0, n_vertices, (n_triangles, 3))
    return verts, tris, cols


@pytest.mark.parametrize("frame_id", ["", "c", "cam", "camera_optical", "a" * 13])
def test_mesh_markers_as_rclpy_serialises_them(frame_id):
    # frame ids of several lengths move every later field off its alignment
    header = Header(frame_id=frame_id, stamp=Time(sec=17, nanosec=250_000_001))
    meshes = [(3, *mesh(1, 40, 61)), (12, *mesh(2, 7, 5))]
    for faces in ([], meshes[:1], meshes):
        for lifetime in (0.5, 1.25):
            same_as_rclpy(mesh_array(header, faces, lifetime),
                          mesh_array_cdr(header, faces, lifetime), same_length=True)


def test_mesh_markers_read_back_hold_the_corners():
    verts, tris, cols = mesh(3, 30, 20)
    got = deserialize_message(mesh_array_cdr(Header(frame_id="cam"), [(4, verts, tris, cols)]),
                              MarkerArray)
    clear, m = got.markers
    assert clear.action == Marker.DELETEALL and not clear.points
    assert (m.type, m.action, m.id) == (Marker.TRIANGLE_LIST, Marker.ADD, 4)
    np.testing.assert_array_equal([[p.x, p.y, p.z] for p in m.points], verts[tris.reshape(-1)])
    want = np.clip(cols, 0, 1)[tris.reshape(-1)].astype(np.float32)
    np.testing.assert_array_equal([[c.r, c.g, c.b] for c in m.colors], want)
    assert all(c.a == 1.0 for c in m.colors)


def test_other_messages_field_by_field():
    # fixed arrays, sequences of doubles and bytes, nested messages, booleans, byte fields
    info = CameraInfo(header=Header(frame_id="cam"), height=480, width=640,
                      distortion_model="plumb_bob", d=[0.1, -0.2, 0.0, 0.001, 0.3],
                      k=[500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0],
                      binning_x=2)
    info.roi.do_rectify = True
    info.roi.width = 7
    same_as_rclpy(info, serialize(info))
    jpeg = CompressedImage(header=Header(frame_id="x"), format="jpeg", data=bytes(range(13)))
    same_as_rclpy(jpeg, serialize(jpeg))
    diag = DiagnosticArray(header=Header(frame_id="abc"), status=[
        DiagnosticStatus(level=DiagnosticStatus.WARN, name="faceverse: rate", message="slow",
                         hardware_id="", values=[KeyValue(key="fps", value="12.5"),
                                                 KeyValue(key="p95", value="")]),
        DiagnosticStatus(level=DiagnosticStatus.OK, name="b")])
    same_as_rclpy(diag, serialize(diag))
    joints = JointState(header=Header(frame_id="base"), name=["neck_yaw", "", "eye"],
                        position=[0.1, -0.5, 2.0], velocity=[], effort=[1.5])   # string[]
    same_as_rclpy(joints, serialize(joints))
    joints.velocity = [0.25, 0.5, 1.0]
    same_as_rclpy(joints, serialize(joints), same_length=True)


def test_rows_stand_for_a_sequence_of_messages_only_when_they_fit():
    m = Marker()
    good = np.arange(12, dtype=np.float64).reshape(4, 3)
    ours = serialize(m, {id(m): {"points": good}})
    assert deserialize_message(ours, Marker).points == [Point(x=float(a), y=float(b), z=float(c))
                                                        for a, b, c in good]
    with pytest.raises(ValueError, match="rows of 3"):
        serialize(m, {id(m): {"points": good[:, :2]}})
    with pytest.raises(ValueError, match="one primitive type"):
        serialize(m, {id(m): {"header": good}})          # not a sequence
