"""Find, load and validate the two FaceVerse V4 research assets.

* ``faceverse_v4_2.npy``: the morphable model, a pickled ``dict`` written with
  ``np.save`` (spec ``faceverse_v4.md`` section 2).
* ``faceverse_resnet50.pth``: the ReconNet regressor, a plain PyTorch
  ``state_dict`` (spec section 4).

Neither file ships with this package (see ``data/README.md``). Every problem
with them (missing, truncated, corrupt, wrong type, wrong key, wrong shape,
index out of range, a checkpoint of another network, heads that do not match
the model) raises one :class:`AssetError` whose message names the file, says
what is wrong and what was expected, and where to get the right file.

Security: loading the ``.npy`` model runs Python's pickle
(``np.load(..., allow_pickle=True)``), which can execute code. Load only a file
downloaded from the official FaceVerse V4 link. The ``.pth`` checkpoint is
loaded with ``torch.load(..., weights_only=True)``, which refuses arbitrary
objects.

This module imports no ROS code and imports torch only to read a checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Tuple, Union

import numpy as np

from faceverse_ros.core.layout import V4, CoefficientLayout, layout_for
from faceverse_ros.paths import data_dirs

MODEL_FILENAME = "faceverse_v4_2.npy"
CHECKPOINT_FILENAME = "faceverse_resnet50.pth"

MODEL_URL = "https://1drv.ms/u/c/b8eab7b1820a6fa4/EWJOsgGxPMZDkl8xJ_QZB30BpcjNoMVGK9mnUPq5n9-lyw?e=4GvEs9"
CHECKPOINT_URL = "https://1drv.ms/u/c/b8eab7b1820a6fa4/EcgUCYq20NhIqx-pGjnzDxkBfh9kMTtEn4G5UcOaHvwW4Q?e=eQnX64"
FACEVERSE_REPO_URL = "https://github.com/LizhenWangT/FaceVerse"


#: Vertex indices hard-wired in the original mouth-interior arithmetic (spec 3.4).
MOUTH_VERTEX_JAW = 19496
MOUTH_VERTEX_REF = 6550
MIN_VERTICES = MOUTH_VERTEX_JAW + 1

#: Number of MediaPipe face-mesh landmarks (468 mesh + 10 iris).
N_MEDIAPIPE = 478

#: Head names and output sizes of the ReconNet in the order of the 621 vector.
HEAD_NAMES = ("id", "exp", "tex", "gamma", "angles", "txy", "tz", "eyes")
V4_HEAD_SIZES = V4.head_sizes

REQUIRED_MODEL_KEYS = (
    "meanshape", "idBase", "exBase", "texBase", "meantex", "tri", "point_buf",
    "ver_inds", "tri_inds", "keypoints_mediapipe", "keypoints", "keypoints_68",
    "keypoints_name_list", "face_mask", "parsing",
)


class FaceVerseError(Exception):
    """Base class of every error raised by faceverse_ros' core."""


class AssetError(FaceVerseError):
    """A FaceVerse asset file is missing or is not the expected file.

    Attributes: ``path`` (the file), ``problem`` (what is wrong), ``hint``
    (what was expected and where to get the right file).
    """

    def __init__(self, path: Union[str, Path], problem: str, hint: str = ""):
        self.path = str(path) if path is not None else None
        self.problem = problem
        self.hint = hint
        name = Path(self.path).name if self.path else "asset"
        where = f" ({self.path})" if self.path and self.path != name else ""
        text = f"{name}{where}: {problem}"
        if hint:
            text += f". {hint}"
        super().__init__(text)


def _model_hint() -> str:
    return (f"Expected the FaceVerse V4 model '{MODEL_FILENAME}' (a pickled dict saved with np.save). "
            f"Download it from the 'FaceVerse version 4 model' link ({MODEL_URL}) of the official "
            f"FaceVerse V4 README ({FACEVERSE_REPO_URL}) into data/; see data/README.md")


def _checkpoint_hint() -> str:
    return (f"Expected the FaceVerse V4 regressor '{CHECKPOINT_FILENAME}' (a PyTorch state_dict of a "
            f"ResNet-50 ReconNet with 8 heads). Download it from the 'FaceVerse version 4 network' link "
            f"({CHECKPOINT_URL}) of the official FaceVerse V4 README ({FACEVERSE_REPO_URL}) into data/; "
            f"see data/README.md")


# --------------------------------------------------------------------------- finding files
def _find(path, filename: str, hint: str) -> Path:
    if path is not None:
        p = Path(path).expanduser()
        if p.is_dir():
            p = p / filename
        if not p.is_file():
            raise AssetError(p, "file not found", hint)
        return p
    tried = []
    for d in data_dirs():
        p = d / filename
        tried.append(str(p))
        if p.is_file():
            return p
    raise AssetError(filename, "file not found (looked in: " + ", ".join(tried) + ")", hint)


def find_model_file(path: Optional[Union[str, Path]] = None) -> Path:
    """Path of ``faceverse_v4_2.npy``: ``path`` (a file or a folder) if given,
    else ``$FACEVERSE_DATA``, the project's ``data/``, then ``./data``.
    Raises :class:`AssetError` when it is not there."""
    return _find(path, MODEL_FILENAME, _model_hint())


def find_checkpoint_file(path: Optional[Union[str, Path]] = None) -> Path:
    """Path of ``faceverse_resnet50.pth``, searched like :func:`find_model_file`."""
    return _find(path, CHECKPOINT_FILENAME, _checkpoint_hint())


# --------------------------------------------------------------------------- model file
@dataclass(frozen=True)
class ModelSizes:
    """Sizes read from a model file: vertices, triangles and basis columns."""

    n_vertices: int
    n_triangles: int
    n_id: int
    n_exp: int
    n_tex: int

    @property
    def layout(self) -> CoefficientLayout:
        """The coefficient layout of this model (faceverse_ros.core.layout)."""
        return layout_for(self.n_id, self.n_exp, self.n_tex)

    @property
    def head_sizes(self) -> Tuple[int, ...]:
        """Output sizes the ReconNet heads must have for this model."""
        return self.layout.head_sizes

    @property
    def n_coeffs(self) -> int:
        return self.layout.total


def load_model_dict(path: Optional[Union[str, Path]] = None, validate: bool = True) -> Tuple[dict, Path]:
    """Load the FaceVerse model dict from ``path`` (see :func:`find_model_file`).

    Warning: this unpickles the file (``np.load(..., allow_pickle=True)``),
    which can run code; load only the official file.

    Returns ``(model_dict, path)``; with ``validate`` the dict has passed
    :func:`validate_model_dict`.
    """
    p = find_model_file(path)
    hint = _model_hint()
    if p.stat().st_size == 0:
        raise AssetError(p, "the file is empty", hint)
    try:
        obj = np.load(p, allow_pickle=True)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear error
        raise AssetError(p, f"cannot be read as a .npy file, it is truncated or corrupt "
                            f"({type(exc).__name__}: {exc})", hint) from None
    if isinstance(obj, np.lib.npyio.NpzFile):
        obj.close()
        raise AssetError(p, "is an .npz archive, not a pickled dict", hint)
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, dict):
        what = f"array of shape {obj.shape} and dtype {obj.dtype}" if isinstance(obj, np.ndarray) \
            else type(obj).__name__
        raise AssetError(p, f"holds a {what}, not the pickled model dict", hint)
    if validate:
        validate_model_dict(obj, p)
    return obj, p


def _as_index_array(d, key, path, hint, ndim=None) -> np.ndarray:
    try:
        a = np.asarray(d[key])
    except Exception as exc:  # noqa: BLE001
        raise AssetError(path, f"key '{key}' cannot be read as an array ({exc})", hint) from None
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "f" and a.size and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise AssetError(path, f"key '{key}' must hold integer indices, found dtype {a.dtype}", hint)
    if ndim is not None and a.ndim != ndim:
        raise AssetError(path, f"key '{key}' must be {ndim}-D, found shape {a.shape}", hint)
    return a


def _as_float_array(d, key, path, hint, shape) -> np.ndarray:
    try:
        a = np.asarray(d[key])
    except Exception as exc:  # noqa: BLE001
        raise AssetError(path, f"key '{key}' cannot be read as an array ({exc})", hint) from None
    if a.dtype.kind not in "fiu":
        raise AssetError(path, f"key '{key}' must be numeric, found dtype {a.dtype}", hint)
    if a.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, a.shape)):
        want = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
        raise AssetError(path, f"key '{key}' has shape {a.shape}, expected {want}", hint)
    return a


def _check_range(a, key, upper, path, hint, what):
    if a.size and (a.min() < 0 or a.max() >= upper):
        raise AssetError(path, f"key '{key}' holds indices from {a.min()} to {a.max()}, outside "
                               f"[0, {upper}) ({what})", hint)


def _check_boundaries(a, key, last, path, hint, what, minimum=6):
    if a.size < minimum:
        raise AssetError(path, f"key '{key}' has {a.size} part boundaries, expected at least {minimum} "
                               "(head, left eye, right eye, lower teeth, tongue, upper teeth)", hint)
    if a[0] <= 0 or np.any(np.diff(a) <= 0):
        raise AssetError(path, f"key '{key}' = {a.tolist()} must be positive and strictly increasing", hint)
    if a[-1] != last:
        raise AssetError(path, f"key '{key}' ends at {a[-1]}, expected the number of {what} ({last})", hint)


def validate_model_dict(d: Mapping, path: Union[str, Path] = MODEL_FILENAME) -> ModelSizes:
    """Check every key of spec section 2: presence, shape, dtype, index ranges.

    Returns the :class:`ModelSizes` read from the file; raises
    :class:`AssetError` naming ``path`` on the first problem found.
    """
    hint = _model_hint()
    if not isinstance(d, Mapping):
        raise AssetError(path, f"holds a {type(d).__name__}, not the pickled model dict", hint)
    missing = [k for k in REQUIRED_MODEL_KEYS if k not in d]
    if missing:
        raise AssetError(path, f"missing key(s) {missing}; found keys {sorted(map(str, d.keys()))[:20]}",
                         hint)

    mean = _as_float_array(d, "meanshape", path, hint, (None, 3))
    n = int(mean.shape[0])
    if n < MIN_VERTICES:
        raise AssetError(path, f"has {n} vertices, a FaceVerse V4 model has at least {MIN_VERTICES} "
                               f"(vertex {MOUTH_VERTEX_JAW} is used by the mouth arithmetic)", hint)
    id_b = _as_float_array(d, "idBase", path, hint, (3 * n, None))
    ex_b = _as_float_array(d, "exBase", path, hint, (3 * n, None))
    tex_b = _as_float_array(d, "texBase", path, hint, (3 * n, None))
    _as_float_array(d, "meantex", path, hint, (n, 3))
    for key, b in (("idBase", id_b), ("exBase", ex_b), ("texBase", tex_b)):
        if b.shape[1] == 0:
            raise AssetError(path, f"key '{key}' has no basis columns", hint)
    for key in ("meanshape", "meantex"):
        if not np.all(np.isfinite(np.asarray(d[key]))):
            raise AssetError(path, f"key '{key}' holds NaN or infinite values", hint)

    tri = _as_index_array(d, "tri", path, hint, ndim=2)
    if tri.shape[1] != 3 or tri.shape[0] == 0:
        raise AssetError(path, f"key 'tri' has shape {tri.shape}, expected (T, 3)", hint)
    _check_range(tri, "tri", n, path, hint, f"{n} vertices")
    t = int(tri.shape[0])

    pb = _as_index_array(d, "point_buf", path, hint, ndim=2)
    if pb.shape[0] != n or pb.shape[1] == 0:
        raise AssetError(path, f"key 'point_buf' has shape {pb.shape}, expected ({n}, K)", hint)
    _check_range(pb, "point_buf", t, path, hint, f"{t} triangles")

    vi = _as_index_array(d, "ver_inds", path, hint, ndim=1)
    _check_boundaries(vi, "ver_inds", n, path, hint, "vertices")
    ti = _as_index_array(d, "tri_inds", path, hint, ndim=1)
    _check_boundaries(ti, "tri_inds", t, path, hint, "triangles")

    kmp = _as_index_array(d, "keypoints_mediapipe", path, hint)
    if kmp.shape != (N_MEDIAPIPE,):
        raise AssetError(path, f"key 'keypoints_mediapipe' has shape {kmp.shape}, expected "
                               f"({N_MEDIAPIPE},) (468 mesh + 10 iris landmarks)", hint)
    _check_range(kmp, "keypoints_mediapipe", n, path, hint, f"{n} vertices")
    for key in ("keypoints", "keypoints_68"):
        k = _as_index_array(d, key, path, hint)
        if k.ndim != 1 or k.size == 0:
            raise AssetError(path, f"key '{key}' has shape {k.shape}, expected a 1-D index list", hint)
        _check_range(k, key, n, path, hint, f"{n} vertices")

    names = d["keypoints_name_list"]
    if not isinstance(names, Mapping):
        raise AssetError(path, f"key 'keypoints_name_list' is a {type(names).__name__}, expected a dict "
                               "of index lists", hint)
    n_kp = int(np.asarray(d["keypoints"]).shape[0])
    for name, idx in names.items():
        a = np.asarray(idx)
        if a.dtype.kind not in "iu" or a.ndim != 1:
            raise AssetError(path, f"keypoints_name_list['{name}'] must be a list of ints", hint)
        _check_range(a, f"keypoints_name_list['{name}']", n_kp, path, hint, f"{n_kp} keypoints")

    fm = np.asarray(d["face_mask"])
    if fm.reshape(-1).shape != (n,):
        raise AssetError(path, f"key 'face_mask' has shape {fm.shape}, expected ({n},)", hint)
    parsing = d["parsing"]
    if not isinstance(parsing, Mapping) or "skin" not in parsing:
        raise AssetError(path, "key 'parsing' must be a dict with a 'skin' mask", hint)
    if np.asarray(parsing["skin"]).reshape(-1).shape != (n,):
        raise AssetError(path, f"parsing['skin'] has shape {np.asarray(parsing['skin']).shape}, "
                               f"expected ({n},)", hint)
    return ModelSizes(n_vertices=n, n_triangles=t, n_id=int(id_b.shape[1]),
                      n_exp=int(ex_b.shape[1]), n_tex=int(tex_b.shape[1]))
