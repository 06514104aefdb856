"""The pipeline: one RGB frame and its stamp in, tracked faces out (no ROS).

Order per frame (each stage is one module):

    detector.FaceDetector      478 landmarks, squared box, eye values per face
    tracker.IdTracker          stable face ids (birth / removal)
    smoothing.FaceSmoother     box (stage 1)
    crop.crop_faces            256x256 crops from the smoothed boxes
    regressor.Regressor        621 coefficients (batched over faces), on keyframes
    fitting.LandmarkFitter     pose + expression from landmarks between keyframes
    smoothing.FaceSmoother     coefficients (stage 2; eyes measured from the iris)
    headpose.head_pose         metric head and gaze pose in the optical frame
    model.FaceVerseModel       mesh (only when an output needs it)
    render                     debug overlay (only when asked)

Without the FaceVerse files (landmark-only mode) the regressor, fitting and
mesh stages are skipped; head pose and gaze come from
landmark_pose.estimate_head_pose, and the coefficient vector holds only the
rotation (converted from that pose, relative to the camera axes) and the eyes.

With smoother kind "original" the values come out two frames late, as in
FaceVerse V4: FrameResult.faces then describe the frame of FaceResult.stamp.
"""
import dataclasses
import time
from collections import OrderedDict
from typing import Dict, List, Optional

import cv2
import numpy as np

from faceverse_ros.core.assets import AssetError
from faceverse_ros.core.crop import crop_box_from_square, crop_faces
from faceverse_ros.tracking.detector import FaceDetector
from faceverse_ros.core.headpose import R_MODEL_FACE, CameraIntrinsics, head_pose
from faceverse_ros.core.landmark_pose import estimate_head_pose
from faceverse_ros.tracking.smoothing import EYES_SLICE, FaceSmoother, matrix_to_euler

MODE_REGRESSOR, MODE_LANDMARK_FIT, MODE_LANDMARK_ONLY = 0, 1, 2
NUM_COEFFS = 621
ANGLES = slice(611, 614)
EYES = slice(*EYES_SLICE)


@dataclasses.dataclass
class PipelineConfig:
    """Everything the pipeline needs; the node and the command line fill it."""
    model_path: Optional[str] = None        # None: look in data/, landmark-only if absent
    checkpoint_path: Optional[str] = None
    engine: str = "torch"                   # torch | onnx
    onnx_path: Optional[str] = None         # an exported .onnx for engine onnx
    device: str = "cpu"
    threads: int = 0                        # 0: all cores
    ort_spinning: bool = False              # ONNX Runtime busy-waits between ops: off, so the
                                            # detection thread gets the core (2-core robots)
    detector: str = "legacy"                # legacy | tasks
    task_path: Optional[str] = None
    max_faces: int = 1
    min_detection_confidence: float = 0.5
    birth_frames: int = 1
    max_missed: int = 5
    smoothing: dict = dataclasses.field(default_factory=lambda: {"kind": "one_euro"})
    keyframe_interval: int = 1
    keyframe_drift_px: float = 0.0
    stream: bool = True                     # frames of one stream (tracking) vs unrelated stills
    landmark_only: bool = False             # True: do not load the FaceVerse files at all


@dataclasses.dataclass
class FacePose:
    """Head and gaze pose of one face in the optical frame (metres)."""
    position: np.ndarray        # (3,) sellion
    rotation: np.ndarray        # (3, 3) REP-155 face axes as columns
    quaternion: np.ndarray      # (4,) x, y, z, w
    gaze_direction: np.ndarray  # (3,) unit
    gaze_quaternion: np.ndarray  # (4,) gaze frame: z along the gaze, x right, y down
    # model vertices v (unposed, model units) -> optical frame: model_rotation @ (0.1 v) + t
    model_rotation: Optional[np.ndarray] = None
    model_translation: Optional[np.ndarray] = None


@dataclasses.dataclass
class FaceResult:
    face_id: int
    stamp: float                # seconds: the frame these values describe
    confidence: float
    box: np.ndarray             # (4,) smoothed squared box, image pixels
    landmarks: np.ndarray       # (478, 3) pixels of that frame
    eyes: np.ndarray            # (4,) spec-6 eye values (radians)
    coeffs: np.ndarray          # (621,) float32
    mode: int                   # MODE_* (same values as FaceVerseParams.MODE_*)
    pose: FacePose
    crop_box: Optional[np.ndarray] = None     # (4,) true crop box, image pixels
    fit_rms_px: Optional[float] = None        # landmark fit residual (MODE_LANDMARK_FIT)
    image_vertices: Optional[np.ndarray] = None  # (N, 3) u, v (image px), depth (need_mesh)
    colors: Optional[np.ndarray] = None          # (N, 3) lit albedo in [0, 1] (need_mesh)
    normals: Optional[np.ndarray] = None         # (N, 3) rotated normals (need_mesh)
    vertices: Optional[np.ndarray] = None        # (N, 3) unposed, model units (need_mesh)
    vertices_m: Optional[np.ndarray] = None      # (N, 3) metres, optical frame (need_mesh)


@dataclasses.dataclass
class StagedFrame:
    """What detect_stage() hands to face_stage()."""
    stamp: float
    image_size: tuple
    intrinsics: CameraIntrinsics
    faces: list                 # (face_id, Detection, BoxSample, rgb of the sample's frame)
    ended: list                 # ids the tracker ended in this frame
    timings: Dict[str, float]


@dataclasses.dataclass
class FrameResult:
    stamp: float
    image_size: tuple           # (width, height)
    intrinsics: CameraIntrinsics
    faces: List[FaceResult]
    timings: Dict[str, float]   # milliseconds per stage
    problems: List[str]         # faces dropped this frame and why (e.g. NaN outputs)


class FacePipeline:
    """detector -> tracker -> smoother -> crop -> regressor/fitting -> smoother -> pose -> mesh."""

    def __init__(self, config: PipelineConfig = None, log=print):
        self.config = config = config or PipelineConfig()
        self.log = log
        self.detector = FaceDetector(
            backend=config.detector, max_faces=config.max_faces, task_path=config.task_path,
            mode="video" if config.stream else "image",
            min_detection_confidence=config.min_detection_confidence)
        from faceverse_ros.tracking.tracker import IdTracker

        self.ids = IdTracker(min_hits=config.birth_frames, max_missed=config.max_missed)
        self.smoother = FaceSmoother(**config.smoothing)
        self.model = self.regressor = self.fitter = self.keyframes = None
        self.landmark_only_reason = ""
        self._load_faceverse(config)
        self._frames = OrderedDict()   # stamp -> rgb, for the original smoother's delayed crops
        self._last_coeffs: Dict[int, np.ndarray] = {}   # raw (unsmoothed) coefficients per face
        self._last_box: Dict[int, np.ndarray] = {}      # their crop box
        self._key_exp: Dict[int, np.ndarray] = {}       # expression of the face's last keyframe
        self._decimators = {}

    # -- set-up ---------------------------------------------------------------------------------
    def _load_faceverse(self, config):
        from faceverse_ros.core.assets import find_checkpoint_file, find_model_file
        from faceverse_ros.core.model import FaceVerseModel
        from faceverse_ros.core.regressor import Regressor

        if config.landmark_only:
            self.landmark_only_reason = "landmark-only mode was asked for."
            return
        explicit = bool(config.model_path or config.checkpoint_path or config.onnx_path)
        try:
            model_file = find_model_file(config.model_path)
            weights = config.onnx_path if config.engine == "onnx" and config.onnx_path else \
                find_checkpoint_file(config.checkpoint_path)
        except AssetError as exc:
            if explicit:
                raise
            self.landmark_only_reason = f"FaceVerse files not found: {exc}"
            return
        self.model = FaceVerseModel.from_file(model_file)
        self.regressor = Regressor(weights, engine=config.engine, device=config.device,
                                   threads=config.threads or None,
                                   head_sizes=self.model.sizes.head_sizes,
                                   ort_spinning=config.ort_spinning)
        if config.keyframe_interval > 1 or config.keyframe_drift_px > 0:
            from faceverse_ros.core.fitting import LandmarkFitter
            from faceverse_ros.tracking.keyframes import KeyframeScheduler

            self.fitter = LandmarkFitter(self.model)
            self.keyframes = KeyframeScheduler(interval=config.keyframe_interval,
                                               drift_px=config.keyframe_drift_px)
        if self.model.synthetic:
            self.log("FaceVerse files are SYNTHETIC test assets: outputs exercise the code paths "
                     "and are not face reconstructions")

    @property
    def landmark_only(self):
        return self.model is None

    def set_smoothing(self, kind=None, part=None, **params):
        """Run-time change of the smoother (see FaceSmoother.set_params)."""
        self.smoother.set_params(kind=kind, part=part, **params)

    def close(self):
        self.detector.close()

    # -- per frame ------------------------------------------------------------------------------
    def process(self, rgb, stamp, intrinsics=None, need_mesh=False) -> FrameResult:
        """Track the faces of one uint8 RGB frame (H, W, 3) with its stamp in seconds.

        intrinsics: (fx, fy, cx, cy) pixels or a CameraIntrinsics; None = the
        documented default (fx = fy = width, centred principal point).
        need_mesh: also reconstruct mesh, colours and image-space vertices.
        """
        return self.face_stage(self.detect_stage(rgb, stamp, intrinsics), need_mesh)

    def detect_stage(self, rgb, stamp, intrinsics=None) -> "StagedFrame":
        """First half of process(): detection, ids and box smoothing.

        It touches only the detector, the id tracker and the box smoothers, so
        a pipelined runner may call it for frame t+1 while face_stage() works
        on frame t (the stages hand over a StagedFrame).
        """
        timings = {}
        t = time.perf_counter()
        height, width = rgb.shape[:2]
        if intrinsics is None:
            cam = CameraIntrinsics.default(width, height)
        elif isinstance(intrinsics, CameraIntrinsics):
            cam = intrinsics
        else:
            cam = CameraIntrinsics(*(float(v) for v in intrinsics))
        detections = self.detector.detect(rgb, stamp)
        t = _lap(timings, "detect", t)
        track = self.ids.update([d.box for d in detections], stamp)
        self._remember_frame(stamp, rgb)
        faces = []
        for face_id, det in zip(track.ids, detections):
            if face_id is None:  # not born yet
                continue
            sample = self.smoother.smooth_box(face_id, stamp, det.box, det.eyes)
            if sample is not None:  # "original" returns the previous frame's box: crop that frame
                faces.append((face_id, det, sample, self._frames.get(sample.stamp, rgb)))
        _lap(timings, "track", t)
        return StagedFrame(stamp, (width, height), cam, faces, list(track.ended), timings)

    def face_stage(self, staged: "StagedFrame", need_mesh=False) -> FrameResult:
        """Second half of process(): coefficients, smoothing, pose and mesh."""
        timings, problems = dict(staged.timings), []
        for face_id in staged.ended:
            self.smoother.end(face_id)
            for memory in (self._last_coeffs, self._last_box, self._key_exp):
                memory.pop(face_id, None)
            if self.keyframes is not None:
                self.keyframes.end(face_id)
        if self.landmark_only:
            t = time.perf_counter()
            faces = [self._landmark_only_face(face_id, det, sample, staged.intrinsics, problems)
                     for face_id, det, sample, _ in staged.faces]
            _lap(timings, "pose", t)
        else:
            faces = self._faceverse_faces(staged.faces, staged.intrinsics, timings, problems,
                                          need_mesh)
        return FrameResult(staged.stamp, staged.image_size, staged.intrinsics,
                           [f for f in faces if f is not None], timings, problems)

    def _remember_frame(self, stamp, rgb):
        self._frames[stamp] = rgb
        while len(self._frames) > 4:
            self._frames.popitem(last=False)

    def _landmark_only_face(self, face_id, det, sample, cam, problems):
        try:
            hp = estimate_head_pose(det.landmarks, (cam.fx, cam.fy, cam.cx, cam.cy), eyes=det.eyes)
        except ValueError as exc:
            problems.append(f"face {face_id}: no landmark head pose ({exc})")
            return None
        coeffs = np.zeros(NUM_COEFFS, np.float32)
        # model axes expressed in the optical frame; the angles assume the crop camera is
        # the real camera (no off-axis correction in this mode).
        coeffs[ANGLES] = matrix_to_euler(hp.rotation @ R_MODEL_FACE.T)
        coeffs[EYES] = det.eyes
        pose = FacePose(hp.position, hp.rotation, hp.quaternion, hp.gaze_direction,
                        hp.gaze_quaternion)
        return FaceResult(face_id, sample.stamp, det.confidence, sample.box, det.landmarks,
                          det.eyes.copy(), coeffs, MODE_LANDMARK_ONLY, pose)

    def _faceverse_faces(self, staged, cam, timings, problems, need_mesh):
        t = time.perf_counter()
        if not staged:
            return []
        regress, fit = [], []
        for item in staged:  # (face_id, detection, box sample, frame of the sample)
            face_id = item[0]
            wants = self.keyframes is None or face_id not in self._last_coeffs or \
                self.keyframes.should_regress(face_id)
            (regress if wants else fit).append(item)
        results = {}
        if regress:
            crops, boxes = [], []
            for face_id, det, sample, frame in regress:
                c, b = crop_faces(frame, sample.box[None])
                crops.append(c[0])
                boxes.append(b[0])
            t = _lap(timings, "crop", t)
            coeffs = self.regressor.predict(np.stack(crops))
            t = _lap(timings, "regress", t)
            exp = self.model.slices["exp"]
            for (face_id, det, sample, _), c, box in zip(regress, coeffs, boxes):
                results[face_id] = (c, box, MODE_REGRESSOR, None)
                if self.keyframes is not None:
                    self.keyframes.record(face_id, True)
                    self._key_exp[face_id] = np.array(c[exp], dtype=np.float32)
        for face_id, det, sample, _ in fit:
            # pose and expression from the landmarks, the rest from the last keyframe
            box = crop_box_from_square(sample.box).astype(np.float64)
            try:
                res = self.fitter.fit(det.landmarks, box, self._last_coeffs[face_id],
                                      prior_exp=self._key_exp.get(face_id),
                                      init_box=self._last_box.get(face_id))
            except ValueError as exc:
                problems.append(f"face {face_id}: landmark fit failed ({exc}); face skipped")
                self.keyframes.request(face_id)
                continue
            # a diverged fit (the start returned) asks for a keyframe; an unconverged one counts
            self.keyframes.record(face_id, False, None if res.status == "diverged" else res.rms_px)
            results[face_id] = (res.coeffs, box, MODE_LANDMARK_FIT, res.rms_px)
        if fit:
            t = _lap(timings, "fit", t)

        faces = []
        for face_id, det, sample, _ in staged:
            if face_id not in results:
                continue
            coeffs, crop_box, mode, rms = results[face_id]
            coeffs = np.array(coeffs, dtype=np.float32)
            if not np.all(np.isfinite(coeffs)):
                problems.append(f"face {face_id}: the regressor returned NaN/inf; face skipped")
                if self.keyframes is not None:
                    self.keyframes.end(face_id)  # start again from a keyframe
                self._last_coeffs.pop(face_id, None)
                continue
            self._last_coeffs[face_id] = coeffs.copy()
            self._last_box[face_id] = np.asarray(crop_box, dtype=np.float64)
            coeffs[EYES] = det.eyes  # the iris measurement replaces the network's eyes (spec 6)
            smoothed = self.smoother.smooth_coeffs(face_id, sample.stamp, coeffs)
            if smoothed is None:
                continue
            faces.append((face_id, det, sample, smoothed, crop_box, mode, rms))
        t = _lap(timings, "smooth", t)
        if not faces:
            return []
        all_coeffs = np.stack([f[3].value for f in faces]).astype(np.float32)
        boxes = np.stack([f[4] for f in faces]).astype(np.float64)
        hp = head_pose(self.model, all_coeffs, boxes, cam)
        t = _lap(timings, "pose", t)
        out = []
        for i, (face_id, det, sample, smoothed, crop_box, mode, rms) in enumerate(faces):
            pose = FacePose(hp.position[i], hp.rotation[i], hp.quaternion[i],
                            hp.gaze_direction[i], hp.gaze_quaternion[i], hp.model_rotation[i],
                            hp.model_translation[i])
            out.append(FaceResult(face_id, smoothed.stamp, det.confidence, sample.box,
                                  det.landmarks, all_coeffs[i, EYES].copy(), all_coeffs[i], mode,
                                  pose, crop_box=crop_box, fit_rms_px=rms))
        if need_mesh:
            self._add_mesh(out)
            _lap(timings, "reconstruct", t)
        return out

    def add_mesh(self, result: FrameResult):
        """Fill image_vertices, colors, normals and vertices_m of the result's FaceVerse faces
        (what process(need_mesh=True) does), e.g. later, in a thread for the debug views."""
        if self.model is not None:
            t = time.perf_counter()
            self._add_mesh([f for f in result.faces if f.mode != MODE_LANDMARK_ONLY])
            _lap(result.timings, "reconstruct", t)
        return result

    def _add_mesh(self, faces):
        if not faces:
            return
        from faceverse_ros.core.headpose import model_to_camera
        from faceverse_ros.core.model import to_image

        recon = self.model.reconstruct(np.stack([f.coeffs for f in faces]))
        for i, face in enumerate(faces):
            face.image_vertices = to_image(recon.projected[i], face.crop_box)
            face.colors = recon.colors[i]
            face.normals = recon.normals[i]
            face.vertices = recon.vertices[i]
            face.vertices_m = model_to_camera(face.vertices, face.pose.model_rotation,
                                              face.pose.model_translation)

    # -- outputs --------------------------------------------------------------------------------
    def mesh_for_markers(self, result: FrameResult, decimation: int):
        """[(face_id, vertices_m, triangles, colors)] decimated for RViz (needs need_mesh)."""
        if self.model is None:
            return []
        from faceverse_ros.views.mesh_decimate import MeshDecimator

        dec = self._decimators.get(decimation)
        if dec is None:
            dec = self._decimators[decimation] = MeshDecimator(
                self.model.meanshape_raw, self.model.tri, decimation)
        return [(f.face_id, dec(f.vertices_m), dec.triangles, dec(f.colors))
                for f in result.faces if f.vertices_m is not None]

    def draw_debug(self, rgb, result: FrameResult, render=True, fps=None):
        """The input frame with the rendered faces, boxes, landmarks, head axes, ids and fps."""
        out = np.ascontiguousarray(rgb).copy()
        meshes = [f for f in result.faces if f.image_vertices is not None] if render else []
        if meshes:
            from faceverse_ros.views import render as sim3dr

            tri = self.model.tri
            n = self.model.n_vertices
            verts = np.concatenate([f.image_vertices for f in meshes])
            cols = np.concatenate([f.colors for f in meshes])
            norms = np.concatenate([f.normals for f in meshes])
            if np.nanmean(norms[:, 2]) > 0:  # face the light whatever the model's triangle winding
                norms = -norms
            tris = np.concatenate([tri + k * n for k in range(len(meshes))])
            drawn, depth = sim3dr.render(out.shape[:2], verts, tris, cols, normals=norms)
            out = sim3dr.overlay(out, drawn, depth, alpha=0.8)
        cam = result.intrinsics
        for face in result.faces:
            x0, y0, x1, y1 = (int(round(v)) for v in face.box)
            cv2.rectangle(out, (x0, y0), (x1, y1), (0, 255, 0), 2)
            pts = np.round(face.landmarks[:, :2]).astype(np.int64)
            ok = (pts[:, 0] >= 0) & (pts[:, 0] < out.shape[1]) & (pts[:, 1] >= 0) & \
                (pts[:, 1] < out.shape[0])
            out[pts[ok, 1], pts[ok, 0]] = (255, 255, 0)
            _draw_axes(out, face.pose, cam)
            label = f"id {face.face_id}" + (" landmark-only" if face.mode == MODE_LANDMARK_ONLY else "")
            cv2.putText(out, label, (x0, max(y0 - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (0, 255, 0), 1, cv2.LINE_AA)
        if fps is not None:
            cv2.putText(out, f"{fps:.1f} fps", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                        (255, 255, 255), 2, cv2.LINE_AA)
        return out


def _draw_axes(image, pose: FacePose, cam: CameraIntrinsics, length_m=0.08):
    """Face frame axes projected with the intrinsics: x red, y green, z blue (REP-103 colours)."""
    origin = np.asarray(pose.position, dtype=np.float64)
    points = [origin] + [origin + length_m * pose.rotation[:, k] for k in range(3)]
    if any(p[2] <= 1e-3 for p in points):
        return
    px = [(int(round(cam.fx * p[0] / p[2] + cam.cx)), int(round(cam.fy * p[1] / p[2] + cam.cy)))
          for p in points]
    for k, colour in enumerate(((255, 0, 0), (0, 255, 0), (0, 0, 255))):
        cv2.line(image, px[0], px[k + 1], colour, 2, cv2.LINE_AA)


def _lap(timings, name, start):
    now = time.perf_counter()
    timings[name] = timings.get(name, 0.0) + (now - start) * 1000.0
    return now


class TwoStageRunner:
    """Runs first(item) and second(first's result) in two threads: frame t+1's first stage
    overlaps frame t's second stage.

    submit() never blocks: it puts the item in a slot of one, and an item still waiting there
    when a newer one comes is dropped (counted in `dropped`): the newest frame wins. Between
    the stages is a queue of one, so at most three frames are in flight and none goes stale.
    first() may return None to stop an item (e.g. a bad image). Exceptions from either stage
    go to on_error(stage_name, exception) and the runner goes on.
    """

    def __init__(self, first, second, on_error=None, name="faceverse"):
        import queue
        import threading

        self._first, self._second = first, second
        self._on_error = on_error or (lambda stage, exc: None)
        self._slot = None
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._handover = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self.dropped = 0
        self.idle = threading.Event()
        self.idle.set()
        self._busy = 0
        self._threads = [threading.Thread(target=self._run_first, name=f"{name}_first", daemon=True),
                         threading.Thread(target=self._run_second, name=f"{name}_second",
                                          daemon=True)]
        for thread in self._threads:
            thread.start()

    @property
    def slot_free(self):
        """True when no submitted item is waiting for the first stage (submit would drop none)."""
        return self._slot is None

    def submit(self, item):
        with self._lock:
            if self._slot is not None:
                self.dropped += 1
                self._busy -= 1
            self._slot = item
            self._busy += 1
            self.idle.clear()
        self._ready.set()

    def _done(self):
        with self._lock:
            self._busy -= 1
            if self._busy == 0:
                self.idle.set()

    def _run_first(self):
        import queue

        while not self._stop.is_set():
            if not self._ready.wait(timeout=0.1):
                continue
            with self._lock:
                item, self._slot = self._slot, None
                self._ready.clear()
            if item is None:
                continue
            try:
                staged = self._first(item)
            except Exception as exc:  # noqa: BLE001 - reported, the runner goes on
                self._on_error("first", exc)
                staged = None
            if staged is None:
                self._done()
                continue
            while not self._stop.is_set():
                try:
                    self._handover.put(staged, timeout=0.1)
                    break
                except queue.Full:
                    continue

    def _run_second(self):
        import queue

        while not self._stop.is_set():
            try:
                staged = self._handover.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                self._second(staged)
            except Exception as exc:  # noqa: BLE001
                self._on_error("second", exc)
            self._done()

    def wait_idle(self, timeout=None):
        """True once every submitted item went through (or was dropped)."""
        return self.idle.wait(timeout)

    def close(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5.0)
