"""The reconstructed mesh of tracked faces, for the outputs that need one (no ROS).

:func:`face_meshes` turns each face's coefficients, crop box and pose into a
:class:`FaceMesh`: image-space vertices for the overlay render, lit colours,
normals, the unposed vertices (model units, for PLY files) and the vertices
in metres in the optical frame (RViz markers). It reconstructs everything
from scratch (the reference path).

views.mesh_builder.FaceMeshBuilder makes the same meshes frame after frame for tracked
faces with a cache per face id; :class:`MeshMaker` is its interface, the type of the mesh
maker the pipeline receives from its owner.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional, Protocol, Sequence

import numpy as np

from faceverse_ros.core.headpose import model_to_camera
from faceverse_ros.core.projection import to_image

if TYPE_CHECKING:
    from faceverse_ros.core.model import FaceVerseModel


@dataclass
class FaceMesh:
    image_vertices: np.ndarray   # (N, 3) u, v (image px), depth
    colors: np.ndarray           # (N, 3) lit albedo in [0, 1]
    normals: np.ndarray          # (N, 3) rotated normals
    vertices: np.ndarray         # (N, 3) unposed, model units
    vertices_m: np.ndarray       # (N, 3) metres, optical frame
    triangles: Optional[np.ndarray] = None  # (T, 3) into these vertices; None: the model's


class MeshMaker(Protocol):
    """Makes the meshes of a frame's faces: ``meshes(face_ids, coeffs (B, n), crop_boxes,
    poses) -> [FaceMesh]`` (views.mesh_builder.FaceMeshBuilder, with a per-face cache)."""

    def meshes(self, face_ids: Sequence[object], coeffs: np.ndarray,
               crop_boxes: Sequence[np.ndarray], poses: Sequence) -> List[FaceMesh]:
        """One FaceMesh per face, in the order of ``face_ids``."""


def face_meshes(model: "FaceVerseModel", coeffs: np.ndarray, crop_boxes: np.ndarray, poses: Sequence) -> List[FaceMesh]:
    """One FaceMesh per face: coeffs (B, n), crop_boxes (B, 4) image px, poses: B FacePoses
    (with model_rotation / model_translation)."""
    c = np.asarray(coeffs, dtype=np.float32).reshape(-1, model.n_coeffs)
    if len(c) == 0:
        return []
    recon = model.reconstruct(c)
    out = []
    for i, (box, pose) in enumerate(zip(crop_boxes, poses)):
        out.append(FaceMesh(
            image_vertices=to_image(recon.projected[i], np.asarray(box, dtype=np.float64)),
            colors=recon.colors[i], normals=recon.normals[i], vertices=recon.vertices[i],
            vertices_m=model_to_camera(recon.vertices[i], pose.model_rotation,
                                       pose.model_translation)))
    return out
