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


@pytest.fixture(scope="session")
def rclpy_context():
    """One rclpy context for the whole session (DDS pinned to loopback above)."""
    import rclpy
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)
