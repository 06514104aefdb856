"""Helpers for the tests that drive the package with the real ROS 2 tools (`ros2 launch`,
`ros2 topic`, `ros2 param`, `ros2 lifecycle`, `ros2 run`), installed by scripts/setup.sh's
dev/test extra (../shared/ros2-python).

Every process runs in a session of its own (like a terminal: SIGINT goes to the whole group)
with the test session's environment: loopback DDS and a private ROS_DOMAIN_ID (conftest).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from helpers import ROOT

BIN = Path(sys.executable).parent
ROS2 = BIN / "ros2"
ERROR_PATTERNS = re.compile(r"Traceback|RCLError|\[ERROR\]|error:|context is invalid|exception",
                            re.IGNORECASE)


def need_ros2_tools():
    """Skip without the ros2 CLI (a user's clone without ../shared/ros2-python); fail in CI."""
    if ROS2.exists():
        return
    message = f"{ROS2} not found: scripts/setup.sh installs it from ../shared/ros2-python"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI must have it)")
    pytest.skip(message)


class Proc:
    """A background process (own session), its output in a file, stopped with SIGINT."""

    def __init__(self, argv, name):
        self.name = name
        self.log = tempfile.NamedTemporaryFile("w+", prefix=f"faceverse_{name}_", suffix=".log",
                                               delete=False)
        self.popen = subprocess.Popen([str(a) for a in argv], cwd=ROOT, stdout=self.log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True)

    def output(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.output()):
                return True
            if self.popen.poll() is not None:
                return bool(re.search(pattern, self.output()))
            time.sleep(0.5)
        return False

    def group_pids(self):
        """Pids still alive in this process's session (the launch and its children)."""
        out = subprocess.run(["ps", "-e", "-o", "pid=,sid="], capture_output=True, text=True).stdout
        return [int(p) for p, s in (line.split() for line in out.splitlines())
                if int(s) == self.popen.pid]

    def interrupt(self, timeout=90):
        """SIGINT to the group (Ctrl-C); returns the exit status (None: had to be killed)."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.popen.returncode

    def kill(self):
        for pid in self.group_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()

    def close(self):
        if self.popen.poll() is None or self.group_pids():
            self.kill()
        self.log.close()
        os.unlink(self.log.name)


def ros2(*args, timeout=60, retries=3, ok=lambda out: out.returncode == 0):
    """`ros2 ARGS...`, retried while `ok` is false (discovery can lag on a loaded machine)."""
    out = None
    for attempt in range(retries):
        try:
            out = subprocess.run([str(ROS2), *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                                 timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            out = subprocess.CompletedProcess(exc.cmd, 124, exc.stdout or "", exc.stderr or "")
            if isinstance(out.stdout, bytes):
                out = subprocess.CompletedProcess(exc.cmd, 124, out.stdout.decode(errors="replace"),
                                                  (exc.stderr or b"").decode(errors="replace"))
        if ok(out):
            return out
        time.sleep(2 + 2 * attempt)
    return out


def stop_daemon():
    if ROS2.exists():
        subprocess.run([str(ROS2), "daemon", "stop"], capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)


def camera(video, namespace, name, rate=10.0, frame_id="camera_optical_frame", image="image_raw"):
    """The test camera publisher on <namespace>/<image> and <namespace>/camera_info."""
    return Proc([sys.executable, ROOT / "test" / "camera_pub.py", video, "--rate", rate,
                 "--frame-id", frame_id, "--ros-args", "-r", f"__ns:={namespace}",
                 "-r", f"image:={image}", "-r", "__node:=" + name], name)


def launch(*args, name="launch"):
    return Proc([ROS2, "launch", "faceverse_ros", "faceverse.launch.py", *args], name)


def error_lines(text):
    return [line for line in text.splitlines() if ERROR_PATTERNS.search(line)]


def which(name):
    return shutil.which(name, path=str(BIN))
