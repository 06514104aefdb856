"""Face id strings (ROS layer name for the rule in faceverse_ros.core.ids).

The rule itself is pure Python and lives in the core, so the ROS-free command
line (bag output) uses the same one; this module re-exports it for the node.
"""
from faceverse_ros.core.ids import default_prefix, face_id_string, resolve_prefix  # noqa: F401

__all__ = ["default_prefix", "face_id_string", "resolve_prefix"]
