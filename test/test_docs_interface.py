"""The documented ROS interface against a running node and the real ROS 2 tools.

A node with the video camera and the Tasks detector runs (`faceverse-ros node --camera ...
--localhost`, as the README starts it) until a face is tracked; then `ros2 topic list -t` and `ros2 param list`
(the tools from ../shared/ros2-python in .venv) are compared, both ways, with the tables of
doc/ros-interface.md (topics with their types, parameters) and the README's topic table;
`ros2 launch faceverse_ros faceverse.launch.py --show-args` with the launch argument table.
Something in the code but not in the docs fails, and so does something documented that the
node does not have.
"""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.paths import shared_path
from helpers.shell import stop_group
from doc_pages import ROOT, section, table_column

PAGE = ROOT / "doc" / "ros-interface.md"
README = ROOT / "README.md"
NODE = "/faceverse_node"
# what every rclpy node has, not the package's interface
ROS_OWN_TOPICS = {"/rosout", "/parameter_events"}
ROS_OWN_PARAMS = {"use_sim_time", "start_type_description_service"}
# documented topics this run cannot show, and why
NOT_IN_THIS_RUN = {"image/compressed": "only with input.compressed: true (this run: image)",
                   "depth/image": "only with depth.enabled: true (off by default)",
                   "depth/camera_info": "only with depth.enabled: true (off by default)",
                   "/humans/candidate_matches": "only with identity.enabled: true (off by default)",
                   "/humans/persons/tracked": "only with identity.enabled: true (off by default)",
                   "/humans/persons/known": "only with identity.enabled: true (off by default)",
                   "/humans/persons/<person_id>/face_id": "only with identity.enabled: true"}


def _tools_env():
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}"
    return env


def _ros2(*args, timeout=90):
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "ros2"), *args], cwd=ROOT, env=_tools_env(),
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"ros2 {' '.join(args)}: {out.stderr[-2000:]}"
    return out.stdout


def _topics():
    """{name: type} of the ROS graph (`ros2 topic list -t`)."""
    found = {}
    for line in _ros2("topic", "list", "-t", "--no-daemon", "--spin-time", "3").splitlines():
        m = re.fullmatch(r"(\S+) \[(\S+)\]", line.strip())
        if m:
            found[m.group(1)] = m.group(2)
    return found


@pytest.fixture(scope="module")
def running_node():
    if not (ROOT / ".venv" / "bin" / "ros2").exists():
        pytest.skip("no .venv with the ROS 2 tools (scripts/setup.sh with ../shared/ros2-python)")
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("the ROS 2 tools are those of .venv; this runs in the suite of that environment")
    video = shared_path("testdata/video/talking_256.mp4")
    task = shared_path("models/face_landmarker.task")     # the Tasks detector: every topic, facs too
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "faceverse-ros"), "node", "--camera", str(video),
                             "--loop", "--localhost", "--set", f"task_path={task}"], cwd=ROOT, env=_tools_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        topics = {}
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            topics = _topics()
            if any(re.fullmatch(r"/humans/faces/[^/]+/roi", t) for t in topics):
                break
            time.sleep(2)
        else:
            pytest.fail(f"no face tracked within 180 s; topics: {sorted(topics)}")
        time.sleep(2)           # the face's other topics come in the same frame
        yield _topics()
    finally:
        stop_group(proc)


def _absolute(name):
    return name if name.startswith("/") else "/" + name     # the node runs at the root namespace


def _documented_topics(text):
    names, types = table_column(text, 0), table_column(text, 1)
    return {n: t.split()[0] for n, t in zip(names, types)}


def compare_topics(documented, found):
    """Problems between {doc name: type} and {graph name: type}: missing both ways, types."""
    ids = {m.group(1) for t in found for m in [re.fullmatch(r"/humans/faces/([^/]+)/roi", t)] if m}
    problems = []
    expected = {}
    for name, kind in documented.items():
        names = [name.replace("<id>", i) for i in ids] if "<id>" in name else [name]
        for n in names:
            expected[_absolute(n)] = (name, kind)
    for topic, kind in sorted(found.items()):
        if topic in ROS_OWN_TOPICS:
            continue
        if topic not in expected:
            problems.append(f"{topic} [{kind}] is in the running graph but not in the docs")
        elif expected[topic][1] != kind:
            problems.append(f"{topic}: documented as {expected[topic][1]}, the node has {kind}")
    for topic, (name, kind) in sorted(expected.items()):
        if topic not in found and name not in NOT_IN_THIS_RUN:
            problems.append(f"{name} ({topic}) is documented but not in the running graph")
    return problems


def test_reference_topics_match_the_running_node(running_node):
    documented = _documented_topics(section(PAGE, "## Topics"))
    assert not compare_topics(documented, running_node), "\n".join(compare_topics(documented, running_node))


def test_readme_topics_match_the_running_node(running_node):
    documented = _documented_topics(section(README, "### Topics"))
    assert not compare_topics(documented, running_node), "\n".join(compare_topics(documented, running_node))


def test_parameters_match_the_running_node(running_node):
    out = ""
    for _ in range(3):      # discovery without the daemon: a loaded machine may need a retry
        run = subprocess.run([str(ROOT / ".venv" / "bin" / "ros2"), "param", "list", NODE, "--no-daemon",
                              "--spin-time", "5"], cwd=ROOT, env=_tools_env(), capture_output=True,
                             text=True, timeout=90)
        out = run.stdout
        if run.returncode == 0 and out.strip():
            break
    listed = {line.strip() for line in out.splitlines() if line.startswith("  ")}
    listed = {p for p in listed if p not in ROS_OWN_PARAMS and not p.startswith("qos_overrides.")}
    documented = set(table_column(section(PAGE, "## Parameters")))
    assert listed == documented, (f"in the node, not the docs: {sorted(listed - documented)}; "
                                  f"in the docs, not the node: {sorted(documented - listed)}")


def test_launch_arguments_match_show_args():
    if not (ROOT / ".venv" / "bin" / "ros2").exists():
        pytest.skip("no .venv with the ROS 2 tools")
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("the ROS 2 tools are those of .venv; this runs in the suite of that environment")
    env = _tools_env()
    env["AMENT_PREFIX_PATH"] = str(ROOT / ".venv")
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "ros2"), "launch", "faceverse_ros",
                          "faceverse.launch.py", "--show-args"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    shown = set(re.findall(r"^\s+'([^']+)':", out.stdout, flags=re.M))
    documented = set(table_column(section(PAGE, "## Launch arguments")))
    assert shown and shown == documented, (f"shown, not documented: {sorted(shown - documented)}; "
                                           f"documented, not shown: {sorted(documented - shown)}")


def test_topic_comparison_catches_both_directions():
    """The comparison itself, on a hand-made graph: an extra topic, a missing one, a type."""
    documented = {"faceverse/params": "faceverse_ros/msg/FaceVerseParamsArray",
                  "/humans/faces/<id>/roi": "hri_msgs/msg/NormalizedRegionOfInterest2D",
                  "/tf": "tf2_msgs/msg/TFMessage"}
    found = {"/faceverse/params": "faceverse_ros/msg/FaceVerseParamsArray",
             "/humans/faces/f0/roi": "hri_msgs/msg/NormalizedRegionOfInterest2D",
             "/faceverse/extra": "std_msgs/msg/String", "/rosout": "rcl_interfaces/msg/Log"}
    problems = compare_topics(documented, found)
    assert len(problems) == 2 and "/faceverse/extra" in problems[0] and "/tf" in problems[1], problems
    found["/tf"] = "std_msgs/msg/Empty"
    assert any("documented as tf2_msgs/msg/TFMessage" in p for p in compare_topics(documented, found))
