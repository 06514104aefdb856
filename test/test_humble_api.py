"""Humble's rclpy: every rclpy name the package uses exists there (the list of Humble's public
names, ../shared/compat/rclpy_humble_api.txt, read from its sources), or its use is guarded
by a hasattr() check with a working fallback (tested in test_params_users.py).

The scan reads the package's sources (AST): `from rclpy.x import Y`, `rclpy.a.b` chains,
methods called on the package's Node / LifecycleNode subclasses (`self.x` not defined by the
package), and calls on objects whose variable names say what they are (`node.x`, `*_pub.x`,
`executor.x`).
"""
import ast
import re

import pytest

from helpers import ROOT, shared_path

PACKAGE = ROOT / "faceverse_ros"
NODE_NAMES = ("rclpy.node.Node", "rclpy.lifecycle.node.LifecycleNodeMixin", "rclpy.lifecycle.node.LifecycleNode")
OBJECT_KINDS = [  # variable name pattern -> the rclpy classes such an object is
    (re.compile(r"^_?node$"), NODE_NAMES),
    (re.compile(r"(^|_)pub$"), ("rclpy.publisher.Publisher",)),
    (re.compile(r"^executor$"), ("rclpy.executors.Executor", "rclpy.executors.SingleThreadedExecutor")),
]


def humble_names():
    path = shared_path("compat/rclpy_humble_api.txt")
    return {line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")}


def _chain(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return list(reversed(parts))
    return None


def _guarded(tree):
    """Names checked with hasattr(obj, "name") / getattr(obj, "name", default) in a module."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("hasattr", "getattr") \
                and len(n.args) >= 2 and isinstance(n.args[1], ast.Constant):
            out.add(n.args[1].value)
    return out


def _resolve(dotted):
    """The object `dotted` names in the installed rclpy, or None."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def used_rclpy_names():
    """{(candidate Humble names...): [(file, line, guarded)]}: every rclpy name the package
    uses that the installed rclpy has (other attributes are not rclpy's)."""
    import types

    uses = {}

    def add(candidates, path, line, guarded):
        uses.setdefault(tuple(candidates), []).append((str(path.relative_to(ROOT)), line, guarded))

    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        if "rclpy" not in text:
            continue
        tree = ast.parse(text)
        guarded = _guarded(tree)
        node_classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        own = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] == "rclpy":
                for alias in n.names:
                    name = f"{n.module}.{alias.name}"
                    if _resolve(name) is not None and not isinstance(_resolve(name), types.ModuleType):
                        add([name], path, n.lineno, alias.name in guarded)
            if not isinstance(n, ast.Attribute):
                continue
            c = _chain(n)
            if not c or len(c) < 2 or c[-1].startswith("_"):
                continue
            if c[0] == "rclpy":
                obj = _resolve(".".join(c))
                if obj is not None and not isinstance(obj, types.ModuleType):
                    add([".".join(c)], path, n.lineno, c[-1] in guarded)
                continue
            owner, attr = c[-2], c[-1]
            kinds = NODE_NAMES if (owner == "self" and node_classes and attr not in own) else None
            for pattern, classes in OBJECT_KINDS:
                if pattern.search(owner):
                    kinds = classes
            if kinds and any(_resolve(f"{k}.{attr}") is not None for k in kinds):
                add([f"{k}.{attr}" for k in kinds], path, n.lineno, attr in guarded)
    return uses


def _exists(candidates, humble):
    """In Humble's list; an enum member (SignalHandlerOptions.NO) counts when its enum is
    listed (the list names classes and functions, not enum members)."""
    for name in candidates:
        if name in humble:
            return True
        owner = name.rsplit(".", 1)[0]
        cls = _resolve(owner) if owner in humble else None
        if isinstance(cls, type) and isinstance(_resolve(name), cls):   # a member of the enum
            return True
    return False


def test_the_scan_finds_what_the_node_uses():
    names = {name for candidates in used_rclpy_names() for name in candidates}
    for expected in ("rclpy.node.Node.declare_parameter", "rclpy.node.Node.create_publisher",
                     "rclpy.init", "rclpy.publisher.Publisher.publish",
                     "rclpy.node.Node.add_on_set_parameters_callback",
                     "rclpy.lifecycle.node.LifecycleNodeMixin.trigger_configure"):
        assert expected in names, expected


def test_every_rclpy_name_exists_on_humble_or_is_guarded():
    humble = humble_names()
    assert "rclpy.node.Node.add_post_set_parameters_callback" not in humble   # the list is Humble's
    assert "rclpy.node.Node.add_on_set_parameters_callback" in humble
    missing = {}
    for name, places in used_rclpy_names().items():
        if _exists(name, humble):
            continue
        unguarded = [p for p in places if not p[2]]
        if unguarded:
            missing[name] = unguarded
    assert not missing, "rclpy names missing on Humble, unguarded:\n" + "\n".join(
        f"  {name[0]}: {places}" for name, places in sorted(missing.items()))


@pytest.mark.parametrize("name", ["rclpy.node.Node.add_post_set_parameters_callback"])
def test_the_check_catches_a_humble_missing_name(name):
    assert not _exists([name], humble_names())
    assert _exists(["rclpy.node.Node.declare_parameter"], humble_names())
