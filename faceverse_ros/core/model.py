"""FaceVerse V4 morphable-model arithmetic: coefficients -> mesh, normals, colours, projection.

Implements spec ``faceverse_v4.md`` section 3 exactly, batched, in float32
NumPy. Frames and units:

* model space: raw file units / 100 ("model units"; raw is millimetres in the
  FaceVerse releases, so 1 model unit = 0.1 m, see ``headpose``), axes
  image-aligned: x right, y down, z away from the camera (a face looking at
  the camera has its front at negative z);
* crop camera: the posed mesh plus (0, 0, 10), seen by a pinhole with
  f = 1000 px and principal point (127.5, 127.5) in the 256x256 crop;
* image: crop pixels mapped with the crop box (x0, y0, x1, y1), see
  :func:`faceverse_ros.core.projection.to_image`.

Engine choice: NumPy/OpenBLAS, faster than torch on a CPU for the shape
product and the vertex normals (doc/performance.md), and it keeps the core
free of torch, so this module uses NumPy only (no CUDA path: on a GPU machine the arithmetic is a
few ms against the network's tens).

Everything that depends only on the model (bases transposed and divided by
100 or 255, eye-centre reductions, mouth indices, per-landmark sub-bases) is
precomputed at load time.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np

from faceverse_ros.core.layout import BLOCK_NAMES
from faceverse_ros.core.projection import project, shade, to_image
from faceverse_ros.core.rotations import eye_rotation, rotation_matrix
from faceverse_ros.core.assets import (MOUTH_VERTEX_JAW, MOUTH_VERTEX_REF, ModelSizes, load_model_dict,
                     validate_model_dict)

RAW_PER_UNIT = 100.0    #: raw file units per model unit


@dataclass
class Geometry:
    """Geometry of a batch of faces (float32, model units unless stated).

    vertices: (B, n, 3) unposed (steps 3.1-3.4), posed: (B, n, 3) rotated and
    translated (3.5), projected: (B, n, 3) crop pixels u, v and crop-camera
    depth z (3.9).
    """

    vertices: np.ndarray
    posed: np.ndarray
    projected: np.ndarray


@dataclass
class Reconstruction(Geometry):
    """:class:`Geometry` plus ``normals`` (B, N, 3) unit normals rotated by the
    head rotation, ``albedo`` (B, N, 3) in [0, 1]-ish and ``colors`` (B, N, 3)
    SH-lit albedo clipped to [0, 1]."""

    normals: np.ndarray
    albedo: np.ndarray
    colors: np.ndarray


# --------------------------------------------------------------------------- mouth helpers
def _piecewise_eye(x):
    y = np.where(x < 0, x,
                 np.where(x < 0.15, 1.5 * x,
                          np.where(x < 0.3, 3 * (x - 0.15) + 0.225, 10 * (x - 0.3) + 0.675)))
    return np.clip(y, -1.0, 1.0)


def _piecewise_mouth(x):
    return np.where((x >= 0) & (x <= 0.25), 0.6 * x,
                    np.where((x > 0.25) & (x <= 0.45), 1.5 * (x - 0.25) + 0.15, x))


# --------------------------------------------------------------------------- the model
class _Subset:
    """Precomputed sub-basis for a set of vertex indices (landmark fast path)."""

    def __init__(self, model: "FaceVerseModel", indices: Optional[np.ndarray]):
        n = model.n_vertices
        vi = model.ver_inds
        # the whole mesh: slices of the eyeball and mouth rows; a subset: their positions
        self.left: Union[slice, np.ndarray]
        self.right: Union[slice, np.ndarray]
        self.mouth: Union[slice, np.ndarray]
        self.out: Optional[np.ndarray]
        if indices is None:
            self.bt = model._geo_bt
            self.mean = model._mean
            self.left, self.right = slice(vi[0], vi[1]), slice(vi[1], vi[2])
            self.mouth = slice(vi[2], vi[5])
            self.ia, self.ib = MOUTH_VERTEX_JAW, MOUTH_VERTEX_REF
            self.out = None
            self.size = n
            self.rows = np.arange(n)
            return
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= n:
            raise ValueError(f"vertex indices must lie in [0, {n})")
        rows = np.unique(np.concatenate([idx, [MOUTH_VERTEX_JAW, MOUTH_VERTEX_REF]]))
        cols = (3 * rows[:, None] + np.arange(3)[None, :]).reshape(-1)
        self.bt = np.ascontiguousarray(model._geo_bt[:, cols])
        self.mean = np.ascontiguousarray(model._mean[rows])
        self.left = np.flatnonzero((rows >= vi[0]) & (rows < vi[1]))
        self.right = np.flatnonzero((rows >= vi[1]) & (rows < vi[2]))
        self.mouth = np.flatnonzero((rows >= vi[2]) & (rows < vi[5]))
        self.ia = int(np.searchsorted(rows, MOUTH_VERTEX_JAW))
        self.ib = int(np.searchsorted(rows, MOUTH_VERTEX_REF))
        self.out = np.searchsorted(rows, idx)
        self.size = len(rows)
        self.rows = rows


class FaceVerseModel:
    """The FaceVerse V4 model: ``FaceVerseModel.from_file(path)``.

    Coefficients are float32 (B, n_coeffs) (or one (n_coeffs,) vector) in the
    block order id, exp, tex, gamma, angles, trans, eyes, with the basis sizes
    read from the file (156/177/251 for V4, 621 values in all).
    """

    def __init__(self, model_dict: dict, path: Optional[Union[str, Path]] = None, validate: bool = True):
        sizes = validate_model_dict(model_dict, path or "model dict") if validate else None
        d = model_dict
        if sizes is None:
            sizes = ModelSizes(len(d["meanshape"]), len(d["tri"]), d["idBase"].shape[1],
                               d["exBase"].shape[1], d["texBase"].shape[1])
        self.path = path
        self.sizes = sizes
        self.synthetic = str(d.get("synthetic", "")) or None
        n = self.n_vertices = sizes.n_vertices
        self.n_triangles = sizes.n_triangles
        self.n_id, self.n_exp, self.n_tex = sizes.n_id, sizes.n_exp, sizes.n_tex
        self.layout = sizes.layout
        self.slices: Dict[str, slice] = self.layout.slices
        self.n_coeffs = self.layout.total

        f32 = np.float32
        self.meanshape_raw = np.asarray(d["meanshape"], dtype=f32)
        self._mean = self.meanshape_raw / f32(RAW_PER_UNIT)
        id_b = np.asarray(d["idBase"], dtype=f32)
        ex_b = np.asarray(d["exBase"], dtype=f32)
        # (n_id + n_exp, 3N) / 100: one product gives id and expression offsets
        self._geo_bt = np.empty((self.n_id + self.n_exp, 3 * n), dtype=f32)
        np.divide(id_b.T, f32(RAW_PER_UNIT), out=self._geo_bt[:self.n_id])
        np.divide(ex_b.T, f32(RAW_PER_UNIT), out=self._geo_bt[self.n_id:])
        self._meantex = np.asarray(d["meantex"], dtype=f32) / f32(255.0)
        self._tex_bt = np.ascontiguousarray(np.asarray(d["texBase"], dtype=f32).T) / f32(255.0)
        self.tri = np.ascontiguousarray(np.asarray(d["tri"], dtype=np.int64))
        self.point_buf = np.ascontiguousarray(np.asarray(d["point_buf"], dtype=np.int64))
        self.ver_inds = [int(v) for v in np.asarray(d["ver_inds"]).reshape(-1)]
        self.tri_inds = [int(v) for v in np.asarray(d["tri_inds"]).reshape(-1)]
        self.keypoints_mediapipe = np.asarray(d["keypoints_mediapipe"], dtype=np.int64)
        self.keypoints = np.asarray(d["keypoints"], dtype=np.int64)
        self.keypoints_68 = np.asarray(d["keypoints_68"], dtype=np.int64)
        self.keypoints_name_list = {k: [int(i) for i in v] for k, v in d["keypoints_name_list"].items()}
        self.face_mask = np.asarray(d["face_mask"]).reshape(-1)
        self.skin_mask = np.asarray(d["parsing"]["skin"]).reshape(-1)

        # eye centres from identity-only geometry: mean over the eye's vertices
        vi = self.ver_inds
        self._eye = []
        for lo, hi in ((vi[0], vi[1]), (vi[1], vi[2])):
            m = self._mean[lo:hi].mean(0)
            b = id_b[3 * lo:3 * hi].reshape(hi - lo, 3, self.n_id).mean(0).T / f32(RAW_PER_UNIT)  # (n_id, 3)
            self._eye.append((m.astype(f32), np.ascontiguousarray(b, dtype=f32)))
        self._mouth_ref = f32(self._mean[MOUTH_VERTEX_JAW, 2] - self._mean[MOUTH_VERTEX_REF, 2])
        self._tri_cols = [np.ascontiguousarray(self.tri[:, k]) for k in range(3)]
        self._pb_cols = [np.ascontiguousarray(self.point_buf[:, k]) for k in range(self.point_buf.shape[1])]
        self._full = _Subset(self, None)
        self._subsets: Dict[object, _Subset] = {}

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_file(cls, path: Optional[Union[str, Path]] = None) -> "FaceVerseModel":
        """Load and validate ``faceverse_v4_2.npy`` (path, folder, or None to search ``data/``).

        Unpickles the file (``np.load(allow_pickle=True)``): load only the
        official file. Raises :class:`faceverse_ros.core.assets.AssetError`.
        """
        d, p = load_model_dict(path, validate=False)
        return cls(d, p, validate=True)

    # ----------------------------------------------------------------- coefficient blocks
    def _coeffs2d(self, coeffs) -> np.ndarray:
        c = np.asarray(coeffs, dtype=np.float32)
        if c.ndim == 1:
            c = c[None]
        if c.ndim != 2 or c.shape[1] != self.n_coeffs or c.shape[0] == 0:
            raise ValueError(f"coeffs must be (B, {self.n_coeffs}) or ({self.n_coeffs},), got "
                             f"{np.shape(coeffs)}")
        if not np.isfinite(c).all():
            raise ValueError("coeffs contain NaN or infinite values")
        return c

    def split(self, coeffs: np.ndarray) -> Dict[str, np.ndarray]:
        """Coefficients (B, n) -> {block name: (B, size)} views (id, exp, tex, gamma, angles, trans, eyes)."""
        c = self._coeffs2d(coeffs)
        return {name: c[:, s] for name, s in self.slices.items()}

    def merge(self, batch: Optional[int] = None, **blocks) -> np.ndarray:
        """Blocks by name -> float32 (B, n_coeffs); missing blocks are zeros.

        Each block is (size,) or (B, size); ``batch`` sets B when no block does.
        """
        unknown = set(blocks) - set(BLOCK_NAMES)
        if unknown:
            raise ValueError(f"unknown block(s) {sorted(unknown)}; blocks are {BLOCK_NAMES}")
        arrays = {k: np.asarray(v, dtype=np.float32) for k, v in blocks.items()}
        bs = {a.shape[0] for a in arrays.values() if a.ndim == 2}
        if len(bs) > 1:
            raise ValueError(f"blocks disagree on the batch size: {sorted(bs)}")
        b = bs.pop() if bs else (batch or 1)
        out = np.zeros((b, self.n_coeffs), dtype=np.float32)
        for k, a in arrays.items():
            s = self.slices[k]
            size = s.stop - s.start
            if a.shape[-1] != size or a.ndim not in (1, 2):
                raise ValueError(f"block '{k}' must have {size} values per face, got shape {a.shape}")
            out[:, s] = a
        return out

    @staticmethod
    def display_adjust_exp(exp: np.ndarray) -> np.ndarray:
        """Display-only expression gains of the original tracker (spec 3, end):
        dims 14 and 15 (eye closing) and 49 (mouth closing). Returns a copy."""
        e = np.array(exp, dtype=np.float32, copy=True)
        e[..., 14] = _piecewise_eye(e[..., 14])
        e[..., 15] = _piecewise_eye(e[..., 15])
        e[..., 49] = _piecewise_mouth(e[..., 49])
        return e

    def display_adjust(self, coeffs: np.ndarray) -> np.ndarray:
        """Coefficients with :meth:`display_adjust_exp` applied to the exp block (a copy)."""
        c = self._coeffs2d(coeffs).copy()
        s = self.slices["exp"]
        c[:, s] = self.display_adjust_exp(c[:, s])
        return c

    # ----------------------------------------------------------------- geometry
    def eye_centres(self, id_coeffs: np.ndarray) -> np.ndarray:
        """Eye centres (B, 2, 3) [left, right] in model units from identity-only geometry (spec 3.2)."""
        idc = np.asarray(id_coeffs, dtype=np.float32).reshape(-1, self.n_id)
        return np.stack([m + idc @ b for m, b in self._eye], axis=1)

    def _shape(self, c: np.ndarray, sub: _Subset) -> np.ndarray:
        b = c.shape[0]
        flat = c[:, :self.n_id + self.n_exp] @ sub.bt            # (B, 3n)
        v = flat.reshape(b, sub.size, 3)
        v += sub.mean                                             # step 1
        return self.articulate(v, c, sub, self.eye_centres(c[:, :self.n_id]))  # step 2: centres

    def articulate(self, v: np.ndarray, c: np.ndarray, sub: _Subset, centres: np.ndarray) -> np.ndarray:
        """Steps 3-4 (eye rotations, mouth closing) in place on the step-1 shape ``v``
        (B, sub.size, 3) of the rows of ``sub`` (:meth:`vertex_subset`), with the eye
        centres (B, 2, 3) of :meth:`eye_centres`; returns ``v``."""
        delta = (v[:, sub.ia, 2] - v[:, sub.ib, 2]) - self._mouth_ref  # step 4 amount, from step-1 shape
        eyes = c[:, self.slices["eyes"]]
        for k, sel in enumerate((sub.left, sub.right)):           # step 3
            r = eye_rotation(eyes[:, 2 * k], eyes[:, 2 * k + 1]).astype(np.float32)
            ctr = centres[:, k][:, None, :]
            v[:, sel] = np.matmul(v[:, sel] - ctr, r.transpose(0, 2, 1)) + ctr
        v[:, sub.mouth, 2] -= delta[:, None]                      # step 4
        return v

    def _pose(self, v: np.ndarray, c: np.ndarray):
        r = rotation_matrix(c[:, self.slices["angles"]]).astype(np.float32)
        posed = np.matmul(v, r.transpose(0, 2, 1))
        posed += c[:, None, self.slices["trans"]]
        return posed, r

    def reconstruct_geometry(self, coeffs: np.ndarray, display: bool = False,
                             indices: Optional[np.ndarray] = None) -> Geometry:
        """Geometry only (no normals/colours): the cheap path for landmarks and poses.

        indices: optional vertex indices; then only those vertices are
        computed (from precomputed sub-bases) and returned, in that order.
        """
        c = self.display_adjust(coeffs) if display else self._coeffs2d(coeffs)
        return self._geometry(c, self._full if indices is None else self._subset_of(indices))

    def vertex_subset(self, indices: Optional[np.ndarray] = None) -> _Subset:
        """The precomputed sub-basis of a vertex index list (None: the whole mesh). Its
        ``rows`` are the sorted vertices it computes (the list plus the two mouth-closing
        reference vertices), ``bt`` (n_id + n_exp, 3 len(rows)) their id and expression
        basis columns / 100, ``mean`` their mean shape; ``out`` maps the list onto rows."""
        return self._full if indices is None else self._subset_of(indices)

    def identity_bound(self) -> np.ndarray:
        """(n_id,) float64: for each identity coefficient, the largest length (model units)
        its basis column gives any vertex: a change d of the id block moves no vertex of
        the identity shape by more than sum(|d| * identity_bound())."""
        if getattr(self, "_id_bound", None) is None:
            cols = self._geo_bt[:self.n_id].reshape(self.n_id, self.n_vertices, 3)
            sq = np.einsum("kvi,kvi->kv", cols, cols).max(1)       # float32, then 1e-6 margin
            self._id_bound = np.sqrt(sq.astype(np.float64)) * (1.0 + 1e-6)
        return self._id_bound

    def texture_bound(self) -> np.ndarray:
        """(n_tex,) float64: for each texture coefficient, the largest change (albedo units,
        [0, 1] = 0..255) its basis column gives any vertex's channel."""
        if getattr(self, "_tex_bound", None) is None:
            self._tex_bound = np.maximum(self._tex_bt.max(1), -self._tex_bt.min(1)).astype(np.float64)
        return self._tex_bound

    def _subset_of(self, indices) -> _Subset:
        """The sub-basis of a vertex index list, built once per distinct list (a handful in a
        process: the pose's sellion, the views' decimated meshes)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        key = ("indices", idx.tobytes())
        sub = self._subsets.get(key)
        if sub is None:
            sub = _Subset(self, idx)
            if len(self._subsets) < 32:
                self._subsets[key] = sub
        return sub

    def _geometry(self, c, sub: _Subset) -> Geometry:
        v = self._shape(c, sub)
        posed, _ = self._pose(v, c)
        if sub.out is not None:
            v, posed = v[:, sub.out], posed[:, sub.out]
        return Geometry(vertices=v, posed=posed, projected=project(posed))

    def landmark_indices(self, kind: str = "mediapipe") -> np.ndarray:
        """Vertex indices of a landmark set: "mediapipe" (478), "dense" (the
        file's ``keypoints``, 370), "68" (68 + 2 pupils), or a group of the
        dense keypoints named in ``keypoints_name_list`` (e.g. "pupil_left_5")."""
        table = {"mediapipe": self.keypoints_mediapipe, "dense": self.keypoints, "68": self.keypoints_68}
        if kind in table:
            return table[kind]
        if kind in self.keypoints_name_list:
            return self.keypoints[self.keypoints_name_list[kind]]
        raise ValueError(f"landmark kind must be one of {sorted(table) + sorted(self.keypoints_name_list)}, "
                         f"got {kind!r}")

    def landmarks(self, vertices_or_projected: np.ndarray, kind: str = "mediapipe") -> np.ndarray:
        """Pick a landmark set from per-vertex arrays (..., N, C) -> (..., K, C)."""
        a = np.asarray(vertices_or_projected)
        if a.ndim < 2 or a.shape[-2] != self.n_vertices:
            raise ValueError(f"expected per-vertex array (..., {self.n_vertices}, C), got {a.shape}")
        return np.take(a, self.landmark_indices(kind), axis=-2)

    def landmarks_from_coeffs(self, coeffs: np.ndarray, kind: str = "mediapipe", display: bool = False) -> Geometry:
        """:class:`Geometry` of one landmark set only, computed from cached sub-bases (fast)."""
        if kind not in self._subsets:
            self._subsets[kind] = _Subset(self, self.landmark_indices(kind))
        c = self.display_adjust(coeffs) if display else self._coeffs2d(coeffs)
        return self._geometry(c, self._subsets[kind])

    @property
    def sellion_index(self) -> int:
        """Vertex between the eyes on the nose bridge: MediaPipe landmark 168."""
        return int(self.keypoints_mediapipe[168])

    # ----------------------------------------------------------------- normals and colours
    def vertex_normals(self, vertices: np.ndarray) -> np.ndarray:
        """Unit vertex normals (B, N, 3) of unposed vertices (spec 3.6)."""
        v = np.asarray(vertices, dtype=np.float32)
        squeeze = v.ndim == 2
        if squeeze:
            v = v[None]
        t0, t1, t2 = (np.take(v, col, axis=1) for col in self._tri_cols)
        e1 = np.subtract(t0, t1, out=t0)
        e2 = np.subtract(t1, t2, out=t2)
        fn = np.empty_like(e1)
        fn[..., 0] = e1[..., 1] * e2[..., 2] - e1[..., 2] * e2[..., 1]
        fn[..., 1] = e1[..., 2] * e2[..., 0] - e1[..., 0] * e2[..., 2]
        fn[..., 2] = e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]
        vn = np.take(fn, self._pb_cols[0], axis=1)
        for col in self._pb_cols[1:]:
            vn += np.take(fn, col, axis=1)
        norm = np.sqrt(np.einsum("bnk,bnk->bn", vn, vn))
        norm += np.float32(1e-9)
        vn /= norm[..., None]
        return vn[0] if squeeze else vn

    def albedo(self, tex: np.ndarray) -> np.ndarray:
        """Albedo (B, N, 3) = (meantex + texBase @ tex) / 255 (spec 3.7), not clipped."""
        t = np.asarray(tex, dtype=np.float32).reshape(-1, self.n_tex)
        a = (t @ self._tex_bt).reshape(t.shape[0], self.n_vertices, 3)
        a += self._meantex
        return a

    #: crop pixels -> image pixels (module function :func:`to_image`)
    to_image = staticmethod(to_image)
    #: crop-camera projection (module function :func:`project`)
    project = staticmethod(project)

    # ----------------------------------------------------------------- everything
    def reconstruct(self, coeffs: np.ndarray, display: bool = False) -> Reconstruction:
        """Full reconstruction of spec 3 for coefficients (B, n) float32.

        display: apply the display-only expression gains first (spec 3, end).
        Returns :class:`Reconstruction` (vertices, posed, projected, normals,
        albedo, colors), all float32 (B, N, 3).
        """
        c = self.display_adjust(coeffs) if display else self._coeffs2d(coeffs)
        v = self._shape(c, self._full)
        posed, r = self._pose(v, c)
        normals = np.matmul(self.vertex_normals(v), r.transpose(0, 2, 1))
        alb = self.albedo(c[:, self.slices["tex"]])
        colors = shade(alb, normals, c[:, self.slices["gamma"]])
        return Reconstruction(vertices=v, posed=posed, projected=project(posed), normals=normals,
                              albedo=alb, colors=colors)

    def __repr__(self):
        kind = " SYNTHETIC" if self.synthetic else ""
        return (f"<FaceVerseModel{kind} {self.path}: {self.n_vertices} vertices, {self.n_triangles} "
                f"triangles, id/exp/tex {self.n_id}/{self.n_exp}/{self.n_tex}>")
