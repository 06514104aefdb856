"""The model's fixed formulas: spherical-harmonics lighting (spec 3.8), the crop
camera's projection (3.9) and crop -> image pixels (3.10). NumPy only.

Crop camera: the posed mesh plus (0, 0, CAMERA_DISTANCE), a pinhole with
f = FOCAL px and principal point (PRINCIPAL, PRINCIPAL) in the CROP_SIZE crop.
"""
from __future__ import annotations

import numpy as np

from faceverse_ros.core.crop import CROP_SIZE

FOCAL = 1000.0          #: crop-camera focal length in pixels
PRINCIPAL = 127.5       #: crop-camera principal point (both axes), pixels
CAMERA_DISTANCE = 10.0  #: crop-camera translation along z, model units

# SH constants of spec 3.8
_A0, _A1, _A2 = np.pi, 2 * np.pi / np.sqrt(3.0), 2 * np.pi / np.sqrt(8.0)
_C0, _C1, _C2 = 1 / np.sqrt(4 * np.pi), np.sqrt(3.0) / np.sqrt(4 * np.pi), 3 * np.sqrt(5.0) / np.sqrt(12 * np.pi)
_D0 = 0.5 / np.sqrt(3.0)
#: the products the 9 SH values are made of: a0 c0, a1 c1, a2 c2, a2 c2 d0 (sh_basis; also
#: handed to Sim3DR's face_mesh_frame, core.face_mesh, so the formula is written once)
SH_FACTORS = (_A0 * _C0, _A1 * _C1, _A2 * _C2, _A2 * _C2 * _D0)
AMBIENT = 0.8  #: added to gamma's first row


def sh_basis(normals: np.ndarray) -> np.ndarray:
    """The 9 SH values of spec 3.8 for unit normals (..., 3) -> (..., 9)."""
    n = np.asarray(normals)
    nx, ny, nz = n[..., 0], n[..., 1], n[..., 2]
    h = np.empty(n.shape[:-1] + (9,), dtype=n.dtype if n.dtype.kind == "f" else np.float64)
    a0c0, a1c1, a2c2, a2c2d0 = SH_FACTORS
    h[..., 0] = a0c0
    h[..., 1] = -a1c1 * ny
    h[..., 2] = a1c1 * nz
    h[..., 3] = -a1c1 * nx
    h[..., 4] = a2c2 * nx * ny
    h[..., 5] = -a2c2 * ny * nz
    h[..., 6] = a2c2d0 * (3 * nz * nz - 1)
    h[..., 7] = -a2c2 * nx * nz
    h[..., 8] = a2c2 * 0.5 * (nx * nx - ny * ny)
    return h


def shade(albedo: np.ndarray, normals: np.ndarray, gamma: np.ndarray, clip: bool = True) -> np.ndarray:
    """SH lighting (spec 3.8): ``albedo * (H(normals) @ (gamma.reshape(9, 3) + ambient row))``.

    albedo, normals: (B, N, 3); gamma: (B, 27) -> (B, N, 3), clipped to [0, 1]
    when ``clip``.
    """
    g = np.asarray(gamma, dtype=np.float32).reshape(-1, 9, 3).copy()
    g[:, 0, :] += AMBIENT
    light = np.matmul(sh_basis(normals).astype(np.float32, copy=False), g)
    out = np.multiply(albedo, light, out=light)
    if clip:
        np.clip(out, 0.0, 1.0, out=out)
    return out


def project(posed: np.ndarray) -> np.ndarray:
    """Crop-camera projection (spec 3.9): (..., 3) model units -> (..., 3) = (u, v, z + 10)."""
    p = np.asarray(posed, dtype=np.float32)
    out = np.empty_like(p)
    z = p[..., 2] + np.float32(CAMERA_DISTANCE)
    inv = np.float32(FOCAL) / z
    out[..., 0] = p[..., 0] * inv + np.float32(PRINCIPAL)
    out[..., 1] = p[..., 1] * inv + np.float32(PRINCIPAL)
    out[..., 2] = z
    return out


def to_image(projected: np.ndarray, crop_box: np.ndarray) -> np.ndarray:
    """Crop pixels -> image pixels (spec 3.10): ``u_img = u / 256 * (x1 - x0) + x0``.

    projected: (..., n, 3) or (..., n, 2) crop coordinates; crop_box: (4,) or
    (B, 4) (x0, y0, x1, y1) in image pixels (the true box returned by
    :func:`faceverse_ros.core.crop.crop_face`). Depth, if present, is copied.
    """
    p = np.asarray(projected, dtype=np.float32)
    box = np.asarray(crop_box, dtype=np.float64)
    if box.shape[-1] != 4:
        raise ValueError(f"crop_box must be (x0, y0, x1, y1), got shape {box.shape}")
    if box.ndim == 2:
        if p.ndim != 3 or p.shape[0] != box.shape[0]:
            raise ValueError(f"{box.shape[0]} crop boxes for projected points of shape {p.shape}")
        box = box[:, None, :]
    sx = (box[..., 2] - box[..., 0]) / CROP_SIZE
    sy = (box[..., 3] - box[..., 1]) / CROP_SIZE
    out = p.copy()
    out[..., 0] = p[..., 0] * sx + box[..., 0]
    out[..., 1] = p[..., 1] * sy + box[..., 1]
    return out
