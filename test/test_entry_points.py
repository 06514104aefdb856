"""The installed executables that `ros2 run` / `ros2 launch` and users start."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT, shared_path
from helpers.video import read_rgb

VENV = Path(sys.prefix)
NODE_EXE = VENV / "lib" / "faceverse_ros" / "faceverse_node"
CLI_EXE = VENV / "bin" / "faceverse-ros"
pytestmark = pytest.mark.skipif(not NODE_EXE.exists(), reason="run ./scripts/setup.sh (colcon install)")


def test_node_executable_starts_with_ros_args_and_stops_on_sigint(rclpy_context):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray

    from helpers.spin import spin_until

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


def test_cli_executable_runs_a_photo_and_refuses_an_unknown_command(tmp_path):
    """The installed faceverse-ros dispatches to its subcommands: `run` on a photo writes one
    face's params with every landmark inside the image; an unknown subcommand exits 2."""
    photo = shared_path("testdata/faces/portrait_small.jpg")
    proc = subprocess.run([str(CLI_EXE), "run", "--input", str(photo), "--output", str(tmp_path),
                           "--landmark-only", "--save-params", "--quiet"], capture_output=True,
                          text=True, timeout=300, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]
    saved = sorted(tmp_path.glob("*_face*.json"))
    assert [p.name for p in saved] == ["portrait_small_face0.json"]
    data = json.loads(saved[0].read_text())
    height, width = read_rgb(photo).shape[:2]
    px = np.asarray(data["landmarks_px"], float)
    assert px.shape == (478, 2)
    assert (px[:, 0] >= 0).all() and (px[:, 0] < width).all()
    assert (px[:, 1] >= 0).all() and (px[:, 1] < height).all()
    # an upright frontal face (MediaPipe mesh points): the nose tip (1) between the outer eye
    # corners (33: the person's right, on the image's left; 263) and below them, the chin (152)
    # below the nose
    nose, right_eye, left_eye, chin = px[1], px[33], px[263], px[152]
    assert right_eye[0] < nose[0] < left_eye[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < chin[1]
    assert data["position_m"][2] > 0                          # in front of the camera
    wrong = subprocess.run([str(CLI_EXE), "rnu"], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ))
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
