"""Shared pytest setup.

DDS discovery is pinned to loopback *before* anything can import rclpy: these
machines must never multicast on the network.
"""
import os
import sys

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_LOCALHOST_ONLY"] = "1"
# A DDS domain of this test session's own (inherited by the peer processes it starts), so
# that two test runs on one machine (a developer's and CI's) never read each other's topics.
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))

import pytest  # noqa: E402

from helpers.paths import ROOT  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# session fixtures with synthetic FaceVerse assets (test/fixtures_assets.py)
pytest_plugins = ["fixtures_assets"]

# Markers (registered in pytest.ini) by test module. `slow`: starts processes or ROS peers,
# runs whole videos or builds; left out of the fast tier (scripts/test.sh --fast = -m "not
# slow"). `ros`: talks over DDS or needs the built messages (also given to every test that
# uses the rclpy_context fixture). `shell`: runs commands as a user does, in a plain shell.
SLOW = {"test_bag", "test_behaviour_golden", "test_bench", "test_cli", "test_cli_face_mesh",
        "test_colcon_test", "test_default_discovery", "test_delivery", "test_entry_points",
        "test_hri_listener", "test_humble_api", "test_keyframe_handover", "test_launch",
        "test_launch_checks", "test_node", "test_node_face_mesh", "test_node_frames",
        "test_node_inputs", "test_packaging", "test_params_users", "test_readme",
        "test_ros_bounds", "test_ros_foundation", "test_shutdown", "test_transport",
        "test_typecheck", "test_bag_depth", "test_driver_defaults", "test_launch_depth",
        "test_newcomer_cli", "test_newcomer_node", "test_node_depth", "test_gaze",
        "test_standin", "test_depth_pipeline", "test_groups", "test_identity_faces",
        "test_identity_node", "test_identity_cli", "test_identity_prior", "test_docs_interface",
        "test_docs_commands"}
ROS = {"test_delivery", "test_entry_points", "test_hri", "test_hri_listener", "test_humble_api",
       "test_launch", "test_node", "test_node_face_mesh", "test_node_frames", "test_node_inputs",
       "test_params_users", "test_ros_bounds", "test_ros_cdr", "test_ros_convert",
       "test_ros_foundation", "test_ros_markers", "test_transport", "test_depth_input",
       "test_driver_defaults", "test_launch_depth", "test_newcomer_node", "test_node_depth",
       "test_identity_node", "test_docs_interface"}
SHELL = {"test_behaviour_golden", "test_bench", "test_cli", "test_cli_face_mesh", "test_readme",
         "test_packaging", "test_newcomer_cli", "test_identity_cli", "test_docs_commands"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.path.stem
        if module in SLOW:
            item.add_marker(pytest.mark.slow)
        if module in ROS or "rclpy_context" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ros)
        if module in SHELL:
            item.add_marker(pytest.mark.shell)


@pytest.fixture(scope="session")
def rclpy_context():
    """One rclpy context for the whole session (DDS pinned to loopback above)."""
    import rclpy
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)
