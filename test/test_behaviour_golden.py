"""Behaviour kept: `faceverse-ros run --save-params` on the first frames of the shared talking
video, from a shell with nothing sourced, gives the outputs recorded in test/data/golden/.

Two paths: landmark-only (MediaPipe geometry: box, eyes, head pose, gaze, landmarks,
blendshapes in one JSON per frame) and FaceVerse with the SYNTHETIC model and checkpoint
(the 621 coefficients, the crop box and the blendshapes in one .npy per frame). The
synthetic files are random fixed-seed stand-ins: this checks that the code computes the
same numbers as when the golden was recorded, nothing about face accuracy.

Every file name (frame and face id) must match, and every numeric field must agree within
a relative tolerance of 1e-4: tight enough that any change of formula, index, order or
constant shows (those move values by percents), loose enough for the last bits of float32
sums that another BLAS or CPU may order differently. Values near zero get an absolute
floor (1e-5), and the fields the command line rounds when it writes them get half a unit
of their rounding more (landmarks_px: 0.01 px; blendshapes: 1e-5).

The runs are made reproducible: --sync-keyframes (keyframes inline, not in a background
thread whose timing decides which frame gets them), --engine torch --threads 1 (no int8
calibration cache, no thread-count dependent sums).

A change that alters these outputs on purpose rewrites the golden files:

    python test/test_behaviour_golden.py --write
"""
import gzip
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from helpers import USER_EXE, run_as_user, shared_path  # noqa: E402

GOLDEN = HERE / "data" / "golden"
VIDEO = "testdata/video/talking_256.mp4"
FRAMES = 30
RTOL, ATOL = 1e-4, 1e-5
ROUNDED = {"landmarks_px": 0.011, "blendshapes": 2e-5}   # written rounded: half a unit more
COMMON = ["--save-params", "--quiet", "--no-render", "--sync-keyframes",
          "--max-frames", str(FRAMES)]
CASES = {
    "landmark_only": ["--landmark-only"],
    "faceverse_synthetic": ["--engine", "torch", "--threads", "1"],
}


def _case_args(case, assets):
    args = list(CASES[case])
    if case == "faceverse_synthetic":
        args += ["--model", str(assets.model_path), "--checkpoint", str(assets.checkpoint_path)]
    return args


def _plain(value):
    """JSON-able copy of a saved value (numpy arrays as nested lists)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def run_case(case, assets, out_dir):
    """Runs the command line as a user would; returns {file name: saved fields} and the
    summary line's frame and face counts."""
    res = run_as_user("run", "--input", str(shared_path(VIDEO)), "--output", str(out_dir),
                      *COMMON, *_case_args(case, assets))
    assert res.returncode == 0, res.stderr[-3000:]
    summary = [line for line in res.stdout.splitlines() if " frames, " in line][-1]
    counts = summary.split("]", 1)[1].split(",")[:2]
    outputs = {}
    for path in sorted(Path(out_dir).iterdir()):
        if path.suffix == ".json":
            outputs[path.name] = json.loads(path.read_text())
        elif path.suffix == ".npy":
            outputs[path.name] = _plain(np.load(path, allow_pickle=True).item())
    return {"summary": [c.strip() for c in counts], "files": outputs}


def _compare(got, want, where, field=None):
    """Every difference between two saved structures, as readable lines."""
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            return [f"{where}: keys {sorted(got) if isinstance(got, dict) else got!r} "
                    f"!= {sorted(want)}"]
        # the rounding of a field holds for everything under it (blendshapes.jawOpen)
        return [d for k in sorted(want) for d in _compare(got[k], want[k], f"{where}.{k}",
                                                           field if field in ROUNDED else k)]
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{where}: length {len(got) if isinstance(got, list) else got!r} "
                    f"!= {len(want)}"]
        return [d for i, (g, w) in enumerate(zip(got, want))
                for d in _compare(g, w, f"{where}[{i}]", field)]
    if isinstance(want, bool) or isinstance(want, str) or want is None:
        return [] if got == want else [f"{where}: {got!r} != {want!r}"]
    if isinstance(want, (int, float)):
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return [f"{where}: {got!r} is not a number ({want!r})"]
        atol = ATOL + ROUNDED.get(field, 0.0)
        if math.isclose(got, want, rel_tol=RTOL, abs_tol=atol):
            return []
        return [f"{where}: {got!r} != {want!r}"]
    return [f"{where}: unexpected value {want!r}"]


def _golden_path(case):
    return GOLDEN / f"{case}.json.gz"


@pytest.mark.parametrize("case", sorted(CASES))
def test_run_outputs_match_the_recorded_golden(case, synthetic_assets, tmp_path):
    assert USER_EXE.is_file(), "run scripts/setup.sh first"
    want = json.loads(gzip.decompress(_golden_path(case).read_bytes()))
    got = run_case(case, synthetic_assets, tmp_path / case)
    assert len(want["files"]) >= FRAMES, "the golden covers every frame"
    assert got["summary"] == want["summary"]
    assert sorted(got["files"]) == sorted(want["files"])
    problems = _compare(got["files"], want["files"], case)
    assert not problems, f"{len(problems)} values differ, first ones:\n" + "\n".join(problems[:20])


def test_compare_finds_a_changed_value_and_accepts_rounding():
    """The comparison itself: a 1e-3 relative change fails, a rounding step passes."""
    want = {"a.json": {"position_m": [0.1, -0.02, 0.5], "landmarks_px": [[10.0, 20.0]],
                       "blendshapes": {"jawOpen": 0.25}}}
    same = json.loads(json.dumps(want))
    same["a.json"]["landmarks_px"][0][0] = 10.01
    same["a.json"]["blendshapes"]["jawOpen"] = 0.25001
    assert _compare(same, want, "x") == []
    moved = json.loads(json.dumps(want))
    moved["a.json"]["position_m"][2] = 0.5005
    assert _compare(moved, want, "x") == ["x.a.json.position_m[2]: 0.5005 != 0.5"]
    missing = json.loads(json.dumps(want))
    del missing["a.json"]["blendshapes"]
    assert _compare(missing, want, "x")


def _write():
    import tempfile

    from faceverse_ros.cli.synthetic_assets import synthetic_assets

    GOLDEN.mkdir(parents=True, exist_ok=True)
    assets = synthetic_assets()
    for case in sorted(CASES):
        with tempfile.TemporaryDirectory() as tmp:
            data = run_case(case, assets, Path(tmp) / case)
        blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        _golden_path(case).write_bytes(gzip.compress(blob, mtime=0))
        print(f"{_golden_path(case)}: {len(data['files'])} files, {data['summary']}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python test/test_behaviour_golden.py --write")
    _write()
