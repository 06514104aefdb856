import numpy as np
import pytest

pytest.importorskip("rclpy", reason="markers need the ROS message packages")
from std_msgs.msg import Header  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from faceverse_ros.ros.markers import MESH_NAMESPACE, mesh_array  # noqa: E402


def test_triangle_list_has_each_corner_with_its_colour():
    verts = np.array([[0.0, 0.0, 1.0], [0.1, 0.0, 1.0], [0.0, 0.1, 1.2], [0.1, 0.1, 1.1]])
    cols = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [2.0, -1.0, 0.5]])
    tris = np.array([[0, 1, 2], [1, 3, 2]])
    out = mesh_array(Header(frame_id="cam"), [(4, verts, tris, cols)], lifetime_s=0.25)
    clear, mesh = out.markers
    assert clear.action == Marker.DELETEALL and clear.ns == MESH_NAMESPACE
    assert (mesh.type, mesh.action, mesh.id, mesh.header.frame_id) == (Marker.TRIANGLE_LIST, Marker.ADD, 4, "cam")
    assert mesh.lifetime.nanosec == 250_000_000
    got = np.array([[p.x, p.y, p.z] for p in mesh.points])
    assert np.allclose(got, verts[tris.reshape(-1)])
    got_c = np.array([[c.r, c.g, c.b] for c in mesh.colors])
    assert np.allclose(got_c, np.clip(cols, 0, 1)[tris.reshape(-1)])
    assert all(c.a == 1.0 for c in mesh.colors)


def test_no_faces_only_clears():
    out = mesh_array(Header(), [])
    assert [m.action for m in out.markers] == [Marker.DELETEALL]
