"""The ROS4HRI publisher module (faceverse_ros/ros/hri*.py) on its own, with a small rclpy node.

Expectations come from outside the code under test: the hri_msgs definitions (landmark
codes, array sizes), hand-worked pixel values, dots drawn into an image and found again
after the warp, and a real MediaPipe detection for the landmark table's structure.
"""
import math

import cv2
import numpy as np
import pytest

from helpers import shared_path

rclpy = pytest.importorskip("rclpy", reason="needs rclpy (run ./scripts/setup.sh)")
hri_msgs = pytest.importorskip("hri_msgs.msg", reason="hri_msgs is not installed (setup.sh builds "
                               "it from ../shared/hri_msgs)")
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from helpers.spin import SpinThread  # noqa: E402
from helpers.waiting import wait_for  # noqa: E402
from faceverse_ros.ros.hri import HriFace, HriPublisher, landmarks_msg, roi_msg  # noqa: E402
from faceverse_ros.ros.hri_facs import BLENDSHAPE_NAMES, facs_values  # noqa: E402
from faceverse_ros.ros.hri_images import face_aligned, face_crop, face_roi  # noqa: E402
from faceverse_ros.ros.hri_landmarks import MIDLINE, MIRROR_PAIRS, NAMES, TABLE, to_70  # noqa: E402

FacialLandmarks = hri_msgs.FacialLandmarks


# -- the landmark table ----------------------------------------------------------------------------
def test_table_follows_the_hri_msgs_codes():
    assert len(TABLE) == 70 == len(FacialLandmarks().landmarks)
    for position, (name, index) in enumerate(TABLE):
        assert getattr(FacialLandmarks, name) == position, name   # the message's own constants
        assert 0 <= index < 478
    assert len({index for _, index in TABLE}) == 70              # 70 distinct MediaPipe points
    paired = [i for pair in MIRROR_PAIRS for i in pair]
    assert sorted(paired + list(MIDLINE)) == list(range(70))    # every point paired or central
    assert all("RIGHT" in NAMES[r] or r >= 48 or 27 <= r <= 35 for r, _ in MIRROR_PAIRS)


@pytest.fixture(scope="module")
def frontal_face():
    from faceverse_ros.tracking.detector import FaceDetector

    bgr = cv2.imread(str(shared_path("testdata/faces/portrait_small.jpg")))
    with FaceDetector(mode="image") as det:
        faces = det.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    assert faces, "no face found in portrait_small.jpg"
    return to_70(faces[0].landmarks)[:, :2]


def test_table_structure_on_a_real_face(frontal_face):
    p = frontal_face
    # face frame from the points themselves: x from the right eye's outer corner to the left's
    ex = p[45] - p[36]
    ex /= np.linalg.norm(ex)
    ey = np.array([-ex[1], ex[0]])                   # image-down direction of the face
    q = np.stack([(p - p[27]) @ ex, (p - p[27]) @ ey], axis=1)
    scale = np.linalg.norm(p[45] - p[36])
    for r, l in MIRROR_PAIRS:                         # person's right = image left here
        assert q[r, 0] < q[l, 0], (NAMES[r], NAMES[l])
        assert abs(q[r, 1] - q[l, 1]) < 0.25 * scale, (NAMES[r], NAMES[l])
    for m in MIDLINE:
        assert abs(q[m, 0]) < 0.2 * scale, NAMES[m]
    assert np.all(np.diff(q[0:9, 1]) > 0) and np.all(np.diff(q[8:17, 1]) < 0)  # jaw: down, up
    assert np.all(np.diff(q[27:31, 1]) > 0)                                      # nose ridge down
    assert q[8, 1] > q[57, 1] > q[51, 1] > q[33, 1] > q[30, 1] > q[27, 1] > q[19, 1]
    for pupil, outline in ((68, range(36, 42)), (69, range(42, 48))):
        contour = p[list(outline)].astype(np.float32).reshape(-1, 1, 2)
        assert cv2.pointPolygonTest(contour, tuple(map(float, p[pupil])), False) > 0


# -- images and regions ----------------------------------------------------------------------------
def test_crop_centres_scales_and_zero_pads():
    rgb = np.full((100, 200, 3), 200, np.uint8)
    rgb[40:60, 90:110] = (255, 0, 0)                 # a red square at the box centre
    box = (50, 0, 150, 100)                          # 100 px square -> scale 1.28 into 128
    out = face_crop(rgb, box, (128, 128))
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    red = np.argwhere(np.all(out == (255, 0, 0), axis=2))
    assert abs(red.mean(0) - 63.5).max() < 1.0      # centred
    assert 24 <= np.ptp(red[:, 0]) + 1 <= 27          # 20 px * 1.28 = 25.6
    # a box half outside the image: the outside part is zero (0-padded)
    out = face_crop(rgb, (-50, 0, 50, 100), (64, 32))   # source x = 0 lands on output x = 32
    assert out.shape == (32, 64, 3)
    assert np.all(out[:, :31] == 0) and np.all(out[:, 33:58] == 200)  # red from x 60


def _dot_centres(img, colour):
    mask = np.all(np.abs(img.astype(int) - colour) < 60, axis=2).astype(np.uint8)
    n, labels, stats, centres = cv2.connectedComponentsWithStats(mask)
    return centres[1:][np.argsort(-stats[1:, cv2.CC_STAT_AREA])][:1]


@pytest.mark.parametrize("angle_deg", [0.0, 25.0, -40.0, 170.0])
def test_aligned_puts_the_eyes_level(angle_deg):
    rgb = np.zeros((300, 300, 3), np.uint8)
    centre = np.array([150.0, 150.0])
    a = math.radians(angle_deg)
    d = 40 * np.array([math.cos(a), math.sin(a)])
    right_eye, left_eye = centre - d, centre + d
    cv2.circle(rgb, tuple(int(round(v)) for v in right_eye), 6, (255, 0, 0), -1)
    cv2.circle(rgb, tuple(int(round(v)) for v in left_eye), 6, (0, 255, 0), -1)
    out = face_aligned(rgb, (50, 50, 250, 250), right_eye, left_eye, (128, 96))
    assert out.shape == (96, 128, 3)
    r = _dot_centres(out, (255, 0, 0))[0]
    g = _dot_centres(out, (0, 255, 0))[0]
    assert math.degrees(math.atan2(g[1] - r[1], g[0] - r[0])) == pytest.approx(0.0, abs=2.0)
    assert r[0] < g[0]                               # right eye on the image's left
    # the cropped image keeps the tilt
    out = face_crop(rgb, (50, 50, 250, 250), (128, 96))
    r, g = _dot_centres(out, (255, 0, 0))[0], _dot_centres(out, (0, 255, 0))[0]
    tilt = math.degrees(math.atan2(g[1] - r[1], g[0] - r[0]))
    assert abs((tilt - angle_deg + 180) % 360 - 180) < 2.0


def _face(id_, box, landmarks=None, confidence=0.9, blendshapes=None):
    if landmarks is None:
        x0, y0, x1, y1 = box
        rng = np.random.default_rng(len(id_))
        landmarks = np.stack([rng.uniform(x0 + 5, x1 - 5, 478), rng.uniform(y0 + 5, y1 - 5, 478)], 1)
    lm = np.asarray(landmarks, dtype=np.float64)
    return HriFace(id=id_, box=np.asarray(box, float), landmarks=lm, confidence=confidence,
                   right_eye=lm[468], left_eye=lm[473], blendshapes=blendshapes)


def test_roi_is_normalised_clipped_and_covers_the_landmarks():
    lm = np.zeros((478, 2))
    lm[:, 0], lm[:, 1] = 60, 50
    lm[0] = (35, 45)                                 # one landmark left of the box
    face = _face("f1", (40, -20, 120, 60), lm, confidence=0.75)
    assert face_roi(face.box, lm, (200, 100)) == pytest.approx((35 / 200, 0.0, 120 / 200, 0.6))
    msg = roi_msg(Header(frame_id="cam"), face, (200, 100))
    assert (msg.xmin, msg.ymin, msg.xmax, msg.ymax) == pytest.approx((0.175, 0.0, 0.6, 0.6))
    assert msg.c == pytest.approx(0.75) and msg.header.frame_id == "cam"


def test_landmarks_are_normalised_with_confidence():
    lm = np.full((478, 2), 10.0)
    lm[127] = (100, 25)                              # RIGHT_EAR -> (0.5, 0.25) in 200x100
    lm[152] = (250, 50)                              # MENTON outside the image -> clipped, c = 0
    msg = landmarks_msg(Header(), _face("f2", (0, 0, 100, 100), lm, confidence=0.8), (200, 100))
    assert (msg.width, msg.height) == (200, 100)
    ear, chin, other = (msg.landmarks[FacialLandmarks.RIGHT_EAR], msg.landmarks[FacialLandmarks.MENTON],
                        msg.landmarks[FacialLandmarks.NOSE])
    assert (ear.x, ear.y, ear.c) == pytest.approx((0.5, 0.25, 0.8))
    assert (chin.x, chin.y, chin.c) == pytest.approx((1.0, 0.5, 0.0))
    assert (other.x, other.y) == pytest.approx((0.05, 0.1))


def test_facs_from_blendshapes():
    scores = np.zeros(52)
    named = dict(browInnerUp=0.7, eyeBlinkLeft=0.9, eyeBlinkRight=0.2, mouthSmileLeft=0.3,
                 mouthSmileRight=0.6, jawOpen=0.45)
    for name, value in named.items():
        scores[BLENDSHAPE_NAMES.index(name)] = value
    intensity, confidence = facs_values(scores, 0.9)
    assert intensity.shape == confidence.shape == (99,)
    assert intensity[1] == pytest.approx(0.7)        # AU1 inner brow raiser
    assert intensity[12] == pytest.approx(0.6)       # AU12 lip corner puller: larger side
    assert intensity[26] == pytest.approx(0.45)      # AU26 jaw drop
    assert intensity[43] == pytest.approx(0.2)       # AU43 eyes closed: both eyes
    assert confidence[1] == pytest.approx(0.9) and confidence[25] == 0.0 and confidence[45] == 0.0
    with pytest.raises(ValueError):
        facs_values(np.zeros(51), 1.0)


# -- the publisher with real rclpy ------------------------------------------------------------------
class Listener:
    def __init__(self, node):
        self.node = node
        self.got = {}
        self._subs = {}
        node.create_subscription(hri_msgs.IdsList, "/humans/faces/tracked",
                                 lambda m: self.got.setdefault("tracked", []).append(m), 10)

    def follow(self, face_id):
        base = f"/humans/faces/{face_id}"
        for sub, typ in (("roi", hri_msgs.NormalizedRegionOfInterest2D), ("cropped", Image),
                         ("aligned", Image), ("landmarks", hri_msgs.FacialLandmarks),
                         ("facs", hri_msgs.FacialActionUnits)):
            key = (face_id, sub)
            if key not in self._subs:
                self._subs[key] = self.node.create_subscription(
                    typ, f"{base}/{sub}", lambda m, k=key: self.got.setdefault(k, []).append(m), 10)


@pytest.fixture()
def pair(rclpy_context):
    pub_node = rclpy.create_node("hri_pub_test", context=rclpy_context)
    sub_node = rclpy.create_node("hri_listener_test", context=rclpy_context)
    spin = SpinThread(pub_node, sub_node, context=rclpy_context)
    hri = HriPublisher(pub_node, size=(96, 64))
    yield pub_node, hri, Listener(sub_node)
    spin.close()
    hri.destroy()
    pub_node.destroy_node()
    sub_node.destroy_node()


def _topics(node):
    return {name for name, _ in node.get_publisher_names_and_types_by_node(
        node.get_name(), node.get_namespace())}


def _header(sec):
    h = Header(frame_id="cam_optical")
    h.stamp.sec, h.stamp.nanosec = sec, 500
    return h


def test_publisher_lifetime_topics_and_stamps(pair):
    node, hri, listener = pair
    rgb = np.full((120, 160, 3), 90, np.uint8)
    a, b = _face("ta1", (10, 10, 70, 70)), _face("ta2", (80, 20, 150, 90), blendshapes=np.zeros(52))
    listener.follow("ta1")
    listener.follow("ta2")
    assert wait_for(lambda: hri.tracked.get_subscription_count() > 0)
    frames = [[a], [a, b], [b], []]
    for k, faces in enumerate(frames):
        hri.publish(_header(100 + k), rgb, faces)
        assert hri.face_ids == sorted(f.id for f in faces)
        want = {f"/humans/faces/{f.id}/{n}" for f in faces for n in ("roi", "cropped", "aligned",
                                                                      "landmarks")}
        want |= {f"/humans/faces/{f.id}/facs" for f in faces if f.blendshapes is not None}
        # the ROS graph (what any other node sees) follows within a moment
        assert wait_for(lambda: {n for n in _topics(node) if n.startswith("/humans/faces/ta")} == want,
                     10), (k, _topics(node), want)
        assert "/humans/faces/tracked" in _topics(node)
        # tracked + 4 per face (+ facs for b)
        assert hri.publisher_count() == 1 + 4 * len(faces) + sum(f.blendshapes is not None
                                                                 for f in faces)
        if k == 1:  # both faces have publishers: wait until the listener is matched
            assert wait_for(lambda: hri._faces["ta2"].aligned.get_subscription_count() > 0)
            hri.publish(_header(200), rgb, faces)
    assert wait_for(lambda: len(listener.got.get("tracked", [])) >= 5)
    tracked = {m.header.stamp.sec: list(m.ids) for m in listener.got["tracked"]}
    assert tracked[103] == [] and tracked[200] == ["ta1", "ta2"]
    assert all(m.header.frame_id == "cam_optical" and m.header.stamp.nanosec == 500
               for m in listener.got["tracked"])
    assert wait_for(lambda: any(m.header.stamp.sec == 200 for m in listener.got.get(("ta2", "aligned"), [])))
    for key in (("ta2", "roi"), ("ta2", "cropped"), ("ta2", "aligned"), ("ta2", "landmarks"),
                ("ta2", "facs")):
        msg = [m for m in listener.got[key] if m.header.stamp.sec == 200]
        assert msg, key
        assert msg[0].header.frame_id == "cam_optical"
    img = [m for m in listener.got[("ta2", "cropped")] if m.header.stamp.sec == 200][0]
    assert (img.width, img.height, img.encoding) == (96, 64, "rgb8")
    roi = [m for m in listener.got[("ta2", "roi")] if m.header.stamp.sec == 200][0]
    assert (roi.xmin, roi.ymin, roi.xmax, roi.ymax) == pytest.approx((0.5, 20 / 120, 150 / 160, 0.75))


def test_repeated_ids_are_refused(pair):
    _, hri, _ = pair
    with pytest.raises(ValueError):
        hri.publish(_header(1), np.zeros((50, 50, 3), np.uint8),
                    [_face("x1", (0, 0, 20, 20)), _face("x1", (5, 5, 30, 30))])
    with pytest.raises(ValueError):
        hri.set_size((0, 128))


def test_many_faces_leave_no_publishers_behind(pair):
    node, hri, _ = pair
    rgb = np.zeros((60, 60, 3), np.uint8)
    before = len(_topics(node))
    group_before = len(node.default_callback_group.entities)
    for k in range(300):
        hri.publish(_header(k), rgb, [_face(f"m{k}", (5, 5, 50, 50))] if k % 2 == 0 else [])
    assert hri.publisher_count() == 1 and hri.face_ids == []
    assert wait_for(lambda: len(_topics(node)) == before, 10), _topics(node)
    # rclpy's callback groups never forget an entity: the faces' groups must not be the node's
    assert len(node.default_callback_group.entities) == group_before


def test_disabled_or_missing_hri_msgs_gives_no_publisher(monkeypatch):
    import faceverse_ros.ros.hri as hri

    logged = []

    class FakeNode:
        def get_logger(self):
            class L:
                info = logged.append
            return L()

        def create_publisher(self, *a, **k):
            raise AssertionError("no publisher may be created")

    assert hri.create_hri_publisher(FakeNode(), False, (128, 128)) is None
    assert logged == []
    monkeypatch.setattr(hri, "HRI_AVAILABLE", False)
    monkeypatch.setattr(hri, "HRI_MISSING", "No module named 'hri_msgs'")
    assert hri.create_hri_publisher(FakeNode(), True, (128, 128)) is None
    assert len(logged) == 1 and "hri_msgs is not installed" in logged[0]
