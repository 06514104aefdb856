"""The README's commands, parsed from README.md and run as a user types them: in a plain
shell (`env -i` with only HOME, PATH and LANG), from the repository root, nothing sourced.

The test reads the commands from the README itself, so README and test cannot drift:
- the "Three commands" block: setup (idempotent here: seconds), the main job on the shared
  video, and the test command (with one small test file appended, so the suite does not
  run itself);
- the `faceverse-ros node --camera ...` command of "ROS 2 usage": it must start, track and
  stop on SIGINT with exit 0 and no error line.
"""
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ROOT, shared_path, wait_for
from helpers.shell import interrupt_group, kill_group

README = ROOT / "README.md"


def _bash_blocks(after_heading):
    text = README.read_text()
    start = text.index(after_heading)
    return re.findall(r"```bash\n(.*?)```", text[start:], flags=re.S)


def _commands(block):
    """Shell commands of a block: comments dropped, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in joined.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            commands.append(line)
    return commands


def plain_env(**extra):
    """What a fresh login shell has; nothing ROS."""
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/local/bin:/usr/bin:/bin",
           "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def _run(command, timeout, **extra_env):
    return subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in plain_env(**extra_env).items()),
                           "bash", "-c", command], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def three():
    commands = _commands(_bash_blocks("## Three commands")[0])
    assert len(commands) == 3, commands
    assert commands[0].startswith("./scripts/setup.sh") and commands[2].startswith("./scripts/test.sh")
    if not (ROOT / ".venv" / "bin" / "python").exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must have set up .venv (the README's environment)")
        pytest.skip("no .venv: ./scripts/setup.sh (the README's first command) has not run here")
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        # the commands use .venv whatever runs the suite: once, in .venv's own run, is enough
        pytest.skip("the README's commands use .venv; they run in the suite of that environment")
    return commands


def test_readme_setup_command(three):
    out = _run(three[0], timeout=1800)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "[setup] done" in out.stdout, out.stdout[-2000:]


def test_readme_main_job(three, tmp_path):
    shared_path("testdata/video/talking_256.mp4")
    assert "--input ../shared/testdata/video/talking_256.mp4" in three[1] and "--save-params" in three[1]
    out_dir = ROOT / "out" / "talking_256"
    before = {p: p.stat().st_mtime for p in out_dir.glob("**/*")} if out_dir.exists() else {}
    started = time.time()
    out = _run(three[1], timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    for bad in ("Traceback", "error:", "AMENT_PREFIX_PATH"):
        assert bad not in out.stderr, out.stderr[-3000:]
    written = [p for p in out_dir.glob("**/*") if p.is_file() and p.stat().st_mtime >= started - 1]
    params = [p for p in written if p.suffix in (".npy", ".json")]
    videos = [p for p in written if p.suffix in (".mp4", ".avi")]
    assert params and videos, (sorted(str(p) for p in written)[:20], before and "(rerun)")


def test_readme_test_command(three):
    out = _run(three[2] + " test/test_ids.py -q -p no:cacheprovider", timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", out.stdout), out.stdout[-2000:]


def test_readme_node_command_runs_and_stops_on_sigint(three, rclpy_context):
    shared_path("testdata/video/talking_256.mp4")
    rclpy = pytest.importorskip("rclpy", reason="the check listens to the node with rclpy")
    from faceverse_ros.msg import FaceVerseParamsArray
    from helpers.spin import SpinThread

    block = next(b for b in _bash_blocks("## ROS 2 usage") if "faceverse-ros node" in b)
    command = _commands(block)[0]
    assert command.startswith(".venv/bin/faceverse-ros node --camera") and "--localhost" in command
    # a user's own DDS domain (ours per test session, see conftest): the only variable added
    argv = ["env", "-i", *(f"{k}={v}" for k, v in
                           plain_env(ROS_DOMAIN_ID=os.environ["ROS_DOMAIN_ID"]).items())]
    proc = subprocess.Popen(argv + shlex.split(command), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    # a listener of the test's own: the command runs once it publishes params with a face
    listener = rclpy.create_node("readme_params_listener", context=rclpy_context)
    got = []
    listener.create_subscription(FaceVerseParamsArray, "/faceverse/params",
                                 lambda m: got.append(m) if m.faces else None, 10)
    spin = SpinThread(listener, context=rclpy_context)
    try:
        assert wait_for(lambda: got or proc.poll() is not None, 180), "no params with a face"
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert got[0].header.frame_id == "camera_optical_frame"
        output = interrupt_group(proc)
    finally:
        kill_group(proc)
        spin.close()
        listener.destroy_node()
    assert proc.returncode == 0, output[-3000:]
    assert "[node] running with camera" in output, output[-3000:]
    for bad in ("Traceback", "RCLError", "error:", "AMENT_PREFIX_PATH", "[ERROR]"):
        assert bad not in output, output[-3000:]
