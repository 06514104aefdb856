"""The person model as the prior of a returning person's track (SYNTHETIC FaceVerse files).

What this can show: the wiring. A person's identity and albedo estimate is built from the
network's values on their first track's keyframes, and when the same person comes back
(a new face id), the keyframes of the new track after the match are pulled towards that
estimate, so their identity coefficients are nearer to it than those of a fresh track on
the same frames without recognition.

What it cannot show: that the reconstruction of a real person is better or steadier. The
FaceVerse files here are random (the network's identity output is an arbitrary function
of the crop), and the descriptor is a stand-in that calls every face one person: dlib is
not needed and the person decision is not under test (test_identity_faces is).
"""
import numpy as np
import pytest

from helpers.paths import shared_path
from faceverse_ros.io.sources import FrameSource
from faceverse_ros.tracking.pipeline import FacePipeline, PipelineConfig


@pytest.fixture(scope="module")
def video():
    out = []
    for frame in FrameSource(shared_path("testdata/video/talking_256.mp4")):
        out.append(frame.rgb)
        if len(out) == 60:
            return out
    return out


def _pipeline(synthetic_assets, identity):
    return FacePipeline(PipelineConfig(model_path=str(synthetic_assets.model_path),
                                       checkpoint_path=str(synthetic_assets.checkpoint_path),
                                       engine="torch", keyframe_background=False,
                                       keyframe_interval=3, identity=identity,
                                       smoothing={"kind": "none"}),
                        log=lambda m: None)


def test_a_returning_persons_keyframes_are_pulled_to_their_estimate(synthetic_assets, video,
                                                                    monkeypatch):
    import faceverse_ros.identity.descriptor as descriptor

    one_person = np.ones(128, np.float32) * 0.01
    monkeypatch.setattr(descriptor, "available", lambda: None)
    monkeypatch.setattr(descriptor, "load_descriptor",
                        lambda weights="": lambda items: np.stack([one_person for _ in items]))
    pipe = _pipeline(synthetic_assets, identity=True)
    ids = pipe.layout.slices["id"]
    n = [0]

    def feed(frames):
        out = []
        for rgb in frames:
            out += pipe.process(rgb, n[0] / 30.0).faces
            n[0] += 1
        return out

    first = feed(video[:30])
    person = first[-1].person_id
    assert person and first[0].person_id == ""
    model = pipe.identity.gallery.persons[person].model
    assert model is not None and model.keyframes >= 5     # the first track's keyframes
    estimate = model.prior()[0]
    feed([np.zeros_like(video[0])] * 10)                  # the face leaves (its id ends)
    back = feed(video[30:60])
    assert back[0].face_id != first[0].face_id
    matched = [f for f in back if f.person_id == person]
    assert len(matched) >= 20                             # matched after a few frames
    pipe.close()

    fresh = _pipeline(synthetic_assets, identity=False)
    fresh_faces = []
    for k, rgb in enumerate(video[30:60]):
        fresh_faces += fresh.process(rgb, 100 + k / 30.0).faces
    fresh.close()
    by_frame = {round(f.stamp * 30) - 40: f for f in matched}
    fresh_by_frame = {k: f for k, f in enumerate(fresh_faces)}
    common = sorted(set(by_frame) & set(fresh_by_frame))[-15:]   # after the match
    assert len(common) >= 10
    d_back = np.mean([np.linalg.norm(by_frame[k].coeffs[ids] - estimate) for k in common])
    d_fresh = np.mean([np.linalg.norm(fresh_by_frame[k].coeffs[ids] - estimate) for k in common])
    assert d_back < 0.5 * d_fresh, (d_back, d_fresh)
