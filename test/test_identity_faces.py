"""Re-identification on real faces (the shared talking video and photos), through the pipeline.

Who is who (looked at, not computed): the talking video and frontal_1080p.jpg show the
same young man (the same room: white wall, dark green coat on the wall, the chair with
the checked back, the same white T-shirt and browline glasses; frontal_1080p is a frame of
that session). portrait_small.jpg is a different young man with glasses (a narrower face,
other eyebrows, nose and lips, dark full-rim glasses, a graduation gown). emma.jpg is a
collage of three photos of one woman (the same face at three events), different from both
men. The expected persons below come from that, not from the descriptor.

Needs dlib and face_recognition_models (skipped without them).
"""
import cv2
import numpy as np
import pytest

from helpers.paths import shared_path

pytest.importorskip("dlib")
from faceverse_ros.identity.descriptor import FIVE_POINTS, available  # noqa: E402
from faceverse_ros.io.sources import FrameSource  # noqa: E402
from faceverse_ros.tracking.pipeline import FacePipeline, PipelineConfig  # noqa: E402

if available() is not None:
    pytest.skip(available(), allow_module_level=True)

FPS = 30.0


@pytest.fixture(scope="module")
def video_frames():
    return [f.rgb for f in FrameSource(shared_path("testdata/video/talking_256.mp4"))]


def _photo(name):
    bgr = cv2.imread(str(shared_path(f"testdata/faces/{name}")))
    return np.ascontiguousarray(bgr[:, :, ::-1])


class _Run:
    """One pipeline with identity on (descriptors computed inline: reproducible), fed
    segments of frames with empty frames between them; records the person id of every face."""

    def __init__(self, max_faces=1):
        self.pipe = FacePipeline(PipelineConfig(landmark_only=True, identity=True,
                                                keyframe_background=False, max_faces=max_faces),
                                 log=lambda m: None)
        self.n = 0

    def feed(self, frames):
        """[(face id, person id) per face per frame] of these frames."""
        out = []
        for rgb in frames:
            result = self.pipe.process(rgb, self.n / FPS)
            self.n += 1
            out.append([(f.face_id, f.person_id) for f in result.faces])
        return out

    def gap(self, shape, n=60):
        self.feed([np.zeros(shape, np.uint8)] * n)


def _settled(records):
    """The one person id the segment's face settled on (asserted unique), and its face ids."""
    persons = {p for frame in records for _, p in frame if p}
    faces = {f for frame in records for f, _ in frame}
    assert len(persons) == 1, f"expected one person in the segment, got {persons}"
    last = records[-1]
    assert last and last[0][1], "the face had no person at the segment's end"
    return persons.pop(), faces


def test_five_mediapipe_points_are_where_dlibs_own_5_point_predictor_puts_them(video_frames):
    """Independent reference: dlib's shape_predictor_5_face_landmarks on the detector's box.
    Our five MediaPipe points lie within 3 px of its points (faces ~130 px wide), and the
    descriptors of the two chips are far nearer than any two different persons (0.1 vs 0.4)."""
    import importlib.util
    import os

    import dlib

    from faceverse_ros.identity.descriptor import FaceDescriptor, five_points
    from faceverse_ros.tracking.detector import FaceDetector

    rgb = video_frames[0]
    det = FaceDetector(mode="image")
    face = det.detect(rgb, 0.0)[0]
    det.close()
    folder = importlib.util.find_spec("face_recognition_models").submodule_search_locations[0]
    predictor = dlib.shape_predictor(os.path.join(folder, "models",
                                                  "shape_predictor_5_face_landmarks.dat"))
    x0, y0, x1, y1 = (int(v) for v in face.box)
    shape = predictor(rgb, dlib.rectangle(x0, y0, x1, y1))
    theirs = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], float)
    ours = five_points(face.landmarks)
    assert len(FIVE_POINTS) == 5
    assert np.abs(ours - theirs).max() < 3.0, np.c_[ours, theirs]
    fd = FaceDescriptor()
    d = fd.describe([fd.chip(rgb, face.landmarks),
                     np.asarray(dlib.get_face_chip(rgb, shape, size=150, padding=0.25))])
    assert d.shape == (2, 128)
    assert np.linalg.norm(d[0] - d[1]) < 0.15


def test_one_person_across_gaps_mirror_downscale_jpeg_and_photos(video_frames):
    run = _Run()
    shape = video_frames[0].shape
    first, faces_a = _settled(run.feed(video_frames[:60]))
    run.gap(shape)
    again, faces_b = _settled(run.feed(video_frames[60:120]))
    assert faces_a.isdisjoint(faces_b)      # a new face id after the gap ...
    assert again == first                   # ... the same person
    run.gap(shape)
    mirrored, _ = _settled(run.feed([f[:, ::-1].copy() for f in video_frames[120:180]]))
    assert mirrored == first
    run.gap(shape)
    half = [cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2), interpolation=cv2.INTER_AREA)
            for f in video_frames[180:240]]
    halved, _ = _settled(run.feed(half))
    assert halved == first
    run.gap(half[0].shape)

    def jpeg(f):
        ok, buf = cv2.imencode(".jpg", f[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 30])
        return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])

    jpegged, _ = _settled(run.feed([jpeg(f) for f in video_frames[240:300]]))
    assert jpegged == first
    run.gap(shape)
    # the photos, each watched for 12 frames (a still in front of the camera)
    photos = {}
    emma = _photo("emma.jpg")
    third = emma.shape[1] // 3
    stills = {"frontal_1080p": _photo("frontal_1080p.jpg"),
              "portrait_small": _photo("portrait_small.jpg"),
              "emma_left": emma[:, :third].copy(), "emma_middle": emma[:, third:2 * third].copy(),
              "emma_right": emma[:, 2 * third:].copy()}
    for name, image in stills.items():
        photos[name], _ = _settled(run.feed([image] * 12))
        run.gap(image.shape, 10)
    assert photos["frontal_1080p"] == first                  # the video's man
    assert photos["portrait_small"] != first                 # another man
    for side in ("emma_left", "emma_middle", "emma_right"):  # a woman: neither man
        assert photos[side] not in (first, photos["portrait_small"])
    assert len(run.pipe.identity.gallery.persons) >= 3
    run.pipe.close()


def test_identity_is_off_by_default():
    pipe = FacePipeline(PipelineConfig(landmark_only=True), log=lambda m: None)
    try:
        assert pipe.identity is None
        result = pipe.process(np.zeros((64, 64, 3), np.uint8), 0.0)
        assert result.faces == []
    finally:
        pipe.close()
