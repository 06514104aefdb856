"""config/faceverse.yaml, the launch file and the RViz view agree with the code."""
import sys

import yaml

from conftest import ROOT
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


class _Recorded:
    """Stand-in for a launch / launch_ros class: keeps what it was made with."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __eq__(self, other):
        return type(self) is type(other) and (self.args, self.kwargs) == (other.args, other.kwargs)

    def __repr__(self):
        return f"{type(self).__name__}{self.args}{self.kwargs}"


def _launch_description(monkeypatch):
    """Runs generate_launch_description() with recording stand-ins for launch and
    launch_ros (not installed in the PyPI environment); returns the recorded classes and
    the description."""
    import runpy
    import types

    names = {"launch": ["LaunchDescription"], "launch.actions": ["DeclareLaunchArgument"],
             "launch.conditions": ["IfCondition"],
             "launch.substitutions": ["LaunchConfiguration", "PathJoinSubstitution"],
             "launch_ros.actions": ["Node"], "launch_ros.substitutions": ["FindPackageShare"]}
    made = {}
    for module, classes in names.items():
        mod = types.ModuleType(module)
        for cls in classes:
            made[cls] = type(cls, (_Recorded,), {})
            setattr(mod, cls, made[cls])
        monkeypatch.setitem(sys.modules, module, mod)
    for pkg in ("launch", "launch_ros"):
        if pkg not in names:
            monkeypatch.setitem(sys.modules, pkg, types.ModuleType(pkg))
        sys.modules[pkg].__path__ = []
    code = runpy.run_path(str(ROOT / "launch" / "faceverse.launch.py"))
    return made, code["generate_launch_description"]()


def _resolve(sub, made):
    """A PathJoinSubstitution of FindPackageShare("faceverse_ros") -> a path in the source tree."""
    parts = sub.args[0]
    assert parts[0] == made["FindPackageShare"]("faceverse_ros"), parts
    return ROOT.joinpath(*parts[1:])


def test_launch_file_starts_our_executable_with_the_params_file(monkeypatch):
    made, desc = _launch_description(monkeypatch)
    lc = made["LaunchConfiguration"]
    entities = desc.args[0]
    declared = {e.args[0]: e.kwargs.get("default_value") for e in entities
                if isinstance(e, made["DeclareLaunchArgument"])}
    nodes = {e.kwargs["executable"]: e for e in entities if isinstance(e, made["Node"])}
    tracker = nodes["faceverse_node"]
    assert tracker.kwargs["package"] == "faceverse_ros" and "condition" not in tracker.kwargs
    # the executable is one the package installs
    cmake = (ROOT / "CMakeLists.txt").read_text()
    assert "faceverse_node" in cmake
    # parameters: the params_file argument, by default the package's config/faceverse.yaml
    assert tracker.kwargs["parameters"] == [lc("params_file")]
    default = _resolve(declared["params_file"], made)
    assert default == ROOT / "config" / "faceverse.yaml" and default.is_file()
    remaps = dict(tracker.kwargs["remappings"])
    assert remaps["image"] == lc("image") and remaps["camera_info"] == lc("camera_info")
    assert remaps["image/compressed"] == [lc("image"), "/compressed"]
    assert tracker.kwargs["namespace"] == lc("namespace")
    # optional camera driver and RViz, each behind its own argument
    assert nodes["v4l2_camera_node"].kwargs["condition"] == made["IfCondition"](lc("camera"))
    rviz = nodes["rviz2"]
    assert rviz.kwargs["condition"] == made["IfCondition"](lc("rviz"))
    view = rviz.kwargs["arguments"]
    assert view[0] == "-d" and _resolve(view[1], made) == ROOT / "rviz" / "faceverse.rviz"
    assert (ROOT / "rviz" / "faceverse.rviz").is_file()
    # every argument the nodes use is declared
    used = set()
    for node in nodes.values():
        stack = [node.args, node.kwargs]
        while stack:
            item = stack.pop()
            if isinstance(item, made["LaunchConfiguration"]):
                used.add(item.args[0])
            elif isinstance(item, _Recorded):
                stack += [item.args, item.kwargs]
            elif isinstance(item, dict):
                stack += list(item.values())
            elif isinstance(item, (list, tuple)):
                stack += list(item)
    assert used <= set(declared), used - set(declared)


def test_rviz_view_shows_the_debug_image_tf_and_mesh():
    view = yaml.safe_load((ROOT / "rviz" / "faceverse.rviz").read_text())
    displays = {d["Class"]: d for d in view["Visualization Manager"]["Displays"]}
    assert displays["rviz_default_plugins/Image"]["Topic"]["Value"] == "faceverse/debug_image"
    assert displays["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == "faceverse/mesh"
    assert "rviz_default_plugins/TF" in displays
