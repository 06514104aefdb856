"""The pipeline's wiring: modes, keyframes, smoothing delay, pipelining, outputs.

FaceVerse files here are SYNTHETIC: these tests check the order of stages and
the data that flows between them, never face accuracy.
"""
import threading
import time

import numpy as np
import pytest

from conftest import shared_path
from faceverse_ros.runtime.workers import TwoStageRunner
from faceverse_ros.tracking.pipeline import (MODE_LANDMARK_FIT, MODE_LANDMARK_ONLY, MODE_REGRESSOR,
                                             FacePipeline, PipelineConfig)
from faceverse_ros.views.overlay import ViewBuilder, draw_overlay
from faceverse_ros.io.sources import FrameSource


def _frames(n, start=0):
    out = []
    for frame in FrameSource(shared_path("testdata/video/talking_256.mp4")):
        if frame.index >= start:
            out.append(frame)
        if len(out) == n:
            return out
    return out


@pytest.fixture(scope="module")
def video():
    return _frames(12)


def _full(synthetic_assets, **kw):
    return FacePipeline(PipelineConfig(model_path=str(synthetic_assets.model_path),
                                       checkpoint_path=str(synthetic_assets.checkpoint_path), **kw),
                        log=lambda m: None)


def test_landmark_only_mode_fills_only_rotation_and_eyes(video):
    pipe = FacePipeline(PipelineConfig(landmark_only=True), log=lambda m: None)
    assert pipe.landmark_only and "asked" in pipe.landmark_only_reason
    for frame in video[:4]:
        result = pipe.process(frame.rgb, frame.stamp)
    face = result.faces[0]
    assert face.mode == MODE_LANDMARK_ONLY
    assert np.all(face.coeffs[:611] == 0) and np.all(face.coeffs[614:617] == 0)
    assert np.any(face.coeffs[611:614] != 0)
    assert np.array_equal(face.coeffs[617:621], face.eyes.astype(np.float32))
    assert np.isclose(np.linalg.norm(face.pose.quaternion), 1.0)
    assert face.pose.position[2] > 0
    pipe.close()


def test_missing_explicit_files_are_an_error_not_a_silent_fallback(tmp_path):
    from faceverse_ros.core.assets import AssetError

    with pytest.raises(AssetError, match="faceverse_v4_2.npy"):
        FacePipeline(PipelineConfig(model_path=str(tmp_path / "faceverse_v4_2.npy")))


def test_keyframes_alternate_regression_and_fitting(synthetic_assets, video):
    pipe = _full(synthetic_assets, keyframe_interval=3, smoothing={"kind": "none"})
    modes, results = [], []
    calls = []
    predict = pipe.regressor.predict
    pipe.regressor.predict = lambda crops: calls.append(len(crops)) or predict(crops)
    for frame in video[:7]:
        result = pipe.process(frame.rgb, frame.stamp)
        assert len(result.faces) == 1
        modes.append(result.faces[0].mode)
        results.append(result.faces[0])
    assert modes == [MODE_REGRESSOR, MODE_LANDMARK_FIT, MODE_LANDMARK_FIT] * 2 + [MODE_REGRESSOR]
    assert len(calls) == 3  # the ResNet ran on keyframes only
    key, fitted = results[0], results[1]
    # identity, texture and lighting come from the keyframe; pose moves with the landmarks
    assert np.array_equal(fitted.coeffs[:156], key.coeffs[:156])
    assert np.array_equal(fitted.coeffs[333:611], key.coeffs[333:611])
    assert fitted.fit_rms_px is not None and np.isfinite(fitted.fit_rms_px)
    assert "fit" in pipe.process(video[7].rgb, video[7].stamp).timings
    pipe.close()


def test_original_smoothing_is_two_frames_late(synthetic_assets, video):
    pipe = _full(synthetic_assets, smoothing={"kind": "original"})
    stamps = []
    for frame in video[:6]:
        result = pipe.process(frame.rgb, frame.stamp)
        stamps.append([f.stamp for f in result.faces])
    assert stamps[0] == [] and stamps[1] == []  # both 3-frame windows are filling
    for k in range(2, 6):
        assert stamps[k] == [pytest.approx(video[k - 2].stamp)]
    pipe.close()


def test_mesh_outputs_and_debug_image(synthetic_assets, video):
    pipe = _full(synthetic_assets)
    result = pipe.process(video[0].rgb, video[0].stamp, need_mesh=True)
    face = result.faces[0]
    mesh = face.mesh
    n = pipe.model.n_vertices
    assert mesh.image_vertices.shape == (n, 3) and mesh.colors.shape == (n, 3)
    assert mesh.vertices_m.shape == (n, 3) and np.all(mesh.vertices_m[:, 2] > 0)
    # the unposed mesh is the model's geometry for the published coefficients
    geo = pipe.model.reconstruct_geometry(face.coeffs[None])
    np.testing.assert_allclose(mesh.vertices, geo.vertices[0], atol=1e-6)
    # the mesh in metres surrounds the published head position (within a head's size)
    assert np.linalg.norm(mesh.vertices_m.mean(axis=0) - face.pose.position) < 0.2
    meshes = ViewBuilder(pipe.model).marker_meshes(result.faces, 8)
    (face_id, verts, tris, cols), = meshes
    assert face_id == face.face_id and verts.shape == cols.shape
    assert abs(len(verts) - n / 8) < 0.15 * n / 8 and tris.max() < len(verts)
    debug = draw_overlay(video[0].rgb, result.faces, result.intrinsics, pipe.model.tri, fps=12.5)
    assert debug.shape == video[0].rgb.shape and debug.dtype == np.uint8
    assert np.count_nonzero(np.any(debug != video[0].rgb, axis=2)) > 500
    pipe.close()


def test_two_stage_runner_overlaps_orders_and_drops():
    log, lock = [], threading.Lock()
    first_gate = threading.Event()

    def first(item):
        with lock:
            log.append(("first", item))
        return item * 10

    def second(item):
        first_gate.wait(5)
        time.sleep(0.05)
        with lock:
            log.append(("second", item))

    runner = TwoStageRunner(first, second)
    for k in range(5):  # the second stage is held: the slot keeps only the newest item
        runner.submit(k)
        time.sleep(0.02)
    assert not runner.slot_free  # the newest item waits while both stages are busy
    first_gate.set()
    assert runner.wait_idle(5)
    assert runner.slot_free
    seconds = [v for kind, v in log if kind == "second"]
    assert seconds == sorted(seconds) and seconds[-1] == 40  # in order, the newest one done
    assert runner.dropped >= 1 and len(seconds) + runner.dropped == 5
    # the first stage of a later item ran while the second stage was busy (overlap)
    assert log.index(("first", 4)) < log.index(("second", seconds[-2] if len(seconds) > 1 else 40))
    runner.close()


def test_two_stage_runner_reports_errors_and_goes_on():
    errors, done = [], []

    def first(item):
        if item == "bad":
            raise ValueError("broken frame")
        return item

    runner = TwoStageRunner(first, done.append, on_error=lambda stage, exc: errors.append((stage, str(exc))))
    runner.submit("bad")
    assert runner.wait_idle(5)
    runner.submit("good")
    assert runner.wait_idle(5)
    assert errors == [("first", "broken frame")] and done == ["good"]
    runner.close()
