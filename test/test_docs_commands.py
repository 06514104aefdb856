"""Every bash block of README.md and doc/*.md, run as a user types it: in a plain shell
(`env -i` with only HOME, PATH, LANG and this test session's ROS_DOMAIN_ID), from the
repository root, one fresh shell per block, the blocks of a page in order.

Markers (test/doc_pages.py): `skip (why)` blocks are not run (the README's three commands
and its `faceverse-ros node` command are run by test_readme.py); `background` blocks (a
camera, a node) are started and must still be running when the page's later blocks have
run; they are then stopped with SIGINT. Every other block runs under `bash -e` (each of its
commands must succeed, as a user typing them one by one would see) within its timeout.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.paths import shared_path
from helpers.shell import stop_group
from doc_pages import ROOT, bash_blocks, pages

RUNNABLE = [p for p in pages() if any(b.mode != "skip" for b in bash_blocks(p))]


def _env():
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/local/bin:/usr/bin:/bin",
           "LANG": "C.UTF-8"}
    if "ROS_DOMAIN_ID" in os.environ:      # this test session's own DDS domain (conftest)
        env["ROS_DOMAIN_ID"] = os.environ["ROS_DOMAIN_ID"]
    return ["env", "-i", *(f"{k}={v}" for k, v in env.items())]


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
                out = subprocess.run(_env() + ["bash", "-e", "-c", block.code], cwd=ROOT,
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
            stop_group(proc)
            log.close()


def test_landmark_only_json_is_as_documented(venv, tmp_path):
    """doc/output-files.md's table of the landmark-only JSON against a file `run` writes (with
    the Tasks detector, so that every key is there), and the units it states: a face in front
    of the camera at a talking-head distance, unit quaternion and gaze, pixels in the image."""
    import json

    from doc_pages import section, table_column

    video = shared_path("testdata/video/talking_256.mp4")
    task = shared_path("models/face_landmarker.task")
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "faceverse-ros"), "run", "--input", str(video),
                          "--max-frames", "3", "--output", str(tmp_path), "--save-params", "--landmark-only",
                          "--task", str(task), "--quiet"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads((tmp_path / "talking_256_000000_face0.json").read_text())
    documented = table_column(section(ROOT / "doc" / "output-files.md",
                                      "## The landmark-only parameter file (`.json`)"))
    assert sorted(data) == sorted(documented)
    assert data["mode"] == "landmark_only" and data["face_id"] == 0
    x, y, z = data["position_m"]
    assert 0.2 < z < 3.0 and abs(x) < z and abs(y) < z          # optical frame: z forward, metres
    assert abs(sum(q * q for q in data["quaternion_xyzw"]) - 1.0) < 1e-3
    assert abs(sum(g * g for g in data["gaze_direction"]) - 1.0) < 1e-3
    assert data["gaze_direction"][2] < 0                          # looking back toward the camera
    px = data["landmarks_px"]
    assert len(px) == 478 and all(len(p) == 2 and -10 < p[0] < 266 and -10 < p[1] < 266 for p in px)
    x0, y0, x1, y1 = data["box"]
    assert x0 < x1 and y0 < y1 and abs((x1 - x0) - (y1 - y0)) < 1.0   # the squared box
    assert len(data["eyes"]) == 4 and len(data["blendshapes"]) == 52
