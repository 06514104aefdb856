"""The generated tables of doc/ros-interface.md: the node's parameters (from
faceverse_ros/ros/params.py, the table config/faceverse.yaml is generated from) and the
launch arguments (from launch/faceverse.launch.py's ARGUMENTS).

    python scripts/make_doc_tables.py           # exit 1 and a diff when the page is stale
    python scripts/make_doc_tables.py --write   # rewrite the generated sections in place

Each table sits between `<!-- BEGIN GENERATED: <name> -->` and `<!-- END GENERATED: <name> -->`;
the text outside the markers is hand-written and left alone. test/test_docs_tables.py runs the
check.
"""
import ast
import difflib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "doc" / "ros-interface.md"
LAUNCH = ROOT / "launch" / "faceverse.launch.py"


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _value(value):
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value)


def parameter_table():
    sys.path.insert(0, str(ROOT))
    from faceverse_ros.ros.params import PARAMS

    rows = ["| parameter | type | default | allowed | changes at run time | what |",
            "|---|---|---|---|---|---|"]
    for p in PARAMS:
        kind = {bool: "bool", int: "integer", float: "double", str: "string"}[type(p.default)]
        if p.choices:
            allowed = ", ".join(f"`{c}`" for c in p.choices)
        elif p.range:
            allowed = f"{_value(p.range[0])} .. {_value(p.range[1])}"
        else:
            allowed = ""
        rows.append(f"| `{p.name}` | {kind} | `{_value(p.default)}` | {allowed} | "
                    f"{'yes' if p.runtime else 'no'} | {_cell(p.description)} |")
    return "\n".join(rows)


def launch_arguments():
    """name -> (default, description) from the launch file's ARGUMENTS, read without
    importing it (it needs the ROS launch package)."""
    tree = ast.parse(LAUNCH.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "ARGUMENTS"
                                                for t in node.targets):
            return ast.literal_eval(node.value)
    raise SystemExit(f"{LAUNCH}: no ARGUMENTS table")


def launch_table():
    rows = ["| argument | default | what |", "|---|---|---|"]
    for name, (default, description) in launch_arguments().items():
        shown = "(computed at launch)" if default is None else (f"`{default}`" if default else "(empty)")
        rows.append(f"| `{name}` | {shown} | {_cell(description)} |")
    return "\n".join(rows)


TABLES = {"parameters": parameter_table, "launch-arguments": launch_table}


def render(text):
    for name, make in TABLES.items():
        pattern = re.compile(rf"(<!-- BEGIN GENERATED: {name} [^\n]*-->\n).*?(<!-- END GENERATED: {name} -->)",
                             re.S)
        if not pattern.search(text):
            raise SystemExit(f"{PAGE}: no generated section '{name}'")
        text = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main(argv):
    current = PAGE.read_text()
    wanted = render(current)
    if "--write" in argv:
        PAGE.write_text(wanted)
        return 0
    if wanted != current:
        sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), wanted.splitlines(True),
                                                   "doc/ros-interface.md", "generated"))
        print("stale: python scripts/make_doc_tables.py --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
