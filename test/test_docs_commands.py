"""Every bash block of README.md and doc/*.md, run as a user types it: in a plain shell
(`env -i` with only HOME, PATH, LANG and this test session's ROS_DOMAIN_ID), from the
repository root, one fresh shell per block, the blocks of a page in order.

Markers (test/doc_pages.py): `skip (why)` blocks are not run (the README's three commands
and its `faceverse-ros node` command are run by test_readme.py); `background` blocks (a
camera, a node) are started and must still be running when the page's later blocks have
run; they are then stopped with SIGINT. Every other block must exit 0 within its timeout.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import shared_path
from doc_pages import ROOT, bash_blocks, pages

RUNNABLE = [p for p in pages() if any(b.mode != "skip" for b in bash_blocks(p))]


def _env():
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/local/bin:/usr/bin:/bin",
           "LANG": "C.UTF-8"}
    if "ROS_DOMAIN_ID" in os.environ:      # this test session's own DDS domain (conftest)
        env["ROS_DOMAIN_ID"] = os.environ["ROS_DOMAIN_ID"]
    return ["env", "-i", *(f"{k}={v}" for k, v in env.items())]


def _stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def venv():
    if not (ROOT / ".venv" / "bin" / "ros2").exists():
        pytest.skip("no .venv with the ROS 2 tools (scripts/setup.sh with ../shared/ros2-python)")
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("the documented commands use .venv; they run in the suite of that environment")
    shared_path("testdata/video/talking_256.mp4")


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_page_commands_run(page, venv, tmp_path):
    background = []
    try:
        for i, block in enumerate(bash_blocks(page)):
            where = f"{page.relative_to(ROOT)}:{block.line}"
            if block.mode == "skip":
                continue
            if block.mode == "background":
                log = open(tmp_path / f"background_{i}.log", "w+")
                proc = subprocess.Popen(_env() + ["bash", "-c", block.code], cwd=ROOT, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
                background.append((where, proc, log))
                time.sleep(2)
                continue
            started = time.monotonic()
            try:
                out = subprocess.run(_env() + ["bash", "-c", block.code], cwd=ROOT,
                                     capture_output=True, text=True, timeout=block.timeout_s,
                                     start_new_session=True)
            except subprocess.TimeoutExpired as exc:
                pytest.fail(f"{where}: still running after {block.timeout_s} s\n"
                            f"{(exc.stdout or b'')[-2000:]!r}")
            assert out.returncode == 0, (f"{where}: exit status {out.returncode} after "
                                         f"{time.monotonic() - started:.0f} s\n{out.stdout[-2000:]}\n"
                                         f"{out.stderr[-3000:]}")
            for bad in ("Traceback", "AMENT_PREFIX_PATH"):
                assert bad not in out.stderr, f"{where}:\n{out.stderr[-3000:]}"
        for where, proc, log in background:
            log.seek(0)
            assert proc.poll() is None, f"{where}: ended early ({proc.returncode})\n{log.read()[-3000:]}"
    finally:
        for _, proc, log in background:
            _stop(proc)
            log.close()
