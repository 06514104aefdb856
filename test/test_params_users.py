"""Parameters as users write them, at start and at run time, on the node itself.

- An integer for a double parameter is accepted from --set, --ros-args -p and YAML files
  (launch files: test_launch.py), stored as a double.
- A wrong type, an out-of-range value or an unknown choice at start: one line naming the
  parameter, what it accepts and the value; exit 1; no traceback.
- At run time the same values are refused with that reason and change nothing.
- Humble's rclpy has no post-set callback: the fallback applies accepted values as well.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

rclpy = pytest.importorskip("rclpy", reason="the node needs rclpy (run ./scripts/setup.sh)")
from rclpy.context import Context  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from faceverse_ros.ros.node import FaceVerseLifecycleNode  # noqa: E402

VENV = Path(sys.prefix)
CLI = VENV / "bin" / "faceverse-ros"
NODE_EXE = VENV / "lib" / "faceverse_ros" / "faceverse_node"


@pytest.fixture
def context_with(tmp_path):
    """A fresh rclpy context started with the given command-line arguments."""
    made = []

    def make(*args):
        ctx = Context()
        rclpy.init(args=["faceverse_test", *args], context=ctx)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        rclpy.try_shutdown(context=ctx)


def _node(ctx, overrides=()):
    return FaceVerseLifecycleNode(context=ctx, parameter_overrides=list(overrides))


def _double(node, name):
    p = node.get_parameter(name)
    return p.type_, p.value


def test_integer_for_double_from_ros_args_yaml_and_overrides(context_with, tmp_path):
    yaml_file = tmp_path / "p.yaml"
    yaml_file.write_text("/**:\n  ros__parameters:\n    smoother.box.beta: 3\n    diagnostics.period_s: 2\n")
    cases = [
        (context_with("--ros-args", "-p", "smoother.box.beta:=3", "-p", "diagnostics.period_s:=2"), []),
        (context_with("--ros-args", "--params-file", str(yaml_file)), []),
        (context_with(), [Parameter("smoother.box.beta", value=3), Parameter("diagnostics.period_s", value=2)]),
    ]
    for ctx, overrides in cases:
        node = _node(ctx, overrides)
        try:
            assert _double(node, "smoother.box.beta") == (Parameter.Type.DOUBLE, 3.0)
            assert _double(node, "diagnostics.period_s") == (Parameter.Type.DOUBLE, 2.0)
            assert node._p["smoother.box.beta"] == 3.0 and isinstance(node._p["smoother.box.beta"], float)
        finally:
            node.destroy_node()


@pytest.mark.parametrize("value, words", [
    ("0", "parameter diagnostics.period_s must be a number in 0.1..60, got 0"),
    ("abc", "parameter diagnostics.period_s must be a number in 0.1..60, got 'abc'"),
])
def test_bad_value_from_ros_args_is_one_line(context_with, value, words):
    ctx = context_with("--ros-args", "-p", f"diagnostics.period_s:={value}")
    with pytest.raises(ValueError) as err:
        _node(ctx)
    assert str(err.value) == words


def _run(argv, timeout=180):
    env = dict(os.environ)
    return subprocess.run([str(a) for a in argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("setting, line", [
    ("max_faces=0", "faceverse-ros: error: parameter max_faces must be an integer in 1..16, got 0"),
    ("landmark_only=yes", "faceverse-ros: error: parameter landmark_only must be true or false, got 'yes'"),
    ("diagnostics.period_s=0", "faceverse-ros: error: parameter diagnostics.period_s must be a number in "
                               "0.1..60, got 0"),
    ("smoother.box.beta=3000", "faceverse-ros: error: parameter smoother.box.beta must be a number in "
                               "0..1000, got 3000"),
    ("smoother.kind=fast", "faceverse-ros: error: parameter smoother.kind must be one of: one_euro, "
                           "original, none, got 'fast'"),
    ("no_such_parameter=1", "faceverse-ros: error: unknown parameter no_such_parameter (the node's "
                            "parameters are listed in config/faceverse.yaml)"),
])
def test_cli_bad_parameter_is_one_line_and_exit_1(setting, line):
    if not CLI.exists():
        pytest.skip("run ./scripts/setup.sh (colcon install)")
    out = _run([CLI, "node", "--localhost", "--set", setting])
    assert out.returncode == 1, out.stderr[-2000:]
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert lines == [line] or lines[-1:] == [line] and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr


def test_node_executable_bad_parameter_is_one_line_and_exit_1():
    if not NODE_EXE.exists():
        pytest.skip("run ./scripts/setup.sh (colcon install)")
    out = _run([NODE_EXE, "--ros-args", "-p", "max_faces:=0"])
    assert out.returncode == 1, out.stderr[-2000:]
    assert "faceverse_node: error: parameter max_faces must be an integer in 1..16, got 0" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("name, value, reason", [
    ("smoother.box.beta", 3000.0, "1000"),   # rclpy's range check or ours: both name the range
    ("smoother.box.beta", "fast", "must be a number in 0..1000, got 'fast'"),
    ("smoother.kind", "bogus", "must be one of: one_euro, original, none, got 'bogus'"),
    ("publish.tf", 1, "must be true or false, got 1"),
    ("max_faces", 3, "read-only"),
])
def test_run_time_refusals_say_why_and_change_nothing(context_with, name, value, reason):
    node = _node(context_with())
    try:
        before = node._p[name]
        result = node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful and reason in result.reason, result.reason
        assert name in result.reason, result.reason
        assert node._p[name] == before and node.get_parameter(name).value == before
    finally:
        node.destroy_node()


def test_run_time_integer_for_double_is_accepted(context_with):
    node = _node(context_with())
    try:
        result = node.set_parameters([Parameter("smoother.box.beta", value=7)])[0]
        assert result.successful, result.reason
        assert node._p["smoother.box.beta"] == 7.0 and isinstance(node._p["smoother.box.beta"], float)
    finally:
        node.destroy_node()


def test_humble_fallback_applies_accepted_values(context_with, monkeypatch):
    """Without add_post_set_parameters_callback (Humble), accepted values still take effect."""
    import rclpy.node

    monkeypatch.delattr(rclpy.node.Node, "add_post_set_parameters_callback")
    node = _node(context_with())
    try:
        assert not hasattr(node, "add_post_set_parameters_callback")
        assert node._parameter_callbacks_kind == "on_set"
        assert node.set_parameters([Parameter("smoother.kind", value="original")])[0].successful
        assert node._p["smoother.kind"] == "original"
        refused = node.set_parameters([Parameter("smoother.kind", value="bogus")])[0]
        assert not refused.successful and node._p["smoother.kind"] == "original"
    finally:
        node.destroy_node()


def _flatten(tree, prefix=""):
    for name, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{name}.")
        else:
            yield prefix + name, value


def test_shipped_params_file_lists_the_declared_defaults(context_with):
    """config/faceverse.yaml, the file users copy to start from the defaults: every entry is a
    parameter of a node started without it, with the type the YAML value has and that value
    as its default; the node declares none that the file leaves out."""
    import yaml

    path = ROOT / "config" / "faceverse.yaml"
    entries = dict(_flatten(yaml.safe_load(path.read_text())["/**"]["ros__parameters"]))
    types = {bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER, float: Parameter.Type.DOUBLE,
             str: Parameter.Type.STRING}
    node = _node(context_with())
    try:
        rclpy_own = {"use_sim_time", "start_type_description_service"}   # rclpy's, not ours
        declared = {name for name in node._parameters
                    if not name.startswith("qos_overrides.") and name not in rclpy_own}
        assert declared == set(entries)
        for name, value in entries.items():
            got = node.get_parameter(name)
            if isinstance(value, list):
                assert list(got.value) == value, name
            else:
                assert got.type_ == types[type(value)], (name, got.type_, value)
                assert got.value == value, name
    finally:
        node.destroy_node()
