"""FaceMeshBuilder: the meshes of tracked faces, frame after frame, with a cache per face id.

The view builder (overlay.ViewBuilder) keeps one per mesh resolution, and hands the
full-resolution one to the pipeline (tracking.pipeline.FacePipeline.mesh_builder) for the
meshes the command line saves, so the two share one cache without importing each other.
The reference arithmetic (FaceMesh, face_meshes) is core.face_mesh.

:class:`FaceMeshBuilder` makes the meshes of core.face_mesh.face_meshes, cheaper:

* per track (keyed by face id) it keeps the identity shape (mean + idBase @ id,
  with the eye centres) and the albedo (meantex + texBase @ tex), and
  recomputes them only when the coefficients moved by more than a stated
  bound since they were computed (the smoothed id/tex blocks drift a little
  for a few frames after each keyframe). Identity: with d the change of the id
  block and b_k the largest vertex length of id basis column k
  (:meth:`FaceVerseModel.identity_bound`), no vertex of the identity shape
  moves by more than sum |d_k| b_k; the eye rotation about the moved eye centre
  and the mouth closing (a difference of two vertices) at most triple that, so
  the cache is recomputed when 3 sum |d_k| b_k > ``id_tolerance_mm``. Albedo:
  recomputed when sum |d_k| t_k > ``tex_tolerance`` (t_k: the largest entry of
  texture column k). Per frame only the expression product, eyes, mouth, pose,
  normals and lighting run;
* on a vertex subset (``indices`` + ``triangles``, e.g. a MeshDecimator's
  decimated topology) it computes only those vertices (sub-bases precomputed
  once) and the normals on the decimated triangles; the mesh's ``triangles``
  then index its own vertices. After the expression product (BLAS), the rest
  of a frame (articulation, pose, normals, lighting, projection, metres) is one
  C++ pass without the GIL (_sim3dr.face_mesh_frame), where the subset's eyeball
  and mouth rows are contiguous (always, for sorted indices), instead of some 30
  NumPy calls on small arrays (its measured gain: doc/performance.md).
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from faceverse_ros import _sim3dr
from faceverse_ros.core.crop import CROP_SIZE
from faceverse_ros.core.face_mesh import FaceMesh
from faceverse_ros.core.headpose import MODEL_UNIT_M, model_to_camera
from faceverse_ros.core.projection import (AMBIENT, CAMERA_DISTANCE, FOCAL, PRINCIPAL,
                                           SH_FACTORS, project, shade, to_image)
from faceverse_ros.core.rotations import eye_rotation, rotation_matrix

ID_TOLERANCE_MM = 0.05     #: identity cache bound: largest vertex error, millimetres
TEX_TOLERANCE = 0.5 / 255  #: albedo cache bound: largest channel error (half a colour step)


class _Track:
    """What one face keeps between frames."""
    __slots__ = ("id", "shape", "centres", "tex", "albedo")

    def __init__(self):
        self.id = self.shape = self.centres = self.tex = self.albedo = None


class FaceMeshBuilder:
    """FaceMeshes of tracked faces with the identity and albedo cached per face id (see the
    module doc). ``indices``/``triangles``: a vertex subset and its triangles (indices into
    ``indices``); None: the whole mesh with the model's triangles."""

    def __init__(self, model, indices=None, triangles=None, id_tolerance_mm=ID_TOLERANCE_MM,
                 tex_tolerance=TEX_TOLERANCE):
        if (indices is None) != (triangles is None):
            raise ValueError("give both indices and triangles, or neither")
        self.model = model
        self.sub = sub = model.vertex_subset(indices)
        n_id, n_s = model.n_id, sub.size
        self._id_bt = sub.bt[:n_id]
        self._exp_bt = sub.bt[n_id:]
        self._full = indices is None
        if self._full:
            self.triangles = None
            self._tex_bt, self._meantex = model._tex_bt, model._meantex
        else:
            pos = np.searchsorted(sub.rows, np.asarray(indices, dtype=np.int64).reshape(-1))
            tris = np.asarray(triangles, dtype=np.int64)
            if tris.size and (tris.min() < 0 or tris.max() >= len(pos)):
                raise ValueError(f"triangles must index the {len(pos)} given vertices")
            self.triangles = np.ascontiguousarray(pos[tris], dtype=np.int32)  # Sim3DR's type
            self.triangles.flags.writeable = False   # shared by every mesh it makes
            cols = (3 * sub.rows[:, None] + np.arange(3)[None, :]).reshape(-1)
            self._tex_bt = np.ascontiguousarray(model._tex_bt[:, cols])
            self._meantex = np.ascontiguousarray(model._meantex[sub.rows])
        # a change d of the id block moves no vertex by more than 3 * sum(|d| * bound) model units
        self._id_bound = 3.0 * model.identity_bound()
        self._id_tol = float(id_tolerance_mm) / (MODEL_UNIT_M * 1000.0)
        self._tex_bound = model.texture_bound()
        self._tex_tol = float(tex_tolerance)
        self._exp_out = np.empty((1, 3 * n_s), dtype=np.float32)   # per-frame product buffer
        self._rows = None if self._full else _kernel_rows(sub, model)
        self._tracks: Dict[object, _Track] = {}
        self.identity_updates = self.albedo_updates = self.frames = 0   # counters (bench, tests)

    @property
    def n_vertices(self) -> int:
        return self.sub.size

    def meshes(self, face_ids, coeffs, crop_boxes, poses) -> List[FaceMesh]:
        """One FaceMesh per face (coeffs (B, n)); faces whose ids are not in this call are
        forgotten (their track ended)."""
        m = self.model
        c = np.asarray(coeffs, dtype=np.float32).reshape(-1, m.n_coeffs)
        ids = list(face_ids)
        for gone in set(self._tracks) - set(ids):
            del self._tracks[gone]
        return [self._mesh(self._tracks.setdefault(i, _Track()), c[k:k + 1], box, pose)
                for k, (i, box, pose) in enumerate(zip(ids, crop_boxes, poses))]

    def forget(self, face_id=None):
        """Drop one face's cache (None: all)."""
        if face_id is None:
            self._tracks.clear()
        else:
            self._tracks.pop(face_id, None)

    def _mesh(self, tr: _Track, c, box, pose) -> FaceMesh:
        m, sub = self.model, self.sub
        if not np.isfinite(c).all():
            raise ValueError("coeffs contain NaN or infinite values")
        self.frames += 1
        idc = c[0, :m.n_id]
        if tr.id is None or float(np.abs(idc - tr.id) @ self._id_bound) > self._id_tol:
            tr.id = idc.astype(np.float64)
            if tr.shape is None:   # the track's buffers, rewritten in place from then on
                tr.shape = np.empty((sub.size, 3), dtype=np.float32)
                tr.albedo = np.empty((sub.size, 3), dtype=np.float32)
            np.matmul(idc, self._id_bt, out=tr.shape.reshape(-1))
            tr.shape += sub.mean
            tr.centres = m.eye_centres(idc)
            self.identity_updates += 1
        tex = c[0, m.slices["tex"]]
        if tr.tex is None or float(np.abs(tex - tr.tex) @ self._tex_bound) > self._tex_tol:
            tr.tex = tex.astype(np.float64)
            np.matmul(tex, self._tex_bt, out=tr.albedo.reshape(-1))
            tr.albedo += self._meantex
            self.albedo_updates += 1
        if self._rows is not None:
            return self._mesh_kernel(tr, c, box, pose)
        np.matmul(c[:, m.slices["exp"]], self._exp_bt, out=self._exp_out)
        v = np.add(self._exp_out.reshape(1, sub.size, 3), tr.shape)      # step 1
        m.articulate(v, c, sub, tr.centres)                               # steps 3-4
        posed, r = m._pose(v, c)                                          # step 5
        normals = np.matmul(self._normals(v), r.transpose(0, 2, 1))
        colors = shade(tr.albedo[None], normals, c[:, m.slices["gamma"]])
        image = to_image(project(posed[0]), np.asarray(box, dtype=np.float64))
        return FaceMesh(image_vertices=image, colors=colors[0], normals=normals[0], vertices=v[0],
                        vertices_m=model_to_camera(v[0], pose.model_rotation,
                                                   pose.model_translation),
                        triangles=self.triangles)

    def _mesh_kernel(self, tr: _Track, c, box, pose) -> FaceMesh:
        """The per-frame steps after the expression product in one C++ pass (module doc);
        the same formulas as the NumPy path below."""
        m = self.model
        v = np.matmul(c[:, m.slices["exp"]], self._exp_bt).reshape(-1, 3)
        eyes = c[0, m.slices["eyes"]].astype(np.float64)
        eye_rot = eye_rotation(eyes[[0, 2]], eyes[[1, 3]]).astype(np.float32)
        rot = rotation_matrix(c[:, m.slices["angles"]])[0].astype(np.float32)
        gamma = c[0, m.slices["gamma"]].astype(np.float32).reshape(9, 3).copy()
        gamma[0] += AMBIENT
        mouth, left, right = self._rows
        image, normals, colors, vertices_m = _sim3dr.face_mesh_frame(
            v, tr.shape, tr.albedo, self.triangles,
            (mouth[0], mouth[1], float(m._mouth_ref), mouth[2], mouth[3]), (left, right),
            eye_rot, np.ascontiguousarray(tr.centres[0], dtype=np.float32), rot,
            np.ascontiguousarray(c[0, m.slices["trans"]], dtype=np.float32), gamma.reshape(-1),
            SH_FACTORS,
            np.asarray(box, dtype=np.float64), np.ascontiguousarray(pose.model_rotation, np.float64),
            np.ascontiguousarray(pose.model_translation, np.float64), MODEL_UNIT_M,
            FOCAL, PRINCIPAL, CAMERA_DISTANCE, float(CROP_SIZE))
        return FaceMesh(image_vertices=image, colors=colors, normals=normals, vertices=v,
                        vertices_m=vertices_m, triangles=self.triangles)

    def _normals(self, v):
        """Unit vertex normals (1, n, 3) of unposed vertices: the model's (spec 3.6, point_buf)
        on the whole mesh; on a subset the normalised sum of its triangles' normals
        (a - b) x (b - c), the same orientation, by the C++ kernel."""
        if self._full:
            return self.model.vertex_normals(v)
        return _sim3dr.vertex_normals(v[0], self.triangles)[None]


def _kernel_rows(sub, model):
    """((mouth_a, mouth_b, mouth_begin, mouth_end), left (begin, end), right (begin, end)):
    the subset's mouth-closing reference rows and its mouth and eyeball rows as ranges, for
    _sim3dr.face_mesh_frame; None when a part's rows are not contiguous (the NumPy path)."""
    def span(rows):
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size == 0:
            return 0, 0
        return (int(rows[0]), int(rows[-1]) + 1) if np.all(np.diff(rows) == 1) else None

    parts = [span(p) for p in (sub.mouth, sub.left, sub.right)]
    if any(p is None for p in parts):
        return None
    (m0, m1), left, right = parts
    return (int(sub.ia), int(sub.ib), m0, m1), left, right
