"""The MediaPipe face mesh of landmark-only mode as a renderable, exportable 3D face.

A :class:`LandmarkMesh` holds one face's 468 mesh vertices in metres in the
camera optical frame (:func:`faceverse_ros.landmarks.canonical_mesh.metric_vertices`:
the detected landmarks at the depth of our metric landmark pose), their image
positions for Sim3DR, vertex normals facing the camera and a uniform skin
colour (MediaPipe gives no albedo; the shading comes from Sim3DR's lighting).
The triangles (and UVs, when known) are the face-independent
:class:`~faceverse_ros.landmarks.canonical_mesh.CanonicalMesh`.

Image vertices: (u, v) pixels, z = depth in metres times fx / (the head's
depth), so that z is in units comparable with pixels (Sim3DR lights on the
positions; only the order of z matters to its z-buffer).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from faceverse_ros.landmarks.canonical_mesh import metric_vertices, project, vertex_normals

SKIN_RGB = (0.86, 0.70, 0.60)   # the render's uniform albedo, linear RGB in [0, 1]


@dataclass
class LandmarkMesh:
    vertices_m: np.ndarray       # (468, 3) metres, optical frame
    image_vertices: np.ndarray   # (468, 3) u, v pixels; z depth * px-per-metre
    normals: np.ndarray          # (468, 3) unit, facing the camera (-z on average)
    colors: np.ndarray           # (468, 3) in [0, 1]


def landmark_mesh(landmarks_px, intrinsics, pose, triangles, color=SKIN_RGB) -> LandmarkMesh:
    """One face's mesh from its 478 landmarks and its landmark FacePose (same intrinsics:
    (fx, fy, cx, cy) or a CameraIntrinsics)."""
    verts = metric_vertices(landmarks_px, intrinsics, pose)
    image = project(verts, intrinsics)
    image[:, 2] *= float(tuple(intrinsics)[0]) / float(pose.position[2])
    normals = vertex_normals(verts, triangles)
    colors = np.tile(np.asarray(color, dtype=np.float64), (len(verts), 1))
    return LandmarkMesh(verts, image, normals, colors)


def render_meshes(image_rgb, meshes: Sequence[LandmarkMesh], triangles, alpha=0.8):
    """The image with the shaded meshes blended on (Sim3DR z-buffer across all faces).

    Returns (rgb, depth): uint8 (H, W, 3) and float32 (H, W) of the drawn
    image-vertex z (+inf where no face was drawn).
    """
    from faceverse_ros.views import render as sim3dr

    out = np.ascontiguousarray(image_rgb)
    if not meshes:
        return out.copy(), np.full(out.shape[:2], np.inf, np.float32)
    tri = np.asarray(triangles, dtype=np.int64)
    n = meshes[0].vertices_m.shape[0]
    verts = np.concatenate([m.image_vertices for m in meshes])
    cols = np.concatenate([m.colors for m in meshes])
    norms = np.concatenate([m.normals for m in meshes])
    tris = np.concatenate([tri + k * n for k in range(len(meshes))])
    drawn, depth = sim3dr.render(out.shape[:2], verts, tris, cols, normals=norms)
    return sim3dr.overlay(out, drawn, depth, alpha=alpha), depth
