"""The face descriptor: dlib's ResNet (128 values) on a chip aligned from MediaPipe landmarks.

dlib's face recognition network (``dlib_face_recognition_resnet_model_v1.dat`` from the
``face_recognition_models`` package) expects a 150x150 RGB chip aligned the way dlib's
``get_face_chip`` aligns a face from its 5-point shape predictor (the two corners of each
eye and the base of the nose). We do not run a second detector nor dlib's predictor: the
five points are read from our MediaPipe landmarks (``FIVE_POINTS``: the same anatomical
points, in the predictor's order) and handed to ``dlib.get_face_chip`` as a
``full_object_detection``, so the chip is cut and warped by dlib itself.

Two faces of the same person are usually closer than 0.6 in Euclidean distance between
descriptors (the distance dlib's documentation gives for its model); the gallery
(identity.gallery) decides with its own threshold and margin.

dlib and the weights are optional: :func:`load_descriptor` raises
:class:`IdentityUnavailable` with one line that says what to install.
"""
import importlib.util
import os
from typing import Optional, Sequence

import numpy as np

from faceverse_ros.landmarks.indices import DLIB_5_POINTS

#: MediaPipe face mesh indices of dlib's 5-point shape predictor's points, in its order:
#: 0 outer and 1 inner corner of the eye on the image's right (the person's left eye),
#: 2 outer and 3 inner corner of the eye on the image's left (the person's right eye),
#: 4 the base of the nose (between the nostrils, above the upper lip)
FIVE_POINTS = DLIB_5_POINTS
CHIP_SIZE = 150
CHIP_PADDING = 0.25         # dlib's default padding around the aligned face
DESCRIPTOR_SIZE = 128
MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
INSTALL_HINT = "pip install dlib-bin==20.0.1.post1 face_recognition_models==0.3.0"


class IdentityUnavailable(RuntimeError):
    """dlib or the model weights are missing: recognition cannot run (one line)."""


def five_points(landmarks) -> np.ndarray:
    """(5, 2) pixel points of dlib's 5-point layout from (478, >=2) MediaPipe landmarks."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] <= max(FIVE_POINTS) or pts.shape[1] < 2:
        raise ValueError(f"expected (478, 2+) MediaPipe landmarks, got {pts.shape}")
    return pts[list(FIVE_POINTS), :2]


def model_path(explicit: str = "") -> str:
    """The ResNet weights: an explicit file, else the installed face_recognition_models
    package's copy (found without importing the package, whose __init__ needs pkg_resources)."""
    if explicit:
        if not os.path.isfile(explicit):
            raise IdentityUnavailable(f"face descriptor model {explicit} not found")
        return explicit
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise IdentityUnavailable("face recognition needs the face_recognition_models package "
                                  f"(the model weights): {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, "models", MODEL_FILE)
        if os.path.isfile(path):
            return path
    raise IdentityUnavailable(f"face_recognition_models has no models/{MODEL_FILE}: "
                              f"reinstall it ({INSTALL_HINT})")


def _dlib():
    try:
        import dlib
    except ImportError as exc:
        raise IdentityUnavailable(f"face recognition needs dlib ({exc}): {INSTALL_HINT}") from None
    return dlib


class FaceDescriptor:
    """dlib's face descriptor network; :meth:`chips` aligns, :meth:`describe` computes.

    Not thread-safe: one instance per thread (the identity worker owns one)."""

    def __init__(self, weights: str = ""):
        self._dlib = _dlib()
        path = model_path(weights)
        try:
            self._net = self._dlib.face_recognition_model_v1(path)
        except RuntimeError as exc:
            raise IdentityUnavailable(f"cannot load the face descriptor model {path}: "
                                      f"{' '.join(str(exc).split())}") from None
        self.path = path

    def chip(self, rgb, landmarks) -> np.ndarray:
        """The (150, 150, 3) uint8 chip of one face: rgb (H, W, 3) uint8, its landmarks."""
        dlib = self._dlib
        pts = five_points(landmarks)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        rect = dlib.rectangle(int(np.floor(lo[0])), int(np.floor(lo[1])),
                              int(np.ceil(hi[0])), int(np.ceil(hi[1])))
        parts = dlib.points()
        for x, y in pts:
            parts.append(dlib.point(int(round(x)), int(round(y))))
        shape = dlib.full_object_detection(rect, parts)
        image = np.ascontiguousarray(rgb, dtype=np.uint8)
        return np.asarray(dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))

    def describe(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 128) float32 descriptors of N aligned chips, in one batch."""
        if len(chips) == 0:
            return np.zeros((0, DESCRIPTOR_SIZE), dtype=np.float32)
        batch = [np.ascontiguousarray(c, dtype=np.uint8) for c in chips]
        out = self._net.compute_face_descriptor(batch)
        return np.asarray([np.asarray(d) for d in out], dtype=np.float32)

    def __call__(self, items) -> np.ndarray:
        """Descriptors of [(rgb, landmarks), ...] in one batch."""
        return self.describe([self.chip(rgb, lm) for rgb, lm in items])


def load_descriptor(weights: str = "") -> FaceDescriptor:
    """The descriptor, or IdentityUnavailable with one line saying what is missing."""
    return FaceDescriptor(weights)


def available() -> Optional[str]:
    """None when recognition can run here, else the one-line reason."""
    try:
        _dlib()
        model_path()
    except IdentityUnavailable as exc:
        return str(exc)
    return None
