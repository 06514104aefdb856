"""ros/transport.py: which Fast DDS variable is set and when (the shipped profile for large
frames), the shipped file itself, and the image subscription's reliability rule."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from helpers import ROOT
from faceverse_ros.ros import transport
from faceverse_ros.ros.transport import FASTDDS_VAR, FASTRTPS_VAR, SWITCH_VAR, ProfileError, \
    apply_profile, profile_plan, profile_variables, reliability_for_publishers

SHIPPED = ROOT / "config" / transport.PROFILE_FILE_NAME


def test_shipped_profile_sizes_shared_memory_for_1080p():
    ns = {"f": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
    root = ET.parse(SHIPPED).getroot()
    participant = root.find(".//f:participant", ns)
    assert participant.get("is_default_profile") == "true"   # rmw_fastrtps uses the default one
    shm = [d for d in root.findall(".//f:transport_descriptor", ns)
           if d.find("f:type", ns).text == "SHM"]
    assert len(shm) == 1
    segment = int(shm[0].find("f:segment_size", ns).text)
    frame_1080p = 1920 * 1080 * 3
    assert segment >= 4 * frame_1080p       # several 1080p rgb8 frames in flight
    # a 1080p frame is about 95 fragments of 64 KiB: the port queue holds several frames
    assert int(shm[0].find("f:port_queue_capacity", ns).text) >= 4 * frame_1080p // 65500
    used = [t.text for t in participant.findall(".//f:userTransports/f:transport_id", ns)]
    types = {d.find("f:transport_id", ns).text: d.find("f:type", ns).text
             for d in root.findall(".//f:transport_descriptor", ns)}
    assert sorted(types[t] for t in used) == ["SHM", "UDPv4"]     # other hosts still reachable
    assert participant.find(".//f:useBuiltinTransports", ns).text == "false"
    # readers free each sample once taken (the memory after one huge frame comes back)
    reader = root.find(".//f:data_reader", ns)
    assert reader.get("is_default_profile") == "true"
    assert reader.find("f:historyMemoryPolicy", ns).text == "DYNAMIC"


@pytest.mark.parametrize("environ, expected", [
    ({"ROS_DISTRO": "humble"}, (FASTRTPS_VAR,)),
    ({"ROS_DISTRO": "jazzy"}, (FASTRTPS_VAR,)),
    ({"ROS_DISTRO": "kilted"}, (FASTDDS_VAR,)),
    ({"ROS_DISTRO": "rolling"}, (FASTDDS_VAR,)),
])
def test_variable_follows_the_fast_dds_major_version(environ, expected):
    assert profile_variables(environ) == expected


def _our_variable():
    """What this environment's Fast DDS reads, from the distribution scripts/setup.sh made it
    for (written to <venv>/.faceverse_ros_distro): Jazzy's wheels carry Fast DDS 2
    (FASTRTPS_...), Kilted's Fast DDS 3 (FASTDDS_...)."""
    marker = Path(sys.prefix) / ".faceverse_ros_distro"
    if not marker.is_file():
        pytest.skip("not an environment made by scripts/setup.sh")
    return FASTRTPS_VAR if marker.read_text().strip() == "jazzy" else FASTDDS_VAR


def test_our_environment_without_ros_distro():
    # the PyPI wheels set no ROS_DISTRO: the Fast DDS library in the environment's lib/ decides
    assert profile_variables({"AMENT_PREFIX_PATH": sys.prefix}) == (_our_variable(),)
    assert profile_variables({}) == (_our_variable(),)


def test_default_is_the_shipped_file():
    environ = {"ROS_DISTRO": "kilted"}
    line = apply_profile(environ)
    assert environ[FASTDDS_VAR] == str(SHIPPED.resolve()) and FASTRTPS_VAR not in environ
    assert environ[transport.QOS_FROM_XML_VAR] == "1"     # rmw takes the file's memory policies
    kept = {"ROS_DISTRO": "kilted", transport.QOS_FROM_XML_VAR: "0"}
    apply_profile(kept)
    assert kept[transport.QOS_FROM_XML_VAR] == "0"        # a user's choice is kept
    assert "DDS profile" in line and str(SHIPPED.resolve()) in line


@pytest.mark.parametrize("environ, words", [
    ({FASTDDS_VAR: "/mine.xml"}, "yours"),
    ({FASTRTPS_VAR: "/mine.xml"}, "yours"),
    ({SWITCH_VAR: "off"}, "off"),
    ({SWITCH_VAR: "0"}, "off"),
    ({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}, "not used"),
])
def test_left_alone_when_the_user_decided(environ, words):
    variables, line = profile_plan(dict(environ, ROS_DISTRO="kilted"))
    assert variables == {} and words in line


def test_another_profile_by_path(tmp_path):
    mine = tmp_path / "mine.xml"
    mine.write_text("<dds/>")
    variables, _ = profile_plan({"ROS_DISTRO": "humble", SWITCH_VAR: str(mine),
                                 "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"})
    assert variables == {FASTRTPS_VAR: str(mine.resolve())}   # their file: no QoS switch
    with pytest.raises(ProfileError, match="no such file"):
        profile_plan({SWITCH_VAR: str(tmp_path / "missing.xml")})


def test_reliability_rule():
    assert reliability_for_publishers([]) is None
    assert reliability_for_publishers(["RELIABLE", "reliable"]) == "reliable"
    assert reliability_for_publishers(["RELIABLE", "BEST_EFFORT"]) == "best_effort"
    from rclpy.qos import ReliabilityPolicy

    assert reliability_for_publishers([ReliabilityPolicy.RELIABLE]) == "reliable"
    assert reliability_for_publishers([ReliabilityPolicy.BEST_EFFORT]) == "best_effort"


def test_node_command_applies_the_profile_in_a_fresh_shell():
    """`faceverse-ros node` in a shell with nothing set: the variable is set before rclpy starts."""
    variable = _our_variable()
    script = ("import os, sys; from faceverse_ros.cli import main as m; "
              "m._apply_dds_profile(m.build_parser().parse_args(['node'])); "
              f"print(os.environ.get('{variable}', 'UNSET'))")
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    out = subprocess.run([str(Path(sys.prefix) / "bin" / "python"), "-c", script], env=env,
                         capture_output=True, text=True, timeout=60, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == str(SHIPPED.resolve())


def test_unknown_fast_dds_version_sets_both(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    assert profile_variables({}) == (FASTDDS_VAR, FASTRTPS_VAR)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libfastrtps.so.2.6").write_text("")
    assert profile_variables({}) == (FASTRTPS_VAR,)


def test_auto_reliability_follows_the_publishers(rclpy_context):
    """auto: the subscription takes the publishers' reliability, and changes with them."""
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from helpers.spin import spin_until
    from faceverse_ros.ros.transport import ImageSubscription

    node = rclpy.create_node("faceverse_node", context=rclpy_context)
    got = []
    try:
        sub = ImageSubscription(node, Image, "image_auto", got.append, "auto", recheck_period_s=0.1)
        assert sub.reliability == "best_effort"   # no publisher yet: matches either kind
        pub = node.create_publisher(Image, "image_auto", QoSProfile(depth=1))   # reliable

        def delivered(kind):
            pub.publish(Image(encoding=kind))
            return sub.reliability == kind and any(m.encoding == kind for m in got)

        assert spin_until(node, lambda: delivered("reliable"), 10.0, rclpy_context)
        assert sub.recreated == 1
        info = node.get_subscriptions_info_by_topic("/image_auto")
        assert [i.qos_profile.reliability for i in info] == [ReliabilityPolicy.RELIABLE]
        node.destroy_publisher(pub)
        pub = node.create_publisher(Image, "image_auto", QoSProfile(
            depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
        assert spin_until(node, lambda: delivered("best_effort"), 10.0, rclpy_context)
        assert sub.recreated == 2
        # a reliable publisher known at creation: BEST_AVAILABLE (or the Humble rule) picks reliable
        early = node.create_publisher(Image, "image_early", QoSProfile(depth=1))
        second = ImageSubscription(node, Image, "image_early", got.append, "auto")
        assert second.reliability == "reliable" and second.recreated == 0
        fixed = ImageSubscription(node, Image, "image_fixed", got.append, "best_effort")
        assert fixed.reliability == "best_effort"
        with pytest.raises(ValueError, match="one of auto, reliable, best_effort"):
            ImageSubscription(node, Image, "image_x", got.append, "sometimes")
        for s in (sub, second, fixed):
            s.destroy()
        node.destroy_publisher(early)
    finally:
        node.destroy_node()


def test_humble_fallback_without_best_available(rclpy_context, monkeypatch):
    """Humble's rclpy has no BEST_AVAILABLE: the rule is applied to the publishers found."""
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from faceverse_ros.ros.transport import ImageSubscription

    monkeypatch.setattr(transport, "best_available_policy", lambda: None)
    node = rclpy.create_node("faceverse_node_humble", context=rclpy_context)
    try:
        pubs = [node.create_publisher(Image, "image_humble", QoSProfile(depth=1)),
                node.create_publisher(Image, "image_humble", QoSProfile(
                    depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))]
        sub = ImageSubscription(node, Image, "image_humble", lambda m: None, "auto")
        assert sub.reliability == "best_effort"   # one publisher is best effort
        info = node.get_subscriptions_info_by_topic("/image_humble")
        assert [i.qos_profile.reliability for i in info] == [ReliabilityPolicy.BEST_EFFORT]
        node.destroy_publisher(pubs.pop())
        assert sub.check() and sub.reliability == "reliable"   # the best-effort one left
        sub.destroy()
    finally:
        node.destroy_node()
