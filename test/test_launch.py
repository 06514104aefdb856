"""The package driven the way ROS users drive it, with the real tools (scripts/setup.sh's
dev/test extra): `ros2 launch faceverse_ros faceverse.launch.py` next to a camera publisher,
`ros2 topic echo --once` / `ros2 topic hz`, `ros2 param get/set`, SIGINT.

One launch with a parameter file whose values differ from the defaults serves the
single-tracker tests (module fixture); two namespaced trackers on two camera streams run
at once in their own test. Timeouts are generous: the machine may be loaded.
"""
import re
import time

import pytest
import yaml

from helpers import shared_path
from launch_tools import camera, error_lines, launch, need_ros2_tools, ros2, stop_daemon

PARAMS = "faceverse_ros/msg/FaceVerseParamsArray"
# values that differ from the defaults (config/faceverse.yaml), one per kind
# (smoother.box.beta: an integer for a double, as users write YAML: stored as 3.0)
FILE_VALUES = {"smoother.kind": "none", "max_faces": 2, "diagnostics.period_s": 0.5,
               "publish.landmarks": False, "landmark_only": True, "smoother.box.beta": 3}
SHOWN = {"smoother.box.beta": "3.0"}


@pytest.fixture(scope="module")
def video():
    need_ros2_tools()
    return shared_path("testdata/video/talking_256.mp4")


@pytest.fixture(scope="module")
def params_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("launch") / "faceverse_test.yaml"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": FILE_VALUES}}))
    return path


@pytest.fixture(scope="module")
def single(video, params_file):
    """camera on /camera/image_raw (the launch file's default topics) + ros2 launch."""
    cam = camera(video, "/camera", "camera", frame_id="test_cam_optical")
    tracker = launch(f"params_file:={params_file}", name="single")
    try:
        assert tracker.wait_for(r"faceverse_node active", 180), tracker.output()[-4000:]
        yield tracker
    finally:
        tracker.close()
        cam.interrupt()
        cam.close()
        stop_daemon()


def param(*args, ok=None):
    """`ros2 param ...`, retried while the node is not found yet (discovery on a loaded machine)."""
    ok = ok or (lambda out: out.returncode == 0 and "Node not found" not in out.stdout + out.stderr)
    return ros2("param", *args, timeout=60, retries=8, ok=ok)


SET_OK = lambda out: "Set parameter successful" in out.stdout  # noqa: E731


def _echo_once(topic, msg_type, timeout=60):
    return ros2("topic", "echo", "--once", topic, msg_type, timeout=timeout,
                ok=lambda out: out.returncode == 0 and out.stdout.strip())


def test_params_topic_echo_once(single):
    out = _echo_once("/faceverse/params", PARAMS)
    assert out.returncode == 0, out.stderr[-2000:]
    msg = yaml.safe_load(out.stdout.split("---")[0])
    assert msg["header"]["frame_id"] == "test_cam_optical"   # the camera's optical frame
    stamp = msg["header"]["stamp"]
    assert stamp["sec"] > 1_600_000_000   # the camera's clock stamp, passed through
    assert len(msg["faces"]) >= 1, msg
    face = msg["faces"][0]
    assert face["mode"] == 2, face   # MODE_LANDMARK_ONLY: landmark_only: true from the file
    assert not face["landmarks"], "publish.landmarks: false from the parameter file"


def test_params_topic_hz(single):
    out = ros2("topic", "hz", "/faceverse/params", "--window", "20", timeout=25, retries=2,
               ok=lambda out: "average rate" in out.stdout)
    rates = [float(r) for r in re.findall(r"average rate: ([0-9.]+)", out.stdout)]
    assert rates, out.stdout[-2000:] + out.stderr[-2000:]
    assert 1.0 < rates[-1] < 15.0, rates   # the camera publishes at 10 Hz


def test_params_file_values_are_applied(single):
    for name, value in FILE_VALUES.items():
        out = param("get", "/faceverse_node", name)
        assert out.returncode == 0, out.stderr
        shown = out.stdout.strip().split(":", 1)[-1].strip()
        assert shown == SHOWN.get(name, str(value)), (name, out.stdout)


def test_ros2_param_set_takes_effect(single):
    out = param("set", "/faceverse_node", "smoother.kind", "one_euro",
               ok=SET_OK)
    assert "Set parameter successful" in out.stdout, out.stdout + out.stderr
    out = param("get", "/faceverse_node", "smoother.kind")
    assert out.stdout.strip().endswith("one_euro"), out.stdout
    # refused with a reason: an unknown choice, a read-only parameter
    answered = lambda out: "Setting parameter failed" in out.stdout + out.stderr  # noqa: E731
    out = param("set", "/faceverse_node", "smoother.kind", "bogus", ok=answered)
    said = out.stdout + out.stderr
    assert "Setting parameter failed" in said and "one_euro" in said and "bogus" in said, said
    out = param("set", "/faceverse_node", "max_faces", "3", ok=answered)
    said = out.stdout + out.stderr
    assert "Setting parameter failed" in said and "read-only" in said, said
    # publish.params off: the topic goes quiet; on again: messages come back
    out = param("set", "/faceverse_node", "publish.params", "false",
               ok=SET_OK)
    assert "Set parameter successful" in out.stdout
    quiet = ros2("topic", "echo", "--once", "/faceverse/params", PARAMS, "--timeout", "4", timeout=30,
                 retries=1)
    assert "faces" not in quiet.stdout, quiet.stdout[:500]
    out = param("set", "/faceverse_node", "publish.params", "true", ok=SET_OK)
    assert "Set parameter successful" in out.stdout, out.stdout + out.stderr
    assert _echo_once("/faceverse/params", PARAMS).stdout.strip()


def test_sigint_stops_everything_cleanly(single):
    """Last of the module's tests on `single`: SIGINT, exit 0, no error line, nothing left."""
    children = single.group_pids()
    assert len(children) >= 2, children   # ros2 launch and faceverse_node
    rc = single.interrupt(timeout=90)
    output = single.output()
    assert rc == 0, output[-4000:]
    assert not error_lines(output), error_lines(output)
    assert "process has finished cleanly" in output, output[-2000:]
    time.sleep(1)
    assert not single.group_pids(), "processes left running after SIGINT"


def test_two_namespaced_trackers_on_two_cameras(video, params_file, rclpy_context):
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from tf2_msgs.msg import TFMessage

    from faceverse_ros.msg import FaceVerseParamsArray

    procs = [camera(video, "/cam1", "cam1", frame_id="cam1_optical"),
             camera(video, "/cam2", "cam2", frame_id="cam2_optical")]
    try:
        for ns, cam in (("robot1", "cam1"), ("robot2", "cam2")):
            procs.append(launch(f"namespace:={ns}", f"image:=/{cam}/image_raw",
                                f"camera_info:=/{cam}/camera_info", f"params_file:={params_file}",
                                name=ns))
        for p in procs[2:]:
            assert p.wait_for(r"faceverse_node active", 240), p.output()[-4000:]
        import rclpy

        node = rclpy.create_node("faceverse_two_ns_probe", context=rclpy_context)
        got = {"params": {}, "tf": set(), "tf_parents": set(), "diag": set()}

        def on_params(ns):
            def cb(msg):
                got["params"].setdefault(ns, []).append((msg.header.frame_id, [f.id for f in msg.faces]))
            return cb

        def on_tf(msg):
            for t in msg.transforms:
                got["tf"].add(t.child_frame_id)
                got["tf_parents"].add((t.header.frame_id, t.child_frame_id))

        def on_diag(msg):
            for status in msg.status:
                got["diag"].add(status.name)

        subs = [node.create_subscription(FaceVerseParamsArray, f"/{ns}/faceverse/params", on_params(ns), 10)
                for ns in ("robot1", "robot2")]
        subs.append(node.create_subscription(TFMessage, "/tf", on_tf, QoSProfile(
            depth=100, reliability=ReliabilityPolicy.RELIABLE)))
        subs.append(node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10))
        from helpers.spin import spin_until

        def done():
            faces = {ns: any(ids for _, ids in got["params"].get(ns, [])) for ns in ("robot1", "robot2")}
            tf_ns = {ns: any(c.startswith(f"face_{ns}_f") for c in got["tf"]) for ns in ("robot1", "robot2")}
            return all(faces.values()) and all(tf_ns.values()) and len(got["diag"]) >= 2

        spin_until(node, done, 120, rclpy_context)
        node.destroy_node()
        # params: one topic per namespace, frame of its own camera, ids with the namespace prefix
        for ns, frame in (("robot1", "cam1_optical"), ("robot2", "cam2_optical")):
            seen = got["params"].get(ns, [])
            assert seen, f"nothing on /{ns}/faceverse/params"
            assert {f for f, _ in seen} == {frame}, (ns, {f for f, _ in seen})
            ids = {i for _, batch in seen for i in batch}
            assert ids and all(i.startswith(f"{ns}_f") for i in ids), (ns, ids)
        # TF: distinct frames per tracker, each under its own camera's optical frame
        for ns, frame in (("robot1", "cam1_optical"), ("robot2", "cam2_optical")):
            mine = {c for p, c in got["tf_parents"] if c.endswith(tuple("0123456789"))
                    and (c.startswith(f"face_{ns}_f") or c.startswith(f"gaze_{ns}_f"))}
            assert mine, (ns, sorted(got["tf"]))
            assert {p for p, c in got["tf_parents"] if c in mine} == {frame}
        assert not {c for c in got["tf"] if re.fullmatch(r"(face|gaze)_f?\d+", c)}, got["tf"]
        # diagnostics: one status per tracker, named by its full node name
        assert any("/robot1/faceverse_node" in n for n in got["diag"]), got["diag"]
        assert any("/robot2/faceverse_node" in n for n in got["diag"]), got["diag"]
        # parameters of each: the file applied under both namespaces
        for ns in ("robot1", "robot2"):
            out = param("get", f"/{ns}/faceverse_node", "smoother.kind")
            assert out.stdout.strip().endswith("none"), (ns, out.stdout, out.stderr)
        for p in procs[2:]:
            assert p.interrupt(timeout=90) == 0, p.output()[-3000:]
            assert not error_lines(p.output()), error_lines(p.output())
    finally:
        for p in procs:
            p.interrupt(timeout=30)
            p.close()
        stop_daemon()


def test_lifecycle_node_driven_by_ros2_lifecycle(video):
    from launch_tools import ROS2, Proc

    cam = camera(video, "/lc", "lc_cam", frame_id="lc_optical")
    node = Proc([ROS2, "run", "faceverse_ros", "faceverse_lifecycle_node", "--ros-args",
                 "-r", "__ns:=/lc", "-r", "image:=/lc/image_raw", "-r", "camera_info:=/lc/camera_info",
                 "-p", "landmark_only:=true"], "lifecycle")
    target = "/lc/faceverse_node"
    try:
        def state_is(word):
            return lambda out: out.returncode == 0 and word in out.stdout

        out = ros2("lifecycle", "get", target, timeout=60, retries=12,
                   ok=state_is("unconfigured"))
        assert "unconfigured" in out.stdout, out.stdout + out.stderr + node.output()[-2000:]
        quiet = ros2("topic", "echo", "--once", "/lc/faceverse/params", PARAMS, "--timeout", "3",
                     timeout=30, retries=1)
        assert "faces" not in quiet.stdout   # unconfigured: nothing published
        for transition, state in (("configure", "inactive"), ("activate", "active")):
            out = ros2("lifecycle", "set", target, transition, timeout=120, retries=6,
                       ok=state_is("Transitioning successful"))
            assert "Transitioning successful" in out.stdout, out.stdout + out.stderr
            out = ros2("lifecycle", "get", target, retries=6, ok=state_is(state))
            assert out.stdout.split()[0] == state, out.stdout
        msg = yaml.safe_load(_echo_once("/lc/faceverse/params", PARAMS, timeout=90).stdout.split("---")[0])
        assert msg["header"]["frame_id"] == "lc_optical" and msg["faces"], msg
        out = ros2("lifecycle", "set", target, "deactivate", retries=6,
                   ok=state_is("Transitioning successful"))
        assert "Transitioning successful" in out.stdout
        time.sleep(1)
        quiet = ros2("topic", "echo", "--once", "/lc/faceverse/params", PARAMS, "--timeout", "3",
                     timeout=30, retries=1)
        assert "faces" not in quiet.stdout   # inactive: nothing published
        assert node.interrupt(timeout=90) == 0, node.output()[-3000:]
        assert not error_lines(node.output()), error_lines(node.output())
    finally:
        node.close()
        cam.interrupt()
        cam.close()
        stop_daemon()
