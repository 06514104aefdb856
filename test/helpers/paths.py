"""Where the project, its shared reference files and its installed command line are."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
USER_EXE = ROOT / ".venv" / "bin" / "faceverse-ros"


def shared_path(relative: str) -> Path:
    """Path of a file in ../shared; skips the test without it, but fails it under CI."""
    import pytest

    path = SHARED / relative
    if not path.exists():
        message = f"../shared/{relative} is not present beside the project root"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI must have it)")
        pytest.skip(message)
    return path
