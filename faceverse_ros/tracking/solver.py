"""Coefficients of the faces of one frame: the regressor on keyframes, the landmark update
between them (no ROS).

:class:`CoefficientSolver` is the pipeline's stage between the tracks' stage-1 output and
their stage-2 smoothing. Per face and frame:

- the track's first frame, and every frame while a regression costs no more than a fit
  (tracking.keyframes.KeyframeCost): the ResNet, inline (``MODE_REGRESSOR``); where
  keyframes alternate with fits, the pose and expression of an inline keyframe are then
  fitted to its landmarks like a background keyframe's (the network's identity, texture
  and lighting kept);
- a frame due a keyframe otherwise: with ``keyframe_background`` (the default) the
  keyframe becomes a job of tracking.keyframe_worker and the frame itself is solved like
  the frames between keyframes; without it, the ResNet inline;
- the frames between: one linearised solve (core.fast_update) about the track's state,
  where it holds; else a full landmark fit (core.fitting), which the next frames then
  linearise about (``MODE_LANDMARK_FIT``).

Landmark-only mode: the pose from the landmarks as a coefficient vector.
"""
import contextlib
import time
from typing import List, Optional

import numpy as np

from faceverse_ros.core.crop import crop_box_from_square, crop_face
from faceverse_ros.landmarks.landmark_pose import estimate_head_pose
from faceverse_ros.core.layout import MODE_LANDMARK_FIT, MODE_LANDMARK_ONLY, MODE_REGRESSOR
from faceverse_ros.core.rotations import FACE_AXES_IN_MODEL, matrix_to_euler
from faceverse_ros.identity.person_model import with_person_prior
from faceverse_ros.tracking.keyframes import KeyframeCost
from faceverse_ros.tracking.track import Solution, TrackFrame

#: a background keyframe still running this many keyframe intervals (the track's current
#: one) after it was handed in is late: the track's interval doubles (tracking.keyframes:
#: KeyframeSchedule.slower) and the job goes on; once the interval is at its longest
#: (keyframe.max_interval) a late job is waited for (below), and one that is still not
#: done then is cancelled and the frame makes its keyframe inline
#: (CoefficientSolver._catch_up)
LAG_INTERVALS = 2
#: a background keyframe done while the rest of the process kept more than this share of
#: the CPUs busy (keyframe_worker.others_cpu_share) doubles the track's interval too: its
#: CPU, even in the idle class, came from frames that wanted it (cache, memory bandwidth,
#: the gaps between a saturated pipeline's stages); 0.5 lies between the live and the
#: offline shares (doc/performance.md)
BUSY_SHARE = 0.5
#: how long the frame path waits for a late background keyframe: twice the median
#: regression, at least this (seconds). While the frame path waits, its core is free and
#: the idle-class worker gets it, so the job finishes the pass it has half done instead of
#: the frame path starting a new one
LATE_WAIT_MIN_S = 0.05


class CoefficientSolver:
    """Solutions for [(FaceTrack, TrackFrame)] (module doc). ``model`` None: landmark-only."""

    def __init__(self, config, model=None, regressor=None, int8_builder=None, layout=None,
                 log=print):
        self.config = config
        self.model, self.regressor, self._int8 = model, regressor, int8_builder
        self.layout = layout if layout is not None else getattr(model, "layout", None)
        self.log = log
        self.fitter = self.fast_update = self.worker = None
        self.keyframe_cost = KeyframeCost()  # regress every frame when that is no dearer
        self._told_cost = None
        self._calibration_frames = 0
        if model is None:
            return
        if config.keyframe_interval > 1 or config.keyframe_drift_px > 0:
            from faceverse_ros.core.fitting import LandmarkFitter

            self.fitter = LandmarkFitter(model)
            if config.fast_update:
                from faceverse_ros.core.fast_update import LinearUpdate

                self.fast_update = LinearUpdate(self.fitter)
            if config.keyframe_background and self.fast_update is not None:
                from faceverse_ros.tracking.keyframe_worker import KeyframeWorker, WorkerRegressor

                self.worker = KeyframeWorker(model, WorkerRegressor(lambda: self.regressor))

    def busy(self):
        """Context the pipeline's face stage runs in: the background worker's Python parts
        wait for it to end (keyframe_worker.FramePathActivity)."""
        return self.worker.activity.busy() if self.worker is not None else \
            contextlib.nullcontext()

    def close(self, finish_int8: bool = False):
        """Stop the keyframe worker; an int8 export in flight is waited for (finish_int8)
        or stopped (tracking.auto_engine.Int8Builder)."""
        if self._int8 is not None:
            self._int8.close(finish=finish_int8)
        if self.worker is not None:
            from faceverse_ros.tracking.keyframe_worker import CLOSE_WAIT_S

            if not self.worker.close():
                self.log(f"keyframes: the background thread did not stop within "
                         f"{CLOSE_WAIT_S:.0f} s")
            self.worker = None

    # -- engine auto's int8 switch --------------------------------------------------------------
    def _switch_to_int8(self):
        from faceverse_ros.core.regressor import Regressor

        path = self._int8.take() if self._int8 is not None else None
        if path is None:
            return
        self._int8 = None
        self.regressor = Regressor(path, engine="onnx", device="cpu",
                                   threads=self.regressor.threads,
                                   head_sizes=self.model.sizes.head_sizes,
                                   ort_spinning=self.config.ort_spinning)

    # -- per frame ------------------------------------------------------------------------------
    def solve(self, items, timings, problems) -> List[Optional[Solution]]:
        if self.model is None:
            t = time.perf_counter()
            out = [self._landmark_solution(track, frame, problems) for track, frame in items]
            _lap(timings, "landmark_pose", t)
            return out
        out: List[Optional[Solution]] = [None] * len(items)
        if self._int8 is not None:
            self._switch_to_int8()
        every = self.fitter is not None and self.keyframe_cost.regress_every_frame()
        self._tell_cost(self.keyframe_cost.cheaper_to_regress())
        late = [k for k, (track, _) in enumerate(items)
                if self._take_background(track, problems, timings)]
        for k in late:
            out[k] = self._catch_up(*items[k], problems, timings)
        inline, background = [], []
        for k, (track, _) in enumerate(items):
            if out[k] is not None:
                continue
            if self.fitter is None or track.last_coeffs is None or every:
                inline.append(k)
            else:
                why = track.keyframes.reason()
                if why is not None:  # a failed fit (or a request) has nothing to fit from
                    background_ok = self.worker is not None and why in ("interval", "drift")
                    (background if background_ok else inline).append(k)
        if inline:
            self._regress_inline(items, inline, out, timings)
        t = time.perf_counter()
        fitted = 0
        for k, (track, frame) in enumerate(items):
            if k in inline or out[k] is not None:
                continue
            fitted += 1
            out[k] = self._fit(track, frame, problems, keyframe=k in background)
        if fitted:
            now = _lap(timings, "fit", t)
            self.keyframe_cost.record(False, (now - t) * 1000.0 / fitted)
        if background:
            self._submit_background(items, background, out, timings)
        if self._int8 is not None and self._int8.collecting:
            self._offer_fitted_crops(items, set(inline) | set(background), timings)
        for k, (track, frame) in enumerate(items):
            if out[k] is not None and not np.all(np.isfinite(out[k].coeffs)):
                problems.append(f"face {track.face_id}: the regressor returned NaN/inf; face "
                                "skipped")
                track.restart_keyframes()
                out[k] = None
        return out

    def _regress_inline(self, items, inline, out, timings):
        """The ResNet on this frame's inline keyframes, in one batch."""
        t = t0 = time.perf_counter()
        crops, boxes = _crop_each([items[k][1] for k in inline])
        t = _lap(timings, "crop", t)
        if self._int8 is not None:
            self._int8.offer(crops)
        coeffs = self.regressor.predict(crops)
        now = _lap(timings, "regress", t)
        self.keyframe_cost.record(True, (now - t0) * 1000.0 / len(inline))
        exp = self.model.slices["exp"]
        for k, c, box in zip(inline, coeffs, boxes):
            track, frame = items[k]
            c = with_person_prior(track.person_prior, c, self.model.slices)
            track.keyframe_recorded(True, exp=c[exp])
            out[k] = self._fit_keyframe(track, frame, c, box, timings) if \
                self.fitter is not None and np.all(np.isfinite(c)) else None
            if out[k] is None:
                out[k] = Solution(c, box, MODE_REGRESSOR, keyframe=True)

    def _fit_keyframe(self, track, frame, coeffs, box, timings) -> Optional[Solution]:
        """An inline keyframe as the background worker makes one (keyframe_worker.
        finish_keyframe): the network's identity, texture and lighting, the pose and
        expression fitted to the frame's landmarks from the track's last solution (the
        network's values on a first frame), the network's expression as the prior, and the
        linear state about the fit. Publishing the network's own pose and expression
        instead would make every keyframe a step away from what the landmarks show and back.
        None when the fit fails (the network's values are then published)."""
        from faceverse_ros.tracking.keyframe_worker import KeyframeJob, finish_keyframe

        t = time.perf_counter()
        start, start_box = track.fit_start()
        job = KeyframeJob(frame.stamp, None, np.asarray(box, np.float64),
                          np.array(frame.detection.landmarks),
                          start=None if start is None else np.array(start, dtype=np.float32),
                          start_box=None if start_box is None else np.asarray(start_box, np.float64))
        finish_keyframe(job, coeffs, self.fitter, self.fast_update)
        _lap(timings, "fit", t)
        if job.error is not None:
            return None
        track.linear = job.state
        track.key_fit = (np.array(job.fit_coeffs, dtype=np.float32), np.asarray(box, np.float64))
        return Solution(job.fit_coeffs, np.asarray(box, np.float64), MODE_REGRESSOR,
                        job.rms_px, keyframe=True)

    def _offer_fitted_crops(self, items, keyframes, timings):
        """engine auto calibrates its int8 model on the first face crops it is given
        (tracking.auto_engine): the keyframes' crops, and also one fitted frame's crop every
        keyframe.interval frames, so that the calibration does not wait for keyframes
        stretched by a busy CPU (tracking.keyframes)."""
        for k, (track, frame) in enumerate(items):
            if k in keyframes:
                continue
            self._calibration_frames += 1
            if self._calibration_frames % self.config.keyframe_interval == 0:
                t = time.perf_counter()
                crops, _ = _crop_each([frame])
                _lap(timings, "crop", t)
                self._int8.offer(crops)

    def _submit_background(self, items, background, out, timings):
        """Background keyframes (keyframe_worker): the crop, the frame's landmarks and its
        fitted pose and expression (where the keyframe's fit starts) go to the worker; one
        job per track in flight, and a frame whose fit failed hands none in."""
        from faceverse_ros.tracking.keyframe_worker import KeyframeJob

        todo = [k for k in background if items[k][0].keyframe_job is None and out[k] is not None]
        if not todo:
            return
        t = time.perf_counter()
        crops, boxes = _crop_each([items[k][1] for k in todo])
        _lap(timings, "crop", t)
        if self._int8 is not None:
            self._int8.offer(crops)
        for k, crop, box in zip(todo, crops, boxes):
            track, frame = items[k]
            track.keyframe_job = self.worker.submit(KeyframeJob(
                frame.stamp, crop, box, np.array(frame.detection.landmarks),
                start=np.array(out[k].coeffs, dtype=np.float32),
                start_box=np.asarray(out[k].crop_box, dtype=np.float64),
                prior=track.person_prior))
            track.keyframes.record(True)  # the keyframe is taken; the frame itself was fitted

    def _take_background(self, track, problems, timings) -> bool:
        """A finished background keyframe becomes the track's state (keyframe_worker doc).
        A job LAG_INTERVALS keyframe intervals late makes the track's keyframes rarer
        (KeyframeSchedule.slower) and goes on; at the longest interval it is waited for
        (_late_wait_s) instead. One done before the next was due makes them more frequent
        again (faster). True when a waited-for job is still not done: it is cancelled and
        this frame's keyframe is to be made inline (catch_up)."""
        job = track.keyframe_job
        if job is None:
            return False
        schedule = track.keyframes
        if job.done.is_set():
            from faceverse_ros.tracking.keyframe_worker import others_cpu_share

            if others_cpu_share(job) > BUSY_SHARE:  # it ran on CPUs the frames wanted
                schedule.slower()
            elif job.frames_waited < schedule.current:  # done before the next was due
                schedule.faster()
        else:
            job.frames_waited += 1
            if job.frames_waited < LAG_INTERVALS * schedule.current:
                return False
            if schedule.current < schedule.max_interval:
                # the cores had no time for it: fewer keyframes for this face, and the job
                # goes on in the time the frames leave
                schedule.slower()
                return False
            t = time.perf_counter()
            with self.worker.activity.idle():  # the worker's Python parts may go meanwhile
                finished = job.done.wait(self._late_wait_s())
            _lap(timings, "keyframe_wait", t)
            if not finished:
                job.cancelled = True  # the worker skips it, or its result is dropped
                track.keyframe_job = None
                return True
        track.keyframe_job = None
        if job.error is not None:
            problems.append(f"face {track.face_id}: background keyframe skipped ({job.error})")
            return False
        self.keyframe_cost.record(True, job.regress_ms)
        track.take_keyframe(job)
        return False

    def _late_wait_s(self) -> float:
        """How long to wait for a late background keyframe (LATE_WAIT_MIN_S)."""
        reg, _ = self.keyframe_cost.medians()
        return max(LATE_WAIT_MIN_S, 2.0 * reg / 1000.0 if reg is not None else 0.0)

    def _catch_up(self, track, frame: TrackFrame, problems, timings) -> Optional[Solution]:
        """A keyframe the worker could not make in time (the cores are busy, e.g. offline at
        full speed), made here on this frame: the ResNet with the frame path's regressor,
        then the same fit and state as in the worker (keyframe_worker.finish_keyframe),
        starting from the track's last solution. None when it fails (the frame is then
        fitted as usual)."""
        from faceverse_ros.tracking.keyframe_worker import KeyframeJob, finish_keyframe

        t = t0 = time.perf_counter()
        crops, boxes = _crop_each([frame])
        t = _lap(timings, "crop", t)
        coeffs = with_person_prior(track.person_prior, self.regressor.predict(crops)[0],
                                   self.model.slices)
        now = _lap(timings, "regress", t)
        self.keyframe_cost.record(True, (now - t0) * 1000.0)
        start, start_box = track.fit_start()
        job = KeyframeJob(frame.stamp, crops[0], boxes[0], np.array(frame.detection.landmarks),
                          start=None if start is None else np.array(start, dtype=np.float32),
                          start_box=None if start_box is None else np.asarray(start_box, np.float64))
        finish_keyframe(job, coeffs, self.fitter, self.fast_update)
        _lap(timings, "fit", now)
        if job.error is not None:
            problems.append(f"face {track.face_id}: keyframe skipped ({job.error})")
            return None
        track.take_keyframe(job)
        track.keyframes.record(True)
        return Solution(job.fit_coeffs, boxes[0].astype(np.float64), MODE_LANDMARK_FIT,
                        job.rms_px, keyframe=track.pop_new_keyframe())

    def _tell_cost(self, cheaper):
        """Say once per change when the keyframe cost switches every-frame regression."""
        if cheaper != self._told_cost and (cheaper or self._told_cost is not None):
            reg, fit = self.keyframe_cost.medians()
            self.log(f"keyframes: a regression costs {reg:.1f} ms a face, a landmark fit "
                     f"{fit:.1f} ms: " + ("the regressor runs on every frame" if cheaper else
                                          f"keyframes every {self.config.keyframe_interval} frames"))
        self._told_cost = cheaper

    def _fit(self, track, frame: TrackFrame, problems, keyframe=False) -> Optional[Solution]:
        """Pose and expression from the landmarks, the rest from the last keyframe: one
        linearised solve (core.fast_update) about the track's state when that holds, else a
        full fit (which the next frames then linearise about). keyframe: this frame's
        keyframe went to the background worker (the schedule has recorded it).

        The linear state's J and A are those of the full fit it was prepared from: once it
        has served keyframe.interval frames, the next frame fits in full again (from the
        last solution, a step or two) and the state is prepared there. With J from a pose
        far away, the chord steps settle beside the fit's optimum (J^T r = prior holds for
        the old J, not the current one), and the next keyframe's full fit would jump; the
        interval stretched for the ResNet's sake (tracking.keyframes) does not stretch
        the linearisation's age."""
        box = crop_box_from_square(frame.box).astype(np.float64)
        landmarks = frame.detection.landmarks
        state = track.linear
        record = (lambda rms: None) if keyframe else \
            (lambda rms: track.keyframe_recorded(False, rms))
        if state is not None and self.fast_update is not None and \
                state.frames < self.config.keyframe_interval:
            try:
                quick = self.fast_update.update(state, landmarks, box)
            except ValueError:
                quick = None
            if quick is not None and self.fast_update.acceptable(state, quick):
                self.fast_update.advance(state, quick)
                record(quick.rms_px)
                return Solution(quick.coeffs, box, MODE_LANDMARK_FIT, quick.rms_px,
                                keyframe=track.pop_new_keyframe())
        res = None
        for init, init_box in track.fit_starts():
            try:
                res = self.fitter.fit(landmarks, box, init, prior_exp=track.key_exp,
                                      init_box=init_box)
                break
            except ValueError as exc:  # e.g. the start puts landmarks behind the crop camera
                error = exc
        if res is None:
            problems.append(f"face {track.face_id}: landmark fit failed ({error}); face skipped")
            track.keyframes.request()
            return None
        # a diverged fit (the start returned) asks for a keyframe; an unconverged one counts
        record(None if res.status == "diverged" else res.rms_px)
        if res.status != "diverged" and self.fast_update is not None:
            try:
                track.linear = self.fast_update.prepare(res.coeffs, box, track.key_exp,
                                                        res.rms_px, fit=res.linearisation)
            except ValueError:
                track.linear = None
        return Solution(res.coeffs, box, MODE_LANDMARK_FIT, res.rms_px,
                        keyframe=track.pop_new_keyframe())

    def _landmark_solution(self, track, frame: TrackFrame, problems) -> Optional[Solution]:
        """Landmark-only: the pose as a coefficient vector (angles; position in metres in the
        translation block, zeroed again before publishing; the eyes), smoothed like one."""
        try:
            hp = estimate_head_pose(frame.detection.landmarks, frame.intrinsics, eyes=frame.eyes)
        except ValueError as exc:
            problems.append(f"face {track.face_id}: no landmark head pose ({exc})")
            return None
        lay = self.layout
        coeffs = np.zeros(lay.total, np.float32)
        # model axes expressed in the optical frame; the angles assume the crop camera is
        # the real camera (no off-axis correction in this mode).
        coeffs[lay.angles] = matrix_to_euler(hp.rotation @ FACE_AXES_IN_MODEL.T)
        # the metric scale from depth (this frame's, else the person's kept one) before the
        # translation is smoothed (tracking.face_depth)
        size = None if frame.depth is None else frame.rgb.shape[1::-1][-2:]
        fusion = track.depth.fuse(frame.depth, size, frame.detection.landmarks, hp)
        coeffs[lay.trans] = hp.position * fusion.factor
        coeffs[lay.eyes] = frame.eyes
        return Solution(coeffs, None, MODE_LANDMARK_ONLY, hp.rms_px, depth=fusion)


def _crop_each(frames):
    """Regressor crops and their boxes of TrackFrames (one face each, possibly of
    different images: an ended track's last frames)."""
    crops, boxes = zip(*(crop_face(f.rgb, f.box) for f in frames))
    return np.stack(crops), np.stack(boxes)


def _lap(timings, name, start):
    now = time.perf_counter()
    timings[name] = timings.get(name, 0.0) + (now - start) * 1000.0
    return now

