"""The installed executables that `ros2 run` / `ros2 launch` and users start."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

VENV = Path(sys.prefix)
NODE_EXE = VENV / "lib" / "faceverse_ros" / "faceverse_node"
CLI_EXE = VENV / "bin" / "faceverse-ros"
pytestmark = pytest.mark.skipif(not NODE_EXE.exists(), reason="run ./scripts/setup.sh (colcon install)")


def test_node_executable_starts_with_ros_args_and_stops_on_sigint(rclpy_context):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray

    from conftest import spin_until

    proc = subprocess.Popen([str(NODE_EXE), "--ros-args", "-p", "landmark_only:=true",
                             "-p", "diagnostics.period_s:=0.2", "-r", "__ns:=/entry"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    node = rclpy.create_node("entry_listener", context=rclpy_context)
    got = []
    node.create_subscription(DiagnosticArray, "/diagnostics",
                             lambda m: got.extend(s.name for s in m.status), 10)
    try:
        assert spin_until(node, lambda: any("/entry/faceverse_node" in n for n in got), 120,
                          rclpy_context), "the installed node never published diagnostics"
    finally:
        node.destroy_node()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out[-2000:]
    assert "LANDMARK-ONLY MODE" in out


def test_node_executable_bad_asset_is_one_line_and_nonzero(tmp_path):
    proc = subprocess.run([str(NODE_EXE), "--ros-args", "-p", f"model_path:={tmp_path}/nope.npy"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.startswith("faceverse_node: error:")]
    assert len(lines) == 1 and "nope.npy" in lines[0] and "Traceback" not in proc.stderr


def test_cli_executable_help():
    proc = subprocess.run([str(CLI_EXE), "--help"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ))
    assert proc.returncode == 0 and "run" in proc.stdout and "node" in proc.stdout
