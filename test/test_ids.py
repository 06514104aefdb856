"""Face id strings: valid REP-155 topic tokens and TF frame ids, distinct per namespace."""
import re

import pytest

from faceverse_ros.io.face_ids import default_prefix, face_id_string, resolve_prefix

# A ROS 2 topic-name token: starts with a letter, then letters, digits, underscores.
TOKEN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@pytest.mark.parametrize("namespace, expected", [
    ("/", "f3"), ("", "f3"), ("/robot1", "robot1_f3"), ("/robot1/head_cam", "robot1_head_cam_f3"),
    ("/robot1/", "robot1_f3"),
])
def test_default_ids_by_namespace(namespace, expected):
    assert face_id_string(default_prefix(namespace), 3) == expected


def test_ids_are_topic_tokens_and_distinct_across_namespaces():
    ids = {face_id_string(resolve_prefix("", ns), n) for ns in ("/", "/a", "/b") for n in range(20)}
    assert len(ids) == 60
    assert all(TOKEN.match(i) for i in ids)


def test_explicit_prefix_wins_and_bad_prefixes_are_refused():
    assert resolve_prefix("cam_left_", "/robot1") == "cam_left_"
    for bad in ("3x", "a-b", "a/b", "_x"):
        with pytest.raises(ValueError, match="face_id_prefix"):
            resolve_prefix(bad, "/")
