"""The launch file's checks: before anything starts it refuses, in one line and with nothing
left running, what this machine cannot give (rviz2 / v4l2_camera missing, a parameter file
with no section for the node under its namespace, a bad flag); its arguments are described;
the RViz view and the parameter-file sections follow the namespace."""
import importlib.util

import pytest

from helpers import ROOT
from launch_tools import error_lines, launch, need_ros2_tools, ros2

LAUNCH_FILE = ROOT / "launch" / "faceverse.launch.py"


@pytest.fixture(scope="module")
def launch_module():
    pytest.importorskip("launch", reason="the ROS 2 launch tools (scripts/setup.sh dev/test extra)")
    spec = importlib.util.spec_from_file_location("faceverse_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_params_file_sections_follow_rcl_patterns(launch_module, tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("/**:\n  ros__parameters: {a: 1}\nfaceverse_node:\n  ros__parameters: {b: 2}\n"
                 "/robot1/*:\n  ros__parameters: {c: 3}\n")
    sections = launch_module.params_sections_for
    assert sections(str(f), "/faceverse_node") == ["/**", "faceverse_node"]
    assert sections(str(f), "/robot1/faceverse_node") == ["/**", "/robot1/*"]
    assert sections(str(f), "/robot2/faceverse_node") == ["/**"]
    g = tmp_path / "q.yaml"
    g.write_text("faceverse_node:\n  ros__parameters: {b: 2}\n")
    assert sections(str(g), "/robot1/faceverse_node") == []
    assert launch_module.node_fqn("robot1/") == "/robot1/faceverse_node"
    assert launch_module.node_fqn("") == "/faceverse_node"


def test_rviz_view_is_put_under_the_namespace(launch_module):
    source = str(ROOT / "rviz" / "faceverse.rviz")
    text = launch_module.rviz_view_for(source, "robot1", "robot1_cam_optical")
    assert "Value: /robot1/faceverse/debug_image" in text
    assert "Value: /robot1/faceverse/mesh" in text
    assert "Fixed Frame: robot1_cam_optical" in text and "camera_optical_frame" not in \
        text.split("Fixed Frame:")[1].splitlines()[0]
    root = launch_module.rviz_view_for(source, "", "camera_optical_frame")
    assert "Value: /faceverse/debug_image" in root and "//" not in root.replace("://", "")


def test_every_argument_is_described():
    need_ros2_tools()
    out = ros2("launch", "faceverse_ros", "faceverse.launch.py", "--show-args", timeout=120, retries=1)
    assert out.returncode == 0, out.stderr
    names = [line.strip().strip("'")[:-2] for line in out.stdout.splitlines() if line.strip().endswith("':")]
    assert {"namespace", "image", "camera_info", "params_file", "face_id_prefix", "frame_id",
            "fixed_frame", "rviz", "camera", "video_device", "rviz_config", "log_level"} <= set(names), names
    blocks = out.stdout.split("\n\n")
    for block in blocks:
        if block.strip().startswith("'"):
            lines = [ln.strip() for ln in block.strip().splitlines()]
            assert len(lines) >= 2 and "no description given" not in block, block


@pytest.mark.parametrize("args, words", [
    (["rviz:=true"], ["rviz:=true needs the ROS package rviz2", "nothing was started"]),
    (["camera:=true"], ["camera:=true needs the ROS package v4l2_camera", "nothing was started"]),
    (["namespace:=robot1", "params_file:=OLD"], ["has no section for /robot1/faceverse_node", "/**"]),
    (["rviz:=maybe"], ["rviz:='maybe' must be true or false"]),
    (["face_id_prefix:=9x"], ["face_id_prefix must start with a letter"]),
])
def test_launch_refuses_before_starting_anything(args, words, tmp_path):
    need_ros2_tools()
    old = tmp_path / "old.yaml"
    old.write_text("faceverse_node:\n  ros__parameters:\n    max_faces: 2\n")
    args = [a.replace("OLD", str(old)) for a in args]
    if any(a.startswith("rviz:=true") for a in args) and _installed("rviz2"):
        pytest.skip("rviz2 is installed here")
    if any(a.startswith("camera:=true") for a in args) and _installed("v4l2_camera"):
        pytest.skip("v4l2_camera is installed here")
    proc = launch(*args, name="refuse")
    try:
        proc.popen.wait(timeout=120)
        output = proc.output()
        assert proc.popen.returncode != 0, output
        for w in words:
            assert w in output, output
        assert "process started" not in output, output   # nothing was started
        assert len(error_lines(output)) == 1, output     # one line says why
        assert not proc.group_pids()
    finally:
        proc.close()


def _installed(package):
    out = ros2("pkg", "prefix", package, retries=1)
    return out.returncode == 0
