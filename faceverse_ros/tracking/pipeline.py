"""The pipeline: one RGB frame and its stamp in, tracked faces out (no ROS).

Order per frame (each stage is one module):

    detector.FaceDetector      478 landmarks, squared box, eye values per face
    tracker.IdTracker          stable face ids (birth / removal)
    track.FaceTrack            per face: box and eyes smoothed (stage 1)
    crop.crop_faces            256x256 crops from the smoothed boxes
    solver.CoefficientSolver   coefficients: the ResNet (core.regressor) on keyframes, in a
                               background thread (keyframe_worker) after a track's first
                               frame; between them the landmark update (core.fast_update,
                               core.fitting): pose + expression
    track.FaceTrack            coefficients smoothed (stage 2); eyes = stage-1 eyes
    headpose.head_pose         metric head and gaze pose in the optical frame
    gaze_target.gaze_targets   what each face looks at (camera, another face, nothing)
    face_depth.TrackDepth      with a registered depth image: the metric scale of the pose
                               measured at the face's landmarks (landmarks.landmark_depth), kept
                               per track
    face_mesh.face_meshes      mesh (only when asked)
    identity.Recognizer        person ids (only with identity on): descriptors of a track's
                               first frames and keyframes, in a thread of their own

The MediaPipe face mesh's triangles (landmarks.canonical_mesh: from the .task bundle or
the legacy tesselation) are loaded here for the landmark-only views
(views.face_mesh builds and renders that mesh).

Without the FaceVerse files (landmark-only mode) the regressor, fitting and
mesh stages are skipped; landmark_pose.estimate_head_pose gives the pose,
which goes through the same stage-2 smoother (rotation as the angles block,
position in the translation block) and the coefficient vector published
holds only the rotation (relative to the camera axes) and the eyes.

Every FaceResult is about one frame, the one of its ``stamp``: with smoother
kind "original" that is two frames before the frame just processed (as in
FaceVerse V4), and when a track ends its last frames come out then.
:meth:`FrameResult.groups` gives the faces per frame.
"""
import dataclasses
import time
from typing import Callable, Dict, List, Optional

import numpy as np

from faceverse_ros.core.assets import AssetError
from faceverse_ros.core.camera import CameraIntrinsics
from faceverse_ros.core.face_mesh import MeshMaker
from faceverse_ros.core.gaze_target import GazeInput, gaze_targets
from faceverse_ros.core.headpose import head_pose
from faceverse_ros.core.depth import DepthImage
from faceverse_ros.landmarks.landmark_pose import (estimate_head_pose, face_pose,
                                                   head_axes_in_model)
from faceverse_ros.core.layout import MODE_LANDMARK_FIT, MODE_LANDMARK_ONLY, MODE_REGRESSOR, V4
from faceverse_ros.core.pose import FacePose
from faceverse_ros.core.rotations import FACE_AXES_IN_MODEL, rotation_matrix
from faceverse_ros.tracking.config import PipelineConfig
from faceverse_ros.tracking.detector import FaceDetector
from faceverse_ros.tracking.face_depth import NO_DEPTH, DepthFusion
from faceverse_ros.tracking.face_smoothing import SmootherSettings
from faceverse_ros.tracking.solver import CoefficientSolver
from faceverse_ros.tracking.track import FaceTrack, TrackFrame

__all__ = ["FacePipeline", "PipelineConfig", "FaceResult", "FrameResult", "StagedFrame",
           "MODE_REGRESSOR", "MODE_LANDMARK_FIT", "MODE_LANDMARK_ONLY"]


@dataclasses.dataclass
class FaceResult:
    """One face in one frame: every value is of the frame of ``stamp``."""
    face_id: int
    stamp: float                # seconds: the frame these values describe
    confidence: float
    box: np.ndarray             # (4,) smoothed squared box, image pixels
    landmarks: np.ndarray       # (478, 3) pixels of that frame
    eyes: np.ndarray            # (4,) smoothed eye angles (radians) = coeffs' eyes block
    coeffs: np.ndarray          # (n,) float32, smoothed
    mode: int                   # MODE_* (same values as FaceVerseParams.MODE_*)
    pose: FacePose
    crop_box: Optional[np.ndarray] = None     # (4,) true crop box, image pixels
    fit_rms_px: Optional[float] = None        # landmark fit residual (MODE_LANDMARK_FIT)
    mesh: Optional[object] = None             # core.face_mesh.FaceMesh (need_mesh)
    blendshapes: Optional[np.ndarray] = None  # (52,) smoothed weights in [0, 1] (tasks detector)
    keyframe: bool = False      # identity, texture and lighting of a keyframe new in this frame
    gaze_confidence: float = 1.0              # this frame's eyes' share of the gaze (0: head only)
    gaze_target: Optional[object] = None      # core.gaze_target.CAMERA, another face_id, or None
    gaze_target_confidence: float = 0.0
    mutual_gaze: bool = False                 # gaze_target is a face that looks back
    depth: DepthFusion = NO_DEPTH   # what a depth image did to the position (face_depth)
    person_id: str = ""         # identity on: the face's person (REP-155 person id), '' unknown

    @property
    def depth_measured(self):
        return bool(self.depth.measured)

    @property
    def depth_confidence(self):
        return float(self.depth.confidence)


@dataclasses.dataclass
class StagedFrame:
    """What detect_stage() hands to face_stage()."""
    stamp: float
    image_size: tuple
    intrinsics: Optional[CameraIntrinsics]   # None: finish(), no frame
    frames: list                # (FaceTrack, TrackFrame needing coefficients)
    ended: list                 # FaceTracks the id tracker ended in this frame
    timings: Dict[str, float]
    notes: list = dataclasses.field(default_factory=list)   # (key, text) about the depth


@dataclasses.dataclass
class FrameResult:
    stamp: float                # the frame processed (faces may describe earlier frames)
    image_size: tuple           # (width, height)
    intrinsics: Optional[CameraIntrinsics]   # None: the tracks ended by finish()
    faces: List[FaceResult]
    timings: Dict[str, float]   # milliseconds per stage
    problems: List[str]         # faces dropped this frame and why (e.g. NaN outputs)
    notes: list = dataclasses.field(default_factory=list)  # (key, text): depth not used, why

    def groups(self):
        """[(stamp, [faces of that frame])] in stamp order."""
        out: Dict[float, List[FaceResult]] = {}
        for face in self.faces:
            out.setdefault(face.stamp, []).append(face)
        return sorted(out.items())


class FacePipeline:
    """detector -> ids -> face tracks (smoothing) -> crop -> regressor/fitting -> pose -> mesh."""

    def __init__(self, config: Optional[PipelineConfig] = None,
                 log: Callable[[str], None] = print):
        from faceverse_ros.tracking.tracker import IdTracker

        from faceverse_ros.runtime.threads import apply_thread_plan

        self.config = config = config or PipelineConfig()
        self.log = log
        self.log(apply_thread_plan())
        self.detector = FaceDetector(
            backend=config.detector, max_faces=config.max_faces, task_path=config.task_path,
            mode="video" if config.stream else "image",
            min_detection_confidence=config.min_detection_confidence, names=config.names)
        self.log(f"detector: {self.detector.choice}")
        self._told_blendshapes = False
        self.ids = IdTracker(min_hits=config.birth_frames, max_missed=config.max_missed)
        self.smoothing = SmootherSettings(**config.smoothing)
        self.model = None
        self.layout = V4
        self.landmark_only_reason = ""
        self.solver = self._load_faceverse(config)
        self.canonical_mesh = self._load_canonical_mesh()
        self._tracks: Dict[int, FaceTrack] = {}
        self.identity = self.gallery_file = None
        self.gallery_problem = ""
        if config.identity:
            self.identity = self._load_identity(config)
        # what makes the meshes of need_mesh frames; the owner sets it (views.mesh_builder)
        self.mesh_builder: Optional[MeshMaker] = None

    def _load_identity(self, config):
        """The recognizer (faceverse_ros.identity); IdentityUnavailable (one line) without
        dlib or its weights. A gallery file that cannot be read is said once and left as it is
        (gallery_problem): recognition runs without it and never writes over it."""
        from faceverse_ros.identity.descriptor import IdentityUnavailable, available, \
            load_descriptor
        from faceverse_ros.identity.gallery import Gallery, IdentitySettings
        from faceverse_ros.identity.recognizer import Recognizer
        from faceverse_ros.identity.store import GalleryFileError, read_gallery

        missing = available()
        if missing is not None:
            raise IdentityUnavailable(f"identity recognition was turned on, but {missing}")
        persons = []
        if config.identity_gallery_path:
            try:
                persons = read_gallery(config.identity_gallery_path)
                self.gallery_file = config.identity_gallery_path
                self.log(f"identity: {len(persons)} enrolled person(s) from "
                         f"{config.identity_gallery_path}")
            except GalleryFileError as exc:
                self.gallery_problem = f"{exc}: running without it, the file is left as it is"
                self.log(f"identity: {self.gallery_problem}")
        from faceverse_ros.identity.person_ids import id_maker

        new_id = id_maker(config.person_id_prefix, [p.id for p in persons])
        settings = IdentitySettings(threshold=config.identity_threshold,
                                    margin=config.identity_margin,
                                    memory_s=config.identity_memory_s)
        gallery = Gallery(settings, new_id)
        for person in persons:
            gallery.add_person(person)
        self.log("identity: face re-identification ON (dlib ResNet descriptors of each track's "
                 "first frames and keyframes; nothing written "
                 + (f"except enrolments to {self.gallery_file})" if self.gallery_file else ")"))
        return Recognizer(load_descriptor, gallery,
                          background=config.keyframe_background,
                          log=self.log)

    # -- set-up ---------------------------------------------------------------------------------
    def _load_faceverse(self, config):
        from faceverse_ros.core.assets import find_checkpoint_file, find_model_file
        from faceverse_ros.core.model import FaceVerseModel
        from faceverse_ros.core.regressor import Regressor
        from faceverse_ros.runtime.threads import ort_threads
        from faceverse_ros.tracking.auto_engine import choose_engine

        if config.landmark_only:
            self.landmark_only_reason = "landmark-only mode was asked for."
            return CoefficientSolver(config, layout=self.layout, log=self.log)
        explicit = bool(config.model_path or config.checkpoint_path or config.onnx_path)
        try:
            model_file = find_model_file(config.model_path)
            weights = config.onnx_path if config.engine == "onnx" and config.onnx_path else \
                find_checkpoint_file(config.checkpoint_path)
        except AssetError as exc:
            if explicit:
                raise
            self.landmark_only_reason = f"FaceVerse files not found: {exc}"
            return CoefficientSolver(config, layout=self.layout, log=self.log)
        self.model = FaceVerseModel.from_file(model_file)
        self.layout = self.model.layout
        engine, device, weights, int8 = choose_engine(config, weights,
                                                      self.model.sizes.head_sizes, self.log)
        regressor = Regressor(weights, engine=engine, device=device,
                              threads=config.threads or ort_threads(),
                              head_sizes=self.model.sizes.head_sizes,
                              ort_spinning=config.ort_spinning)
        if self.model.synthetic:
            self.log("FaceVerse files are SYNTHETIC test assets: outputs exercise the code paths "
                     "and are not face reconstructions")
        solver = CoefficientSolver(config, self.model, regressor, int8, self.layout, self.log)
        if solver.worker is not None:
            self.log("keyframes: the ResNet and its fit run in a background thread "
                     "(keyframe.background); frames between use the landmark update")
        return solver

    @property
    def regressor(self):
        return self.solver.regressor

    @property
    def fitter(self):
        return self.solver.fitter

    @property
    def fast_update(self):
        return self.solver.fast_update

    @property
    def keyframe_cost(self):
        return self.solver.keyframe_cost

    def _load_canonical_mesh(self):
        """The MediaPipe face mesh's triangles (and UVs) for landmark-only views: from the
        detector's face_landmarker.task, else rebuilt from the legacy tesselation
        (landmarks.canonical_mesh); None (said once) when neither can be read."""
        from faceverse_ros.landmarks.canonical_mesh import CanonicalMeshError, load_mesh

        try:
            mesh = load_mesh(self.detector.task_path)
        except CanonicalMeshError as exc:
            self.log(f"no MediaPipe face mesh for the views: {exc}")
            return None
        if self.model is None:
            where = "the .task bundle, with UVs" if mesh.source == "task" else \
                "the legacy tesselation, no UVs"
            self.log(f"landmark-only views: the MediaPipe face mesh, {mesh.n_triangles} "
                     f"triangles from {where}")
        return mesh

    @property
    def landmark_only(self):
        return self.model is None

    def set_smoothing(self, kind=None, part=None, **params) -> None:
        """Run-time change of the smoother from any thread (SmootherSettings.set): the face
        tracks pick it up at their next frame."""
        self.smoothing.set(kind=kind, part=part, **params)

    def close(self, finish_int8: bool = False) -> None:
        """finish_int8: wait for engine auto's int8 export if one is running (the command
        line), else stop it (tracking.auto_engine.Int8Builder)."""
        self.solver.close(finish_int8)
        if self.identity is not None:
            self.identity.close()
        self.detector.close()

    def finish(self, need_mesh: bool = False) -> FrameResult:
        """End every live track (the end of a file or stream): their pending last frames
        ("original" holds two) as one FrameResult; call it between frames, not while a
        pipelined runner is working."""
        ended, self._tracks = list(self._tracks.values()), {}
        staged = StagedFrame(float("nan"), (0, 0), None, [], ended, {})
        return self.face_stage(staged, need_mesh)

    # -- per frame ------------------------------------------------------------------------------
    def process(self, rgb: np.ndarray, stamp: float,
                intrinsics: Optional["CameraIntrinsics"] = None, need_mesh: bool = False,
                depth=None, new_scene=False) -> FrameResult:
        """Track the faces of one uint8 RGB frame (H, W, 3) with its stamp in seconds.

        intrinsics: (fx, fy, cx, cy) pixels or a CameraIntrinsics; None = the
        documented default (faceverse_ros.core.camera).
        need_mesh: also reconstruct each FaceVerse face's mesh (FaceResult.mesh).
        depth: a core.depth.DepthImage registered to this frame (same optical frame, same
        field of view, any size), or None.
        new_scene: an unrelated image (see detect_stage).
        """
        return self.face_stage(self.detect_stage(rgb, stamp, intrinsics, depth, new_scene),
                               need_mesh)

    def detect_stage(self, rgb: np.ndarray, stamp: float,
                     intrinsics: Optional["CameraIntrinsics"] = None, depth=None,
                     new_scene=False) -> StagedFrame:
        """First half of process(): detection, ids and stage-1 smoothing (box, eyes).

        new_scene: this frame has nothing to do with the ones before (an unrelated photo):
        every track ends (its filters and keyframes with it) and ids start from 0 again.

        It touches only the detector, the id tracker and the tracks' stage-1
        state, so a pipelined runner may call it for frame t+1 while
        face_stage() works on frame t (the stages hand over a StagedFrame).
        """
        timings: Dict[str, float] = {}
        notes: list = []   # (key, text) about the depth
        t = time.perf_counter()
        height, width = rgb.shape[:2]
        cam = CameraIntrinsics.coerce(intrinsics, width, height)
        depth = self._usable_depth(depth, (width, height), notes)
        detections = self.detector.detect(rgb, stamp)
        if self.detector.blendshape_problem and not self._told_blendshapes:
            self._told_blendshapes = True
            self.log(f"blendshapes not published: {self.detector.blendshape_problem}")
        t = _lap(timings, "detect", t)
        ended = []
        if new_scene:
            from faceverse_ros.tracking.tracker import IdTracker

            ended, self._tracks = list(self._tracks.values()), {}
            self.ids = IdTracker(min_hits=self.config.birth_frames,
                                 max_missed=self.config.max_missed)
        ids = self.ids.update([d.box for d in detections], stamp)
        ended += [self._tracks.pop(i) for i in ids.ended if i in self._tracks]
        frames = []
        for face_id, det in zip(ids.ids, detections):
            if face_id is None:  # not born yet
                continue
            track = self._tracks.get(face_id)
            if track is None:
                track = self._tracks[face_id] = FaceTrack(
                    face_id, self.smoothing, self.config.keyframe_interval,
                    self.config.keyframe_drift_px, self.layout,
                    self.config.keyframe_max_interval)
                # faces that appear together key-frame in turn (one frame apart), not at once
                track.keyframes.stagger(
                    (len(self._tracks) - 1) % max(1, self.config.keyframe_interval))
            frame = track.update(stamp, det, rgb, cam, depth)
            if frame is not None:
                frames.append((track, frame))
        _lap(timings, "track", t)
        return StagedFrame(float(stamp), (width, height), cam, frames, ended, timings, notes)

    @staticmethod
    def _usable_depth(depth, colour_size, notes):
        """The depth image when it can describe this frame, else None with a note: it must
        show the colour image's field of view (same aspect ratio within 1 %) and hold a
        measurement somewhere."""
        if depth is None:
            return None
        if not isinstance(depth, DepthImage):
            raise TypeError(f"depth must be a core.depth.DepthImage, got {type(depth).__name__}")
        (wc, hc), (wd, hd) = colour_size, depth.size
        if abs((wd / hd) / (wc / hc) - 1.0) > 0.01:
            notes.append(("depth_size", f"depth image {wd}x{hd} does not have the colour image's "
                          f"aspect ratio ({wc}x{hc}): not registered to it; depth ignored"))
            return None
        if not depth.has_measurement():
            notes.append(("depth_empty", "depth image holds no measurement (all zero or NaN): "
                          "depth ignored"))
            return None
        return depth

    def face_stage(self, staged: StagedFrame, need_mesh: bool = False) -> FrameResult:
        """Second half of process(): coefficients, stage-2 smoothing, pose and mesh."""
        with self.solver.busy():  # the keyframe worker's Python parts wait for it
            return self._face_stage(staged, need_mesh)

    def _face_stage(self, staged: StagedFrame, need_mesh) -> FrameResult:
        timings, problems = dict(staged.timings), []   # type: Dict[str, float], List[str]
        done = []  # (track, finished TrackFrame)
        for track in staged.ended:  # a track's last frames ("original" holds two back)
            solve = lambda frames, tr=track: self.solver.solve([(tr, f) for f in frames], timings,
                                                         problems)
            done += [(track, f) for f in track.end(solve)]
        if staged.frames:
            solutions = self.solver.solve(staged.frames, timings, problems)
            t = time.perf_counter()
            for (track, frame), solution in zip(staged.frames, solutions):
                done += [(track, f) for f in track.complete(frame, solution)]
            _lap(timings, "smooth", t)
        t = time.perf_counter()
        faces = self._results(done)
        _lap(timings, "pose", t)
        if self.identity is not None:
            self._identify(done, staged.ended, faces, staged.stamp)
        if need_mesh:
            self._add_mesh(faces, timings)
        notes = list(staged.notes) + [f.depth.note for f in faces if f.depth.note is not None]
        return FrameResult(staged.stamp, staged.image_size, staged.intrinsics, faces, timings,
                           problems, notes)

    # -- results --------------------------------------------------------------------------------
    def _results(self, done) -> List[FaceResult]:
        lay = self.layout
        out = []
        full = [(track, f) for track, f in done if f.mode != MODE_LANDMARK_ONLY]
        for track, f in done:
            if f.mode != MODE_LANDMARK_ONLY:
                continue
            angles = f.coeffs[lay.angles].astype(np.float64)
            pose = face_pose(f.coeffs[lay.trans].astype(np.float64),
                             rotation_matrix(angles) @ FACE_AXES_IN_MODEL, f.eyes, f.fit_rms_px)
            coeffs = f.coeffs.copy()
            coeffs[lay.trans] = 0.0
            out.append(self._face(track, f, coeffs, pose))
        by_camera: Dict[CameraIntrinsics, list] = {}
        for item in full:
            by_camera.setdefault(item[1].intrinsics, []).append(item)
        for cam, items in by_camera.items():
            assert self.model is not None   # faces with coefficients come from a model
            poses = head_pose(self.model, np.stack([f.coeffs for _, f in items]),
                              np.stack([f.crop_box for _, f in items]), cam,
                              face_axes=head_axes_in_model(self.model))
            for (track, f), pose in zip(items, poses):
                f.depth_fusion = self._depth_for_faceverse(track, f, pose)
                out.append(self._face(track, f, f.coeffs, pose))
        _add_gaze_targets(out)   # from the fused positions
        return sorted(out, key=lambda face: (face.stamp, face.face_id))

    def _identify(self, done, ended, faces, stamp):
        """Identity on: samples of the finished frames (the recognizer picks a track's first
        frames and keyframes), the ended tracks, the persons of the faces, the person models."""
        ident = self.identity
        for track, f in done:
            ident.offer(track.face_id, f.stamp, f.rgb, f.detection.landmarks,
                        keyframe=None if self.landmark_only else f.keyframe)
        for face in faces:
            face.person_id = ident.person_of(face.face_id)
        if not self.landmark_only:
            for track in {id(t): t for t, _ in done}.values():
                track.person_prior = self._person_model(ident.person_of(track.face_id))
        for track in ended:
            ident.end(track.face_id)
        if stamp == stamp:  # not the NaN stamp of finish()
            ident.expire(stamp)

    def _person_model(self, person_id):
        """The person's identity.person_model.PersonModel (made empty for a person without
        one: their track's keyframes fill it, identity.person_model.with_person_prior); None for no
        person."""
        from faceverse_ros.identity.person_model import PersonModel

        person = self.identity.gallery.persons.get(person_id) if person_id else None
        if person is None:
            return None
        lay = self.layout
        size = lambda name: lay.slices[name].stop - lay.slices[name].start  # noqa: E731
        if person.model is None or (person.model.shape_size, person.model.texture_size) != \
                (size("id"), size("tex")):
            person.model = PersonModel(size("id"), size("tex"))
        return person.model

    @staticmethod
    def _depth_for_faceverse(track, f: TrackFrame, pose):
        """The FaceVerse pose moved along its rays to the depth measured at the landmarks
        (this frame's, else the person's kept scale); the landmark pose is the reference of
        the measurement (tracking.face_depth)."""
        if f.depth is None and track.depth.kept_scale() is None:
            return NO_DEPTH
        try:
            ref = estimate_head_pose(f.detection.landmarks, f.intrinsics)
        except ValueError:
            return NO_DEPTH
        z = float(pose.position[2])
        if not z > 0:
            return NO_DEPTH
        size = None if f.depth is None else f.rgb.shape[1::-1][-2:]
        fusion = track.depth.fuse(f.depth, size, f.detection.landmarks, ref,
                                  to_published=float(ref.position[2]) / z)
        shift = pose.position * (fusion.factor - 1.0)
        pose.position = pose.position + shift
        if pose.model_translation is not None:  # the mesh moves with its sellion (size kept)
            pose.model_translation = pose.model_translation + shift
        return fusion

    @staticmethod
    def _face(track, f: TrackFrame, coeffs, pose) -> FaceResult:
        assert f.box is not None and f.mode is not None   # stage 1 and complete() ran
        return FaceResult(track.face_id, f.stamp, float(f.detection.confidence), f.box,
                          f.detection.landmarks, np.array(f.eyes, dtype=np.float64), coeffs,
                          f.mode, pose, crop_box=f.crop_box, fit_rms_px=f.fit_rms_px,
                          blendshapes=f.blendshapes, keyframe=f.keyframe,
                          gaze_confidence=float(getattr(f.detection, "gaze_confidence", 1.0)),
                          depth=f.depth_fusion if f.depth_fusion is not None else NO_DEPTH)

    def _add_mesh(self, faces, timings):
        # full-resolution meshes (PLY export, markers from the command line) from the mesh
        # maker the owner gave (mesh_builder: identity and albedo cached per face id), else
        # reconstructed from scratch
        from faceverse_ros.core.face_mesh import face_meshes

        full = [f for f in faces if f.mode != MODE_LANDMARK_ONLY]
        if not full or self.model is None:
            return
        t = time.perf_counter()
        args = ([f.face_id for f in full], np.stack([f.coeffs for f in full]),
                [f.crop_box for f in full], [f.pose for f in full])
        meshes = (self.mesh_builder.meshes(*args) if self.mesh_builder is not None
                  else face_meshes(self.model, *args[1:]))
        for face, mesh in zip(full, meshes):
            face.mesh = mesh
        _lap(timings, "reconstruct", t)


def _add_gaze_targets(faces: List[FaceResult]):
    """Fill each face's gaze target from the faces of the same frame (same stamp and so
    the same camera)."""
    by_stamp: Dict[float, List[FaceResult]] = {}
    for face in faces:
        by_stamp.setdefault(face.stamp, []).append(face)
    for group in by_stamp.values():
        targets = gaze_targets([GazeInput(f.face_id, f.pose.position, f.pose.gaze_direction,
                                          f.gaze_confidence) for f in group])
        for face, t in zip(group, targets):
            face.gaze_target, face.gaze_target_confidence = t.target, t.confidence
            face.mutual_gaze = t.mutual


def _lap(timings, name, start):
    now = time.perf_counter()
    timings[name] = timings.get(name, 0.0) + (now - start) * 1000.0
    return now
