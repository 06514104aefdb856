"""The installed command line run as a user runs it: a plain shell with nothing sourced."""
import os
import signal
import subprocess
from pathlib import Path
from typing import Mapping, Optional

from helpers.paths import ROOT, USER_EXE


def plain_env(env: Optional[Mapping[str, str]] = None, home: Path = ROOT) -> list:
    """`env -i` with only HOME, PATH and `env`: the start of a plain-shell command line."""
    return (["env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin"]
            + [f"{k}={v}" for k, v in (env or {}).items()])


def run_as_user(*args: str, env: Optional[Mapping[str, str]] = None, home: Path = ROOT,
                timeout: float = 600) -> subprocess.CompletedProcess:
    """`faceverse-ros ...` from a shell with nothing sourced (only HOME and PATH)."""
    return subprocess.run(plain_env(env, home) + [str(USER_EXE), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def popen_as_user(*args: str, env: Optional[Mapping[str, str]] = None, home: Path = ROOT,
                  **kw) -> subprocess.Popen:
    """`faceverse-ros ...` started in the background from a plain shell."""
    return subprocess.Popen(plain_env(env, home) + [str(USER_EXE), *args], cwd=ROOT, **kw)


def interrupt_group(proc: subprocess.Popen, timeout: float = 60) -> str:
    """Sends SIGINT to the process group of `proc` (started with start_new_session=True) and
    returns the rest of its output once it exits."""
    os.killpg(proc.pid, signal.SIGINT)
    output, _ = proc.communicate(timeout=timeout)
    return output or ""


def stop_group(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGINT to the process group of `proc` if it still runs, SIGKILL if it has not exited
    within `timeout` seconds (for a test's `finally`, when its output is not read)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL to the process group of `proc` if it still runs (for a test's `finally`)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
