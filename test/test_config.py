"""config/faceverse.yaml, the launch file and the RViz view agree with the code."""
import yaml

from helpers import ROOT
from faceverse_ros.ros.params import PARAMS, yaml_text


def test_config_file_is_the_generated_one():
    assert (ROOT / "config" / "faceverse.yaml").read_text() == yaml_text(), \
        "regenerate: python -m faceverse_ros.ros.params > config/faceverse.yaml"


def test_config_values_are_the_declared_defaults_with_their_types():
    data = yaml.safe_load((ROOT / "config" / "faceverse.yaml").read_text())
    values = data["/**"]["ros__parameters"]
    assert set(values) == {p.name for p in PARAMS}
    for p in PARAMS:
        assert values[p.name] == p.default and type(values[p.name]) is type(p.default), p.name


# The launch file itself is tested with the real launch tools: test/test_launch_checks.py
# (arguments, checks before anything starts) and test/test_launch.py (ros2 launch).


def test_rviz_view_shows_the_debug_image_tf_and_mesh():
    view = yaml.safe_load((ROOT / "rviz" / "faceverse.rviz").read_text())
    displays = {d["Class"]: d for d in view["Visualization Manager"]["Displays"]}
    assert displays["rviz_default_plugins/Image"]["Topic"]["Value"] == "faceverse/debug_image"
    assert displays["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == "faceverse/mesh"
    assert "rviz_default_plugins/TF" in displays
