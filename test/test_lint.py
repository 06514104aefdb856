"""flake8 (pyflakes + pycodestyle, settings in .flake8) over every Python file of the project.

Also run by `colcon test` (CMakeLists.txt) and CI. The second test shows the check can
fail: the same configuration reports an unused import and an undefined name.
"""
import subprocess
import sys

import pytest

from helpers import ROOT

PATHS = ["faceverse_ros", "test", "bench", "scripts", "launch", "setup.py"]


def _flake8(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "flake8", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module", autouse=True)
def _need_flake8():
    pytest.importorskip("flake8", reason="flake8 is in requirements.txt (./scripts/setup.sh)")


def test_project_is_flake8_clean():
    out = _flake8(*[p for p in PATHS if (ROOT / p).exists()])
    assert out.returncode == 0, "flake8 findings:\n" + out.stdout[-6000:] + out.stderr[-2000:]


def test_flake8_reports_problems(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f():\n    return undefined_name\n")
    out = _flake8("--config", str(ROOT / ".flake8"), str(bad), cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "F401" in out.stdout and "F821" in out.stdout, out.stdout
