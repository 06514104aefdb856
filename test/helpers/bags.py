"""rosbag2 bags read back with rosbags (no ROS), and the command line run as a module."""
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

from helpers.paths import ROOT


def read_bag(path: Path) -> Tuple[Dict[str, List[tuple]], Dict[str, object]]:
    """{topic: [(record time ns, message)]} and {topic: connection}, types from the bag."""
    from rosbags.highlevel import AnyReader

    out: Dict[str, List[tuple]] = {}
    conns: Dict[str, object] = {}
    with AnyReader([Path(path)]) as reader:
        for conn in reader.connections:
            conns[conn.topic] = conn
        for conn, t, raw in reader.messages():
            out.setdefault(conn.topic, []).append((t, reader.deserialize(raw, conn.msgtype)))
    return out, conns


def run_cli_module(*args: object, timeout: float = 900) -> subprocess.CompletedProcess:
    """`python -m faceverse_ros.cli.main ...` in this environment; fails on a traceback."""
    out = subprocess.run([sys.executable, "-m", "faceverse_ros.cli.main", *map(str, args)],
                         cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    return out
