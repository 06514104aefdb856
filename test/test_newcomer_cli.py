"""`faceverse-ros run` the way a newcomer meets it, in a plain shell (env -i):

- landmark-only mode writes the mesh markers to the output bag with --bag-mesh;
- a folder of unrelated photos: each photo on its own (ids from 0 in each, no state carried
  from one photo to the next), while a folder of numbered frames is tracked as a video;
- the overlay labels each face with the id string of FaceVerseParams.id ("f0");
- --max-faces takes the node's range (1..16);
- errors name the option typed (--detector tasks without a .task, --keyframe-interval 0), and
  an unknown option prints run's usage;
- MediaPipe's and TF Lite's INFO/WARNING lines are hidden unless --verbose, and the progress
  bar is drawn only on a terminal.
"""
import json
import os
import pty
import select
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from helpers import ROOT, USER_EXE, run_as_user, shared_path

PHOTOS = ("emma.jpg", "frontal_1080p.jpg", "portrait_small.jpg")
NOISE = ("W0000", "I0000", "XNNPACK", "absl::InitializeLog", "inference_feedback_manager")


@pytest.fixture(autouse=True)
def _built():
    if not USER_EXE.exists():
        pytest.skip("run ./scripts/setup.sh (colcon install)")


def _error_lines(res):
    return [ln for ln in res.stderr.splitlines() if ln.strip()]


def test_bag_mesh_in_landmark_only_mode(tmp_path):
    pytest.importorskip("rosbags")
    from helpers.bags import read_bag

    res = run_as_user("run", "--input", shared_path("testdata/faces/portrait_small.jpg"),
                      "--output", tmp_path / "files", "--output-bag", tmp_path / "bag",
                      "--bag-mesh", "--landmark-only", "--quiet")
    assert res.returncode == 0, res.stderr[-2000:]
    messages, _ = read_bag(tmp_path / "bag")
    (_, params), = messages["/faceverse/params"]
    (_, markers), = messages["/faceverse/mesh"]
    mesh = markers.markers[-1]
    assert mesh.type == mesh.TRIANGLE_LIST and len(mesh.points) % 3 == 0 and mesh.points
    assert mesh.header.frame_id == params.header.frame_id == "camera_optical_frame"
    assert mesh.header.stamp == params.header.stamp
    pts = np.array([[p.x, p.y, p.z] for p in mesh.points])
    # a face in metres in the optical frame: 10-25 cm wide, in front of the camera, around
    # the head position the params give
    assert 0.10 < np.ptp(pts[:, 0]) < 0.25 and (pts[:, 2] > 0).all()
    head = params.faces[0].head_pose.position
    assert (pts.min(0) < [head.x, head.y, head.z]).all() and \
        ([head.x, head.y, head.z] < pts.max(0)).all()


def _faces(folder):
    """{file stem: [face records]} of the landmark-only JSON files of a run."""
    out = {}
    for path in sorted(folder.glob("*_face*.json")):
        stem, _, face = path.stem.rpartition("_face")
        out.setdefault(stem, []).append((int(face), json.loads(path.read_text())))
    return out


def test_a_folder_of_photos_is_processed_photo_by_photo(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in PHOTOS:
        shutil.copy(shared_path(f"testdata/faces/{name}"), photos / name)
    # variants of one photo (shifted, mirrored): the tracker would take them for one face
    portrait = cv2.imread(str(photos / "portrait_small.jpg"))
    cv2.imwrite(str(photos / "portrait_mirrored.png"), portrait[:, ::-1])
    cv2.imwrite(str(photos / "portrait_shifted.png"), np.roll(portrait, 6, axis=1))
    res = run_as_user("run", "--input", photos, "--output", tmp_path / "out", "--landmark-only",
                      "--save-params", "--quiet")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "each processed on its own" in res.stderr, res.stderr
    faces = _faces(tmp_path / "out")
    assert sorted(faces) == sorted(p.rsplit(".", 1)[0] for p in os.listdir(photos))
    for stem, records in faces.items():
        assert [face for face, _ in records] == [0], (stem, records)   # ids from 0 in each
        assert records[0][1]["face_id"] == 0
    # nothing carried over: each photo gives what it gives alone
    for name in ("portrait_shifted.png", "frontal_1080p.jpg"):
        alone = run_as_user("run", "--input", photos / name, "--output", tmp_path / name,
                            "--landmark-only", "--save-params", "--quiet")
        assert alone.returncode == 0, alone.stderr[-2000:]
        (_, single), = _faces(tmp_path / name)[name.rsplit(".", 1)[0]]
        (_, within), = faces[name.rsplit(".", 1)[0]]
        for key in ("box", "position_m", "quaternion_xyzw", "landmarks_px"):
            np.testing.assert_allclose(within[key], single[key], atol=1e-6, err_msg=key)


def test_a_folder_of_numbered_frames_is_a_video(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    cap = cv2.VideoCapture(str(shared_path("testdata/video/talking_256.mp4")))
    for index in range(12):
        ok, bgr = cap.read()
        assert ok
        cv2.imwrite(str(frames / f"frame_{index:04d}.png"), bgr)
    cap.release()
    runs = {}
    for mode in ("auto", "stills"):
        extra = ["--stills"] if mode == "stills" else []
        res = run_as_user("run", "--input", frames, "--output", tmp_path / mode,
                          "--landmark-only", "--save-params", "--quiet", *extra)
        assert res.returncode == 0, res.stderr[-2000:]
        runs[mode] = _faces(tmp_path / mode)
        assert sorted(runs[mode]) == [f"frame_{i:04d}" for i in range(12)]
        if mode == "auto":
            assert "12 numbered frames: tracked as one video" in res.stderr, res.stderr
    # one track: the box is smoothed across frames (one_euro), so after the first frame the
    # video run's boxes differ from the photo-by-photo ones
    boxes = {mode: np.array([runs[mode][f"frame_{i:04d}"][0][1]["box"] for i in range(12)])
             for mode in runs}
    np.testing.assert_allclose(boxes["auto"][0], boxes["stills"][0], atol=1e-6)
    assert np.abs(boxes["auto"][1:] - boxes["stills"][1:]).max() > 0.01


def test_overlay_label_is_the_face_id_string(monkeypatch, tmp_path):
    from faceverse_ros.views import overlay

    texts = []
    monkeypatch.setattr(overlay.cv2, "putText", lambda img, text, *a, **k: texts.append(text))
    # the run command's overlay: the id strings of its output bag, "f0" at the root namespace
    res_dir = tmp_path / "out"
    from faceverse_ros.cli.main import main

    assert main(["run", "--input", str(shared_path("testdata/faces/portrait_small.jpg")),
                 "--output", str(res_dir), "--landmark-only", "--quiet"]) == 0
    assert [t.split()[0] for t in texts] == ["f0"]   # FaceVerseParams.id at the root namespace
    texts.clear()
    assert main(["run", "--input", str(shared_path("testdata/faces/portrait_small.jpg")),
                 "--output", str(res_dir), "--landmark-only", "--quiet",
                 "--face-id-prefix", "robot1_f"]) == 0
    assert [t.split()[0] for t in texts] == ["robot1_f0"]


def test_node_overlay_uses_the_node_prefix(rclpy_context):
    """The node's debug image labels faces with its own id strings (namespace rule)."""
    from rclpy.parameter import Parameter

    from faceverse_ros.ros.node import FaceVerseLifecycleNode

    node = FaceVerseLifecycleNode(context=rclpy_context, namespace="/robot1",
                                  parameter_overrides=[Parameter("landmark_only", value=True)])
    try:
        node.trigger_configure()
        assert node.outputs.id_prefix == "robot1_f"
        assert node.outputs._builder.face_label(3) == "robot1_f3"
    finally:
        node.destroy_node()


@pytest.mark.parametrize("value", ["17", "0"])
def test_max_faces_has_the_node_range(value, tmp_path):
    res = run_as_user("run", "--input", shared_path("testdata/faces/portrait_small.jpg"),
                      "--output", tmp_path, "--landmark-only", "--max-faces", value)
    assert res.returncode == 2
    assert _error_lines(res) == [f"faceverse-ros: error: --max-faces must be a whole number in "
                                 f"1..16, got {value}"], res.stderr
    node = run_as_user("node", "--localhost", "--set", f"max_faces={value}")
    assert node.returncode == 1 and "must be an integer in 1..16" in node.stderr, node.stderr


def test_max_faces_16_is_accepted(tmp_path):
    res = run_as_user("run", "--input", shared_path("testdata/faces/portrait_small.jpg"),
                      "--output", tmp_path, "--landmark-only", "--max-faces", "16", "--quiet")
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.mark.parametrize("args, words", [
    (["--detector", "tasks"], "--detector tasks needs MediaPipe's face_landmarker.task: name it "
                              "with --task or put it in data/"),
    (["--keyframe-interval", "0"], "--keyframe-interval must be a whole number in 1..1000, got 0"),
    (["--keyframe-max-interval", "0"], "--keyframe-max-interval must be a whole number in "
                                       "1..1000, got 0"),
])
def test_errors_name_the_option_typed(args, words, tmp_path):
    empty = tmp_path / "no_data"
    empty.mkdir()
    res = run_as_user("run", "--input", shared_path("testdata/faces/portrait_small.jpg"),
                      "--output", tmp_path / "out", *args, home=empty,
                      env={"FACEVERSE_DATA": empty})
    lines = _error_lines(res)
    assert res.returncode != 0 and len(lines) == 1 and words in lines[0], res.stderr
    assert "backend" not in lines[0] and "task_path" not in lines[0]


def test_unknown_option_prints_the_subcommand_usage(tmp_path):
    res = run_as_user("run", "--input", "x.jpg", "--savepy")
    assert res.returncode == 2
    assert res.stderr.startswith("usage: faceverse-ros run "), res.stderr
    assert "faceverse-ros run: error: unrecognized arguments: --savepy" in res.stderr


def _photo_run(tmp_path, *extra):
    return run_as_user("run", "--input", shared_path("testdata/faces/portrait_small.jpg"),
                       "--output", tmp_path, "--landmark-only", "--task",
                       shared_path("models/face_landmarker.task"), *extra)


def test_native_log_lines_hidden_unless_verbose(tmp_path):
    quiet = _photo_run(tmp_path / "quiet")
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert not [w for w in NOISE if w in quiet.stderr + quiet.stdout], quiet.stderr
    assert (tmp_path / "quiet" / "portrait_small_overlay.png").is_file()
    verbose = _photo_run(tmp_path / "verbose", "--verbose")
    assert verbose.returncode == 0, verbose.stderr[-2000:]
    # the lines are there to hide: MediaPipe prints them in this environment
    assert [w for w in NOISE if w in verbose.stderr], verbose.stderr


def test_native_log_filter_passes_errors():
    from faceverse_ros.runtime.native_logs import is_noise

    assert is_noise("W0000 00:00:1796695509.444445   26674 inference_feedback_manager.cc:114] "
                    "Feedback manager requires a model with a single signature inference.")
    assert is_noise("I1207 10:02:03.123456  4242 task_runner.cc:85] GPU suport is not available")
    assert is_noise("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
    assert not is_noise("E0000 00:00:1796695509.444445   26674 graph.cc:1] calculator failed")
    assert not is_noise("[WARN] [1796695941.896578960] [faceverse_node]: frames lost")
    assert not is_noise("faceverse-ros: error: input 'x.jpg' does not exist")


def test_progress_only_on_a_terminal(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(shared_path("testdata/faces/portrait_small.jpg"), folder / name)
    argv = ["env", "-i", f"HOME={ROOT}", "PATH=/usr/bin:/bin", str(USER_EXE), "run", "--input",
            str(folder), "--landmark-only", "--output"]
    # bytes: text mode would turn the bar's carriage returns into newlines
    piped = subprocess.run(argv + [str(tmp_path / "piped")], cwd=ROOT, capture_output=True,
                           timeout=300)
    assert piped.returncode == 0 and b"\r" not in piped.stderr, piped.stderr[-500:]
    assert b"2 frames, 2 faces" in piped.stdout    # the summary line still says what was done
    # the same command with stderr on a terminal draws the bar
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv + [str(tmp_path / "tty")], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 300)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=300)
    os.close(master)
    assert proc.returncode == 0
    assert b"\r[" in seen and b"2/2 frames" in seen, seen[-500:]


def test_cli_module_is_importable_without_rclpy_for_run():
    """run's option checks use tracking.config's ranges, not the ROS layer."""
    out = subprocess.run([sys.executable, "-c", "import sys; import faceverse_ros.cli.main as m; "
                          "m._check_ranges(m.build_parser().parse_args(['run', '--input', 'x'])); "
                          "print('rclpy' in sys.modules)"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
