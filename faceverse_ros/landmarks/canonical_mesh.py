"""The MediaPipe face mesh as a triangle mesh: triangles, UVs and metric vertices (no ROS).

Where the triangles come from
-----------------------------
- With ``face_landmarker.task`` (a zip): its
  ``geometry_pipeline_metadata_landmarks.binarypb`` (a
  ``GeometryPipelineMetadata`` protobuf) holds MediaPipe's canonical face
  mesh: 468 vertices as (x, y, z, u, v) in centimetres (x toward the
  person's left, i.e. image right for a frontal face, y up, z out of the
  face) and 898 triangles as a flat index buffer. :func:`mesh_from_task`
  reads triangles, UVs, canonical positions and the Procrustes landmark
  weights.
- Without it, only the legacy Face Mesh bundled in mediapipe is there, and
  ``mediapipe.solutions.face_mesh_connections.FACEMESH_TESSELATION`` (the
  directed edges of its drawing mesh) is the only triangulation on the
  machine. :func:`triangles_from_edges` rebuilds the triangles from those
  edges: every 3-clique of the edge graph, minus the cliques that enclose
  faces (a clique whose three edges each already bound two other cliques),
  oriented consistently across shared edges, globally as the edges' own
  direction on the mesh boundary.

The two are not the same triangulation (measured with mediapipe 0.10.21 and
the shared ``face_landmarker.task``; test/test_canonical_mesh.py keeps it
measured): the tesselation has 852 triangles with the eyes and the mouth left
open (3 holes), the .task mesh 898. 434 triangles are identical, with the same
orientation; the other 418 of the tesselation are 209 quads that the .task
mesh splits along their other diagonal; the .task mesh's 46 remaining
triangles close the two eyes and the mouth. MediaPipe's own issue tracker
notes that the drawing mesh and the canonical model differ
(google-ai-edge/mediapipe#3484). Both are valid meshes of the same 468
vertices with the same outer contour, so the legacy fallback renders and
exports the tesselation's triangles, without UVs.

Metric vertices
---------------
:func:`metric_vertices` puts the 468 detected landmarks in metres in the
camera optical frame (x right, y down, z forward). The scale comes from our
metric landmark pose (:mod:`faceverse_ros.landmarks.landmark_pose`: the eye
centres 63 mm apart) gives the sellion's depth Z; each landmark's MediaPipe
relative depth (pixels, scaled like x) becomes metres at that depth (times
Z / fx, the weak-perspective scale of the head), and the landmark's pixel is
back-projected at its depth with the camera intrinsics.
Why this source and not MediaPipe's canonical face geometry (the
``facial_transformation_matrixes`` of the Tasks API): it works with both
detectors (the legacy mesh has no face geometry), it uses the real camera
intrinsics (camera_info) where MediaPipe assumes its own 63-degree camera, it
follows the expression (the canonical geometry is a rigid average face), and
the mesh sits exactly at the head pose published on /tf. The scale itself
agrees: the canonical face's eye centres are 63.0 mm apart, and on the shared
video our sellion depth matches the canonical geometry's within 2 % when both
use the same camera (test/test_canonical_mesh.py).

By construction the vertices project back onto the detected landmarks (the
test checks it with OpenCV's independent projection).
"""
from __future__ import annotations

import zipfile
from collections import defaultdict, deque
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

from faceverse_ros.landmarks.indices import NUM_MESH_VERTICES, SELLION

if TYPE_CHECKING:
    from faceverse_ros.core.camera import CameraIntrinsics
    from faceverse_ros.core.pose import FacePose

METADATA_MEMBER = "geometry_pipeline_metadata_landmarks.binarypb"


class CanonicalMeshError(ValueError):
    """The .task bundle holds no usable canonical mesh, or the edges give no manifold mesh."""


@dataclass(frozen=True)
class CanonicalMesh:
    """Triangles over the 468 MediaPipe mesh landmarks.

    triangles: (T, 3) int32; a triangle's corners go counter-clockwise as
        seen from in front of the face with y up (MediaPipe's canonical
        convention), i.e. clockwise in an image (y down) for a face seen from
        the front.
    uvs: (468, 2) float32 texture coordinates in [0, 1] (v up), or None.
    vertices_cm: (468, 3) canonical positions in centimetres, or None.
    procrustes_weights: {landmark index: weight} of MediaPipe's metric face
        geometry fit ({} when unknown).
    source: "task" or "tesselation".
    """
    triangles: np.ndarray
    uvs: Optional[np.ndarray] = None
    vertices_cm: Optional[np.ndarray] = None
    procrustes_weights: Dict[int, float] = field(default_factory=dict)
    source: str = "task"

    @property
    def n_triangles(self) -> int:
        return int(self.triangles.shape[0])


# --------------------------------------------------------------------------- the .task bundle
def mesh_from_task(task_path: "str | Path") -> CanonicalMesh:
    """Read the canonical mesh out of a ``face_landmarker.task`` bundle."""
    from mediapipe.tasks.cc.vision.face_geometry.proto import geometry_pipeline_metadata_pb2

    path = Path(task_path)
    try:
        with zipfile.ZipFile(path) as bundle:
            data = bundle.read(METADATA_MEMBER)
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise CanonicalMeshError(f"{path}: no {METADATA_MEMBER} inside ({exc})") from None
    meta = geometry_pipeline_metadata_pb2.GeometryPipelineMetadata()
    try:
        meta.ParseFromString(data)
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError variants
        raise CanonicalMeshError(f"{path}: {METADATA_MEMBER} does not parse ({exc})") from None
    mesh = meta.canonical_mesh
    vb = np.asarray(mesh.vertex_buffer, dtype=np.float32)
    ib = np.asarray(mesh.index_buffer, dtype=np.int64)
    # vertex_type 0 = VERTEX_PT (x, y, z, u, v); primitive_type 0 = TRIANGLE
    if mesh.vertex_type != 0 or mesh.primitive_type != 0 or vb.size != 5 * NUM_MESH_VERTICES \
            or ib.size == 0 or ib.size % 3 or ib.min() < 0 or ib.max() >= NUM_MESH_VERTICES:
        raise CanonicalMeshError(
            f"{path}: unexpected canonical mesh (vertex type {mesh.vertex_type}, primitive "
            f"{mesh.primitive_type}, {vb.size // 5} vertices, {ib.size} indices); expected "
            f"{NUM_MESH_VERTICES} (x, y, z, u, v) vertices and a triangle list")
    vb = vb.reshape(NUM_MESH_VERTICES, 5)
    weights = {int(p.landmark_id): float(p.weight) for p in meta.procrustes_landmark_basis}
    return CanonicalMesh(triangles=ib.reshape(-1, 3).astype(np.int32), uvs=vb[:, 3:5].copy(),
                         vertices_cm=vb[:, :3].copy(), procrustes_weights=weights, source="task")


# --------------------------------------------------------------------------- from the edges
def _canonical_cycle(tri) -> Tuple[int, int, int]:
    """The rotation of a corner cycle starting at its smallest index (orientation kept)."""
    a, b, c = (int(v) for v in tri)
    if a <= b and a <= c:
        return (a, b, c)
    if b <= a and b <= c:
        return (b, c, a)
    return (c, a, b)


def triangles_from_edges(edges: Iterable[Tuple[int, int]]) -> np.ndarray:
    """Oriented triangles of the mesh whose (directed) edges are ``edges``.

    edges: pairs (a, b); a drawing mesh lists each triangle's edges in its
    corner order, so a boundary edge's direction gives the orientation.
    Returns (T, 3) int32 with every interior edge used once in each direction.
    Raises CanonicalMeshError when the edges do not describe an orientable
    manifold triangle mesh, or when the triangles found do not give back
    exactly the directed edges given (the check that the non-face cliques
    were told apart right).
    """
    directed = {(int(a), int(b)) for a, b in edges if int(a) != int(b)}
    undirected = {(min(e), max(e)) for e in directed}
    neighbours = defaultdict(set)
    for a, b in undirected:
        neighbours[a].add(b)
        neighbours[b].add(a)
    cliques = set()
    for a, b in undirected:
        for c in neighbours[a] & neighbours[b]:
            cliques.add(tuple(sorted((a, b, c))))
    # drop the cliques that are not faces: a face's edge bounds at most two faces, so a
    # clique all of whose edges bound more than two cliques encloses faces (e.g. the ring
    # around a vertex of degree 3); remove those, largest overlap first, until none is left
    cliques = set(cliques)
    while True:
        count: Dict[Tuple[int, int], int] = defaultdict(int)
        for t in cliques:
            for e in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])):
                count[e] += 1
        extra = [t for t in cliques
                 if min(count[(t[0], t[1])], count[(t[0], t[2])], count[(t[1], t[2])]) > 2]
        if not extra:
            break
        cliques.discard(max(extra, key=lambda t: (sum(count[e] for e in _edges(t)), t)))
    if any(n > 2 for n in count.values()):
        raise CanonicalMeshError("the edges do not form a manifold mesh (an edge bounds more "
                                 "than two triangles)")
    tris = _orient(sorted(cliques), directed)
    rebuilt = {e for a, b, c in tris.tolist() for e in ((a, b), (b, c), (c, a))}
    if rebuilt != directed:
        raise CanonicalMeshError(
            f"the triangles rebuilt from the edges give {len(rebuilt ^ directed)} directed "
            "edges that differ from the ones given (not a drawing mesh of oriented triangles)")
    return tris


def _edges(t):
    return ((t[0], t[1]), (t[0], t[2]), (t[1], t[2]))


def _orient(tris, directed) -> np.ndarray:
    """Orient unordered triangles consistently (breadth-first over shared edges), then
    flip each connected piece so that its boundary edges run as in ``directed``."""
    by_edge = defaultdict(list)
    for k, t in enumerate(tris):
        for e in _edges(t):
            by_edge[e].append(k)
    oriented: List[Optional[Tuple[int, int, int]]] = [None] * len(tris)

    def placed(k: int) -> Tuple[int, int, int]:
        """Triangle k as oriented already (every triangle of a piece is)."""
        t = oriented[k]
        assert t is not None
        return t

    for start in range(len(tris)):
        if oriented[start] is not None:
            continue
        piece = [start]
        oriented[start] = tuple(tris[start])
        queue = deque([start])
        while queue:
            k = queue.popleft()
            a, b, c = placed(k)
            for u, v in ((a, b), (b, c), (c, a)):
                for j in by_edge[(min(u, v), max(u, v))]:
                    if j == k:
                        continue
                    x, y, z = tris[j]
                    # the neighbour must run the shared edge v -> u
                    cand = (x, y, z)
                    if (u, v) in ((x, y), (y, z), (z, x)):
                        cand = (x, z, y)
                    if oriented[j] is None:
                        oriented[j] = cand
                        piece.append(j)
                        queue.append(j)
                    elif _canonical_cycle(placed(j)) != _canonical_cycle(cand):
                        raise CanonicalMeshError("the edges describe a non-orientable mesh")
        votes = 0
        for k in piece:
            a, b, c = placed(k)
            for u, v in ((a, b), (b, c), (c, a)):
                if len(by_edge[(min(u, v), max(u, v))]) == 1:  # a boundary edge
                    votes += ((u, v) in directed) - ((v, u) in directed)
        if votes < 0:
            for k in piece:
                a, b, c = placed(k)
                oriented[k] = (a, c, b)
    return np.array([_canonical_cycle(placed(k)) for k in range(len(tris))],
                    dtype=np.int32).reshape(-1, 3)


@lru_cache(maxsize=1)
def _tesselation_triangles() -> np.ndarray:
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    tris = triangles_from_edges(FACEMESH_TESSELATION)
    tris.setflags(write=False)
    return tris


def mesh_from_tesselation() -> CanonicalMesh:
    """The legacy Face Mesh's triangles, rebuilt from FACEMESH_TESSELATION (no UVs)."""
    return CanonicalMesh(triangles=_tesselation_triangles(), source="tesselation")


def load_mesh(task_path: "Optional[str | Path]" = None) -> CanonicalMesh:
    """The .task bundle's canonical mesh when ``task_path`` is given, else the tesselation's."""
    return mesh_from_task(task_path) if task_path else mesh_from_tesselation()


# --------------------------------------------------------------------------- metric vertices
def metric_vertices(landmarks_px: npt.ArrayLike, intrinsics: "CameraIntrinsics",
                    pose: "FacePose") -> np.ndarray:
    """The 468 mesh landmarks in metres in the camera optical frame.

    landmarks_px: (478, 3) or (468, 3) pixels (x, y, z scaled like x), as
        :class:`~faceverse_ros.tracking.detector.Detection` gives.
    intrinsics: (fx, fy, cx, cy) pixels, the ones the pose was computed with.
    pose: the face's :class:`~faceverse_ros.core.pose.FacePose` (from
        :func:`~faceverse_ros.landmarks.landmark_pose.estimate_head_pose`, possibly
        smoothed); its ``position`` (the sellion, metres) is used.
    Depth of landmark i: ``Z + (z_i - z_sellion) * Z / fx`` with Z the sellion's
    depth; x, y: the pixel back-projected at that depth (see the module doc).
    """

    lm = np.asarray(landmarks_px, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[1] != 3 or lm.shape[0] < NUM_MESH_VERTICES:
        raise ValueError(f"landmarks must be (478, 3) pixels, got {lm.shape}")
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    head_z = float(np.asarray(pose.position, dtype=np.float64)[2])
    if not head_z > 0 or not fx > 0 or not fy > 0:
        raise ValueError("metric_vertices needs a head in front of the camera and positive "
                         "focal lengths")
    mesh = lm[:NUM_MESH_VERTICES]
    depth = head_z + (mesh[:, 2] - mesh[SELLION, 2]) * head_z / fx
    if not np.all(depth > 0):
        raise ValueError("the face mesh reaches behind the camera (non-positive depth)")
    out = np.empty((NUM_MESH_VERTICES, 3), dtype=np.float64)
    out[:, 0] = (mesh[:, 0] - cx) * depth / fx
    out[:, 1] = (mesh[:, 1] - cy) * depth / fy
    out[:, 2] = depth
    return out


def project(vertices_m: npt.ArrayLike, intrinsics: "CameraIntrinsics") -> np.ndarray:
    """(N, 3) optical-frame metres -> (N, 3) image vertices for Sim3DR.

    x, y: pinhole projection in pixels; z: the depth in metres (smaller = nearer).
    """
    v = np.asarray(vertices_m, dtype=np.float64)
    fx, fy, cx, cy = (float(k) for k in intrinsics)
    out = np.empty_like(v)
    out[:, 0] = fx * v[:, 0] / v[:, 2] + cx
    out[:, 1] = fy * v[:, 1] / v[:, 2] + cy
    out[:, 2] = v[:, 2]
    return out


def vertex_normals(vertices: npt.ArrayLike, triangles: npt.ArrayLike,
                   toward: Tuple[float, float, float] = (0.0, 0.0, -1.0)) -> np.ndarray:
    """Unit area-weighted vertex normals, all flipped together to face ``toward`` on average.

    vertices: (N, 3) (e.g. optical-frame metres, where the camera looks along +z, so
    normals facing the camera point to -z). Vertices in no triangle get (0, 0, 0).
    """
    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(triangles, dtype=np.int64)
    face = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    normals = np.zeros_like(v)
    for k in range(3):
        np.add.at(normals, t[:, k], face)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    if float(np.sum(normals @ np.asarray(toward, dtype=np.float64))) < 0:
        normals = -normals
    return normals
