"""Start faceverse_ros next to a camera driver.

    ros2 launch faceverse_ros faceverse.launch.py image:=/camera/image_raw \
        camera_info:=/camera/camera_info rviz:=true
    ros2 launch faceverse_ros faceverse.launch.py --show-args     # every argument, described
    ros2 launch faceverse_ros faceverse.launch.py depth:=true \
        depth_image:=/camera/aligned_depth_to_color/image_raw \
        depth_camera_info:=/camera/aligned_depth_to_color/camera_info   # doc/depth.md

Before anything starts, the launch checks what it was asked for: the optional packages
(rviz2 for rviz:=true, v4l2_camera for camera:=true), the parameter file (it must exist and
have a section that applies to this node under its namespace: `/**:` does, as in
config/faceverse.yaml) and the face id prefix. A failed check ends the launch with one line
and nothing left running.

Under a namespace (namespace:=robot1) the node's outputs become /robot1/faceverse/..., its
TF frames /robot1's face_robot1_f<id> (the face_id_prefix rule, faceverse_ros/io/face_ids.py),
and RViz gets a copy of rviz/faceverse.rviz with the topics under the namespace and the
chosen fixed frame.
"""
import os
import re
import tempfile

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration

# the Fast DDS profile for large camera frames, set for every process this launch starts
# (the camera driver included): faceverse_ros/ros/transport.py, README "Camera frames between processes"
from faceverse_ros.ros.transport import launch_actions as dds_profile_actions

PACKAGE = "faceverse_ros"
NODE_NAME = "faceverse_node"

# name -> (default, description); a default of None is computed at launch time
ARGUMENTS = {
    "namespace": ("", "Namespace of the node (and of RViz and the camera driver): outputs become "
                      "<namespace>/faceverse/..., face ids and TF frames get the namespace's prefix."),
    "image": ("/camera/image_raw", "sensor_msgs/Image topic to track faces in (remapped onto the "
                                   "node's 'image'; '<image>/compressed' onto 'image/compressed')."),
    "camera_info": ("/camera/camera_info", "sensor_msgs/CameraInfo topic of that camera."),
    "params_file": (None, "Node parameter file (default: the package's config/faceverse.yaml). "
                          "Sections '/**:' apply under any namespace."),
    "face_id_prefix": ("", "Prefix of face ids and TF frames (face_<prefix><n>, gaze_<prefix><n>); "
                           "empty = derived from the namespace ('f' at the root, 'robot1_f' under "
                           "/robot1). Overrides the parameter file."),
    "depth": ("false", "true: also use a depth image registered to the colour camera "
                       "(parameter depth.enabled; doc/depth.md): face positions measured, not "
                       "guessed from an average eye distance."),
    "depth_image": ("/camera/aligned_depth_to_color/image_raw",
                    "Registered depth image topic (REP-118 16UC1 mm or 32FC1 m, the colour "
                    "image's frame_id; remapped onto the node's 'depth/image'), e.g. a "
                    "RealSense's aligned_depth_to_color/image_raw or a ZED's "
                    "depth/depth_registered (depth:=true)."),
    "depth_camera_info": ("/camera/aligned_depth_to_color/camera_info",
                          "CameraInfo topic of that depth image (remapped onto "
                          "'depth/camera_info')."),
    "log_level": ("info", "Log level of the node: debug, info, warn, error or fatal."),
    "camera": ("false", "true: also start the v4l2_camera driver (package v4l2_camera) publishing "
                        "<image> and <camera_info>."),
    "video_device": ("/dev/video0", "Video device of that driver (camera:=true)."),
    "frame_id": ("camera_optical_frame", "Optical frame id (x right, y down, z forward) the camera "
                                         "driver stamps its images with (camera:=true); the parent "
                                         "of the face and gaze TF frames."),
    "rviz": ("false", "true: also start RViz (package rviz2) with the package's view."),
    "rviz_config": (None, "RViz view file (default: the package's rviz/faceverse.rviz); its "
                          "faceverse/ topics are put under the namespace."),
    "fixed_frame": ("", "RViz fixed frame; empty = the frame_id argument."),
}

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class LaunchCheckError(RuntimeError):
    """A launch argument asks for something this machine cannot give: said in one line."""


def _share(package):
    """Share directory of an installed ROS package, or None."""
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        return get_package_share_directory(package)
    except (PackageNotFoundError, LookupError, ValueError, OSError):
        return None


def _flag(context, name):
    value = LaunchConfiguration(name).perform(context).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise LaunchCheckError(f"launch argument {name}:={value!r} must be true or false")


def normalize_namespace(namespace):
    """'' or '/' -> '/', 'robot1' or '/robot1/' -> '/robot1'."""
    parts = [p for p in (namespace or "").split("/") if p]
    return "/" + "/".join(parts)


def node_fqn(namespace, name=NODE_NAME):
    ns = normalize_namespace(namespace)
    return ("" if ns == "/" else ns) + "/" + name


def _key_regex(key):
    """rcl's node-name patterns in parameter files: '*' one token, '**' any tokens."""
    key = key if key.startswith("/") else "/" + key
    out = ""
    for token in re.split(r"(\*\*|\*)", key):
        out += {"**": ".*", "*": "[^/]*"}.get(token, re.escape(token))
    return re.compile("^" + out + "$")


def params_sections_for(path, fqn):
    """Top-level keys of the parameter file `path` that apply to the node `fqn` (raises
    LaunchCheckError for a missing or unreadable file)."""
    import yaml

    if not os.path.isfile(path):
        raise LaunchCheckError(f"params_file {path} not found")
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as exc:
        raise LaunchCheckError(f"params_file {path} is not valid YAML: {exc}".replace("\n", " "))
    if not isinstance(data, dict):
        raise LaunchCheckError(f"params_file {path} must map node names to ros__parameters")
    return [k for k in data if isinstance(k, str) and _key_regex(k).match(fqn)]


def rviz_view_for(source, namespace, fixed_frame):
    """The text of RViz view `source` with its relative faceverse/ topics under `namespace`
    and `fixed_frame` as the fixed frame."""
    with open(source) as f:
        text = f.read()
    ns = normalize_namespace(namespace)
    prefix = "" if ns == "/" else ns
    text = re.sub(r"(\bValue:\s*)/?(faceverse/[A-Za-z0-9_/]+)", lambda m: f"{m.group(1)}{prefix}/{m.group(2)}",
                  text)
    return re.sub(r"(\bFixed Frame:\s*)\S+", lambda m: m.group(1) + fixed_frame, text)


def _setup(context):
    from launch_ros.actions import Node

    from faceverse_ros.io.face_ids import resolve_prefix

    get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    namespace = normalize_namespace(get("namespace"))
    fqn = node_fqn(namespace)
    share = _share(PACKAGE)
    want_camera, want_rviz = _flag(context, "camera"), _flag(context, "rviz")
    want_depth = _flag(context, "depth")
    # --- every check first: nothing has started yet ---
    missing = [(pkg, arg) for pkg, arg, wanted in (("v4l2_camera", "camera", want_camera),
                                                   ("rviz2", "rviz", want_rviz))
               if wanted and _share(pkg) is None]
    if missing:
        raise LaunchCheckError(
            "; ".join(f"{arg}:=true needs the ROS package {pkg}, which is not installed "
                      f"(sudo apt install ros-$ROS_DISTRO-{pkg.replace('_', '-')}, or {arg}:=false)"
                      for pkg, arg in missing) + "; nothing was started")
    params_file = get("params_file") or os.path.join(share or "", "config", "faceverse.yaml")
    if not params_sections_for(params_file, fqn):
        raise LaunchCheckError(
            f"params_file {params_file} has no section for {fqn}: name it '/**:' (any "
            f"namespace) or '{fqn}:'; nothing was started")
    face_id_prefix = get("face_id_prefix")
    try:
        resolve_prefix(face_id_prefix, namespace)
    except ValueError as exc:
        raise LaunchCheckError(f"{exc}; nothing was started")
    frame_id = get("frame_id")
    fixed_frame = get("fixed_frame") or frame_id
    image, camera_info = get("image"), get("camera_info")
    rviz_config = get("rviz_config") or os.path.join(share or "", "rviz", "faceverse.rviz")
    if want_rviz and not os.path.isfile(rviz_config):
        raise LaunchCheckError(f"rviz_config {rviz_config} not found; nothing was started")

    # --- then the actions ---
    overrides = {"face_id_prefix": face_id_prefix} if face_id_prefix else {}
    if want_depth:
        overrides["depth.enabled"] = True
    actions = []
    if want_camera:
        actions.append(Node(
            package="v4l2_camera", executable="v4l2_camera_node", name="camera", namespace=namespace,
            parameters=[{"video_device": get("video_device"), "camera_frame_id": frame_id}],
            remappings=[("image_raw", image), ("camera_info", camera_info)], output="screen"))
    actions.append(Node(
        package=PACKAGE, executable=NODE_NAME, name=NODE_NAME, namespace=namespace,
        parameters=[params_file] + ([overrides] if overrides else []),
        remappings=[("image", image), ("image/compressed", image.rstrip("/") + "/compressed"),
                    ("camera_info", camera_info), ("depth/image", get("depth_image")),
                    ("depth/camera_info", get("depth_camera_info"))],
        arguments=["--ros-args", "--log-level", get("log_level")], output="screen"))
    if want_rviz:
        view = tempfile.NamedTemporaryFile("w", prefix="faceverse_", suffix=".rviz", delete=False)
        with view:
            view.write(rviz_view_for(rviz_config, namespace, fixed_frame))
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", namespace=namespace,
                            arguments=["-d", view.name], output="screen"))
    return actions


def generate_launch_description():
    args = []
    for name, (default, description) in ARGUMENTS.items():
        shown = default if default is not None else ""
        args.append(DeclareLaunchArgument(name, default_value=shown, description=description))
    return LaunchDescription(args + dds_profile_actions() + [OpaqueFunction(function=_setup)])
