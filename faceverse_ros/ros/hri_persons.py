"""ROS4HRI (REP-155) person topics of face recognition (identity.enabled only).

The node is both REP-155's face recognition node and a minimal person manager for the
faces it tracks:

- ``/humans/candidate_matches`` (hri_msgs/IdsMatch): a face/person match when a track
  gets its person (id1 = the face id string, id1_type FACE; id2 = the person id, id2_type
  PERSON; confidence of identity.gallery), and the same pair with confidence 0.0 when the
  face ends ("those two ids are not associated" in IdsMatch.msg);
- ``/humans/persons/tracked`` (hri_msgs/IdsList): the persons of the faces tracked now,
  every processed frame (empty included), stamped with the frame's header;
- ``/humans/persons/known`` (hri_msgs/IdsList): every person the gallery holds (seen in
  the last identity.memory_s, or enrolled), every processed frame;
- per known person ``/humans/persons/<person_id>/``: ``face_id`` (std_msgs/String,
  latched: the face matched to the person now, '' once that face ends), ``anonymous``
  (std_msgs/Bool, latched, required by REP-155: true for a person the gallery made up from
  faces it saw, whose id is not kept across runs; false for an enrolled person) and, for
  enrolled persons, ``name`` (std_msgs/String, latched). A forgotten person's topics go.

No face descriptor is published anywhere: they stay inside the node.
"""
from typing import Dict

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool, String

from hri_msgs.msg import IdsList, IdsMatch
from faceverse_ros.ros.hri import HRI_QOS

PERSONS_NS = "/humans/persons"
MATCHES_TOPIC = "/humans/candidate_matches"
LATCHED_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)


class _PersonTopics:
    def __init__(self, node, person_id):
        base = f"{PERSONS_NS}/{person_id}"
        self.node = node
        self.face_id = node.create_publisher(String, f"{base}/face_id", LATCHED_QOS)
        self.anonymous = node.create_publisher(Bool, f"{base}/anonymous", LATCHED_QOS)
        self.name = None
        self.base = base
        self.last_face = None
        self.last_anonymous = None
        self.last_name = None

    def update(self, face, anonymous, name):
        if face != self.last_face:
            self.face_id.publish(String(data=face))
            self.last_face = face
        if anonymous != self.last_anonymous:
            self.anonymous.publish(Bool(data=anonymous))
            self.last_anonymous = anonymous
        if name and name != self.last_name:
            if self.name is None:
                self.name = self.node.create_publisher(String, f"{self.base}/name", LATCHED_QOS)
            self.name.publish(String(data=name))
            self.last_name = name

    def destroy(self):
        for pub in (self.face_id, self.anonymous, self.name):
            if pub is not None:
                self.node.destroy_publisher(pub)
        self.face_id = self.anonymous = self.name = None


class PersonPublisher:
    """Publishes the recognizer's events and persons (module doc)."""

    def __init__(self, node):
        self.node = node
        self.matches = node.create_publisher(IdsMatch, MATCHES_TOPIC, HRI_QOS)
        self.tracked = node.create_publisher(IdsList, f"{PERSONS_NS}/tracked", HRI_QOS)
        self.known = node.create_publisher(IdsList, f"{PERSONS_NS}/known", HRI_QOS)
        self._persons: Dict[str, _PersonTopics] = {}

    def publish(self, header, recognizer, face_string):
        """One processed frame: the match events since the last frame, then the person lists
        and topics. face_string: face id (int) -> REP-155 face id string."""
        for event in recognizer.poll_events():
            self.matches.publish(IdsMatch(id1=face_string(event.face_id), id1_type=IdsMatch.FACE,
                                          id2=event.person_id, id2_type=IdsMatch.PERSON,
                                          confidence=float(event.confidence)))
        held, persons = recognizer.gallery.snapshot()
        faces = {pid: face_string(face_id) for pid, face_id in held.items()}
        for gone in set(self._persons) - set(persons):
            self._persons.pop(gone).destroy()
        for pid, (enrolled, name) in persons.items():
            topics = self._persons.get(pid)
            if topics is None:
                topics = self._persons[pid] = _PersonTopics(self.node, pid)
            topics.update(faces.get(pid, ""), not enrolled, name)
        self.tracked.publish(IdsList(header=header, ids=sorted(faces)))
        self.known.publish(IdsList(header=header, ids=sorted(persons)))

    def destroy(self):
        for topics in self._persons.values():
            topics.destroy()
        self._persons.clear()
        for pub in (self.matches, self.tracked, self.known):
            self.node.destroy_publisher(pub)
