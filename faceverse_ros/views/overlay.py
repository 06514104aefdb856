"""Debug views of tracking results: the overlay image and the decimated marker meshes.

:func:`draw_overlay` draws, on the frame the faces describe, the rendered
faces (when they carry a mesh and the triangles are given), boxes,
landmarks, head axes (x red, y green, z blue), ids, the strongest few
blendshapes (when the detector gave them), and optionally the rate.
:class:`ViewBuilder` builds both views of one frame from a
:class:`ViewRequest`, reconstructing the meshes it needs itself (the debug
views run in their own worker, apart from the tracking): the FaceVerse mesh
decimated (only the kept vertices reconstructed, identity and albedo cached per
face: views.mesh_builder.FaceMeshBuilder), else (landmark-only mode) the MediaPipe
face mesh (views.face_mesh) with the triangles of a
landmarks.canonical_mesh.CanonicalMesh.

Faces are read by attribute (face_id, box, landmarks, pose, mode, coeffs,
crop_box, mesh, blendshapes), as tracking.pipeline.FaceResult has them.
"""
import dataclasses
from typing import TYPE_CHECKING, Optional

import cv2
import numpy as np

from faceverse_ros.core.layout import MODE_LANDMARK_ONLY

if TYPE_CHECKING:
    from faceverse_ros.views.mesh_builder import FaceMeshBuilder

BOX_COLOUR = (0, 255, 0)
LANDMARK_COLOUR = (255, 255, 0)
AXIS_LENGTH_M = 0.08
BLENDSHAPES_SHOWN = 3   # the strongest few weights written under each face's box
RENDER_DECIMATION = 4   # the debug render keeps about 1/N of the FaceVerse vertices
RENDER_REST_CELLS = 3   # and clusters the head outside the face_mask in 3x larger cells
RENDER_MAX_PX = 200     # ViewBuilder renders larger faces at this size and scales the render up


def draw_overlay(rgb, faces, intrinsics, triangles=None, fps=None, meshes=None, max_px=None,
                 face_label=str):
    """A copy of ``rgb`` with the faces drawn (see module doc), each labelled with
    ``face_label(face_id)``: the callers give the id string of their messages (FaceVerseParams.id,
    the TF frames: "f0"), so that the picture and the topics name a face alike. ``triangles``: the model's
    (T, 3) triangles to render the faces' meshes; None draws no mesh. ``meshes``: the
    meshes to render instead of the faces' own (a list, None entries skipped); a mesh
    with its own ``triangles`` (a decimated FaceMesh) is drawn with those. ``max_px``:
    meshes spanning more pixels than this are rendered at that size and scaled up
    (bilinear colour and coverage, which then weights the blend); None renders at full
    resolution."""
    out = np.ascontiguousarray(rgb).copy()
    if meshes is None:
        meshes = [getattr(f, "mesh", None) for f in faces] if triangles is not None else []
    drawn = []
    for m in meshes:
        tri = getattr(m, "triangles", None) if m is not None else None
        tri = triangles if tri is None else tri
        if m is not None and tri is not None:
            drawn.append((m, tri))
    if len(drawn) == 1:  # one face: its arrays as they are (the render copies what it moves)
        (m, tris), = drawn
        verts, cols, norms = m.image_vertices, m.colors, outward(m.image_vertices, m.normals)
    elif drawn:
        verts = np.concatenate([m.image_vertices for m, _ in drawn])
        cols = np.concatenate([m.colors for m, _ in drawn])
        norms = np.concatenate([outward(m.image_vertices, m.normals) for m, _ in drawn])
        offsets = np.cumsum([0] + [len(m.image_vertices) for m, _ in drawn[:-1]])
        tris = np.concatenate([np.asarray(t) + k for (_, t), k in zip(drawn, offsets)])
    if drawn:
        out = _render_onto(out, verts, tris, cols, norms, max_px)
    for face in faces:
        x0, y0, x1, y1 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), BOX_COLOUR, 2)
        pts = np.round(face.landmarks[:, :2]).astype(np.int64)
        ok = (pts[:, 0] >= 0) & (pts[:, 0] < out.shape[1]) & (pts[:, 1] >= 0) & \
            (pts[:, 1] < out.shape[0])
        out[pts[ok, 1], pts[ok, 0]] = LANDMARK_COLOUR
        draw_axes(out, face.pose, intrinsics)
        label = face_label(face.face_id) + (
            " landmark-only" if face.mode == MODE_LANDMARK_ONLY else "")
        cv2.putText(out, label, (x0, max(y0 - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    BOX_COLOUR, 1, cv2.LINE_AA)
        draw_blendshapes(out, getattr(face, "blendshapes", None), (x0, y1))
    if fps is not None:
        cv2.putText(out, f"{fps:.1f} fps", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (255, 255, 255), 2, cv2.LINE_AA)
    return out


def outward(vertices, normals):
    """``normals``, or their negation, so that they point out of the mesh (away from its
    centroid): the side of a head, or of a face shell, that the camera sees then faces
    the light, whatever the model's triangle winding. The sign of the sum over vertices
    of (v - centroid) . n decides; it does not depend on how densely each side of the
    head is sampled (the sign of the sum of n_z did: over a closed head it is about 0,
    and it flipped with the decimation). Non-finite vertices or normals are left out."""
    v = np.asarray(vertices)
    n = np.asarray(normals)
    if not len(v):
        return n
    with np.errstate(invalid="ignore", over="ignore"):
        side = float(np.sum((v - v.mean(axis=0)) * n))
    if not np.isfinite(side):
        ok = np.isfinite(v).all(axis=1) & np.isfinite(n).all(axis=1)
        if not ok.any():
            return n
        side = float(np.sum((v[ok] - v[ok].mean(axis=0)) * n[ok]))
    return -n if side < 0 else n


def _render_onto(out, verts, tris, cols, norms, max_px, alpha=0.8):
    """Sim3DR render of the meshes blended onto ``out`` (in place), on a canvas of the
    meshes' pixel bounds only (the coverage of a whole-image canvas: an integer shift changes
    neither the rasteriser's fixed-point snapping nor its bounding-box lighting, only the
    rounding of its interpolation set-up), at most ``max_px`` across (see draw_overlay).
    A render at reduced size is scaled up and blended in one C++ pass (_sim3dr.blend_scaled:
    bilinear colour premultiplied by the bilinear coverage, which weights the blend, so the
    edges are soft, not a staircase, and not darkened by the empty canvas)."""
    from faceverse_ros import _sim3dr
    from faceverse_ros.views import render as sim3dr

    h, w = out.shape[:2]
    # the bounds of the finite vertices; per column (a reduction over axis 0 of an (N, 2)
    # view, or a row-wise finite mask, costs about ten times more)
    x, y = verts[:, 0], verts[:, 1]
    if not np.isfinite(float(x.sum()) + float(y.sum())):   # some vertex is not finite
        keep = np.isfinite(x) & np.isfinite(y)
        x, y = x[keep], y[keep]
    if not len(x):
        return out
    x0 = max(int(np.floor(x.min())) - 1, 0)
    y0 = max(int(np.floor(y.min())) - 1, 0)
    x1 = min(int(np.ceil(x.max())) + 2, w)
    y1 = min(int(np.ceil(y.max())) + 2, h)
    if x1 <= x0 or y1 <= y0:
        return out   # nothing inside the image
    span = max(x1 - x0, y1 - y0)
    v = np.array(verts, dtype=np.float32)
    if max_px is None or span <= max_px:
        s, size = 1.0, (y1 - y0, x1 - x0)
        v[:, 0] -= np.float32(x0)
        v[:, 1] -= np.float32(y0)
    else:
        s = max_px / float(span)
        size = (max(int(np.ceil((y1 - y0) * s)), 1), max(int(np.ceil((x1 - x0) * s)), 1))
        # pixel centres map as x_small = (x - x0 + 0.5) * s - 0.5; z scales alike so that the
        # lighting (on positions rescaled to their bounding box) does not change
        v[:, 0] = (v[:, 0] - x0 + 0.5) * s - 0.5
        v[:, 1] = (v[:, 1] - y0 + 0.5) * s - 0.5
        v[:, 2] *= np.float32(s)
    picture, depth = sim3dr.render(size, v, tris, cols, normals=norms)
    _sim3dr.blend_scaled(out[y0:y1, x0:x1], picture, depth, s, alpha)
    return out


def draw_blendshapes(image, weights, corner, count=BLENDSHAPES_SHOWN):
    """The ``count`` strongest blendshapes ("jawOpen 0.62"), one a line, from the pixel
    ``corner`` (a box's bottom-left) down; kept inside the image. None draws nothing."""
    if weights is None:
        return
    from faceverse_ros.landmarks.blendshapes import strongest

    h, w = image.shape[:2]
    scale = max(0.4, min(1.2, h / 600.0))
    step = int(round(22 * scale))
    x = int(min(max(corner[0], 2), max(w - int(150 * scale), 2)))
    y = int(min(max(corner[1] + step, step), h - 4 - step * (count - 1)))
    for k, (name, value) in enumerate(strongest(weights, count)):
        text = f"{name} {value:.2f}"
        org = (x, y + k * step)
        cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (0, 0, 0),
                    max(1, int(round(3 * scale))), cv2.LINE_AA)
        cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (255, 255, 255),
                    max(1, int(round(scale))), cv2.LINE_AA)


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
    render_decimation: Optional[int] = None   # None: the ViewBuilder's
    fps: Optional[float] = None
    tag: object = None          # the caller's (e.g. the frame's ROS header), handed back


@dataclasses.dataclass
class Views:
    tag: object
    debug: Optional[np.ndarray]     # overlay image or None
    meshes: Optional[list]          # [(face_id, vertices_m, triangles, colors)] or None


class ViewBuilder:
    """Builds the Views of ViewRequests for one FaceVerse model, or (model None,
    landmark-only mode) for the MediaPipe face mesh with the triangles of ``canonical``
    (a landmarks.canonical_mesh.CanonicalMesh; None too: no meshes). The decimated FaceVerse
    topology is computed once per decimation factor; the MediaPipe mesh (468 vertices)
    is not decimated.

    FaceVerse faces without a mesh of their own are reconstructed on the decimated
    topology only (views.mesh_builder.FaceMeshBuilder: the render at ``render_decimation``
    with the head outside the model's face_mask in ``render_rest_cells`` times larger
    cells, the markers at the request's ``decimation``; identity and albedo cached per face id,
    dropped when a face no longer appears). Faces that carry a full mesh (``need_mesh``
    in the pipeline: the command line's PLY export) are drawn with the render
    decimation's vertices of it and their markers decimated from it."""

    def __init__(self, model=None, canonical=None, render_decimation=RENDER_DECIMATION,
                 render_rest_cells=RENDER_REST_CELLS, face_label=str):
        self.model = model
        self.face_label = face_label   # face id -> its label: the id string of the messages
        self.canonical = canonical
        self.render_decimation = int(render_decimation)
        self.render_rest_cells = float(render_rest_cells)
        if not self.render_rest_cells >= 1.0:
            raise ValueError(f"render rest cells must be >= 1, got {render_rest_cells}")
        self.render_max_px = RENDER_MAX_PX
        if self.render_decimation < 1:
            raise ValueError(f"render decimation must be >= 1, got {render_decimation}")
        self._decimators = {}
        self._builders = {}

    @property
    def triangles(self):
        """The triangles the faces' meshes are drawn with (None: no meshes)."""
        if self.model is not None:
            return self.model.tri
        return None if self.canonical is None else self.canonical.triangles

    def build(self, req: ViewRequest) -> Views:
        if self.model is None:
            need = self.triangles is not None and (req.mesh or (req.debug and req.render))
            if need:
                self.add_meshes(req.faces, req.intrinsics)
            debug = draw_overlay(req.rgb, req.faces, req.intrinsics,
                                 self.triangles if req.render else None,
                                 req.fps, face_label=self.face_label) if req.debug else None
            meshes = self.marker_meshes(req.faces, req.decimation) if req.mesh else None
            return Views(req.tag, debug, meshes)
        done = {}   # decimation -> meshes of this request (render and markers may share one)
        debug = self.overlay(req.rgb, req.faces, req.intrinsics, req.render, req.fps,
                             req.render_decimation, done) if req.debug else None
        meshes = self.marker_meshes(req.faces, req.decimation, done) if req.mesh else None
        return Views(req.tag, debug, meshes)

    def overlay(self, rgb, faces, intrinsics, render=True, fps=None, decimation=None, done=None):
        """The debug image of ``faces`` (draw_overlay); FaceVerse faces rendered from their
        meshes at ``decimation`` (None: the builder's render decimation)."""
        if not render or self.triangles is None:
            return draw_overlay(rgb, faces, intrinsics, None, fps, face_label=self.face_label)
        if self.model is None:
            self.add_meshes(faces, intrinsics)
            return draw_overlay(rgb, faces, intrinsics, self.triangles, fps,
                                face_label=self.face_label)
        d = self.render_decimation if decimation is None else int(decimation)
        meshes = self.decimated_meshes(faces, d, done, rest_cells=self.render_rest_cells)
        return draw_overlay(rgb, faces, intrinsics, self.triangles, fps, meshes=meshes,
                            max_px=self.render_max_px, face_label=self.face_label)

    def decimator(self, decimation, rest_cells=1.0):
        """The MeshDecimator of the FaceVerse mesh at ``decimation`` (cached): the parts
        (head, eyeballs, mouth interior) decimated apart; ``rest_cells`` > 1 clusters the
        head outside the model's face_mask in that many times larger cells (the render's
        choice; the markers, seen from anywhere in RViz, keep 1)."""
        from faceverse_ros.views.mesh_decimate import HEAD_REST, MeshDecimator, part_labels

        key = (int(decimation), float(rest_cells))
        dec = self._decimators.get(key)
        if dec is None:
            m = self.model
            split = key[1] > 1.0
            groups = part_labels(m.ver_inds, m.n_vertices, m.face_mask if split else None)
            dec = self._decimators[key] = MeshDecimator(
                m.meanshape_raw, m.tri, key[0], groups=groups,
                coarser={HEAD_REST: key[1]} if split else None)
        return dec

    def mesh_builder(self, decimation: int = 1, rest_cells: float = 1.0) -> "FaceMeshBuilder":
        """The FaceMeshBuilder (a cache per face id) of one mesh resolution, made on first use;
        decimation 1: the whole mesh, the one the pipeline receives for the saved meshes."""
        from faceverse_ros.views.mesh_builder import FaceMeshBuilder

        key = (int(decimation), float(rest_cells) if int(decimation) > 1 else 1.0)
        builder = self._builders.get(key)
        if builder is None:
            if key[0] == 1:
                builder = FaceMeshBuilder(self.model)
            else:
                dec = self.decimator(*key)
                builder = FaceMeshBuilder(self.model, dec.vertex_index, dec.triangles)
            self._builders[key] = builder
        return builder

    def decimated_meshes(self, faces, decimation, done=None, rest_cells=1.0):
        """[FaceMesh with its own triangles, or None] per face: FaceVerse faces on the
        decimated topology (``decimator``; from their full mesh when they carry one, else
        reconstructed there with the per-face cache); None for landmark-only faces.
        Decimation 1 is the whole mesh, whatever ``rest_cells``."""
        key = (int(decimation), float(rest_cells) if int(decimation) > 1 else 1.0)
        decimation = key[0]
        if done is not None and key in done:
            return done[key]
        from faceverse_ros.core.face_mesh import FaceMesh

        builder = self.mesh_builder(*key)
        out = [None] * len(faces)
        todo = []
        for k, f in enumerate(faces):
            if f.mode == MODE_LANDMARK_ONLY:
                continue
            full = getattr(f, "mesh", None)
            if full is None:
                todo.append(k)
            elif decimation == 1:
                out[k] = full
            else:
                dec = self.decimator(*key)
                out[k] = FaceMesh(*(dec(a) for a in (full.image_vertices, full.colors,
                                                     full.normals, full.vertices,
                                                     full.vertices_m)),
                                  triangles=dec.triangles)
        made = builder.meshes([faces[k].face_id for k in todo],
                              np.stack([faces[k].coeffs for k in todo]) if todo else
                              np.zeros((0, self.model.n_coeffs), np.float32),
                              [faces[k].crop_box for k in todo], [faces[k].pose for k in todo])
        for k, mesh in zip(todo, made):
            out[k] = mesh
        if done is not None:
            done[key] = out
        return out

    def add_meshes(self, faces, intrinsics=None):
        """Give each face without one its mesh (FaceVerse faces: the full mesh from the model;
        landmark-only faces: the MediaPipe mesh, which needs the frame's intrinsics)."""
        from faceverse_ros.core.face_mesh import face_meshes

        if self.model is None:
            if self.canonical is not None and intrinsics is not None:
                from faceverse_ros.views.landmark_mesh import landmark_mesh

                for f in faces:
                    if f.mode == MODE_LANDMARK_ONLY and getattr(f, "mesh", None) is None:
                        f.mesh = landmark_mesh(f.landmarks, intrinsics, f.pose,
                                               self.canonical.triangles)
            return
        todo = [f for f in faces if f.mode != MODE_LANDMARK_ONLY and getattr(f, "mesh", None) is None]
        if todo:
            meshes = face_meshes(self.model, np.stack([f.coeffs for f in todo]),
                                 [f.crop_box for f in todo], [f.pose for f in todo])
            for face, mesh in zip(todo, meshes):
                face.mesh = mesh

    def marker_meshes(self, faces, decimation: int, done=None):
        """[(face_id, vertices_m, triangles, colors)] for RViz: the FaceVerse mesh decimated
        (every FaceVerse face), the MediaPipe mesh whole (faces with a mesh)."""
        if self.model is None:
            if self.canonical is None:
                return []
            return [(f.face_id, f.mesh.vertices_m, self.canonical.triangles, f.mesh.colors)
                    for f in faces if getattr(f, "mesh", None) is not None]
        meshes = self.decimated_meshes(faces, int(decimation), done)
        return [(f.face_id, m.vertices_m, m.triangles if m.triangles is not None else self.model.tri,
                 m.colors) for f, m in zip(faces, meshes) if m is not None]
