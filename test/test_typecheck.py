"""The type check of the layers: mypy, at the version requirements.txt pins, over the files
mypy.ini names (core, landmarks, tracking, runtime), lenient on untyped third-party imports."""
import re
import subprocess
import sys

import pytest

from helpers import ROOT


def _pinned_version():
    found = re.search(r"^mypy==(\S+)$", (ROOT / "requirements.txt").read_text(), flags=re.M)
    assert found, "requirements.txt pins no mypy version"
    return found.group(1)


def test_mypy_passes_at_the_pinned_version():
    pytest.importorskip("mypy", reason="mypy is installed by scripts/setup.sh")
    from mypy.version import __version__

    assert __version__ == _pinned_version()
    out = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "mypy.ini",
                          "--no-incremental"], cwd=ROOT, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "Success: no issues found" in out.stdout
