"""ROS4HRI (REP-155) face topics: what an HRI stack listens to.

Per processed frame, stamped with the source image's header (stamp and
frame_id):

- ``/humans/faces/tracked`` (hri_msgs/IdsList): the id strings of the faces
  in this frame's results; published every frame, empty included;
- per face ``/humans/faces/<id>/``:
  ``roi`` (hri_msgs/NormalizedRegionOfInterest2D, [0, 1], c = the face's
  confidence), ``cropped`` and ``aligned`` (sensor_msgs/Image rgb8, size from
  the ``/humans/faces/width`` / ``height`` parameters, 128x128 by default;
  aligned = eyes level, faceverse_ros/ros/hri_images.py), ``landmarks``
  (hri_msgs/FacialLandmarks: the 70 points of faceverse_ros/ros/hri_landmarks.py
  divided by the image size; c = the face's confidence, 0 for a point outside
  the image, clipped to the border) and, for faces with MediaPipe blendshapes
  (Face Landmarker, ``detector: tasks``), ``facs``
  (hri_msgs/FacialActionUnits, faceverse_ros/ros/hri_facs.py).
- ``/expression`` is not published: nothing we estimate is an emotion. The
  FaceVerse expression coefficients are weights of a 3D shape basis and the
  blendshapes are muscle-like movements; naming an emotion (or a valence /
  arousal) from them would be a classifier we have not built nor measured.

Lifetime: a face's publishers are created in the first frame that lists its
id and destroyed in the first frame that does not, so the node holds
publishers only for the faces of the latest frame, however many faces come
and go. The ids are ROS4HRI face ids: ``faceverse_ros/io/face_ids.py`` makes them
(prefix + tracker id, never reused in a run), the same strings as the TF
frames ``face_<id>`` / ``gaze_<id>`` and FaceVerseParams.id.

Topics are absolute (``/humans/...``) as REP-155 asks, whatever the node's
namespace; the id prefix keeps faces of several nodes apart.
"""
import dataclasses
from typing import Dict, Optional, Sequence

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

try:  # optional: the node runs without the /humans topics when hri_msgs is missing
    from hri_msgs.msg import FacialActionUnits, FacialLandmarks, IdsList, \
        NormalizedRegionOfInterest2D
    HRI_AVAILABLE, HRI_MISSING = True, ""
except ImportError as exc:
    HRI_AVAILABLE, HRI_MISSING = False, str(exc)
from faceverse_ros.ros.convert import rgb_to_image
from faceverse_ros.ros.hri_facs import facs_values
from faceverse_ros.ros.hri_images import eye_centres, face_aligned, face_crop, face_roi
from faceverse_ros.ros.hri_landmarks import to_70

FACES_NS = "/humans/faces"
DEFAULT_SIZE = (128, 128)
# reliable (a reliable publisher serves reliable and best-effort subscribers alike)
HRI_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                     reliability=ReliabilityPolicy.RELIABLE)
IMAGE_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                       reliability=ReliabilityPolicy.RELIABLE)
SUBTOPICS = ("roi", "cropped", "aligned", "landmarks", "facs")


@dataclasses.dataclass
class HriFace:
    """One face of one frame, as the HRI publisher needs it (pixels of the source image)."""
    id: str                         # REP-155 id string (faceverse_ros/io/face_ids.py)
    box: np.ndarray                 # (4,) x0, y0, x1, y1 squared face box (may pass the border)
    landmarks: np.ndarray           # (478, >=2) MediaPipe landmarks
    confidence: float               # [0, 1]
    right_eye: np.ndarray           # (2,) the person's right eye centre
    left_eye: np.ndarray            # (2,)
    blendshapes: Optional[Sequence[float]] = None   # 52 MediaPipe blendshapes or None


def hri_face(face, id_string):
    """An HriFace from a pipeline FaceResult (eyes: MediaPipe's iris centres)."""
    right, left = eye_centres(face.landmarks)
    blend = getattr(face, "blendshapes", None)
    return HriFace(id=id_string, box=np.asarray(face.box, dtype=np.float64),
                   landmarks=np.asarray(face.landmarks), confidence=float(face.confidence),
                   right_eye=right, left_eye=left,
                   blendshapes=None if blend is None or len(blend) == 0 else blend)


def roi_msg(header, face, image_size):
    x0, y0, x1, y1 = face_roi(face.box, face.landmarks, image_size)
    return NormalizedRegionOfInterest2D(header=header, xmin=x0, ymin=y0, xmax=x1, ymax=y1,
                                        c=float(np.clip(face.confidence, 0.0, 1.0)))


def landmarks_msg(header, face, image_size):
    width, height = image_size
    pts = to_70(np.asarray(face.landmarks, dtype=np.float64)[:, :2]) / [width, height]
    inside = np.all((pts >= 0.0) & (pts <= 1.0), axis=1)
    pts = np.clip(pts, 0.0, 1.0)
    msg = FacialLandmarks(header=header, width=int(width), height=int(height))
    c = float(np.clip(face.confidence, 0.0, 1.0))
    for point, (x, y), ok in zip(msg.landmarks, pts, inside):
        point.x, point.y, point.c = float(x), float(y), c if ok else 0.0
    return msg


def facs_msg(header, face):
    intensity, confidence = facs_values(face.blendshapes, face.confidence)
    return FacialActionUnits(header=header, intensity=intensity, confidence=confidence)


class _FaceTopics:
    """The publishers under /humans/faces/<id>/ of one face."""

    def __init__(self, node, face_id):
        base = f"{FACES_NS}/{face_id}"
        self.node = node
        # a callback group of the face's own for the publishers' event handlers: rclpy's
        # groups keep a weak reference per entity forever (rclpy/callback_groups.py), so the
        # node's default group would grow by four references per face; this one goes with it
        self.group = MutuallyExclusiveCallbackGroup()
        self.roi = self._pub(NormalizedRegionOfInterest2D, f"{base}/roi", HRI_QOS)
        self.cropped = self._pub(Image, f"{base}/cropped", IMAGE_QOS)
        self.aligned = self._pub(Image, f"{base}/aligned", IMAGE_QOS)
        self.landmarks = self._pub(FacialLandmarks, f"{base}/landmarks", HRI_QOS)
        self.facs = None
        self.base = base

    def _pub(self, msg_type, topic, qos):
        return self.node.create_publisher(msg_type, topic, qos, callback_group=self.group)

    def facs_pub(self):
        if self.facs is None:
            self.facs = self._pub(FacialActionUnits, f"{self.base}/facs", HRI_QOS)
        return self.facs

    def destroy(self):
        for pub in (self.roi, self.cropped, self.aligned, self.landmarks, self.facs):
            if pub is not None:
                self.node.destroy_publisher(pub)
        self.roi = self.cropped = self.aligned = self.landmarks = self.facs = self.group = None


class HriPublisher:
    """Publishes one frame's faces per REP-155 (see the module docstring)."""

    def __init__(self, node, size=DEFAULT_SIZE):
        self.node = node
        self.size = self._check_size(size)
        self.tracked = node.create_publisher(IdsList, f"{FACES_NS}/tracked", HRI_QOS)
        self._faces: Dict[str, _FaceTopics] = {}

    @staticmethod
    def _check_size(size):
        width, height = (int(v) for v in size)
        if width < 1 or height < 1:
            raise ValueError(f"/humans/faces/width and height must be >= 1 (got {width}x{height})")
        return width, height

    def set_size(self, size):
        self.size = self._check_size(size)

    @property
    def face_ids(self):
        """Ids that have publishers now (= the latest frame's faces)."""
        return sorted(self._faces)

    def publisher_count(self):
        """Publishers this object holds (tracked + per face)."""
        return 1 + sum(sum(p is not None for p in (t.roi, t.cropped, t.aligned, t.landmarks,
                                                     t.facs)) for t in self._faces.values())

    def publish(self, header, rgb, faces: Sequence[HriFace]):
        """Publish one processed frame: rgb (H, W, 3) uint8, header of its source image."""
        height, width = rgb.shape[:2]
        image_size = (width, height)
        ids = [f.id for f in faces]
        if len(set(ids)) != len(ids):
            raise ValueError(f"face ids repeat in one frame: {ids}")
        for gone in set(self._faces) - set(ids):
            self._faces.pop(gone).destroy()
        for face in faces:
            topics = self._faces.get(face.id)
            if topics is None:
                topics = self._faces[face.id] = _FaceTopics(self.node, face.id)
            topics.roi.publish(roi_msg(header, face, image_size))
            topics.cropped.publish(rgb_to_image(face_crop(rgb, face.box, self.size), header))
            topics.aligned.publish(rgb_to_image(
                face_aligned(rgb, face.box, face.right_eye, face.left_eye, self.size), header))
            topics.landmarks.publish(landmarks_msg(header, face, image_size))
            if face.blendshapes is not None:
                topics.facs_pub().publish(facs_msg(header, face))
        self.tracked.publish(IdsList(header=header, ids=ids))

    def destroy(self):
        for topics in self._faces.values():
            topics.destroy()
        self._faces.clear()
        if self.tracked is not None:
            self.node.destroy_publisher(self.tracked)
            self.tracked = None


def create_hri_publisher(node, enabled, size):
    """The node's HriPublisher, or None (disabled, or hri_msgs missing: said once in the log)."""
    if not enabled:
        return None
    if not HRI_AVAILABLE:
        node.get_logger().info(f"hri_msgs is not installed ({HRI_MISSING}): no ROS4HRI "
                               "/humans/faces topics (install ros-<distro>-hri-msgs)")
        return None
    return HriPublisher(node, size)
