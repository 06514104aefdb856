"""`faceverse-ros run --input BAG --depth-topic T --output-bag OUT`: a bag with colour and a
registered depth image in, the same outputs with depth-measured positions out.

The depth is a plane at a chosen distance behind the video's face (a face seen as a flat
surface: the published depth follows it within the face's relief, 5 %); the accuracy
against a head of known geometry is in test_depth.py / test_depth_pipeline.py.
"""
import numpy as np
import pytest

from helpers import shared_path
pytest.importorskip("rosbags", reason="rosbags is pinned in requirements.txt (run ./scripts/setup.sh)")
from bag_maker import FRAME_ID, write_camera_bag  # noqa: E402
from helpers.bags import read_bag, run_cli_module as _cli  # noqa: E402
from helpers.video import video_frames  # noqa: E402

VIDEO = "testdata/video/talking_256.mp4"
N = 8
DEPTH = "/camera/aligned_depth_to_color/image_raw"


def _faces(out):
    msgs = read_bag(out)[0]["/faceverse/params"]
    return [(m.header, m.faces[0]) for _, m in msgs if m.faces]


def _run(tmp_path, name, *extra):
    res = _cli("run", "--input", tmp_path / "in", "--output", tmp_path / f"{name}_files",
               "--output-bag", tmp_path / name, "--landmark-only", "--quiet", "--smooth", "none",
               "--no-render", *extra)
    return res


def test_depth_topic_makes_the_bag_positions_measured(tmp_path):
    frames, fps = video_frames(shared_path(VIDEO), N)
    # the colour-only distance first (a bag without depth)
    write_camera_bag(tmp_path / "colour", frames, fps)
    res = _cli("run", "--input", tmp_path / "colour", "--output", tmp_path / "c_files",
               "--output-bag", tmp_path / "c_out", "--landmark-only", "--quiet", "--smooth", "none",
               "--no-render")
    assert res.returncode == 0, res.stderr[-2000:]
    colour = _faces(tmp_path / "c_out")
    z0 = float(np.median([f.head_pose.position.z for _, f in colour]))
    assert not any(f.depth_measured for _, f in colour)
    target = 1.25 * z0
    h, w = frames[0].shape[:2]
    plane = np.full((h // 2, w // 2), int(round(target * 1000)), np.uint16)   # half size
    write_camera_bag(tmp_path / "in", frames, fps, depth=lambda i: ("16UC1", plane))
    res = _run(tmp_path, "out", "--depth-topic", DEPTH)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"depth: {N} frames matched on {DEPTH}, 0 not" in res.stderr, res.stderr[-2000:]
    faces = _faces(tmp_path / "out")
    assert len(faces) == len(colour)
    for (header, face), (header0, _) in zip(faces, colour):
        assert header.frame_id == FRAME_ID and header.stamp == header0.stamp
        assert face.depth_measured and 0.0 < face.depth_confidence <= 1.0
        assert face.head_pose.position.z == pytest.approx(target, rel=0.05)
    tf = read_bag(tmp_path / "out")[0]["/tf"]
    zs = [t.transform.translation.z for _, m in tf for t in m.transforms
          if t.child_frame_id == "face_f0"]
    np.testing.assert_allclose(zs, [f.head_pose.position.z for _, f in faces], rtol=1e-6)


def test_unregistered_depth_or_a_wrong_topic_is_said_in_one_line(tmp_path):
    frames, fps = video_frames(shared_path(VIDEO), 3)
    h, w = frames[0].shape[:2]
    write_camera_bag(tmp_path / "in", frames, fps, depth_frame_id="camera_depth_optical_frame",
                     depth=lambda i: ("16UC1", np.full((h, w), 500, np.uint16)))
    res = _run(tmp_path, "out", "--depth-topic", DEPTH)
    assert res.returncode == 0, res.stderr[-2000:]
    said = [line for line in res.stderr.splitlines() if "is not the colour image's" in line]
    assert len(said) == 1 and "aligned_depth_to_color" in said[0], res.stderr[-2000:]
    assert not any(f.depth_measured for _, f in _faces(tmp_path / "out"))
    res = _run(tmp_path, "out2", "--depth-topic", "/camera/camera_info")
    assert res.returncode != 0
    err = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and "is not a sensor_msgs/Image topic" in err[0], err


def test_depth_topic_without_a_bag_is_one_line():
    res = _cli("run", "--input", shared_path(VIDEO), "--depth-topic", DEPTH, "--landmark-only",
               "--quiet", "--max-frames", "1")
    assert res.returncode != 0
    err = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and "--depth-topic need a bag input" in err[0], err
