"""faceverse_ros: real-time FaceVerse V4 face tracking for ROS 2.

Layers (subpackages; each __init__ says what it owns and may import), bottom up:
core (the FaceVerse model), landmarks (MediaPipe landmark geometry), runtime
(threads), io (sources, bags, message fields), tracking, views, cli, ros. One
module sits at the package root: paths.py (where data and caches live, the ROS
share folder included), which every layer may import.

The core modules of this package import no ROS code; the ROS layer
(``faceverse_ros.ros.node`` and friends) imports rclpy only when it is used.

The generated message modules (``faceverse_ros.msg``) are installed by the
package's CMake build into a *different* directory than the source tree in
development setups. ``extend_path`` makes every ``faceverse_ros`` directory on
``sys.path`` part of this package, so ``faceverse_ros.msg`` resolves next to
the source modules in a source checkout, an editable install and a colcon
install alike. Keep this file free of imports: the colcon install may replace
it with rosidl's empty ``__init__.py`` if the install order ever changes.
"""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
