"""What the tests and benches share: paths, waiting, a plain shell, video frames, spinning.

Import the submodules that need rclpy (`helpers.spin`, `helpers.node_harness`) only where
rclpy is wanted; this package itself imports neither rclpy nor OpenCV, so a test that skips
without rclpy can still import it.
"""
from helpers.paths import ROOT, SHARED, USER_EXE, shared_path
from helpers.shell import run_as_user
from helpers.waiting import wait_for

__all__ = ["ROOT", "SHARED", "USER_EXE", "shared_path", "run_as_user", "wait_for"]
