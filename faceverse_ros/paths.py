"""Where the package looks for data and writes caches (never its own install location).

Data (the FaceVerse files), in this order:

1. ``$FACEVERSE_DATA`` (a folder), when set;
2. ``data/`` in the current directory (a source checkout run from its root);
3. ``share/faceverse_ros/data`` of a ROS install (where colcon installs the
   package's ``data/``), found through the ament index when a ROS environment is
   sourced; in a plain shell (nothing sourced) the interpreter's own prefix
   (``sys.prefix/share/faceverse_ros/data``: scripts/setup.sh's environment is a
   ROS prefix with the package installed).

Caches (exported ONNX models, synthetic test files): ``$FACEVERSE_CACHE``
when set, else ``$XDG_CACHE_HOME/faceverse_ros`` (``~/.cache/faceverse_ros``).
"""
import os
import sys
from pathlib import Path
from typing import List, Optional

DATA_ENV = "FACEVERSE_DATA"
CACHE_ENV = "FACEVERSE_CACHE"


def ros_share_data() -> Optional[Path]:
    """share/faceverse_ros/data of a ROS install, if any."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:  # no ROS: the pip path
        return None
    try:
        return Path(get_package_share_directory("faceverse_ros")) / "data"
    except (PackageNotFoundError, ValueError, LookupError):  # a ROS environment without us
        return None
    except OSError:  # AMENT_PREFIX_PATH unset (a plain shell): the interpreter's own prefix
        share = Path(sys.prefix) / "share" / "faceverse_ros" / "data"
        return share if share.is_dir() else None


def data_dirs() -> List[Path]:
    """The folders searched for data files, in order (module doc)."""
    dirs = []
    env = os.environ.get(DATA_ENV)
    if env:
        dirs.append(Path(env))
    dirs.append(Path.cwd() / "data")
    share = ros_share_data()
    if share is not None:
        dirs.append(share)
    return dirs


def cache_root() -> Path:
    """The cache folder (module doc); not created here."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "faceverse_ros"
