"""The FaceVerse path on a face: the STAND-IN files (faceverse_ros/cli/standin_assets.py) on the shared video.

The stand-in model is MediaPipe's canonical face with hand-made expressions, and its
network outputs one fixed vector (mean face, frontal, centred), so every keyframe hands
the landmark fit a neutral start and the fit alone finds the pose. Checked against an
independent estimator, the landmark-only head pose (core.landmark_pose: a rigid template
fitted to the same landmarks): the FaceVerse-mode head pose agrees with it; on a still
frame it stands still; at keyframes the pose and expression do not change more than
between them, at the default interval and at the longest stretched one; no fit fails.

Runtime: the video's first 150 frames (5 s: the head turns both ways and the mouth
moves), and 90 repeats of one frame.
"""
import numpy as np
import pytest

from helpers import shared_path
from faceverse_ros.landmarks import landmark_pose as lp
from faceverse_ros.core.camera import CameraIntrinsics
from faceverse_ros.core.rotations import rotation_matrix
from faceverse_ros.tracking.pipeline import MODE_LANDMARK_FIT, FacePipeline, PipelineConfig

N_VIDEO = 150
#: a camera whose perspective matches the FaceVerse crop camera's for this video's face
#: (f = 1000 px on a 256 px crop that is about 230 image px wide): see
#: test_pose_agrees_with_landmark_only_pose for why the default camera differs in pitch
NARROW = CameraIntrinsics(1000.0, 1000.0, 127.5, 127.5)


def _frames(n, mirror=False):
    from faceverse_ros.io.sources import FrameSource

    out = []
    for frame in FrameSource(str(shared_path("testdata/video/talking_256.mp4"))):
        out.append(np.ascontiguousarray(frame.rgb[:, ::-1]) if mirror else frame.rgb)
        if len(out) == n:
            break
    return out


def _run(frames, config, intrinsics=None):
    """[(stamp, FaceResult)] and the problems of a pipeline over frames; each background
    keyframe is waited for (the run does not depend on thread timing)."""
    pipe = FacePipeline(config, log=lambda m: None)
    faces, problems = [], []
    try:
        for k, rgb in enumerate(frames):
            result = pipe.process(rgb, k / 30.0, intrinsics)
            problems += result.problems
            for track in pipe._tracks.values():
                if track.keyframe_job is not None:
                    assert track.keyframe_job.done.wait(60)
            faces += [(f.stamp, f) for f in result.faces]
    finally:
        pipe.close()
    return faces, problems


def _faceverse(assets, **kw):
    return PipelineConfig(model_path=str(assets.model_path), checkpoint_path=str(assets.checkpoint_path),
                          **kw)


def _ypr(face):
    return np.degrees(lp.yaw_pitch_roll(face.pose.rotation))


def _angle_deg(a, b):
    r = rotation_matrix(np.asarray(a, np.float64)).T @ rotation_matrix(np.asarray(b, np.float64))
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))))


def _steps(faces, lay):
    """Per-frame change from the previous published frame: (keyframe flag, head rotation
    degrees, head position mm, expression L2). Rotation and position are the published
    metric pose (the translation coefficients are relative to each frame's crop box)."""
    out = []
    for (_, a), (_, b) in zip(faces, faces[1:]):
        r = a.pose.rotation.T @ b.pose.rotation
        out.append((b.keyframe, float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1)))),
                    1000.0 * float(np.linalg.norm(b.pose.position - a.pose.position)),
                    float(np.linalg.norm(b.coeffs[lay.slices["exp"]] - a.coeffs[lay.slices["exp"]]))))
    return np.array(out, dtype=np.float64)


@pytest.fixture(scope="module")
def video():
    return _frames(N_VIDEO)


def test_standin_files_have_the_v4_structure_and_a_fixed_network(standin_assets, synthetic_model_dict):
    """Same keys and sizes as the (synthetic) V4 structure; labelled STAND-IN; the
    network's output is the documented vector whatever the image; the mean face's
    eye centres are 63 mm apart (the template's scale, in raw millimetres)."""
    import torch

    from faceverse_ros.cli import standin_assets as standin
    from faceverse_ros.core.model import FaceVerseModel
    from faceverse_ros.core.regressor import Regressor

    assert "_standin" in standin_assets.model_path.name and "_standin" in standin_assets.checkpoint_path.name
    d = np.load(standin_assets.model_path, allow_pickle=True).item()
    assert "STAND-IN" in d["standin"] and "synthetic" not in d
    for key, value in synthetic_model_dict.items():
        if key == "synthetic":
            continue
        assert key in d
        if hasattr(value, "shape"):
            assert np.shape(d[key]) == value.shape, key
    ms, kp = d["meanshape"], d["keypoints_mediapipe"]
    eyes = [(ms[kp[a]] + ms[kp[b]]) / 2 for a, b in ((33, 133), (263, 362))]
    assert np.linalg.norm(eyes[0] - eyes[1]) == pytest.approx(63.0, abs=0.5)
    model = FaceVerseModel.from_file(standin_assets.model_path)
    reg = Regressor(standin_assets.checkpoint_path, engine="torch", device="cpu",
                    head_sizes=model.sizes.head_sizes)
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (2, 256, 256, 3), dtype=np.uint8)
    out = reg.predict(crops)
    want = standin.standin_coeffs(d)
    np.testing.assert_allclose(out, np.stack([want, want]), atol=1e-5)
    sd = torch.load(standin_assets.checkpoint_path, map_location="cpu", weights_only=True)
    assert all(float(sd[f"final_layers.{i}.weight"].abs().max()) == 0.0 for i in range(8))


@pytest.mark.parametrize("mirror", [False, True])
def test_pose_agrees_with_landmark_only_pose(standin_assets, video, mirror):
    """Median |FaceVerse-mode - landmark-only| head yaw, pitch, roll under 3 degrees, and
    no fit fails. With a camera whose perspective matches the crop camera's (NARROW) all
    three axes; with the default camera (fx = image width, much stronger perspective)
    yaw and roll: there the PnP refinement of core.headpose re-solves the FaceVerse pose
    under that perspective and tilts the pitch by about 5 degrees from the closed form,
    which the landmark-only pose (weak perspective) does not."""
    frames = [np.ascontiguousarray(f[:, ::-1]) for f in video] if mirror else video
    for intr, axes in ((NARROW, (0, 1, 2)), (None, (0, 2))):
        fv, problems = _run(frames, _faceverse(standin_assets), intr)
        assert not [p for p in problems if "fit failed" in p or "skipped" in p], problems
        lo, _ = _run(frames, PipelineConfig(landmark_only=True), intr)
        lod = dict(lo)
        diff = np.array([_ypr(f) - _ypr(lod[s]) for s, f in fv if s in lod])
        assert len(diff) >= N_VIDEO - 5
        assert sum(f.mode == MODE_LANDMARK_FIT for _, f in fv) >= N_VIDEO - 5
        med = np.median(np.abs(diff), axis=0)
        assert np.all(med[list(axes)] < 3.0), (intr, med)
        # the head turns in this clip: the agreement is not two constants
        assert np.ptp([_ypr(f)[0] for _, f in fv]) > 10.0


def test_still_frame_stands_still(standin_assets, video):
    """90 repeats of one frame: the published pose changes by under 0.5 degrees and 2 mm
    from frame 5 to frame 90 (keyframes every 5 frames, in the background and inline)."""
    for background in (True, False):
        faces, problems = _run([video[0]] * 90, _faceverse(standin_assets, keyframe_background=background))
        assert not problems
        by = dict(faces)
        a, b = by[min(s for s in by if s >= 5 / 30.0 - 1e-9)], by[max(by)]
        assert _angle_deg(a.coeffs[611:614], b.coeffs[611:614]) < 0.5
        assert 1000.0 * np.linalg.norm(a.pose.position - b.pose.position) < 2.0
        assert sum(f.keyframe for _, f in faces) >= 10


@pytest.mark.parametrize("stretched", [False, True])
def test_no_jump_at_keyframes_on_a_face(standin_assets, stretched, monkeypatch):
    """At keyframes the per-frame change of the published head rotation, head position
    and expression is no larger than between them (median and p95), on the whole video.

    Interval 5: about 60 keyframes against all the frames between (within 10 %: the
    sampling noise of 60 values). Stretched: every background keyframe counts as done on
    busy CPUs, so the interval doubles up to 40 (5, 10, 20, 40): about 9 keyframes, most
    of them early, where the head moves most; they are compared with the frames between
    within 4 frames of a keyframe (the same motion), within 50 % (the noise of 9 values)."""
    if stretched:
        from faceverse_ros.tracking import keyframe_worker

        monkeypatch.setattr(keyframe_worker, "others_cpu_share", lambda job: 1.0)
    faces, problems = _run(_frames(316), _faceverse(standin_assets, keyframe_interval=5,
                                                    keyframe_max_interval=40))
    assert not problems
    from faceverse_ros.core.layout import V4

    steps = _steps(faces, V4)
    key = steps[:, 0] > 0
    between = ~key
    margin = 1.5 if stretched else 1.1
    if stretched:
        assert 6 <= key.sum() <= 12
        near = np.zeros(len(steps), bool)
        for i in np.flatnonzero(key):
            near[max(0, i - 4):i + 5] = True
        between &= near
    else:
        assert 50 <= key.sum() <= 70
    for j, name in ((1, "rotation deg"), (2, "position mm"), (3, "expression")):
        k, b = steps[key, j], steps[between, j]
        assert np.median(k) <= margin * np.median(b), (name, np.median(k), np.median(b))
        assert np.percentile(k, 95) <= margin * np.percentile(b, 95), \
            (name, np.percentile(k, 95), np.percentile(b, 95))
