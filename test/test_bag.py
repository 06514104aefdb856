"""rosbag2 in, rosbag2 out: `faceverse-ros run --input BAG --output-bag OUT`.

Input bags are written from the shared video with rosbags' stock Humble store
(test/bag_maker.py), as a camera driver and `ros2 bag record` would; the output
is read back with rosbags' AnyReader from the definitions stored in the output
bag itself, and compared with a run of the same command on the video file.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT, shared_path

pytest.importorskip("rosbags", reason="rosbags is pinned in requirements.txt (run ./scripts/setup.sh)")

from bag_maker import FRAME_ID, record_delay_ns, write_camera_bag  # noqa: E402
from helpers.bags import read_bag, run_cli_module as _cli  # noqa: E402
from helpers.video import video_frames  # noqa: E402
from faceverse_ros.cli.main import main  # noqa: E402

VIDEO = "testdata/video/talking_256.mp4"
N = 16
BLOCKS = ("shape", "expression", "texture", "lighting", "rotation", "translation", "eyes")


def _assets(synthetic_assets):
    # the ResNet on every frame: bag and file runs compare value for value (keyframes in a
    # background thread would make each run's values depend on its timing)
    return ["--model", synthetic_assets.model_path, "--checkpoint", synthetic_assets.checkpoint_path,
            "--keyframe-interval", "1"]


def ros_build_hash(name):
    """The type hash rosidl generated for our message at build time (share/.../msg/*.json)."""
    for prefix in (Path(sys.prefix), ROOT / ".venv"):
        path = prefix / "share" / "faceverse_ros" / "msg" / f"{name}.json"
        if path.is_file():
            hashes = json.loads(path.read_text())["type_hashes"]
            return next(h["hash_string"] for h in hashes if h["type_name"] == f"faceverse_ros/msg/{name}")
    pytest.skip("no colcon-built faceverse_ros messages in this environment")


def _ns(stamp):
    return stamp.sec * 1_000_000_000 + stamp.nanosec


@pytest.fixture(scope="module")
def video():
    frames, fps = video_frames(shared_path(VIDEO), N)
    assert len(frames) == N
    return frames, fps


@pytest.fixture(scope="module")
def video_reference(tmp_path_factory, synthetic_assets):
    """Per-frame coefficients of `faceverse-ros run` on the video file itself."""
    out = tmp_path_factory.mktemp("video_ref")
    res = _cli("run", "--input", shared_path(VIDEO), "--output", out, "--save-params", "--quiet",
               "--max-frames", N, "--no-render", *_assets(synthetic_assets))
    assert res.returncode == 0, res.stderr[-2000:]
    return [np.load(out / f"talking_256_{i:06d}_face0.npy", allow_pickle=True).item()["coeffs"][0]
            for i in range(N)]


@pytest.mark.parametrize("storage, kind", [("mcap", "rgb8"), ("sqlite3", "bgr8"),
                                           ("mcap", "png"), ("sqlite3", "png")])
def test_bag_in_bag_out_matches_the_video_run(tmp_path, video, video_reference, synthetic_assets,
                                              storage, kind):
    frames, fps = video
    in_bag = tmp_path / "in"
    topic, stamps = write_camera_bag(in_bag, frames, fps, storage=storage, kind=kind)
    out_bag = tmp_path / "out"
    res = _cli("run", "--input", in_bag, "--topic", topic, "--output", tmp_path / "files",
               "--output-bag", out_bag, "--storage", storage, "--quiet", "--no-render",
               *_assets(synthetic_assets))
    assert res.returncode == 0, res.stderr[-2000:]
    meta = (out_bag / "metadata.yaml").read_text()
    assert f"storage_identifier: {storage}" in meta

    messages, conns = read_bag(out_bag)
    params = messages["/faceverse/params"]
    assert len(params) == N  # one params message per input image
    assert [_ns(m.header.stamp) for _, m in params] == stamps  # header stamps, not record times
    assert [t for t, _ in params] == [s + record_delay_ns(i) for i, s in enumerate(stamps)]
    assert {m.header.frame_id for _, m in params} == {FRAME_ID}
    for i, (_, msg) in enumerate(params):
        assert len(msg.faces) == 1, i
        face = msg.faces[0]
        assert (face.face_id, face.id, face.mode) == (0, "f0", face.MODE_REGRESSOR)
        coeffs = np.concatenate([getattr(face, b) for b in BLOCKS])
        np.testing.assert_allclose(coeffs, video_reference[i], atol=2e-4, err_msg=f"frame {i}")
        roi = face.roi
        assert roi.width > 40 and roi.x_offset + roi.width <= 256 and roi.y_offset + roi.height <= 256
        assert len(face.landmarks) == 2 * 478

    tf = messages["/tf"]
    assert len(tf) == N
    for (_, t_msg), (_, p_msg) in zip(tf, params):
        frames_by_child = {t.child_frame_id: t for t in t_msg.transforms}
        assert set(frames_by_child) == {"face_f0", "gaze_f0"}
        for t in frames_by_child.values():
            assert t.header.frame_id == FRAME_ID and _ns(t.header.stamp) == _ns(p_msg.header.stamp)
        pos = p_msg.faces[0].head_pose.position
        tr = frames_by_child["face_f0"].transform.translation
        assert (tr.x, tr.y, tr.z) == (pos.x, pos.y, pos.z) and tr.z > 0

    # definitions stored for `ros2 bag info`/Foxglove: ros2msg text and the ROS build's type hash
    assert conns["/faceverse/params"].digest == ros_build_hash("FaceVerseParamsArray")
    for conn in conns.values():
        assert conn.msgdef.data.strip(), conn.topic
    assert "MSG: faceverse_ros/FaceVerseParams" in conns["/faceverse/params"].msgdef.data


def test_debug_image_and_mesh_topics_when_asked(tmp_path, video, synthetic_assets):
    frames, fps = video
    topic, stamps = write_camera_bag(tmp_path / "in", frames[:3], fps, storage="mcap", kind="rgb8")
    res = _cli("run", "--input", tmp_path / "in", "--output", tmp_path / "files", "--output-bag",
               tmp_path / "out", "--bag-debug-image", "--bag-mesh", "--quiet",
               *_assets(synthetic_assets))
    assert res.returncode == 0, res.stderr[-2000:]
    messages, _ = read_bag(tmp_path / "out")
    images = [m for _, m in messages["/faceverse/debug_image"]]
    assert [_ns(m.header.stamp) for m in images] == stamps
    assert {(m.encoding, m.width, m.height, m.step) for m in images} == {("rgb8", 256, 256, 768)}
    assert any(not np.array_equal(m.data.reshape(256, 256, 3), f) for m, f in zip(images, frames))
    meshes = [m for _, m in messages["/faceverse/mesh"]]
    assert len(meshes) == 3
    for array in meshes:
        clear, mesh = array.markers
        assert clear.action == clear.DELETEALL and mesh.type == mesh.TRIANGLE_LIST
        assert mesh.header.frame_id == FRAME_ID and len(mesh.points) % 3 == 0
        assert len(mesh.points) == len(mesh.colors) > 0


def test_unsupported_encodings_are_skipped_and_counted(tmp_path, video):
    frames, fps = video
    topic, stamps = write_camera_bag(tmp_path / "in", frames[:12], fps, storage="sqlite3",
                                     kind="rgb8", bad_every=4)
    res = _cli("run", "--input", tmp_path / "in", "--output", tmp_path / "files", "--output-bag",
               tmp_path / "out", "--landmark-only", "--quiet")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "skipped 3 image(s): unsupported encoding 'bayer_rggb8'" in res.stderr
    params = read_bag(tmp_path / "out")[0]["/faceverse/params"]
    good = [s for i, s in enumerate(stamps) if i % 4 != 3]
    assert [_ns(m.header.stamp) for _, m in params] == good
    assert all(f.mode == f.MODE_LANDMARK_ONLY for _, m in params for f in m.faces)


def test_camera_info_sets_the_intrinsics(tmp_path, video):
    """Pinhole: doubling fx and fy doubles the head's depth; a calibration at twice the image
    size (fx = 4 W, cx = 255 at 2W x 2H) is scaled by 1/2 to the image (fx = 2 W, cx = 127.5),
    so it gives the same depth again."""
    frames, fps = video
    depths = []
    for name, info in (("default", None), ("long", (512, 512, 127.5, 127.5, 256, 256)),
                       ("binned", (1024, 1024, 255.0, 255.0, 512, 512))):
        write_camera_bag(tmp_path / name, frames[:3], fps, info=info)
        res = _cli("run", "--input", tmp_path / name, "--output", tmp_path / f"{name}_files",
                   "--output-bag", tmp_path / f"{name}_out", "--landmark-only", "--quiet",
                   "--smooth", "none")
        assert res.returncode == 0, res.stderr[-2000:]
        tf = read_bag(tmp_path / f"{name}_out")[0]["/tf"]
        depths.append(np.array([next(t.transform.translation.z for t in m.transforms
                                     if t.child_frame_id == "face_f0") for _, m in tf]))
    default, long, binned = depths
    np.testing.assert_allclose(long, 2 * default, rtol=0.05)
    np.testing.assert_allclose(binned, long, rtol=1e-6)


def _one_error_line(capsys, code):
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code != 0
    assert len(err) == 1 and err[0].startswith("faceverse-ros: error:"), err
    return err[0]


def test_topic_missing_or_ambiguous_lists_the_image_topics(tmp_path, video, capsys):
    frames, fps = video
    write_camera_bag(tmp_path / "two", frames[:2], fps, extra_image_topic="/camera2/image_raw")
    line = _one_error_line(capsys, main(["run", "--input", str(tmp_path / "two"), "--output",
                                         str(tmp_path / "o1"), "--landmark-only"]))
    assert "several image topics" in line and "--topic" in line
    assert "/camera/image_raw (Image)" in line and "/camera2/image_raw (Image)" in line
    line = _one_error_line(capsys, main(["run", "--input", str(tmp_path / "two"), "--topic",
                                         "/front/image_raw", "--output", str(tmp_path / "o2")]))
    assert "'/front/image_raw' is not in bag" in line and "/camera2/image_raw" in line
    line = _one_error_line(capsys, main(["run", "--input", str(tmp_path / "two"), "--topic",
                                         "/camera/camera_info", "--output", str(tmp_path / "o3")]))
    assert "not an image" in line


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_cut_at_half_is_one_line(tmp_path, video, capsys, storage):
    frames, fps = video
    write_camera_bag(tmp_path / "in", frames[:8], fps, storage=storage)
    data = next(p for p in (tmp_path / "in").iterdir() if p.suffix in (".mcap", ".db3"))
    size = data.stat().st_size
    os.truncate(data, size // 2)
    for spec in (tmp_path / "in", data):
        line = _one_error_line(capsys, main(["run", "--input", str(spec), "--output",
                                             str(tmp_path / "o"), "--output-bag",
                                             str(tmp_path / "out"), "--landmark-only"]))
        assert "truncated or corrupt" in line and str(spec) in line
        assert not (tmp_path / "out").exists()  # no half-made output bag either


def test_unknown_storage_id_and_bag_without_metadata(tmp_path, video, capsys):
    frames, fps = video
    write_camera_bag(tmp_path / "in", frames[:2], fps, storage="sqlite3")
    meta = tmp_path / "in" / "metadata.yaml"
    meta.write_text(meta.read_text().replace("storage_identifier: sqlite3",
                                             "storage_identifier: rosbag_v7"))
    line = _one_error_line(capsys, main(["run", "--input", str(tmp_path / "in"), "--output",
                                         str(tmp_path / "o")]))
    assert "unknown storage id 'rosbag_v7'" in line
    meta.unlink()
    line = _one_error_line(capsys, main(["run", "--input", str(tmp_path / "in"), "--output",
                                         str(tmp_path / "o")]))
    assert "no metadata.yaml" in line
    write_camera_bag(tmp_path / "ok", frames[:2], fps, storage="mcap")
    line = _one_error_line(capsys, main(["run", "--input", str(tmp_path / "ok"), "--output",
                                         str(tmp_path / "o"), "--output-bag", str(tmp_path / "in")]))
    assert "exists already" in line  # never written into an existing folder


def test_sigint_midway_leaves_a_closed_bag_with_the_frames_done(tmp_path, video):
    """Ctrl-C in a plain shell (env -i): the output bag opens and holds the frames done."""
    frames, fps = video
    many = (frames * 8)[:120]
    topic, stamps = write_camera_bag(tmp_path / "in", many, fps, storage="mcap")
    files, out_bag = tmp_path / "files", tmp_path / "out"
    exe = ROOT / ".venv" / "bin" / "faceverse-ros"
    cmd = [str(exe), "run", "--input", str(tmp_path / "in"), "--output", str(files),
           "--output-bag", str(out_bag), "--save-params", "--landmark-only", "--quiet"]
    if not exe.is_file():
        cmd = [sys.executable, "-m", "faceverse_ros.cli.main"] + cmd[1:]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while len(list(files.glob("*.json"))) < 10 and time.monotonic() < deadline \
            and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    done = len(list(files.glob("*.json")))
    assert 10 <= done < len(many)
    params = read_bag(out_bag)[0]["/faceverse/params"]
    assert len(params) == done
    assert [_ns(m.header.stamp) for _, m in params] == stamps[:done]
    assert f"bag {out_bag} ({done} params messages)" in out


def test_message_definitions_come_from_msg_and_match_the_ros_build():
    from faceverse_ros.io.bag_types import msg_dir, typestore

    assert msg_dir() == ROOT / "msg"
    store = typestore()
    for name in ("FaceVerseParams", "FaceVerseParamsArray"):
        assert store.hash_rihs01(f"faceverse_ros/msg/{name}") == ros_build_hash(name)


def test_roi_clipping_hand_worked():
    from faceverse_ros.io.face_fields import clipped_roi

    # box (-3.2, 10.5)-(100.2, 300.0) in a 256x256 image: floor/ceil, then cut at the border
    assert clipped_roi((-3.2, 10.5, 100.2, 300.0), (256, 256)) == (0, 10, 101, 246)
    assert clipped_roi((300, 300, 310, 320), (256, 256)) == (256, 256, 0, 0)


def test_node_messages_and_bag_messages_hold_the_same_fields(tmp_path):
    """One face through the node's message builder (rclpy) and the bag writer (rosbags)."""
    from types import SimpleNamespace

    pytest.importorskip("rclpy")
    from faceverse_ros.io.bag_writer import BagWriter
    from faceverse_ros.ros.messages import face_to_msg

    rng = np.random.default_rng(3)
    pose = SimpleNamespace(position=np.array([0.1, -0.2, 0.9]),
                           quaternion=np.array([0.5, 0.5, 0.5, 0.5]),
                           gaze_direction=np.array([0.0, 0.6, -0.8]),
                           gaze_quaternion=np.array([0.0, 0.0, 0.0, 1.0]))
    face = SimpleNamespace(face_id=7, confidence=0.75, mode=1, box=np.array([-5.5, 20.2, 90.1, 300.0]),
                           coeffs=rng.normal(size=621).astype(np.float32), pose=pose,
                           landmarks=rng.uniform(0, 200, size=(478, 3)),
                           blendshapes=rng.uniform(0, 1, size=52), gaze_confidence=0.5,
                           gaze_target=3, gaze_target_confidence=0.25, mutual_gaze=True)
    ros = face_to_msg(face, (256, 240), id_prefix="robot1_f")
    writer = BagWriter(tmp_path / "b", id_prefix="robot1_f")
    bag = writer._face(face, (256, 240))
    writer.close()
    assert (ros.id, bag.id) == ("robot1_f7", "robot1_f7")
    assert (ros.roi.x_offset, ros.roi.y_offset, ros.roi.width, ros.roi.height) == (0, 20, 91, 220)
    for name in ("face_id", "confidence", "mode"):
        assert getattr(ros, name) == getattr(bag, name), name
    for name in BLOCKS + ("landmarks", "blendshapes"):
        np.testing.assert_array_equal(np.asarray(getattr(ros, name)), getattr(bag, name), name)
    np.testing.assert_array_equal(np.concatenate([getattr(bag, b) for b in BLOCKS]), face.coeffs)
    for part in ("x", "y", "z", "w"):
        assert getattr(ros.head_pose.orientation, part) == getattr(bag.head_pose.orientation, part)
    assert (bag.head_pose.position.z, bag.gaze_direction.y) == (0.9, 0.6)
    assert (ros.head_pose.position.z, ros.gaze_direction.y) == (0.9, 0.6)
    # the target face is named by its REP-155 id string, like the `id` field
    for msg in (ros, bag):
        assert (msg.gaze_target, msg.gaze_target_confidence, msg.gaze_confidence,
                msg.mutual_gaze) == ("robot1_f3", 0.25, 0.5, True)
