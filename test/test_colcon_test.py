"""`colcon test` runs the suite: CMakeLists.txt registers the pytest suite and the lint
check with ament_add_pytest_test when BUILD_TESTING is on (a configure in a temporary build
folder; ctest then lists both and runs the lint check)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT


def test_ctest_lists_the_suite_and_runs_the_lint_check(tmp_path):
    cmake, ctest = shutil.which("cmake"), shutil.which("ctest")
    if not (cmake and ctest) or not (Path(sys.prefix) / "share" / "ament_cmake_pytest").exists():
        pytest.skip("needs cmake and ament_cmake_pytest (./scripts/setup.sh)")
    env = dict(os.environ, CMAKE_PREFIX_PATH=sys.prefix, AMENT_PREFIX_PATH=sys.prefix)
    build = tmp_path / "build"
    # the install prefix as colcon gives it (the environment; nothing is installed here)
    out = subprocess.run([cmake, "-S", str(ROOT), "-B", str(build), "-DBUILD_TESTING=ON",
                          f"-DCMAKE_INSTALL_PREFIX={sys.prefix}", f"-DPython3_EXECUTABLE={sys.executable}"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    listed = subprocess.run([ctest, "-N"], cwd=build, capture_output=True, text=True, env=env, timeout=120)
    assert "faceverse_ros_tests" in listed.stdout and "faceverse_ros_lint" in listed.stdout, listed.stdout
    lint = subprocess.run([ctest, "-R", "faceverse_ros_lint", "--output-on-failure"], cwd=build,
                          capture_output=True, text=True, env=env, timeout=600)
    assert lint.returncode == 0, lint.stdout[-4000:]
    assert "100% tests passed" in lint.stdout, lint.stdout[-2000:]
