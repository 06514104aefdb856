"""Face id strings (pure Python, no ROS) shared by TF frames, FaceVerseParams.id and the ROS4HRI topics.

A face keeps the integer id the tracker gave it (``face_id``, never reused in a
run). Its string id is ``<prefix><face_id>``. REP-155 puts ids into topic names
(``/humans/faces/<id>/roi``), where a name token may not start with a digit, so
every prefix starts with a letter.

The prefix is the node parameter ``face_id_prefix``. Empty (the default) means
derived from the node's namespace, so trackers in different namespaces never
share a TF frame or an id: ``/`` -> ``f``, ``/robot1`` -> ``robot1_f``,
``/robot1/head_cam`` -> ``robot1_head_cam_f``.
"""
import re

_VALID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def default_prefix(namespace: str) -> str:
    """The prefix derived from a ROS namespace (see the module docstring)."""
    parts = [p for p in (namespace or "/").split("/") if p]
    return "_".join(parts + ["f"])


def resolve_prefix(parameter: str, namespace: str) -> str:
    """The prefix to use: the parameter when set, else the namespace's default.

    Raises ValueError with a readable reason for a prefix that cannot start a
    topic-name token or a TF frame id.
    """
    prefix = parameter if parameter else default_prefix(namespace)
    if not _VALID.match(prefix):
        raise ValueError(f"face_id_prefix must start with a letter and hold only letters, digits "
                         f"and '_' (got {prefix!r})")
    return prefix


def face_id_string(prefix: str, face_id: int) -> str:
    """``<prefix><face_id>``, e.g. ``f3``."""
    return f"{prefix}{int(face_id)}"
