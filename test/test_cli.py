"""The `faceverse-ros` command line on the shared video and images."""
import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, shared_path
from faceverse_ros.cli.main import _parse_value, main


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "faceverse_ros.cli.main", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_run_video_landmark_only_writes_overlay_and_json(tmp_path):
    out = _cli("run", "--input", str(shared_path("testdata/video/talking_256.mp4")), "--output",
               str(tmp_path), "--save-params", "--max-frames", "6", "--landmark-only")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "6 frames, 6 faces" in out.stdout and "landmark-only" in out.stdout
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "talking_256_overlay.mp4" in files
    params = sorted(tmp_path.glob("*_face0.json"))
    assert len(params) == 6
    data = json.loads(params[0].read_text())
    assert data["mode"] == "landmark_only" and len(data["landmarks_px"]) == 478
    assert len(data["quaternion_xyzw"]) == 4 and data["position_m"][2] > 0


def test_run_images_with_synthetic_files_writes_original_params_and_ply(tmp_path, synthetic_assets):
    out = _cli("run", "--input", str(shared_path("testdata/faces/portrait_small.jpg")), "--output",
               str(tmp_path), "--save-params", "--save-ply", "--model",
               str(synthetic_assets.model_path), "--checkpoint", str(synthetic_assets.checkpoint_path))
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "portrait_small_overlay.png").is_file()
    saved = np.load(tmp_path / "portrait_small_face0.npy", allow_pickle=True).item()
    assert saved["coeffs"].shape == (1, 621) and saved["coeffs"].dtype == np.float32
    assert saved["bbox_list"].shape == (1, 4)
    ply = (tmp_path / "portrait_small_face0.ply").read_bytes()
    assert ply.startswith(b"ply") and b"element vertex 20000" in ply


@pytest.mark.parametrize("args, words", [
    (["run", "--input", "/no/such/video.mp4"], "does not exist"),
    (["run", "--input", "README.md"], "not a video"),
    (["run", "--input", "webcam:x"], "webcam"),
    (["run", "--input", "README.md", "--model", "/no/such/model.npy"], "not a video"),
    (["node", "--params-file", "/no/such.yaml"], "not found"),
    (["node", "--set", "novalue"], "NAME=VALUE"),
])
def test_bad_input_is_one_readable_line_and_nonzero(args, words, capsys):
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert len(err) == 1 and err[0].startswith("faceverse-ros: error:") and words in err[0]


def test_folder_with_a_broken_image_keeps_the_images_before_it(tmp_path, capsys):
    """The images read before an unreadable one are all written (the command line works on
    two frames at once: the ones still in flight come out), then one error line."""
    import shutil

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a_portrait.jpg", "b_portrait.jpg", "c_portrait.jpg"):
        shutil.copy(shared_path("testdata/faces/portrait_small.jpg"), folder / name)
    (folder / "d_broken.jpg").write_bytes(b"not a jpeg")
    code = main(["run", "--input", str(folder), "--output", str(tmp_path / "out"),
                 "--landmark-only", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and err[-1].startswith("faceverse-ros: error:") and "d_broken" in err[-1]
    assert sorted(p.name for p in (tmp_path / "out").glob("*_overlay.png")) == \
        ["a_portrait_overlay.png", "b_portrait_overlay.png", "c_portrait_overlay.png"]


def test_missing_explicit_model_file(tmp_path, capsys):
    img = shared_path("testdata/faces/portrait_small.jpg")
    code = main(["run", "--input", str(img), "--output", str(tmp_path), "--model",
                 str(tmp_path / "faceverse_v4_2.npy")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and "faceverse_v4_2.npy" in err[-1] and "data/README.md" in err[-1]


def test_parse_value():
    assert _parse_value("true") is True and _parse_value("False") is False
    assert _parse_value("5") == 5 and isinstance(_parse_value("5"), int)
    assert _parse_value("0.25") == 0.25 and _parse_value("onnx") == "onnx"


def test_a_whole_video_leaves_the_int8_model_for_the_next_run(tmp_path, synthetic_assets):
    """engine auto with a cold cache: the int8 calibration starts on the 32nd keyframe crop,
    near the end of the shared video; the run finishes it before it exits (it used to exit
    with the export thread in flight and lose it), and the next run starts with it."""
    from helpers import run_as_user

    args = ["--task", str(shared_path("models/face_landmarker.task")),
            "--model", str(synthetic_assets.model_path),
            "--checkpoint", str(synthetic_assets.checkpoint_path), "--quiet", "--no-render"]
    out = run_as_user("run", "--input", str(shared_path("testdata/video/talking_256.mp4")),
                      "--output", str(tmp_path / "a"), *args, home=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    cached = sorted((tmp_path / ".cache" / "faceverse_ros" / "onnx").glob("*int8-static.onnx"))
    assert len(cached) == 1 and cached[0].stat().st_size > 10_000_000
    assert f"int8 model calibrated on the first 32 face crops, cached at {cached[0]}" in out.stdout
    assert "61 of 61 convolutions quantised" in out.stdout
    leftovers = [p.name for p in cached[0].parent.iterdir() if p.suffix != ".onnx"]
    assert leftovers == []
    out = run_as_user("run", "--input", str(shared_path("testdata/faces/portrait_small.jpg")),
                      "--output", str(tmp_path / "b"), *args, home=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"ONNX Runtime int8 (cached {cached[0]})" in out.stdout
