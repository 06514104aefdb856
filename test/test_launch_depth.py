"""`ros2 launch faceverse_ros faceverse.launch.py depth:=true` with the depth topics
remapped (a RealSense-style name here): the node subscribes to them, depth.enabled reads
true, `ros2 param set ... depth.enabled false` switches it off at run time; --show-args
describes the depth arguments, and a bad depth:= flag is refused before anything starts."""
import yaml

from launch_tools import error_lines, launch, need_ros2_tools, ros2, stop_daemon

DEPTH_TOPIC = "/rs/camera/aligned_depth_to_color/image_raw"
INFO_TOPIC = "/rs/camera/aligned_depth_to_color/camera_info"


def test_show_args_describes_the_depth_arguments():
    need_ros2_tools()
    out = ros2("launch", "faceverse_ros", "faceverse.launch.py", "--show-args", timeout=120,
               retries=1)
    assert out.returncode == 0, out.stderr
    blocks = {b.strip().splitlines()[0].strip().strip("':"): b for b in out.stdout.split("\n\n")
              if b.strip().startswith("'")}
    for name in ("depth", "depth_image", "depth_camera_info"):
        assert name in blocks, sorted(blocks)
        assert "no description given" not in blocks[name]
    assert "(default: 'false')" in blocks["depth"], blocks["depth"]


def test_bad_depth_flag_is_refused_in_one_line():
    need_ros2_tools()
    proc = launch("depth:=perhaps", name="depth_refuse")
    try:
        proc.popen.wait(timeout=120)
        output = proc.output()
        assert proc.popen.returncode != 0 and "depth:='perhaps' must be true or false" in output
        assert "process started" not in output and len(error_lines(output)) == 1, output
    finally:
        proc.close()


def test_depth_true_subscribes_to_the_remapped_topics_and_switches_off(tmp_path):
    need_ros2_tools()
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"landmark_only": True}}}))
    proc = launch(f"params_file:={params}", "depth:=true", f"depth_image:={DEPTH_TOPIC}",
                  f"depth_camera_info:={INFO_TOPIC}", "namespace:=d1", name="depth")
    try:
        assert proc.wait_for(r"depth input on: " + DEPTH_TOPIC, 180), proc.output()[-4000:]
        got = lambda out: out.returncode == 0 and "Node not found" not in out.stdout  # noqa: E731
        out = ros2("param", "get", "/d1/faceverse_node", "depth.enabled", retries=8, ok=got)
        assert out.stdout.strip().endswith("True"), out.stdout
        info = ros2("topic", "info", INFO_TOPIC, retries=8,
                    ok=lambda o: "Subscription count: 1" in o.stdout)
        assert "Subscription count: 1" in info.stdout, info.stdout
        out = ros2("param", "set", "/d1/faceverse_node", "depth.enabled", "false", retries=8,
                   ok=lambda o: "Set parameter successful" in o.stdout)
        assert "Set parameter successful" in out.stdout, out.stdout + out.stderr
        assert proc.wait_for("depth input off", 30), proc.output()[-3000:]
    finally:
        assert proc.interrupt() == 0, proc.output()[-3000:]
        proc.close()
        stop_daemon()
