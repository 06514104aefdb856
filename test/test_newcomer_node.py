"""The node the way a newcomer starts it, with the real tools (ros2 run, ros2 launch,
ros2 param), in plain processes:

- `faceverse-ros node ... --ros-args ...` passes remaps, -p, --params-file and --log-level to
  rclpy like every ROS executable;
- `ros2 param set` with an integer for a double parameter keeps it a double (`param get`
  says "Double value is", `param describe` "Type: double"); integer parameters stay integers;
- the Fast DDS profile the process uses is said in the log under `ros2 run` and `ros2 launch`
  too, and only what is true (off, another RMW);
- `--localhost` on a distribution with ROS_AUTOMATIC_DISCOVERY_RANGE sets only that one
  (no ROS_LOCALHOST_ONLY deprecation warning);
- the log names settings that exist (task_path, not a `--task` the node does not have).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import ROOT
from launch_tools import Proc, launch, need_ros2_tools, ros2, stop_daemon

VENV = Path(sys.prefix)
CLI = VENV / "bin" / "faceverse-ros"
NODE_EXE = VENV / "lib" / "faceverse_ros" / "faceverse_node"
PROFILE_VARS = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE",
                "RMW_FASTRTPS_USE_QOS_FROM_XML", "FACEVERSE_DDS_PROFILE")
SHIPPED = str((ROOT / "config" / "fastdds_large_frames.xml").resolve())


def _param(*args, ok=None):
    ok = ok or (lambda out: out.returncode == 0 and "Node not found" not in out.stdout + out.stderr)
    return ros2("param", *args, timeout=60, retries=8, ok=ok)


@pytest.fixture(scope="module")
def remapped(tmp_path_factory):
    """`faceverse-ros node` with ROS arguments after --ros-args, as for any ROS executable."""
    need_ros2_tools()
    params = tmp_path_factory.mktemp("ros_args") / "p.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"mesh.decimation": 8}}}))
    node = Proc([CLI, "node", "--localhost", "--set", "landmark_only=true", "--ros-args",
                 "-r", "image:=/camera/image_raw", "-r", "__node:=fv_newcomer",
                 "-p", "smoother.box.beta:=3", "--params-file", params,
                 "--log-level", "rcl:=debug"], "remapped")
    try:
        assert node.wait_for(r"faceverse_node active", 180), node.output()[-4000:]
        yield node
    finally:
        node.interrupt()
        node.close()
        stop_daemon()


def test_ros_args_reach_rclpy(remapped):
    log = remapped.output()
    assert "images from /camera/image_raw" in log, log[-3000:]           # -r image:=...
    out = _param("get", "/fv_newcomer", "smoother.box.beta")              # -r __node:=, -p
    assert out.stdout.strip() == "Double value is: 3.0", out.stdout + out.stderr
    out = _param("get", "/fv_newcomer", "mesh.decimation")                # --params-file
    assert out.stdout.strip() == "Integer value is: 8", out.stdout + out.stderr
    info = ros2("topic", "info", "/camera/image_raw", retries=8,
                ok=lambda o: "Subscription count: 1" in o.stdout)
    assert "Subscription count: 1" in info.stdout, info.stdout + info.stderr


def test_ros_args_log_level(remapped):
    """--log-level rcl:=debug reaches rcl: its debug lines are printed (none at the default
    level: the other processes here print none)."""
    log = remapped.output()
    assert re.search(r"^\[DEBUG\] \[\d+\.\d+\] \[rcl\]", log, re.MULTILINE), log[-3000:]


def test_integer_set_on_a_double_parameter_stays_a_double(remapped):
    ok = lambda o: "Set parameter successful" in o.stdout  # noqa: E731
    assert ok(_param("set", "/fv_newcomer", "smoother.box.beta", "5", ok=ok))
    out = _param("get", "/fv_newcomer", "smoother.box.beta")
    assert out.stdout.strip() == "Double value is: 5.0", out.stdout + out.stderr
    out = _param("describe", "/fv_newcomer", "smoother.box.beta")
    assert "Type: double" in out.stdout, out.stdout
    # an integer parameter keeps integers, and a double for it is still refused
    assert ok(_param("set", "/fv_newcomer", "humans.faces.width", "96", ok=ok))
    out = _param("get", "/fv_newcomer", "humans.faces.width")
    assert out.stdout.strip() == "Integer value is: 96", out.stdout
    out = _param("set", "/fv_newcomer", "humans.faces.width", "96.5",
                 ok=lambda o: "Setting parameter failed" in o.stdout + o.stderr)
    assert "must be an integer" in out.stdout + out.stderr, out.stdout + out.stderr
    out = _param("get", "/fv_newcomer", "humans.faces.width")
    assert out.stdout.strip() == "Integer value is: 96", out.stdout


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARS}
    env.update(extra)
    return env


def _run_until_active(argv, env, name, pattern=r"faceverse_node active"):
    proc = subprocess.Popen([str(a) for a in argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = ""
    try:
        while True:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
            if re.search(pattern, seen):
                break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 2)
        rest, _ = proc.communicate(timeout=60)
    return seen + rest, proc.returncode


def test_ros2_run_says_the_dds_profile():
    need_ros2_tools()
    out, code = _run_until_active([VENV / "bin" / "ros2", "run", "faceverse_ros",
                                   "faceverse_node", "--ros-args", "-p", "landmark_only:=true"],
                                  _env(), "run")
    assert code == 0, out[-3000:]
    lines = [ln for ln in out.splitlines() if "DDS profile" in ln]
    assert len(lines) == 1 and SHIPPED in lines[0] and "this process" in lines[0], out[-3000:]


@pytest.mark.parametrize("extra, words", [
    ({"FACEVERSE_DDS_PROFILE": "off"}, "off (FACEVERSE_DDS_PROFILE=off); Fast DDS defaults"),
    ({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}, "not used with RMW_IMPLEMENTATION"),
])
def test_node_says_only_what_is_true(extra, words):
    """No profile claimed where none is used (the RMW is only read for the line: the node
    itself is not started with another RMW here)."""
    from faceverse_ros.ros import transport

    line = transport.apply_profile(_env(**extra))
    assert words in line and SHIPPED not in line


def test_fast_dds_2_ignores_the_fast_dds_3_variable():
    """A user's FASTDDS_DEFAULT_PROFILES_FILE on Jazzy (Fast DDS 2, which reads only
    FASTRTPS_DEFAULT_PROFILES_FILE) is not claimed as used: it is passed on under the name
    this Fast DDS reads."""
    from faceverse_ros.ros import transport

    environ = {"ROS_DISTRO": "jazzy", "FASTDDS_DEFAULT_PROFILES_FILE": "/mine.xml"}
    line = transport.apply_profile(environ)
    assert environ["FASTRTPS_DEFAULT_PROFILES_FILE"] == "/mine.xml"
    assert "not read by this Fast DDS" in line


def test_ros2_launch_says_the_dds_profile(tmp_path):
    need_ros2_tools()
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"landmark_only": True}}}))
    tracker = launch(f"params_file:={params}", name="profile_launch")
    try:
        assert tracker.wait_for(r"faceverse_node active", 180), tracker.output()[-4000:]
        out = tracker.output()
    finally:
        tracker.interrupt()
        tracker.close()
    lines = [ln for ln in out.splitlines() if "DDS profile" in ln]
    assert len(lines) == 1 and SHIPPED in lines[0], out[-3000:]


def test_localhost_sets_only_the_variable_this_distribution_reads():
    """Jazzy reads ROS_AUTOMATIC_DISCOVERY_RANGE and warns about ROS_LOCALHOST_ONLY whenever it
    is set: `--localhost` in a shell with neither set prints no deprecation warning."""
    env = {k: v for k, v in _env().items()
           if k not in ("ROS_LOCALHOST_ONLY", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
    out, code = _run_until_active([CLI, "node", "--localhost", "--set", "landmark_only=true"],
                                  env, "localhost", pattern=r"\[node\] running")
    # the node ran (its "[node] running" line) and stopped cleanly; the warning would come
    # at rclpy's start, before that line
    assert code == 0 and "[node] running" in out, out[-3000:]
    assert "ROS_LOCALHOST_ONLY is deprecated" not in out, out[-3000:]


def test_node_log_names_settings_that_exist(tmp_path):
    """Without a face_landmarker.task the node says how to give one with its own parameter,
    not with the command line's --task."""
    env = _env(FACEVERSE_DATA=str(tmp_path))
    out, code = _run_until_active([NODE_EXE, "--ros-args", "-p", "landmark_only:=true"], env,
                                  "names")
    line = next((ln for ln in out.splitlines() if "no face_landmarker.task found" in ln), "")
    assert "task_path" in line and "--task" not in line, out[-3000:]


def test_unknown_ros_argument_is_one_line():
    env = _env()
    out = subprocess.run([str(CLI), "node", "--localhost", "--set", "landmark_only=true",
                          "--ros-args", "--bogus"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2, out.stderr[-2000:]
    lines = [ln for ln in out.stderr.splitlines() if "error" in ln.lower()]
    assert lines == ["faceverse-ros: error: --ros-args: unknown ROS arguments: --bogus"], out.stderr
