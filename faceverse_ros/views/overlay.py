"""Debug views of tracking results: the overlay image and the decimated marker meshes.

:func:`draw_overlay` draws, on the frame the faces describe, the rendered
faces (when they carry a mesh and the model's triangles are given), boxes,
landmarks, head axes (x red, y green, z blue) and ids, and optionally the
rate. :class:`ViewBuilder` builds both views of one frame from a
:class:`ViewRequest`, reconstructing the meshes it needs itself (the debug
views run in their own worker, apart from the tracking).

Faces are read by attribute (face_id, box, landmarks, pose, mode, coeffs,
crop_box, mesh), as tracking.pipeline.FaceResult has them.
"""
import dataclasses
from typing import Optional

import cv2
import numpy as np

from faceverse_ros.core.layout import MODE_LANDMARK_ONLY

BOX_COLOUR = (0, 255, 0)
LANDMARK_COLOUR = (255, 255, 0)
AXIS_LENGTH_M = 0.08


def draw_overlay(rgb, faces, intrinsics, triangles=None, fps=None):
    """A copy of ``rgb`` with the faces drawn (see module doc). ``triangles``: the model's
    (T, 3) triangles to render the faces' meshes; None draws no mesh."""
    out = np.ascontiguousarray(rgb).copy()
    meshes = [f.mesh for f in faces if getattr(f, "mesh", None) is not None] \
        if triangles is not None else []
    if meshes:
        from faceverse_ros.views import render as sim3dr

        n = len(meshes[0].image_vertices)
        verts = np.concatenate([m.image_vertices for m in meshes])
        cols = np.concatenate([m.colors for m in meshes])
        norms = np.concatenate([m.normals for m in meshes])
        if np.nanmean(norms[:, 2]) > 0:  # face the light whatever the model's triangle winding
            norms = -norms
        tris = np.concatenate([triangles + k * n for k in range(len(meshes))])
        drawn, depth = sim3dr.render(out.shape[:2], verts, tris, cols, normals=norms)
        out = sim3dr.overlay(out, drawn, depth, alpha=0.8)
    for face in faces:
        x0, y0, x1, y1 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), BOX_COLOUR, 2)
        pts = np.round(face.landmarks[:, :2]).astype(np.int64)
        ok = (pts[:, 0] >= 0) & (pts[:, 0] < out.shape[1]) & (pts[:, 1] >= 0) & \
            (pts[:, 1] < out.shape[0])
        out[pts[ok, 1], pts[ok, 0]] = LANDMARK_COLOUR
        draw_axes(out, face.pose, intrinsics)
        label = f"id {face.face_id}" + (" landmark-only" if face.mode == MODE_LANDMARK_ONLY else "")
        cv2.putText(out, label, (x0, max(y0 - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    BOX_COLOUR, 1, cv2.LINE_AA)
    if fps is not None:
        cv2.putText(out, f"{fps:.1f} fps", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (255, 255, 255), 2, cv2.LINE_AA)
    return out


def draw_axes(image, pose, cam, length_m=AXIS_LENGTH_M):
    """Face frame axes projected with the intrinsics: x red, y green, z blue (REP-103 colours)."""
    origin = np.asarray(pose.position, dtype=np.float64)
    points = [origin] + [origin + length_m * pose.rotation[:, k] for k in range(3)]
    if any(p[2] <= 1e-3 for p in points):
        return
    px = [(int(round(cam.fx * p[0] / p[2] + cam.cx)), int(round(cam.fy * p[1] / p[2] + cam.cy)))
          for p in points]
    for k, colour in enumerate(((255, 0, 0), (0, 255, 0), (0, 0, 255))):
        cv2.line(image, px[0], px[k + 1], colour, 2, cv2.LINE_AA)


@dataclasses.dataclass
class ViewRequest:
    """The views wanted of one frame: the frame's image, its faces and intrinsics."""
    rgb: np.ndarray
    faces: list
    intrinsics: object
    debug: bool = True          # the overlay image
    mesh: bool = False          # the marker meshes
    render: bool = True         # render the faces in the overlay
    decimation: int = 16
    fps: Optional[float] = None
    tag: object = None          # the caller's (e.g. the frame's ROS header), handed back


@dataclasses.dataclass
class Views:
    tag: object
    debug: Optional[np.ndarray]     # overlay image or None
    meshes: Optional[list]          # [(face_id, vertices_m, triangles, colors)] or None


class ViewBuilder:
    """Builds the Views of ViewRequests for one FaceVerse model (None: landmark-only mode,
    no meshes). The decimated topology is computed once per decimation factor."""

    def __init__(self, model=None):
        self.model = model
        self._decimators = {}

    def build(self, req: ViewRequest) -> Views:
        need = self.model is not None and (req.mesh or (req.debug and req.render))
        if need:
            self._add_meshes(req.faces)
        debug = draw_overlay(req.rgb, req.faces, req.intrinsics,
                             self.model.tri if (self.model is not None and req.render) else None,
                             req.fps) if req.debug else None
        meshes = self.marker_meshes(req.faces, req.decimation) if req.mesh else None
        return Views(req.tag, debug, meshes)

    def _add_meshes(self, faces):
        from faceverse_ros.core.face_mesh import face_meshes

        todo = [f for f in faces if f.mode != MODE_LANDMARK_ONLY and getattr(f, "mesh", None) is None]
        if todo:
            meshes = face_meshes(self.model, np.stack([f.coeffs for f in todo]),
                                 [f.crop_box for f in todo], [f.pose for f in todo])
            for face, mesh in zip(todo, meshes):
                face.mesh = mesh

    def marker_meshes(self, faces, decimation: int):
        """[(face_id, vertices_m, triangles, colors)] decimated for RViz (faces with a mesh)."""
        if self.model is None:
            return []
        from faceverse_ros.views.mesh_decimate import MeshDecimator

        dec = self._decimators.get(decimation)
        if dec is None:
            dec = self._decimators[decimation] = MeshDecimator(
                self.model.meanshape_raw, self.model.tri, decimation)
        return [(f.face_id, dec(f.mesh.vertices_m), dec.triangles, dec(f.mesh.colors))
                for f in faces if getattr(f, "mesh", None) is not None]
