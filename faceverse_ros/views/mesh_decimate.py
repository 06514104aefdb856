"""Vertex-clustering mesh decimation, computed once per mesh topology.

The FaceVerse mesh (about 20k vertices / 40k triangles) is too heavy to send
to RViz every frame. `MeshDecimator` snaps the vertices of a reference pose to
a regular grid, keeps one representative vertex per occupied cell, rewrites
the triangles onto the representatives and drops the ones that collapsed. The
topology is fixed per model, so this runs once; each frame then only gathers
`vertices[decimator.vertex_index]`.

`groups` (one label per vertex) keeps parts apart: a cell holds vertices of one
label only, so that no kept triangle joins, say, an eyeball to the eyelid
around it (the eyeballs rotate on their own; a triangle spanning both parts
would stick out of the face when the eye turns). `part_labels` gives the
FaceVerse parts from the model's ``ver_inds``, and with the model's
``face_mask`` also the head outside the face (scalp, ears, neck, back of the
head). `coarser` gives some labels larger cells: the debug render, which sees
the head from the camera, keeps the face at the factor's density and the rest
of the head coarser (views.overlay). Triangles across two labels are kept
(their corners land in different cells), so the surface stays closed where the
face meets the rest of the head.
"""
import numpy as np


HEAD, LEFT_EYE, RIGHT_EYE, MOUTH, HEAD_REST = range(5)   # part_labels' labels


def part_labels(ver_inds, n_vertices, face_mask=None):
    """Per-vertex FaceVerse part: HEAD 0, LEFT_EYE 1, RIGHT_EYE 2, MOUTH 3 (the mouth
    interior; ver_inds: the model's part boundaries, spec section 2); with ``face_mask``
    (the model's, > 0 on the front-face vertices), head vertices outside it are HEAD_REST 4.
    A mask with no head vertex in it splits nothing (all of the head stays HEAD)."""
    vi = [int(v) for v in ver_inds]
    labels = np.zeros(int(n_vertices), dtype=np.int64)
    labels[vi[0]:vi[1]] = LEFT_EYE
    labels[vi[1]:vi[2]] = RIGHT_EYE
    labels[vi[2]:vi[5]] = MOUTH
    if face_mask is not None:
        mask = np.asarray(face_mask).reshape(-1)
        if len(mask) != len(labels):
            raise ValueError(f"face_mask must have one entry per vertex ({len(labels)})")
        rest = (labels == HEAD) & ~(mask > 0)
        if not np.all(rest[labels == HEAD]):   # an empty mask: no face to keep finer
            labels[rest] = HEAD_REST
    return labels


def _cluster(vertices, cell, groups=None):
    """Cells of size ``cell`` (a number, or one per vertex as an (N, 1) array)."""
    keys = np.floor((vertices - vertices.min(axis=0)) / cell).astype(np.int64)
    if groups is not None:
        keys = np.concatenate([groups[:, None] - groups.min(), keys], axis=1)
    # one int64 per cell, ordered like the rows lexicographically (np.unique on rows is slow)
    span = keys.max(axis=0) + 1
    if np.prod(span.astype(np.float64)) < 2.0 ** 62:
        code = keys[:, 0]
        for k in range(1, keys.shape[1]):
            code = code * span[k] + keys[:, k]
        _, first, labels = np.unique(code, return_index=True, return_inverse=True)
        return first, labels.reshape(-1)
    _, first, labels = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return first, labels.reshape(-1)


class MeshDecimator:
    """Keeps about len(vertices)/factor vertices. factor 1 keeps the mesh as it is.

    ``coarser`` ({label: k >= 1}, needs ``groups``): the vertices of those labels are
    clustered in cells k times larger than the others'; the others keep the cells of the
    plain decimation (the size that keeps about len(vertices)/factor vertices without
    ``coarser``), so the total is smaller."""

    def __init__(self, reference_vertices, triangles, factor, groups=None, coarser=None):
        verts = np.asarray(reference_vertices, dtype=np.float64)
        tris = np.asarray(triangles, dtype=np.int64)
        factor = int(factor)
        if factor < 1:
            raise ValueError(f"decimation factor must be >= 1, got {factor}")
        if verts.ndim != 2 or verts.shape[1] != 3 or tris.ndim != 2 or tris.shape[1] != 3:
            raise ValueError("expected vertices (N, 3) and triangles (T, 3)")
        if groups is not None:
            groups = np.asarray(groups, dtype=np.int64).reshape(-1)
            if len(groups) != len(verts):
                raise ValueError(f"groups must have one label per vertex ({len(verts)})")
        scale = None
        if coarser:
            if groups is None:
                raise ValueError("coarser cells need groups")
            scale = np.ones((len(verts), 1))
            for label, k in coarser.items():
                if not float(k) >= 1.0:
                    raise ValueError(f"a coarser cell scale must be >= 1, got {k}")
                scale[groups == label] = float(k)
        self.factor = factor
        if factor == 1:
            self.vertex_index = np.arange(len(verts))
            self.triangles = tris.copy()
            return
        target = max(len(verts) // factor, 4)
        extent = float(np.ptp(verts, axis=0).max()) or 1.0
        lo, hi = 0.0, extent  # bisect the cell size (log scale would do too)
        best = None
        for _ in range(30):
            cell = (lo + hi) / 2.0
            first, labels = _cluster(verts, cell, groups)
            best = (first, labels)
            if abs(len(first) - target) <= max(target // 50, 1):
                break
            if len(first) > target:
                lo = cell
            else:
                hi = cell
        first, labels = best
        if scale is not None:   # the same cells elsewhere, larger ones for those labels
            first, labels = _cluster(verts, cell * scale, groups)
        new_tris = labels[tris]
        keep = (new_tris[:, 0] != new_tris[:, 1]) & (new_tris[:, 1] != new_tris[:, 2]) & \
            (new_tris[:, 0] != new_tris[:, 2])
        self.vertex_index = first
        self.triangles = new_tris[keep]

    def __call__(self, per_vertex):
        """Gathers per-vertex arrays (N, ...) onto the kept vertices."""
        return np.asarray(per_vertex)[..., self.vertex_index, :]
