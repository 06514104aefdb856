"""Shared pytest setup.

DDS discovery is pinned to loopback *before* anything can import rclpy: these
machines must never multicast on the network.
"""
import os
import subprocess
import sys
from pathlib import Path

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_LOCALHOST_ONLY"] = "1"
# A DDS domain of this test session's own (inherited by the peer processes it starts), so
# that two test runs on one machine (a developer's and CI's) never read each other's topics.
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# session fixtures with synthetic FaceVerse assets (test/fixtures_assets.py)
pytest_plugins = ["fixtures_assets"]


def shared_path(relative: str) -> Path:
    """Path of a file in ../shared; skip without it, but fail under CI."""
    path = SHARED / relative
    if not path.exists():
        message = f"../shared/{relative} is not present beside the project root"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI must have it)")
        pytest.skip(message)
    return path


USER_EXE = ROOT / ".venv" / "bin" / "faceverse-ros"


def run_as_user(*args, env=None, home=ROOT, timeout=600):
    """`faceverse-ros ...` from a shell with nothing sourced (only HOME and PATH)."""
    base = ["env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin"] + [f"{k}={v}" for k, v in
                                                                  (env or {}).items()]
    return subprocess.run(base + [str(USER_EXE), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def rclpy_context():
    """One rclpy context for the whole session (DDS pinned to loopback above)."""
    import rclpy
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


def spin_until(node, predicate, timeout_s, context):
    """Spin `node` until predicate() is true or timeout_s passes; returns predicate()."""
    import time

    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        deadline = time.monotonic() + timeout_s
        while not predicate() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
    finally:
        executor.remove_node(node)
        executor.shutdown()
    return predicate()
