"""Start faceverse_ros next to a camera driver.

    ros2 launch faceverse_ros faceverse.launch.py image:=/camera/image_raw \
        camera_info:=/camera/camera_info rviz:=true

Arguments:
  image, camera_info   topics to subscribe to (remapped onto the node's `image`, `camera_info`)
  params_file          parameter file (default: the package's config/faceverse.yaml)
  namespace            namespace of the node (its outputs become <ns>/faceverse/...)
  camera               true: also start the v4l2_camera driver (package v4l2_camera)
  video_device         device for that driver (default /dev/video0)
  rviz                 true: also start RViz with the package's rviz/faceverse.rviz
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from faceverse_ros.ros.transport import launch_actions as dds_profile  # Fast DDS profile, issue 16


def generate_launch_description():
    share = FindPackageShare("faceverse_ros")
    args = [
        DeclareLaunchArgument("image", default_value="/camera/image_raw"),
        DeclareLaunchArgument("camera_info", default_value="/camera/camera_info"),
        DeclareLaunchArgument("params_file",
                              default_value=PathJoinSubstitution([share, "config", "faceverse.yaml"])),
        DeclareLaunchArgument("namespace", default_value=""),
        DeclareLaunchArgument("camera", default_value="false"),
        DeclareLaunchArgument("video_device", default_value="/dev/video0"),
        DeclareLaunchArgument("rviz", default_value="false"),
    ]
    image = LaunchConfiguration("image")
    camera_info = LaunchConfiguration("camera_info")
    tracker = Node(
        package="faceverse_ros",
        executable="faceverse_node",
        name="faceverse_node",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file")],
        remappings=[
            ("image", image),
            ("image/compressed", [image, "/compressed"]),
            ("camera_info", camera_info),
        ],
        output="screen",
    )
    camera = Node(
        package="v4l2_camera",
        executable="v4l2_camera_node",
        name="camera",
        parameters=[{"video_device": LaunchConfiguration("video_device")}],
        remappings=[("image_raw", image), ("camera_info", camera_info)],
        condition=IfCondition(LaunchConfiguration("camera")),
        output="screen",
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        arguments=["-d", PathJoinSubstitution([share, "rviz", "faceverse.rviz"])],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription(args + dds_profile() + [camera, tracker, rviz])
