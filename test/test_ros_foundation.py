"""The foundation: real messages over real DDS between two processes, TF, layering."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import ros_peer  # noqa: E402

rclpy = pytest.importorskip("rclpy", reason="the ROS layer needs rclpy (run ./scripts/setup.sh)")
from helpers.spin import spin_until  # noqa: E402


def _start_peer(mode):
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_LOCALHOST_ONLY="1")
    return subprocess.Popen([sys.executable, str(HERE / "ros_peer.py"), mode, "30"], env=env)


def _first_from_peer(context, mode, msg_type, topic, qos):
    """Starts the peer process in `mode` and returns the first message it sends on `topic`."""
    node = rclpy.create_node(f"{mode}_receiver", context=context)
    got = []
    node.create_subscription(msg_type, topic, got.append, qos)
    peer = _start_peer(mode)
    try:
        assert spin_until(node, lambda: got, 30.0, context), f"nothing arrived on {topic}"
    finally:
        peer.kill()
        peer.wait()
        node.destroy_node()
    return got[0]


def test_params_array_crosses_processes_intact(rclpy_context):
    from faceverse_ros.msg import FaceVerseParamsArray

    msg = _first_from_peer(rclpy_context, "params", FaceVerseParamsArray, "faceverse/params", 10)
    assert msg.header.frame_id == "camera_color_optical_frame"
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1234, 567890)
    assert len(msg.faces) == 2
    sizes = dict(shape=156, expression=177, texture=251, lighting=27, rotation=3, translation=3, eyes=4)
    for f, face in enumerate(msg.faces):
        assert face.face_id == 7 + f
        assert face.confidence == pytest.approx(0.5 + 0.25 * f)
        assert (face.roi.x_offset, face.roi.y_offset, face.roi.width) == (10 + f, 20 + f, 100)
        for b, name in enumerate(ros_peer.BLOCKS):
            values = list(getattr(face, name))
            assert len(values) == sizes[name], name
            assert values == ros_peer.block_values(f, b, sizes[name]), name
        assert face.head_pose.position.x == pytest.approx(0.1 * (f + 1))
        assert face.gaze_direction.z == -1.0
        assert list(face.landmarks) == [float(k) for k in range(956)]
    assert sum(sizes.values()) == msg.faces[0].COEFFICIENT_COUNT == 621


def test_tf_message_on_slash_tf_has_the_frames(rclpy_context):
    from tf2_msgs.msg import TFMessage

    from faceverse_ros.ros.tf import TF_QOS

    msg = _first_from_peer(rclpy_context, "tf", TFMessage, "/tf", TF_QOS)
    transforms = {t.child_frame_id: t for t in msg.transforms}
    assert set(transforms) == {"face_3", "gaze_3"}
    face = transforms["face_3"]
    assert face.header.frame_id == "camera_optical"
    assert (face.header.stamp.sec, face.header.stamp.nanosec) == (42, 5)
    tr = face.transform.translation
    assert (tr.x, tr.y, tr.z) == pytest.approx((0.1, -0.05, 0.9))
    q = transforms["gaze_3"].transform.rotation
    assert (q.x, q.y, q.z, q.w) == (0.5, 0.5, 0.5, 0.5)


def test_generated_messages_import_next_to_the_source_package():
    """faceverse_ros.msg (generated, installed) and the source modules in one package."""
    import faceverse_ros
    import faceverse_ros.landmarks.boxes
    from faceverse_ros.msg import FaceVerseParams

    assert Path(faceverse_ros.landmarks.boxes.__file__).resolve().parent == ROOT / "faceverse_ros" / "landmarks"
    assert FaceVerseParams.SHAPE_SIZE == 156


def test_installed_copy_imports_messages_and_sources(tmp_path):
    """The colcon-installed package alone (no source tree on sys.path) is complete."""
    code = (
        "import faceverse_ros, faceverse_ros.landmarks.boxes, faceverse_ros.msg as m, sys;"
        "print(faceverse_ros.__file__); print(m.FaceVerseParamsArray.__name__)"
    )
    env = dict(os.environ, FACEVERSE_ROS_INSTALLED="1")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.split()
    assert "site-packages" in first and str(ROOT / "faceverse_ros") not in first
    assert second == "FaceVerseParamsArray"
    # every source module is installed (new layers included), e.g. the shipped bench command
    installed = Path(first).parent
    missing = [str(p.relative_to(ROOT / "faceverse_ros")) for p in (ROOT / "faceverse_ros").rglob("*.py")
               if not (installed / p.relative_to(ROOT / "faceverse_ros")).is_file()]
    assert missing == []


LAYER_IMPORT_CHECK = r"""
import importlib, pkgutil, sys

class _NoRos:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('rclpy', 'tf2_ros', 'tf2_msgs', 'sensor_msgs', 'geometry_msgs'):
            raise ImportError('ROS is absent in this check: ' + name)
        return None

sys.meta_path.insert(0, _NoRos())
layer = sys.argv[1]
package = importlib.import_module('faceverse_ros.' + layer)
names = [info.name for info in pkgutil.iter_modules(package.__path__)]
for name in names:
    importlib.import_module('faceverse_ros.%s.%s' % (layer, name))
assert 'rclpy' not in sys.modules
loaded = sorted({m.split('.')[1] for m in sys.modules if m.startswith('faceverse_ros.') and m.count('.') >= 1})
print(' '.join(names))
print(' '.join(loaded))
"""

# Which layers each layer may import (doc: each package's __init__ docstring); ROS is blocked
# for all but ros. "paths" is the package-root module saying where data and caches live.
ALLOWED_IMPORTS = {
    "core": {"core", "paths"},
    "landmarks": {"landmarks", "core", "paths"},
    "runtime": {"runtime"},
    "io": {"io", "core", "paths"},
    "views": {"views", "landmarks", "core", "paths"},
    "identity": {"identity", "landmarks", "core", "runtime", "paths"},
    "tracking": {"tracking", "identity", "landmarks", "core", "runtime", "paths"},
    "cli": {"cli", "tracking", "identity", "views", "io", "landmarks", "core", "runtime", "paths"},
}
# Imports inside functions, named: the command line starts the ROS node (`faceverse-ros
# node`), and the bench times the message build when rclpy is there.
LAZY_EXCEPTIONS = {("faceverse_ros.cli.main", "ros"), ("faceverse_ros.cli.bench", "ros")}
PACKAGE = ROOT / "faceverse_ros"


@pytest.mark.parametrize("layer", sorted(ALLOWED_IMPORTS))
def test_layers_import_without_ros_in_one_direction(layer):
    """Every module of a ROS-free layer imports with ROS blocked and loads only the layers
    it may use (no import of ros, no import upward)."""
    out = subprocess.run([sys.executable, "-c", LAYER_IMPORT_CHECK, layer], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    modules, loaded = (line.split() for line in out.stdout.splitlines()[-2:])
    assert modules, f"layer {layer} has no modules"
    loaded = set(loaded) - {"msg", "_sim3dr"}  # the generated messages and the C++ extension
    assert loaded <= ALLOWED_IMPORTS[layer], f"{layer} imports {sorted(loaded - ALLOWED_IMPORTS[layer])}"


def _module_files():
    """{dotted module name: path} of every source module of the package."""
    return {".".join(p.relative_to(ROOT).with_suffix("").parts): p
            for p in sorted(PACKAGE.rglob("*.py")) if p.name != "__init__.py"}


def _imports(path, modules):
    """The package modules `path` imports anywhere in its text (top level and inside
    functions): `import a.b`, `from a.b import c` (c a module or a name in a.b)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            if name in modules:
                found.add(name)
    return found


def _graph():
    modules = _module_files()
    return {name: _imports(path, modules) for name, path in modules.items()}


def _layer(module):
    return module.split(".")[1]   # faceverse_ros.<layer>.x, or a package-root module


def upward_imports(graph):
    """(module, imported module) pairs that break ALLOWED_IMPORTS, lazy imports included."""
    bad = []
    for module, targets in sorted(graph.items()):
        layer = _layer(module)
        if layer not in ALLOWED_IMPORTS:
            continue   # ros (may import every layer) and the package-root modules
        for target in sorted(targets):
            other = _layer(target)
            if other not in ALLOWED_IMPORTS[layer] and (module, other) not in LAZY_EXCEPTIONS:
                bad.append((module, target))
    return bad


def import_cycles(graph):
    """Strongly connected groups of more than one module (Tarjan), and self-imports."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph.get(v, ()):
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_no_module_imports_upward_even_inside_functions():
    """The static counterpart of the check above: also the imports a function makes when
    it runs (which the import check never triggers)."""
    assert upward_imports(_graph()) == []


def test_the_layer_checks_find_an_upward_import_and_a_cycle():
    """The two graph checks on a made-up graph: core importing tracking is upward; a -> b
    -> a is a cycle."""
    graph = {"faceverse_ros.core.a": {"faceverse_ros.tracking.b"},
             "faceverse_ros.tracking.b": {"faceverse_ros.core.a"},
             "faceverse_ros.landmarks.c": {"faceverse_ros.core.a"}}
    assert upward_imports(graph) == [("faceverse_ros.core.a", "faceverse_ros.tracking.b")]
    assert import_cycles(graph) == [["faceverse_ros.core.a", "faceverse_ros.tracking.b"]]


def test_no_import_cycle_between_modules():
    assert import_cycles(_graph()) == []


def test_every_layer_is_checked_and_module_names_are_unique():
    """Each package under faceverse_ros/ is a layer with rules (ros may import all), and no
    two modules share a file name, so a name says which module is meant."""
    layers = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert layers - {"msg"} == set(ALLOWED_IMPORTS) | {"ros"}
    names = {}
    for path in _module_files().values():
        names.setdefault(path.name, []).append(str(path.relative_to(PACKAGE)))
    assert {n: p for n, p in names.items() if len(p) > 1} == {}


def test_ros_layer_needs_rclpy():
    """The ROS layer modules do import rclpy (so the check above is meaningful)."""
    code = "import sys, faceverse_ros.ros.tf; print('rclpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
