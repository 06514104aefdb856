"""The node publishes every value about one frame, with that frame's stamp (issue 10).

Frames with known, distinct content: one portrait moved 12 px to the right per
frame (33 ms stamps), so a value taken from a neighbouring frame is 12 px off;
the expected values come from a detector of the test's own.
SYNTHETIC FaceVerse files in the full mode (formats and code paths only).
"""
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="the node needs rclpy (run ./scripts/setup.sh)")
from rclpy.parameter import Parameter  # noqa: E402

from faceverse_ros.ros.convert import rgb_to_image  # noqa: E402
from helpers.node_harness import FRAME, Harness, small_photo, stamp_key  # noqa: E402

STEP_PX = 12
N_FACE = 8


def _moving_frames(n=N_FACE):
    face = small_photo("emma.jpg")
    h, w = face.shape[:2]
    out = []
    for k in range(n):
        canvas = np.zeros((h, w + STEP_PX * n, 3), np.uint8)
        canvas[:, STEP_PX * k:STEP_PX * k + w] = face
        out.append(canvas)
    return out


def _stream(h, images, timeout=120.0):
    """Publish images 33 ms apart, each after the node took the previous one; their keys."""
    keys = []
    for rgb in images:
        msg = rgb_to_image(rgb)
        keys.append(h.stamp(msg))
        h.publish_taken(msg, timeout)
    return keys


def _reference(images):
    """The detector's own detections of the frames (a detector of the test's own, fed the
    same frames in the same order as the node's) and each frame's landmark head position."""
    from faceverse_ros.core.camera import CameraIntrinsics
    from faceverse_ros.landmarks.landmark_pose import estimate_head_pose
    from faceverse_ros.tracking.detector import FaceDetector

    det = FaceDetector(mode="video")
    dets = [det.detect(rgb, k / 30.0)[0] for k, rgb in enumerate(images)]
    det.close()
    h, w = images[0].shape[:2]
    cam = CameraIntrinsics.default(w, h)
    return dets, [estimate_head_pose(d.landmarks, cam).position for d in dets]


def _window(values, k):
    """The original's centred mean around frame k inside the run (two frames at its ends)."""
    return np.mean(values[max(k - 1, 0):k + 2], axis=0)


@pytest.mark.parametrize("landmark_only", [True, False], ids=["landmark_only", "full"])
def test_original_every_published_field_is_of_the_stamped_frame(rclpy_context, synthetic_assets,
                                                                 landmark_only):
    """(a) and (d): with smoother kind original, each FaceVerseParams and its TF are of the
    frame of the header stamp: landmarks = the detector's of that frame, ROI = the centred
    mean of the boxes around it, head position (landmark-only) = the centred mean of the
    landmark poses around it, TF = that pose; when the face leaves, its last two frames
    are published too: every face frame exactly once, in order."""
    assets = [Parameter("landmark_only", value=True)] if landmark_only else [
        Parameter("model_path", value=str(synthetic_assets.model_path)),
        Parameter("checkpoint_path", value=str(synthetic_assets.checkpoint_path))]
    h = Harness(rclpy_context, assets + [Parameter("smoother.kind", value="original")])
    try:
        images = _moving_frames()
        dets, positions = _reference(images)
        boxes = [d.box for d in dets]
        face_keys = _stream(h, images)
        _stream(h, [np.zeros_like(images[0])] * 8)  # the face leaves; its id ends
        time.sleep(0.5)
        published = [stamp_key(m.header) for m in h.got["params"] if m.faces]
        assert published == face_keys  # every face frame once, in order, with its own stamp
        by_key = {stamp_key(m.header): m for m in h.got["params"] if m.faces}
        tf = {(stamp_key(t.header), t.child_frame_id): t for m in h.got["tf"] for t in m.transforms}
        for k, key in enumerate(face_keys):
            msg = by_key[key]
            assert msg.header.frame_id == FRAME
            face = msg.faces[0]
            np.testing.assert_allclose(np.asarray(face.landmarks).reshape(-1, 2),
                                       dets[k].landmarks[:, :2], atol=1e-3)
            box = _window(boxes, k)
            roi = face.roi
            assert abs(roi.x_offset - max(box[0], 0)) <= 1.0 and abs(roi.y_offset - max(box[1], 0)) <= 1.0
            assert abs(roi.x_offset + roi.width - box[2]) <= 1.0, (k, roi, box)
            p = face.head_pose.position
            if landmark_only:
                np.testing.assert_allclose([p.x, p.y, p.z], _window(positions, k), atol=1e-4)
            t = tf[(key, f"face_{face.id}")]  # TF of the same frame, same values
            assert t.header.frame_id == FRAME
            tr = t.transform.translation
            assert (tr.x, tr.y, tr.z) == (p.x, p.y, p.z)
            assert (key, f"gaze_{face.id}") in tf
    finally:
        h.close()


def test_smoother_parameters_change_from_another_thread_while_two_faces_stream(rclpy_context):
    """(c): many smoother.* changes from another thread while two faces stream at 30 Hz: no
    stage errors, every change accepted, two faces published to the end."""
    h = Harness(rclpy_context, [Parameter("landmark_only", value=True),
                                Parameter("max_faces", value=2)])
    a, b = small_photo("portrait_small.jpg"), small_photo("frontal_1080p.jpg")
    height = min(a.shape[0], b.shape[0])
    pair = np.concatenate([a[:height], b[:height]], axis=1)
    stop = threading.Event()
    results = []

    def change():
        kinds = ("original", "one_euro", "none")
        k = 0
        while not stop.is_set():
            k += 1
            results.extend(h.node.set_parameters([
                Parameter("smoother.kind", value=kinds[k % 3]),
                Parameter("smoother.rotation.beta", value=float(k % 7)),
                Parameter("smoother.box.min_cutoff", value=0.5 + k % 5),
                Parameter("smoother.max_gap_s", value=0.3 + 0.1 * (k % 3))]))
            time.sleep(0.002)

    try:
        h.send_settled(pair)
        changer = threading.Thread(target=change)
        changer.start()
        try:
            for _ in range(60):  # 2 s at 30 Hz, not waiting for the node (it may drop)
                msg = rgb_to_image(pair)
                h.stamp(msg)
                h.image_pub.publish(msg)
                time.sleep(1 / 30)
        finally:
            stop.set()
            changer.join(10)
        assert len(results) > 50 and all(r.successful for r in results)
        h.node.set_parameters([Parameter("smoother.kind", value="one_euro")])
        last = h.send_settled(pair)
        assert h.node.counts["bad"] == 0
        assert last is not None and len(last.faces) == 2
        two = [m for m in h.got["params"] if len(m.faces) == 2]
        assert len(two) >= 20  # output went on during the changes
    finally:
        h.close()
