"""The command line as a user types it (a fresh shell: `env -i`): the .task found or given,
blendshapes by name in the parameter files, the MediaPipe mesh exported as PLY/OBJ."""
import json

import numpy as np

from helpers import ROOT, run_as_user, shared_path
from faceverse_ros.landmarks.blendshapes import BLENDSHAPE_NAMES
from faceverse_ros.views.export import load_params

def _user(*args, env=None, timeout=600):
    return run_as_user(*args, env=env, timeout=timeout)


def _ply_counts(path):
    head = path.read_bytes().split(b"end_header")[0].decode("ascii").splitlines()
    nv = int(next(h for h in head if h.startswith("element vertex")).split()[-1])
    nf = int(next(h for h in head if h.startswith("element face")).split()[-1])
    return nv, nf, [h.split()[-1] for h in head if h.startswith("property float")]


def test_landmark_only_with_the_task_file(tmp_path):
    task = shared_path("models/face_landmarker.task")
    photo = shared_path("testdata/faces/portrait_small.jpg")
    out = _user("run", "--input", str(photo), "--output", str(tmp_path), "--task", str(task),
                "--save-params", "--save-ply", "--save-obj", "--landmark-only", "--quiet")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("Face Landmarker (Tasks API)") == 1
    data = json.loads((tmp_path / "portrait_small_face0.json").read_text())
    assert list(data["blendshapes"]) == list(BLENDSHAPE_NAMES)
    assert all(0.0 <= v <= 1.0 for v in data["blendshapes"].values())
    nv, nf, floats = _ply_counts(tmp_path / "portrait_small_face0.ply")
    assert (nv, nf) == (468, 898) and floats == ["x", "y", "z", "s", "t"]
    obj = (tmp_path / "portrait_small_face0.obj").read_text().splitlines()
    assert sum(ln.startswith("v ") for ln in obj) == 468
    assert sum(ln.startswith("vt ") for ln in obj) == 468
    assert sum(ln.startswith("f ") for ln in obj) == 898
    assert (tmp_path / "portrait_small_overlay.png").is_file()


def test_task_found_in_the_data_folder_and_legacy_fallback(tmp_path):
    photo = shared_path("testdata/faces/portrait_small.jpg")
    data = tmp_path / "data"
    data.mkdir()
    (data / "face_landmarker.task").write_bytes(shared_path("models/face_landmarker.task").read_bytes())
    out = _user("run", "--input", str(photo), "--output", str(tmp_path / "a"), "--save-params",
                "--landmark-only", "--quiet", env={"FACEVERSE_DATA": str(data)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert str(data / "face_landmarker.task") in out.stdout
    assert "blendshapes" in json.loads((tmp_path / "a" / "portrait_small_face0.json").read_text())
    # no .task anywhere (an empty FACEVERSE_DATA; skipped where the checkout's data/ has one)
    if not (ROOT / "data" / "face_landmarker.task").exists():
        empty = tmp_path / "empty"
        empty.mkdir()
        out = _user("run", "--input", str(photo), "--output", str(tmp_path / "b"), "--save-params",
                    "--save-ply", "--landmark-only", "--quiet", env={"FACEVERSE_DATA": str(empty)})
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.count("no face_landmarker.task found") == 1   # said once
        saved = json.loads((tmp_path / "b" / "portrait_small_face0.json").read_text())
        assert "blendshapes" not in saved
        nv, nf, floats = _ply_counts(tmp_path / "b" / "portrait_small_face0.ply")
        assert (nv, nf) == (468, 852) and "s" not in floats


def test_faceverse_parameter_file_carries_blendshapes(tmp_path, synthetic_assets):
    out = _user("run", "--input", str(shared_path("testdata/faces/portrait_small.jpg")),
                "--output", str(tmp_path), "--save-params", "--quiet",
                "--task", str(shared_path("models/face_landmarker.task")),
                "--model", str(synthetic_assets.model_path),
                "--checkpoint", str(synthetic_assets.checkpoint_path))
    assert out.returncode == 0, out.stderr[-2000:]
    params = load_params(tmp_path / "portrait_small_face0.npy", 621)
    assert params.coeffs.shape == (1, 621)
    assert list(params.blendshapes) == list(BLENDSHAPE_NAMES)
    assert np.all(np.array(list(params.blendshapes.values())) >= 0)
    # the original's two keys are still there for its own readers
    raw = np.load(tmp_path / "portrait_small_face0.npy", allow_pickle=True).item()
    assert {"coeffs", "bbox_list"} <= set(raw)
