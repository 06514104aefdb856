"""Face detection and the 478-landmark mesh with MediaPipe 0.10.21.

Two backends give the same landmarks (478 refined landmarks: 468 mesh points
plus 10 iris points):

- ``"tasks"``: the Tasks API ``FaceLandmarker`` from a ``face_landmarker.task``
  bundle, with its blendshape network on (52 ARKit-compatible weights per
  face, :mod:`faceverse_ros.landmarks.blendshapes`). ``mode="video"`` uses the
  VIDEO running mode (needs strictly increasing timestamps, see below),
  ``mode="image"`` the IMAGE mode.
- ``"legacy"``: ``mediapipe.solutions.face_mesh`` with
  ``refine_landmarks=True``. Its models ship inside the mediapipe wheel, so it
  works offline with no extra file, but it has no blendshapes. In
  ``mode="video"`` it tracks the face from frame to frame (re-running the face
  detector only when tracking is lost); in ``mode="image"`` every call is
  independent (static image mode).
- ``"auto"`` (what the node and the command line use): ``"tasks"`` when a
  ``face_landmarker.task`` is found (:func:`find_task_file`: the given
  ``task_path``, else ``face_landmarker.task`` in ``$FACEVERSE_DATA``,
  ``./data``, the ROS share ``data`` folder), else
  ``"legacy"``; ``FaceDetector.choice`` says which and why, for one log line.

Coordinates: landmarks are returned in image pixels, ``x = x_norm * width``,
``y = y_norm * height`` and ``z = z_norm * width`` (MediaPipe scales z like
x; smaller z is nearer the camera, the origin is near the head's centre).

Confidence (``Detection.confidence``):

- legacy: the Face Mesh solution exposes no per-face score. A face is only
  reported after its detector score passed ``min_detection_confidence`` (or,
  while tracking, the mesh's face-presence score passed
  ``min_tracking_confidence``), so every reported face gets ``1.0``.
- tasks: MediaPipe 0.10.21 fills the landmarks' ``presence``/``visibility``
  fields with 0 for the face mesh and exposes no face score either. If a
  future version fills ``presence``, its mean over the landmarks is used;
  otherwise the face gets ``1.0`` on the same reasoning as above.

Timestamps: the caller passes the image stamp in seconds (e.g. the ROS header
stamp); the wall clock is never read. The Tasks VIDEO mode needs strictly
increasing integer millisecond timestamps: the detector converts
``round(stamp_s * 1000)`` and adds a running offset so that a stamp that does
not increase (a repeated stamp, a sub-millisecond step, a bag that loops back
in time) is moved to 1 ms after the previous one; later stamps keep their
spacing relative to it. The legacy backend needs no timestamps.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np

from faceverse_ros.landmarks.boxes import landmark_box, square_box
from faceverse_ros.landmarks.blendshapes import from_categories
from faceverse_ros.landmarks.eyes import check_with_blendshapes, eye_gaze, NUM_LANDMARKS

TASK_FILENAME = "face_landmarker.task"
TASK_URL = ("https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/"
            "float16/latest/face_landmarker.task")


class DetectorError(RuntimeError):
    """The detector backend could not be created or failed on a frame."""


@dataclass
class Detection:
    """One face found in an image.

    landmarks: (478, 3) float64, pixels (x right, y down, z scaled like x).
    box: (4,) float64 squared box (x0, y0, x1, y1) in pixels, spec 5
        (``square_box(landmark_box(landmarks))``); may extend past the image.
    confidence: float in [0, 1] (see the module docstring for its meaning).
    eyes: (4,) float64 eye angles in radians from the eyeball model
        (landmarks.eyes.eye_gaze): [left vertical, left horizontal, right
        vertical, right horizontal], FaceVerse's eye rotation convention.
    gaze_confidence: in [0, 1], how far the eyes carry the gaze (0: both eyes
        closed or hidden, the gaze is the head direction).
    blendshapes: (52,) float32 weights in [0, 1] in BLENDSHAPE_NAMES order
        (tasks backend), or None (legacy backend: not estimated).
    """
    landmarks: np.ndarray
    box: np.ndarray
    confidence: float
    eyes: np.ndarray
    blendshapes: Optional[np.ndarray] = None
    gaze_confidence: float = 1.0


def find_task_file(task_path: Optional[Union[str, Path]] = None) -> Optional[Path]:
    """The ``face_landmarker.task`` bundle to use, or None when there is none.

    task_path: a file or a folder holding ``face_landmarker.task``; given and
    missing -> FileNotFoundError (a path the user typed must not be ignored).
    Without it: the first ``face_landmarker.task`` in
    :func:`faceverse_ros.paths.data_dirs` (``$FACEVERSE_DATA``, ``./data``,
    the ROS share ``data`` folder).
    """
    from faceverse_ros.paths import data_dirs

    if task_path:
        path = Path(task_path).expanduser()
        if path.is_dir():
            path = path / TASK_FILENAME
        if not path.is_file():
            raise FileNotFoundError(
                f"FaceLandmarker model not found: {path} (expected the MediaPipe "
                f"{TASK_FILENAME} bundle; download it from {TASK_URL})")
        return path
    for folder in data_dirs():
        path = Path(folder) / TASK_FILENAME
        if path.is_file():
            return path
    return None


def validate_image(image_rgb: np.ndarray):
    """Check an RGB frame: numpy uint8 array (H, W, 3) with H, W > 0.

    Returns a C-contiguous view/copy. Raises ValueError naming the problem.
    """
    if not isinstance(image_rgb, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image_rgb).__name__}")
    if image_rgb.dtype != np.uint8:
        raise ValueError(f"image must be uint8 RGB, got dtype {image_rgb.dtype}")
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3) (RGB), got {image_rgb.shape}")
    if image_rgb.shape[0] == 0 or image_rgb.shape[1] == 0:
        raise ValueError(f"image is empty: shape {image_rgb.shape}")
    return np.ascontiguousarray(image_rgb)


def _validate_stamp(stamp_s):
    try:
        stamp = float(stamp_s)
    except (TypeError, ValueError):
        raise ValueError(f"stamp_s must be a number of seconds, got {stamp_s!r}") from None
    if not np.isfinite(stamp):
        raise ValueError(f"stamp_s must be finite, got {stamp}")
    return stamp


def make_detection(landmarks_px: np.ndarray, confidence: float):
    """Build a Detection (squared box, eye angles and gaze confidence) from (478, 3) pixel landmarks."""
    lm = np.asarray(landmarks_px, dtype=np.float64)
    eyes, gaze_confidence = eye_gaze(lm)
    return Detection(landmarks=lm, box=square_box(landmark_box(lm)),
                     confidence=float(confidence), eyes=eyes, gaze_confidence=gaze_confidence)


class FaceDetector:
    """MediaPipe face mesh detector returning :class:`Detection` objects.

    Parameters
    ----------
    backend: "legacy" (Face Mesh solution, default), "tasks" (FaceLandmarker)
        or "auto" (tasks when :func:`find_task_file` finds a bundle, else
        legacy; ``self.backend`` then holds the one chosen and
        ``self.choice`` a sentence saying why).
    max_faces: the most faces reported per image (>= 1).
    task_path: path of the ``face_landmarker.task`` bundle (or its folder);
        required for backend="tasks" (where "auto" searches the data folders),
        ignored for "legacy".
    mode: "video" (frames of one stream, tracking between frames) or "image"
        (independent stills).
    min_detection_confidence: detector score threshold in [0, 1].
    min_tracking_confidence: threshold in [0, 1] for keeping a tracked face
        (video mode) before the detector is run again.
    blendshapes: run the Face Landmarker's blendshape network (tasks backend;
        one small network per face, see bench/bench_face_mesh.py).
    names: how messages name the settings (tracking.config.PipelineConfig.names):
        "detector" and "task_path" as the user typed them (e.g. "--task").
    """

    BACKENDS = ("legacy", "tasks", "auto")
    MODES = ("video", "image")

    def __init__(self, backend="legacy", max_faces=1, task_path: Optional[Union[str, Path]] = None,
                 mode="video", min_detection_confidence=0.5, min_tracking_confidence=0.5,
                 blendshapes: bool = True, names=None):
        names = names or {}
        detector_name, task_name = names.get("detector", "detector"), names.get("task_path",
                                                                                "task_path")
        if backend not in self.BACKENDS:
            raise ValueError(f"backend must be one of {self.BACKENDS}, got {backend!r}")
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        if int(max_faces) != max_faces or max_faces < 1:
            raise ValueError(f"max_faces must be an integer >= 1, got {max_faces!r}")
        for name, value in (("min_detection_confidence", min_detection_confidence),
                            ("min_tracking_confidence", min_tracking_confidence)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        self.choice = f"MediaPipe {backend} detector (asked for)"
        if backend == "tasks" and not task_path:  # like auto, from the data folders
            task_path = find_task_file(None)
            if task_path is None:
                raise ValueError(
                    f"{detector_name} tasks needs MediaPipe's {TASK_FILENAME}: name it with "
                    f"{task_name} or put it in data/ (download: {TASK_URL})")
        if backend == "auto":
            found = find_task_file(task_path)
            if found is not None:
                backend, task_path = "tasks", found
                self.choice = (f"MediaPipe Face Landmarker (Tasks API) from {found}, "
                               "with 52 blendshapes")
            else:
                backend = "legacy"
                self.choice = (f"MediaPipe legacy Face Mesh: no {TASK_FILENAME} found (name it "
                               f"with {task_name}, or put it in data/), so no blendshapes")
        self.backend = backend
        self.blendshapes = bool(blendshapes) and backend == "tasks"
        # the first reason blendshapes were dropped (the caller logs it once), or ""
        self.blendshape_problem = ""
        self.mode = mode
        self.max_faces = int(max_faces)
        self.min_detection_confidence = float(min_detection_confidence)
        self.min_tracking_confidence = float(min_tracking_confidence)
        self.task_path = None
        self._last_ms = None
        self._offset_ms = 0
        self._impl = None
        if backend == "tasks":
            self.task_path = str(find_task_file(task_path))
        self._impl = self._create()

    # -- backend creation -------------------------------------------------
    def _create(self):
        import mediapipe as mp
        if self.backend == "legacy":
            return mp.solutions.face_mesh.FaceMesh(
                static_image_mode=(self.mode == "image"),
                max_num_faces=self.max_faces,
                refine_landmarks=True,
                min_detection_confidence=self.min_detection_confidence,
                min_tracking_confidence=self.min_tracking_confidence)
        from mediapipe.tasks.python import BaseOptions, vision
        running = vision.RunningMode.VIDEO if self.mode == "video" else vision.RunningMode.IMAGE
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=self.task_path),
            running_mode=running,
            num_faces=self.max_faces,
            min_face_detection_confidence=self.min_detection_confidence,
            min_face_presence_confidence=self.min_detection_confidence,
            min_tracking_confidence=self.min_tracking_confidence,
            output_face_blendshapes=self.blendshapes,
            output_facial_transformation_matrixes=False)
        try:
            return vision.FaceLandmarker.create_from_options(options)
        except Exception as exc:  # mediapipe raises RuntimeError/ValueError variants
            raise DetectorError(f"could not load FaceLandmarker from {self.task_path}: {exc}") from exc

    # -- timestamps -------------------------------------------------------
    def _timestamp_ms(self, stamp_s):
        """Strictly increasing integer ms for the Tasks VIDEO mode (see module doc)."""
        ms = int(round(stamp_s * 1000.0)) + self._offset_ms
        if self._last_ms is not None and ms <= self._last_ms:
            self._offset_ms += self._last_ms + 1 - ms
            ms = self._last_ms + 1
        self._last_ms = ms
        return ms

    # -- detection --------------------------------------------------------
    def detect(self, image_rgb: np.ndarray, stamp_s: float = 0.0) -> List[Detection]:
        """Find faces in one RGB frame.

        image_rgb: numpy uint8 (H, W, 3), RGB order.
        stamp_s: the image's stamp in seconds (only the Tasks VIDEO mode uses it).
        Returns a list of at most ``max_faces`` Detection objects (empty when
        no face is found), in the backend's order.
        """
        if self._impl is None:
            raise DetectorError("detector is closed")
        image = validate_image(image_rgb)
        stamp = _validate_stamp(stamp_s)
        h, w = image.shape[:2]
        # (landmark array (478, 3) normalised, confidence, blendshapes or None)
        faces: List[Tuple[np.ndarray, float, Optional[np.ndarray]]] = []
        if self.backend == "legacy":
            result = self._impl.process(image)
            for face in result.multi_face_landmarks or []:
                arr = np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float64)
                faces.append((arr, 1.0, None))
        else:
            import mediapipe as mp
            mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=image)
            if self.mode == "video":
                result = self._impl.detect_for_video(mp_image, self._timestamp_ms(stamp))
            else:
                result = self._impl.detect(mp_image)
            shapes = result.face_blendshapes if self.blendshapes else None
            for k, face in enumerate(result.face_landmarks or []):
                arr = np.array([(p.x, p.y, p.z) for p in face], dtype=np.float64)
                presence = [p.presence for p in face if p.presence is not None]
                conf = float(np.mean(presence)) if presence and max(presence) > 0 else 1.0
                weights = None
                if shapes and k < len(shapes):
                    try:
                        weights = np.clip(from_categories(shapes[k]), 0.0, 1.0)
                    except ValueError as exc:  # another model: not published under ARKit names
                        weights = None
                        self.blendshape_problem = self.blendshape_problem or str(exc)
                faces.append((arr, conf, weights))
        detections = []
        for arr, conf, weights in faces[: self.max_faces]:
            if arr.shape != (NUM_LANDMARKS, 3) or not np.all(np.isfinite(arr)):
                continue  # a face without the refined iris points cannot give eye values
            px = arr * np.array([w, h, w], dtype=np.float64)
            det = make_detection(px, conf)
            det.blendshapes = weights
            det.gaze_confidence = check_with_blendshapes(det.eyes, det.gaze_confidence, weights)
            detections.append(det)
        return detections

    def reset(self) -> None:
        """Forget tracking state (e.g. when the stream jumps); keeps the settings."""
        self._close_impl()
        self._last_ms = None
        self._offset_ms = 0
        self._impl = self._create()

    def _close_impl(self):
        if self._impl is not None:
            try:
                self._impl.close()
            finally:
                self._impl = None

    def close(self) -> None:
        """Release MediaPipe resources. Safe to call twice."""
        self._close_impl()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self._close_impl()
        except Exception:
            pass
