"""The pipeline's wiring: modes, keyframes, smoothing delay, pipelining, outputs.

FaceVerse files here are SYNTHETIC: these tests check the order of stages and
the data that flows between them, never face accuracy.
"""
import threading
import time

import numpy as np
import pytest

from helpers import shared_path
from faceverse_ros.runtime.workers import TwoStageRunner
from faceverse_ros.tracking.detector import FaceDetector
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


def _detections(frames):
    """The detector's own output per frame, from a detector of its own (an independent
    reference for what the pipeline should report about each frame)."""
    det = FaceDetector(mode="video")
    out = {f.stamp: det.detect(f.rgb, f.stamp)[0] for f in frames}
    det.close()
    return out


def test_landmark_only_mode_fills_only_rotation_and_eyes(video):
    pipe = FacePipeline(PipelineConfig(landmark_only=True, smoothing={"kind": "none"}),
                        log=lambda m: None)
    assert pipe.landmark_only and "asked" in pipe.landmark_only_reason
    reference = _detections(video[:4])
    for frame in video[:4]:
        result = pipe.process(frame.rgb, frame.stamp)
    face = result.faces[0]
    assert face.mode == MODE_LANDMARK_ONLY
    assert np.all(face.coeffs[:611] == 0) and np.all(face.coeffs[614:617] == 0)
    assert np.any(face.coeffs[611:614] != 0)
    # unsmoothed: the eyes block is the detector's measurement of that frame
    np.testing.assert_allclose(face.coeffs[617:621], reference[face.stamp].eyes, atol=1e-6)
    assert np.isclose(np.linalg.norm(face.pose.quaternion), 1.0)
    assert face.pose.position[2] > 0
    pipe.close()


@pytest.mark.parametrize("landmark_only", [True, False], ids=["landmark_only", "full"])
def test_original_result_values_are_all_of_one_frame(synthetic_assets, video, landmark_only):
    """Smoother "original": each FaceResult is of the frame of its stamp: its landmarks and
    confidence are the detector's of that frame, its box and eyes the centred 3-frame means
    around it (the original's stage 1), its eyes block those eyes; nothing of other frames."""
    pipe = FacePipeline(PipelineConfig(landmark_only=True, smoothing={"kind": "original"}),
                        log=lambda m: None) if landmark_only else \
        _full(synthetic_assets, smoothing={"kind": "original"})
    frames = video[:8]
    reference = _detections(frames)
    stamps = [f.stamp for f in frames]
    seen = []
    for frame in frames:
        for face in pipe.process(frame.rgb, frame.stamp).faces:
            k = stamps.index(face.stamp)
            seen.append(k)
            ref = reference[face.stamp]
            np.testing.assert_allclose(face.landmarks, ref.landmarks, atol=1e-9)
            assert face.confidence == pytest.approx(ref.confidence)
            window = [reference[stamps[j]] for j in range(max(k - 1, 0), k + 2)]
            np.testing.assert_allclose(face.box, np.mean([d.box for d in window], axis=0),
                                       atol=1e-6)
            np.testing.assert_allclose(face.eyes, np.mean([d.eyes for d in window], axis=0),
                                       atol=1e-6)
            np.testing.assert_allclose(face.coeffs[617:621], face.eyes, atol=1e-6)
    assert seen == list(range(len(frames) - 2))  # two frames late, each frame once
    pipe.close()


def _still_sequence(n=40, seed=3):
    """A still face with camera noise: the same portrait, sensor noise and sub-pixel shake."""
    import cv2

    base = cv2.cvtColor(cv2.imread(str(shared_path("testdata/faces/portrait_small.jpg"))),
                        cv2.COLOR_BGR2RGB)
    rng = np.random.default_rng(seed)
    h, w = base.shape[:2]
    out = []
    for k in range(n):
        m = np.float32([[1, 0, rng.uniform(-0.7, 0.7)], [0, 1, rng.uniform(-0.7, 0.7)]])
        img = cv2.warpAffine(base, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        img = np.clip(img + rng.normal(0, 4.0, img.shape), 0, 255).astype(np.uint8)
        out.append((img, k / 30.0))
    return out


def test_landmark_only_pose_is_smoothed_by_the_configured_smoother():
    """On a still face one_euro gives less pose jitter than none (landmark-only mode)."""
    seq = _still_sequence()
    jitter = {}
    for kind in ("none", "one_euro"):
        pipe = FacePipeline(PipelineConfig(landmark_only=True, smoothing={"kind": kind}),
                            log=lambda m: None)
        poses = [pipe.process(img, t).faces[0].pose for img, t in seq]
        pipe.close()
        pos = np.array([p.position for p in poses[10:]])
        rot = [p.rotation for p in poses[10:]]
        steps = [np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1)) for a, b in zip(rot, rot[1:])]
        jitter[kind] = (np.sqrt(np.mean(np.sum(np.diff(pos, axis=0) ** 2, axis=1))),
                        np.sqrt(np.mean(np.square(steps))))
    assert jitter["none"][0] > 0 and jitter["none"][1] > 0  # the sequence does jitter
    assert jitter["one_euro"][0] < 0.7 * jitter["none"][0], jitter
    assert jitter["one_euro"][1] < 0.7 * jitter["none"][1], jitter


@pytest.mark.parametrize("landmark_only", [True, False], ids=["landmark_only", "full"])
def test_track_end_flushes_its_last_frames_under_original(synthetic_assets, video, landmark_only):
    """When the face leaves, the two frames "original" still held come out (in order)."""
    pipe = FacePipeline(PipelineConfig(landmark_only=True, smoothing={"kind": "original"}),
                        log=lambda m: None) if landmark_only else \
        _full(synthetic_assets, smoothing={"kind": "original"})
    frames = video[:6]
    blank = np.zeros_like(frames[0].rgb)
    out = []
    for frame in frames:
        out += [f.stamp for f in pipe.process(frame.rgb, frame.stamp).faces]
    step = frames[1].stamp - frames[0].stamp
    for k in range(1, 9):  # the tracker ends the id after max_missed (5) empty frames
        out += [f.stamp for f in pipe.process(blank, frames[-1].stamp + k * step).faces]
    assert out == [f.stamp for f in frames]
    pipe.close()


def test_missing_explicit_files_are_an_error_not_a_silent_fallback(tmp_path):
    from faceverse_ros.core.assets import AssetError

    with pytest.raises(AssetError, match="faceverse_v4_2.npy"):
        FacePipeline(PipelineConfig(model_path=str(tmp_path / "faceverse_v4_2.npy")))


def test_keyframes_alternate_regression_and_fitting(synthetic_assets, video):
    pipe = _full(synthetic_assets, keyframe_interval=3, smoothing={"kind": "none"},
                 keyframe_background=False)
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


def test_background_keyframes_hold_the_network_identity_of_the_keyframe(synthetic_assets, video):
    """keyframe.background (the default): the frame due a keyframe is fitted like the frames
    between; the keyframe's ResNet pass and fit run in the worker, and the first frame after
    they are done holds the network's identity, texture and lighting of the keyframe's crop
    (checked against the regressor run here on that frame's crop)."""
    from faceverse_ros.core.crop import crop_faces

    # keyframe_max_interval 3: a fixed cadence (a busy CPU would otherwise stretch it)
    pipe = _full(synthetic_assets, keyframe_interval=3, smoothing={"kind": "none"},
                 keyframe_max_interval=3)
    assert pipe.solver.worker is not None
    calls = []
    predict = pipe.regressor.predict
    pipe.regressor.predict = lambda crops: calls.append(len(crops)) or predict(crops)
    results = []
    for frame in video[:8]:
        result = pipe.process(frame.rgb, frame.stamp)
        face = result.faces[0]
        job = pipe._tracks[face.face_id].keyframe_job
        if job is not None:  # make the test independent of thread timing
            assert job.done.wait(60) and job.error is None
        results.append(face)
    assert [f.mode for f in results] == [MODE_REGRESSOR] + [MODE_LANDMARK_FIT] * 7
    assert calls == [1]  # the frame path ran the ResNet on the track's first frame only
    assert [f.keyframe for f in results] == [True, False, False, False, True, False, False, True]
    held = np.r_[0:156, 333:611]  # identity, texture, lighting
    crop, _ = crop_faces(video[3].rgb, results[3].box[None])
    expected = predict(crop)[0]
    np.testing.assert_allclose(results[4].coeffs[held], expected[held], rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(results[5].coeffs[held], results[4].coeffs[held])
    np.testing.assert_array_equal(results[3].coeffs[held], results[0].coeffs[held])
    assert not np.allclose(results[4].coeffs[held], results[0].coeffs[held])  # a new keyframe
    for f in results[1:]:
        assert f.fit_rms_px is not None and np.isfinite(f.fit_rms_px)
    pipe.close()
    assert pipe.solver.worker is None


def _held_worker_pipeline(synthetic_assets, max_interval=2):
    """A pipeline (keyframe interval 2, no smoothing; by default no stretching of the
    interval) whose keyframe worker holds each job until the returned event is set; the
    frame path's regressor counts its calls."""
    import threading

    pipe = _full(synthetic_assets, keyframe_interval=2, smoothing={"kind": "none"},
                 keyframe_max_interval=max_interval)
    release = threading.Event()
    worker_reg = pipe.solver.worker._regressor_for()

    class Held:
        def predict(self, crops):
            release.wait(60)
            return worker_reg.predict(crops)

    pipe.solver.worker._regressor_for = Held
    calls = []
    predict = pipe.regressor.predict
    pipe.regressor.predict = lambda crops: calls.append(len(crops)) or predict(crops)
    return pipe, release, calls, predict


def test_a_late_background_keyframe_is_made_inline(synthetic_assets, video):
    """A background keyframe still running two intervals after it was handed in (here the
    worker is held) is cancelled, and the frame then makes its keyframe itself: the frame
    path's regressor runs on that frame's crop and the frame holds its identity."""
    from faceverse_ros.core.crop import crop_faces

    pipe, release, calls, predict = _held_worker_pipeline(synthetic_assets)
    results = [pipe.process(f.rgb, f.stamp).faces[0] for f in video[:8]]
    release.set()
    # frame 0 regressed inline; frame 2's keyframe goes to the worker, which is held; at
    # frame 6 (two intervals later) the frame path makes it; frame 8 would be the next
    assert [f.keyframe for f in results] == [True, False, False, False, False, False, True, False]
    assert calls == [1, 1]
    assert all(f.mode == MODE_LANDMARK_FIT for f in results[1:])
    held = np.r_[0:156, 333:611]
    crop, _ = crop_faces(video[6].rgb, results[6].box[None])
    np.testing.assert_allclose(results[6].coeffs[held], predict(crop)[0][held], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(results[7].coeffs[held], results[6].coeffs[held])
    pipe.close()


def test_a_late_background_keyframe_finished_while_waited_for_is_taken(synthetic_assets, video,
                                                                      monkeypatch):
    """Two intervals late, the frame path first waits for the job (its core is then free for
    the idle-class worker): a job that finishes in that wait is taken, the frame path runs
    no ResNet of its own, and the frame holds the identity of the job's crop (frame 2's),
    not of its own. The worker's yield to the busy frame path is long here: the wait itself
    must count as idle, or the job could not finish in it."""
    from faceverse_ros.core.crop import crop_faces
    from faceverse_ros.tracking import keyframe_worker

    monkeypatch.setattr(keyframe_worker, "YIELD_MAX_S", 30.0)
    pipe, release, calls, predict = _held_worker_pipeline(synthetic_assets)
    waits = []

    def late_wait():  # the frame path starts waiting: let the worker go
        waits.append(True)
        release.set()
        return 20.0

    pipe.solver._late_wait_s = late_wait
    results, timings = [], []
    for f in video[:8]:
        result = pipe.process(f.rgb, f.stamp)
        results.append(result.faces[0])
        timings.append(result.timings)
    assert waits == [True]
    assert calls == [1]  # the track's first frame only
    assert [f.keyframe for f in results] == [True, False, False, False, False, False, True, False]
    assert "keyframe_wait" in timings[6] and all("keyframe_wait" not in t for t in timings[:6])
    held = np.r_[0:156, 333:611]
    crop2, _ = crop_faces(video[2].rgb, results[2].box[None])
    crop6, _ = crop_faces(video[6].rgb, results[6].box[None])
    np.testing.assert_allclose(results[6].coeffs[held], predict(crop2)[0][held], rtol=1e-3,
                               atol=1e-3)
    assert not np.allclose(results[6].coeffs[held], predict(crop6)[0][held], atol=1e-3)
    pipe.close()


def test_frame_path_activity_is_busy_while_any_face_stage_runs():
    from faceverse_ros.tracking.keyframe_worker import FramePathActivity

    act = FramePathActivity()
    assert act.wait_idle(0)
    with act.busy():
        assert not act.wait_idle(0.01)
        with act.busy():   # a second face stage (or a nested one)
            pass
        assert not act.wait_idle(0)
        with act.idle():   # the frame path waits for the worker: it may go
            assert act.wait_idle(0)
        assert not act.wait_idle(0)
    assert act.wait_idle(0)
    # a waiter is let go as soon as the busy stage ends, well before its limit
    woke = []
    with act.busy():
        waiter = threading.Thread(target=lambda: woke.append((act.wait_idle(30),
                                                               time.perf_counter())))
        waiter.start()
        time.sleep(0.2)
        assert not woke
        ended = time.perf_counter()
    waiter.join(10)
    assert woke and woke[0][0] and woke[0][1] >= ended and woke[0][1] - ended < 5


def test_the_keyframe_worker_starts_its_python_parts_only_when_the_frame_path_is_idle(
        synthetic_model, monkeypatch):
    """Each of the worker's Python parts (the network's input, the fit, the prepare) waits
    for the face stage to end (it would take the GIL from the frame path, module doc of
    tracking.keyframe_worker), for at most YIELD_MAX_S; the keyframe still gets done."""
    from faceverse_ros.tracking import keyframe_worker as kw

    m = synthetic_model
    started = []

    class Regressor:
        def predict(self, crops):
            started.append(time.perf_counter())
            return np.zeros((len(crops), m.n_coeffs), np.float32)

    def job():
        landmarks = np.column_stack([np.linspace(80, 170, 478), np.linspace(70, 190, 478),
                                     np.zeros(478)])
        return kw.KeyframeJob(0.0, np.zeros((256, 256, 3), np.uint8),
                              np.array([0.0, 0.0, 256.0, 256.0]), landmarks)

    act = kw.FramePathActivity()
    worker = kw.KeyframeWorker(m, lambda: Regressor(), activity=act)
    try:
        monkeypatch.setattr(kw, "YIELD_MAX_S", 30.0)
        with act.busy():
            first = worker.submit(job())
            time.sleep(0.3)
            assert not started and not first.done.is_set()
            ended = time.perf_counter()
        assert first.done.wait(30) and started and started[0] >= ended
        # a frame path that never goes idle (offline at full speed) holds it back only so long
        monkeypatch.setattr(kw, "YIELD_MAX_S", 0.05)
        with act.busy():
            t = time.perf_counter()
            second = worker.submit(job())
            assert second.done.wait(30)
            assert len(started) == 2 and started[1] - t >= 0.05
    finally:
        worker.close()


def _worker_job():
    from faceverse_ros.tracking import keyframe_worker as kw

    landmarks = np.column_stack([np.linspace(80, 170, 478), np.linspace(70, 190, 478),
                                 np.zeros(478)])
    return kw.KeyframeJob(0.0, np.zeros((256, 256, 3), np.uint8),
                          np.array([0.0, 0.0, 256.0, 256.0]), landmarks)


def test_the_keyframe_worker_builds_its_session_before_it_lowers_its_priority(
        synthetic_model, monkeypatch):
    """The startup session is built at the thread's normal priority: built in the idle
    class, it was still loading when a one-image run closed (CI: the process aborted)."""
    from faceverse_ros.runtime import workers
    from faceverse_ros.tracking import keyframe_worker as kw

    events = []
    monkeypatch.setattr(workers, "lower_thread_priority",
                        lambda nice, idle_class=False: events.append("lowered"))

    def regressor_for():
        events.append("session")
        time.sleep(0.2)
        return None

    worker = kw.KeyframeWorker(synthetic_model, regressor_for)
    assert worker.close()
    assert events == ["session", "lowered"]


def test_closing_the_keyframe_worker_skips_the_jobs_left(synthetic_model):
    """close() ends the job in flight at its next Python part and skips the queued ones
    (each says "closed"), so a run's end does not wait for keyframes nobody will use."""
    from faceverse_ros.tracking import keyframe_worker as kw

    m = synthetic_model
    entered, release, predicted = threading.Event(), threading.Event(), []

    class Regressor:
        def predict(self, crops):
            predicted.append(len(crops))
            entered.set()
            assert release.wait(30)
            return np.zeros((len(crops), m.n_coeffs), np.float32)

    worker = kw.KeyframeWorker(m, lambda: Regressor())
    jobs = [worker.submit(_worker_job()) for _ in range(3)]
    assert entered.wait(30)
    closed = []
    closer = threading.Thread(target=lambda: closed.append(worker.close()))
    closer.start()
    time.sleep(0.2)
    release.set()
    closer.join(30)
    assert closed == [True]
    assert predicted == [1]  # the queued jobs never reached the network
    assert all(j.done.is_set() and j.error == "closed" for j in jobs)
    assert all(j.state is None for j in jobs)  # the one in flight stopped before its fit


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


def test_in_order_runner_keeps_every_item_in_order_and_overlaps_the_stages():
    """The command line's runner: items handed in faster than the second stage works are
    all done (none dropped), come back in order in the caller's thread, and the first stage
    of item k+1 runs while the second stage works on item k; a stage's error comes back in
    its item's place."""
    import threading

    from faceverse_ros.runtime.workers import InOrderRunner, StageFailure

    log, lock = [], threading.Lock()

    def first(k):
        if k == 7:
            raise ValueError("frame 7 is broken")
        with lock:
            log.append(("first start", k))
        time.sleep(0.004)
        return k

    def second(k):
        with lock:
            log.append(("second start", k))
        time.sleep(0.01)
        with lock:
            log.append(("second end", k))
        return k * 10

    runner = InOrderRunner(first, second)
    caller = threading.get_ident()
    got = []
    for k in range(12):
        got += runner.put(k)
    got += runner.finish()
    runner.close()
    assert [g if not isinstance(g, StageFailure) else (g.stage, str(g.error)) for g in got] == \
        [10 * k if k != 7 else ("first", "frame 7 is broken") for k in range(12)]
    assert threading.get_ident() == caller
    # overlap: some first stage started between a second stage's start and its end
    starts = {k: log.index(("second start", k)) for k in range(12) if k != 7}
    ends = {k: log.index(("second end", k)) for k in range(12) if k != 7}
    assert any(starts[k] < log.index(("first start", j)) < ends[k]
               for k in starts for j in starts if j > k)


def test_in_order_runner_hands_the_next_item_in_when_the_first_stage_takes_one(monkeypatch):
    """put() waits for the slot to be free and is woken by the take itself, not by a poll
    (with its safety wait made 30 s, a put still returns at once after the take)."""
    from faceverse_ros.runtime import workers

    monkeypatch.setattr(workers, "SLOT_WAIT_S", 30.0)
    gate, taken = threading.Event(), []

    def first(k):
        taken.append((k, time.perf_counter()))
        if k == 0:
            assert gate.wait(30)
        return k

    runner = workers.InOrderRunner(first, lambda k: None)
    try:
        runner.put(0)
        while not taken:
            time.sleep(0.001)
        runner.put(1)              # waits in the slot: the first stage is busy with 0
        returned = []
        putter = threading.Thread(target=lambda: returned.append((runner.put(2),
                                                                  time.perf_counter())))
        putter.start()
        time.sleep(0.2)
        assert not returned        # item 1 still holds the slot
        gate.set()
        putter.join(20)
        assert returned and [k for k, _ in taken][:2] == [0, 1]
        assert returned[0][1] - taken[1][1] < 5.0   # woken by the take of item 1
        assert runner.finish() == []
        assert [k for k, _ in taken] == [0, 1, 2]
    finally:
        runner.close()


def test_finish_ends_the_tracks_and_gives_their_last_frames(video):
    """The end of a file: finish() gives the two frames "original" still holds."""
    pipe = FacePipeline(PipelineConfig(landmark_only=True, smoothing={"kind": "original"}),
                        log=lambda m: None)
    out = []
    for frame in video[:5]:
        out += [f.stamp for f in pipe.process(frame.rgb, frame.stamp).faces]
    out += [f.stamp for f in pipe.finish().faces]
    assert out == [f.stamp for f in video[:5]]
    assert pipe.finish().faces == []  # nothing left
    pipe.close()


def test_a_late_background_keyframe_stretches_the_face_interval_and_a_timely_one_shrinks_it(
        synthetic_assets, monkeypatch):
    """A job still running two intervals after it went in is late: the face's keyframe
    interval doubles (2 -> 4 -> 8, keyframe.max_interval 8) and the job goes on, the frame
    path neither waits nor regresses; only at the longest interval is it waited for. A job
    done before the next one is due halves the interval again (8 -> 4)."""
    from faceverse_ros.tracking import keyframe_worker

    monkeypatch.setattr(keyframe_worker, "YIELD_MAX_S", 30.0)
    # lateness alone (a busy CPU while a job ran stretches too: tested below)
    monkeypatch.setattr(keyframe_worker, "others_cpu_share", lambda job: 0.0)
    pipe, release, calls, predict = _held_worker_pipeline(synthetic_assets, max_interval=8)
    waits = []

    def late_wait():
        waits.append(True)
        release.set()
        return 20.0

    pipe.solver._late_wait_s = late_wait
    currents, submitted, keyframes, timings = [], [], [], []
    for k, f in enumerate(_frames(20)):
        result = pipe.process(f.rgb, f.stamp)
        face = result.faces[0]
        track = pipe._tracks[face.face_id]
        job = track.keyframe_job
        if job is not None and job.stamp == f.stamp:
            submitted.append(k)
            if k > 2:  # after the held one: let each job finish before the next frame
                assert job.done.wait(60)
        currents.append(track.keyframes.current)
        keyframes.append(face.keyframe)
        timings.append(result.timings)
    # Worked by hand: frame 2's job is held. The schedule counts the frames it recorded since
    # that submission (frames due a keyframe while a job is in flight are not). Two intervals
    # late at frames 6 (4 frames waited) and 10 (8): the interval becomes 4, then 8. At frame
    # 18 (16 frames, two intervals of 8, the longest) the frame path waits, the job finishes
    # and frame 18 takes it; frame 18 is also due (7 frames recorded, 3, 6, 7, 10-13, +1)
    # and hands in the next job, done at once: frame 19 takes it in time, 8 -> 4.
    assert currents == [2] * 6 + [4] * 4 + [8] * 9 + [4]
    assert submitted == [2, 18]
    assert waits == [True] and calls == [1]  # no keyframe made inline
    assert [k for k, t in enumerate(timings) if "keyframe_wait" in t] == [18]
    assert [k for k, key in enumerate(keyframes) if key] == [0, 18, 19]
    pipe.close()


@pytest.mark.parametrize("share, expected", [(0.9, [2, 4, 8]), (0.1, [2])])
def test_a_keyframe_done_while_the_frames_kept_the_cpus_busy_stretches_the_interval(
        synthetic_assets, monkeypatch, share, expected):
    """A background keyframe finished in time still doubles the face's interval when the rest
    of the process kept more than BUSY_SHARE of the CPUs busy meanwhile (its CPU came from
    the frames); with CPUs to spare the interval stays at keyframe.interval."""
    from faceverse_ros.tracking import keyframe_worker, solver

    assert solver.BUSY_SHARE == 0.5
    monkeypatch.setattr(keyframe_worker, "others_cpu_share", lambda job: share)
    pipe = _full(synthetic_assets, keyframe_interval=2, smoothing={"kind": "none"},
                 keyframe_max_interval=8)
    seen = []
    for f in _frames(16):
        face = pipe.process(f.rgb, f.stamp).faces[0]
        track = pipe._tracks[face.face_id]
        if track.keyframe_job is not None:
            assert track.keyframe_job.done.wait(60)
        if not seen or seen[-1] != track.keyframes.current:
            seen.append(track.keyframes.current)
    assert seen == expected
    pipe.close()


def test_others_cpu_share_leaves_out_the_job_own_cpu_time():
    """Hand-worked: a job handed in 1 s ago (wall) with 0.6 s of process CPU since, 0.2 s of
    it the job's own: the rest used 0.4 s of 1 s x the CPUs."""
    import time as _time

    from faceverse_ros.runtime.threads import cpu_count
    from faceverse_ros.tracking.keyframe_worker import KeyframeJob, others_cpu_share

    job = KeyframeJob(0.0, np.zeros((256, 256, 3), np.uint8), np.zeros(4), np.zeros((478, 3)))
    now_wall, now_cpu = _time.perf_counter(), _time.process_time()
    job.handed_in = (now_wall - 1.0, now_cpu - 0.6)
    job.cpu_s = 0.2
    got = others_cpu_share(job)
    assert got == pytest.approx(0.4 / cpu_count(), rel=0.05)
