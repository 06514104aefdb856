"""RViz markers for the face meshes (ROS layer).

The marker values come from faceverse_ros.io.face_fields.mesh_marker_fields
(shared with the bag writer); this module puts them into rclpy messages
(:func:`mesh_array`), or straight into the CDR bytes the node publishes
(:func:`mesh_array_cdr`: the same message, its corners written from NumPy
arrays, ros/cdr.py: far faster, and the GIL is held far shorter, than the rclpy
message for a face at the default `mesh.decimation`).
"""
import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from faceverse_ros.io.face_fields import MESH_NAMESPACE, mesh_marker_fields  # noqa: F401
from faceverse_ros.ros.cdr import serialize


def _marker(header, fields, with_corners=True):
    m = Marker()
    m.header = header
    m.ns, m.id, m.type, m.action = fields["ns"], fields["id"], fields["type"], fields["action"]
    m.pose.orientation.w = 1.0
    m.scale.x, m.scale.y, m.scale.z = fields["scale"]
    c = fields["color"]
    m.color.r, m.color.g, m.color.b, m.color.a = c["r"], c["g"], c["b"], c["a"]
    m.lifetime.sec, m.lifetime.nanosec = fields["lifetime"]
    if not with_corners:
        return m
    # one message object per vertex, referenced by every corner that uses it: building
    # three per triangle costs about ten times more
    vertex_points = [Point(x=x, y=y, z=z) for x, y, z in fields["vertex_points"]]
    vertex_colors = [ColorRGBA(r=r, g=g, b=b, a=a) for r, g, b, a in fields["vertex_colors"]]
    m.points = [vertex_points[i] for i in fields["corners"]]
    m.colors = [vertex_colors[i] for i in fields["corners"]]
    return m


def mesh_array(header, meshes, lifetime_s=0.5):
    """MarkerArray that first clears our namespace, then adds one mesh per face.

    meshes: iterable of (face_id, vertices_m, triangles, colors).
    """
    out = MarkerArray()
    out.markers = [_marker(header, f) for f in mesh_marker_fields(meshes, lifetime_s)]
    return out


def mesh_array_cdr(header, meshes, lifetime_s=0.5) -> bytes:
    """The CDR bytes of ``mesh_array(header, meshes, lifetime_s)`` (a Publisher of
    MarkerArray sends them as they are), without a message object per corner."""
    out = MarkerArray()
    arrays = {}
    for f in mesh_marker_fields(meshes, lifetime_s):
        m = _marker(header, f, with_corners=False)
        corners = f["corners"]
        arrays[id(m)] = {"points": f["vertex_points"][corners],
                         "colors": np.asarray(f["vertex_colors"], np.float32)[corners]}
        out.markers.append(m)
    return serialize(out, arrays)
