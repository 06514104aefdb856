"""Write meshes (PLY, OBJ) and parameter files compatible with the original tracker.

Meshes: by default in the unposed model space like the original's PLY files
(spec 3 steps 1-4, model units = raw / 100); optionally posed in the camera
optical frame in metres (x right, y down, z forward) using a
:class:`faceverse_ros.core.pose.FacePose`.

Colours are per-vertex floats in [0, 1], written as 8-bit values truncated
like the original (``(c * 255).astype(uint8)``).

Texture coordinates (optional, e.g. the MediaPipe canonical mesh's UVs from
``face_landmarker.task``): per vertex (u, v) in [0, 1], v up. PLY writes
them as vertex properties ``float s, float t`` (the names Blender's and
MeshLab's PLY readers take), OBJ as ``vt u v`` lines with ``f i/i j/j k/k``.

Parameter files: ``np.save`` of a dict ``{'coeffs': float32 (1, 621),
'bbox_list': int32 (1, 4)}`` (the crop box x0, y0, x1, y1 in image pixels),
exactly what the original tracker writes; load them with :func:`load_params`.
Loading runs pickle: only load files you trust.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np


def _uv_array(uvs, n):
    if uvs is None:
        return None
    uv = np.asarray(uvs, dtype=np.float64)
    if uv.shape != (n, 2) or not np.all(np.isfinite(uv)):
        raise ValueError(f"uvs must be finite (N, 2) with N = {n} vertices, got {uv.shape}")
    return uv


def _mesh_arrays(vertices, triangles, colors):
    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(triangles)
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] == 0:
        raise ValueError(f"vertices must be (N, 3), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("vertices contain NaN or infinite values")
    if t.ndim != 2 or t.shape[1] != 3 or t.dtype.kind not in "iu":
        raise ValueError(f"triangles must be integer (T, 3), got {t.shape} {t.dtype}")
    if t.size and (t.min() < 0 or t.max() >= len(v)):
        raise ValueError(f"triangle indices must lie in [0, {len(v)})")
    c8 = None
    if colors is not None:
        c = np.asarray(colors, dtype=np.float64)
        if c.shape != v.shape:
            raise ValueError(f"colors must be (N, 3) like the vertices {v.shape}, got {c.shape}")
        c8 = (np.clip(c, 0.0, 1.0) * 255).astype(np.uint8)
    return v, t.astype(np.int64), c8


def save_ply(path, vertices, triangles, colors=None, binary: bool = False, uvs=None) -> Path:
    """PLY mesh: float vertices, optional float s, t texture coordinates, optional uchar
    RGB colours, triangle faces (0-based).

    ASCII by default (like the original); ``binary=True`` writes
    binary_little_endian (smaller, faster).
    """
    v, t, c8 = _mesh_arrays(vertices, triangles, colors)
    uv = _uv_array(uvs, len(v))
    path = Path(path)
    fmt = "binary_little_endian" if binary else "ascii"
    header = ["ply", f"format {fmt} 1.0", "comment faceverse_ros", f"element vertex {len(v)}",
              "property float x", "property float y", "property float z"]
    if uv is not None:
        header += ["property float s", "property float t"]
    if c8 is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header += [f"element face {len(t)}", "property list uchar int vertex_indices", "end_header"]
    head = ("\n".join(header) + "\n").encode("ascii")
    with open(path, "wb") as f:
        f.write(head)
        if binary:
            fields = [("xyz", "<f4", (3,))] + ([("st", "<f4", (2,))] if uv is not None else []) \
                + ([("rgb", "u1", (3,))] if c8 is not None else [])
            rec = np.empty(len(v), dtype=fields)
            rec["xyz"] = v
            if uv is not None:
                rec["st"] = uv
            if c8 is not None:
                rec["rgb"] = c8
            f.write(rec.tobytes())
            frec = np.empty(len(t), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
            frec["n"] = 3
            frec["idx"] = t
            f.write(frec.tobytes())
        else:
            rows = [f"{a:.6f} {b:.6f} {c:.6f}" for a, b, c in v.tolist()]
            if uv is not None:
                rows = [f"{row} {s:.6f} {tt:.6f}" for row, (s, tt) in zip(rows, uv.tolist())]
            if c8 is not None:
                rows = [f"{row} {r} {g} {bb}" for row, (r, g, bb) in zip(rows, c8.tolist())]
            f.write(("\n".join(rows) + "\n").encode("ascii"))
            f.write(("\n".join(f"3 {i} {j} {k}" for i, j, k in t.tolist()) + "\n").encode("ascii"))
    return path


def save_obj(path, vertices, triangles, colors=None, uvs=None) -> Path:
    """Wavefront OBJ: ``v x y z [r g b]`` (colours in [0, 1], the common
    per-vertex-colour extension read by MeshLab/Blender), ``vt u v`` when ``uvs``
    are given, and 1-based ``f i j k`` (``f i/i j/j k/k`` with UVs)."""
    v, t, c8 = _mesh_arrays(vertices, triangles, colors)
    uv = _uv_array(uvs, len(v))
    path = Path(path)
    with open(path, "w", encoding="ascii") as f:
        f.write("# faceverse_ros\n")
        if c8 is not None:
            cf = c8 / 255.0
            f.write("\n".join(f"v {a:.6f} {b:.6f} {c:.6f} {r:.4f} {g:.4f} {bb:.4f}"
                              for (a, b, c), (r, g, bb) in zip(v.tolist(), cf.tolist())) + "\n")
        else:
            f.write("\n".join(f"v {a:.6f} {b:.6f} {c:.6f}" for a, b, c in v.tolist()) + "\n")
        if uv is not None:
            f.write("\n".join(f"vt {a:.6f} {b:.6f}" for a, b in uv.tolist()) + "\n")
            f.write("\n".join(f"f {i + 1}/{i + 1} {j + 1}/{j + 1} {k + 1}/{k + 1}"
                              for i, j, k in t.tolist()) + "\n")
        else:
            f.write("\n".join(f"f {i + 1} {j + 1} {k + 1}" for i, j, k in t.tolist()) + "\n")
    return path


def save_mesh(path, vertices, triangles, colors=None, binary: bool = False, uvs=None) -> Path:
    """PLY or OBJ by the file suffix (``.ply`` / ``.obj``)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".ply":
        return save_ply(path, vertices, triangles, colors, binary, uvs=uvs)
    if suffix == ".obj":
        return save_obj(path, vertices, triangles, colors, uvs=uvs)
    raise ValueError(f"mesh file must end in .ply or .obj, got {path}")


def export_face(path, model, recon, index: int = 0, frame: str = "model", pose=None,
                binary: bool = False) -> Path:
    """Write face ``index`` of a :class:`faceverse_ros.core.model.Reconstruction`.

    frame: ``"model"`` (unposed, model units, like the original) or
    ``"camera"`` (optical frame, metres; needs the face's ``pose``, a
    :class:`faceverse_ros.core.pose.FacePose` from
    :func:`faceverse_ros.core.headpose.head_pose`).
    """
    verts = recon.vertices[index]
    if frame == "camera":
        if pose is None:
            raise ValueError("frame='camera' needs the FacePose of the face (headpose.head_pose)")
        from faceverse_ros.core.headpose import vertices_in_camera

        verts = vertices_in_camera(pose, verts)
    elif frame != "model":
        raise ValueError(f"frame must be 'model' or 'camera', got {frame!r}")
    return save_mesh(path, verts, model.tri, recon.colors[index], binary)


# --------------------------------------------------------------------------- parameter files
@dataclass
class ParamFile:
    """Contents of a parameter file: coeffs float32 (1, n), bbox_list int32 (1, 4), and
    the blendshapes {name: weight} when the file has them (else None)."""

    coeffs: np.ndarray
    bbox_list: np.ndarray
    blendshapes: Optional[dict] = None


def save_params(path, coeffs, bbox, blendshapes=None) -> Path:
    """Save ``{'coeffs': float32 (1, n), 'bbox_list': int32 (1, 4)}`` with ``np.save``.

    Like the original, ``np.save`` appends ``.npy`` when ``path`` lacks it;
    returns the path written. ``bbox`` is the crop box (x0, y0, x1, y1).
    ``blendshapes`` ({name: weight}, e.g. landmarks.blendshapes.as_dict) adds a
    ``'blendshapes'`` key; readers of the original's two keys are not affected.
    """
    c = np.asarray(coeffs, dtype=np.float32).reshape(1, -1)
    if not np.all(np.isfinite(c)):
        raise ValueError("coeffs contain NaN or infinite values")
    b = np.asarray(bbox, dtype=np.float64).reshape(-1)
    if b.shape != (4,) or not np.all(np.isfinite(b)):
        raise ValueError(f"bbox must be 4 finite numbers (x0, y0, x1, y1), got {bbox!r}")
    p = Path(path)
    if p.suffix != ".npy":
        p = p.with_name(p.name + ".npy")
    data = {"coeffs": c, "bbox_list": b.astype(np.int32).reshape(1, 4)}
    if blendshapes is not None:
        data["blendshapes"] = {str(k): float(v) for k, v in dict(blendshapes).items()}
    np.save(p, data, allow_pickle=True)
    return p


def load_params(path, n_coeffs: Optional[int] = None) -> ParamFile:
    """Load a parameter file written by :func:`save_params` or the original tracker.

    Runs pickle (``allow_pickle=True``): only load files you trust. Raises
    ValueError naming the file when it is not such a dict.
    """
    p = Path(path)
    try:
        obj = np.load(p, allow_pickle=True)
    except Exception as exc:  # noqa: BLE001 - missing, truncated, not a pickle...
        raise ValueError(f"{p}: cannot be read as a parameter file ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, dict) or "coeffs" not in obj or "bbox_list" not in obj:
        raise ValueError(f"{p}: expected a dict with 'coeffs' and 'bbox_list', got {type(obj).__name__}")
    c = np.asarray(obj["coeffs"], dtype=np.float32)
    if c.ndim == 1:
        c = c[None]
    if c.ndim != 2 or c.shape[0] != 1 or (n_coeffs is not None and c.shape[1] != n_coeffs):
        want = f"(1, {n_coeffs})" if n_coeffs else "(1, n)"
        raise ValueError(f"{p}: 'coeffs' has shape {c.shape}, expected {want}")
    b = np.asarray(obj["bbox_list"]).reshape(-1)
    if b.shape != (4,):
        raise ValueError(f"{p}: 'bbox_list' has shape {np.shape(obj['bbox_list'])}, expected (1, 4)")
    shapes = obj.get("blendshapes")
    if shapes is not None and not isinstance(shapes, dict):
        raise ValueError(f"{p}: 'blendshapes' must be a dict of name -> weight, got "
                         f"{type(shapes).__name__}")
    return ParamFile(coeffs=c, bbox_list=b.astype(np.int32).reshape(1, 4),
                     blendshapes=None if shapes is None else {str(k): float(v)
                                                              for k, v in shapes.items()})
