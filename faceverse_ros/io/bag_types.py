"""Message types for reading and writing rosbag2 bags without ROS (rosbags' typestore).

The standard types (sensor_msgs, geometry_msgs, std_msgs, tf2_msgs,
visualization_msgs) come from rosbags' ROS 2 Kilted store, the distribution
of our wheels; ours (faceverse_ros/msg/FaceVerseParams and
FaceVerseParamsArray) are parsed from the package's own `.msg` files, so the
bag carries exactly the definitions the ROS build generates from.
"""
import functools
import os
import sys
from pathlib import Path

from faceverse_ros.io.sources import SourceError

PACKAGE = "faceverse_ros"
OUR_TYPES = ("FaceVerseParams", "FaceVerseParamsArray")


class BagError(SourceError):
    """A bag that cannot be read or written (one readable line)."""


def msg_dir():
    """The folder holding FaceVerseParams.msg: the source checkout's msg/, else an
    installed share/faceverse_ros/msg (this environment, then AMENT_PREFIX_PATH)."""
    here = Path(__file__).resolve().parents[2] / "msg"
    prefixes = [sys.prefix] + os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)
    candidates = [here] + [Path(p) / "share" / PACKAGE / "msg" for p in prefixes if p]
    for folder in candidates:
        if all((folder / f"{name}.msg").is_file() for name in OUR_TYPES):
            return folder
    raise BagError(f"cannot find {PACKAGE}'s message files (FaceVerseParams.msg) in "
                   f"{', '.join(str(c) for c in candidates)}")


@functools.lru_cache(maxsize=1)
def typestore():
    """The rosbags Typestore with the standard types and ours registered."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    folder = msg_dir()
    types = {}
    for name in OUR_TYPES:
        text = (folder / f"{name}.msg").read_text()
        types.update(get_types_from_msg(text, f"{PACKAGE}/msg/{name}"))
    store.register(types)
    return store

