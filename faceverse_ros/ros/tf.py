"""Publishing TF (ROS layer).

Uses tf2_ros's TransformBroadcaster when a real ROS install provides it.
Otherwise (the PyPI wheels have no tf2_ros) it publishes
``tf2_msgs/msg/TFMessage`` on ``/tf`` itself, with the QoS tf2_ros uses
(reliable, volatile, keep last 100), so any TF listener in the graph reads it.
"""
from geometry_msgs.msg import TransformStamped
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

try:  # a real ROS install
    from tf2_ros import TransformBroadcaster as _Broadcaster
except ImportError:  # PyPI wheels: tf2_msgs comes from our stand-in package if needed
    _Broadcaster = None

from tf2_msgs.msg import TFMessage

TF_QOS = QoSProfile(
    depth=100,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)


class TfPublisher:
    """Sends lists of geometry_msgs/TransformStamped to /tf."""

    def __init__(self, node, use_tf2_ros=True):
        self._node = node
        self.uses_tf2_ros = bool(use_tf2_ros and _Broadcaster is not None)
        if self.uses_tf2_ros:
            self._broadcaster = _Broadcaster(node)
            self._pub = None
        else:
            self._broadcaster = None
            self._pub = node.create_publisher(TFMessage, "/tf", TF_QOS)

    def destroy(self):
        """Release the publisher (lifecycle cleanup)."""
        if self._pub is not None:
            self._node.destroy_publisher(self._pub)
            self._pub = None
        self._broadcaster = None

    def send(self, transforms):
        transforms = list(transforms)
        if not transforms:
            return
        if self._broadcaster is not None:
            self._broadcaster.sendTransform(transforms)
        else:
            self._pub.publish(TFMessage(transforms=transforms))


def make_transform(stamp, parent, child, translation, quaternion_xyzw):
    """A TransformStamped from a translation (m) and a quaternion (x, y, z, w)."""
    t = TransformStamped()
    t.header.stamp = stamp
    t.header.frame_id = parent
    t.child_frame_id = child
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (
        float(v) for v in translation)
    q = t.transform.rotation
    q.x, q.y, q.z, q.w = (float(v) for v in quaternion_xyzw)
    return t
