"""Rotations: the one home of rotation maths (numpy only, no ROS).

The FaceVerse Euler angles (``rotation_matrix``, ``eye_rotation``, their
inverse ``matrix_to_euler``), quaternions (``euler_to_quat``, ``slerp``, ...)
and the fixed axis maps between model, REP-155 face and gaze frames.

Conventions:

* a rotation matrix ``R`` maps coordinates in a rotated frame to coordinates
  in the reference frame: its columns are the rotated frame's unit axes
  expressed in the reference frame;
* quaternions are (x, y, z, w) (the ROS ``geometry_msgs/Quaternion`` order),
  unit length, with w >= 0;
* angles are in radians; all functions work in float64.

Frames used by the fixed axis maps below:

* FaceVerse model axes: x right, y down, z away from the camera (for a face
  looking into the camera they coincide with the camera optical frame of
  REP-103: x right, y down, z forward);
* REP-155 face axes (ROS4HRI ``face_<id>``): x out of the face (toward the
  viewer for a frontal face), y to the person's left, z toward the scalp;
* gaze axes (``gaze_<id>``): x to the person's right, y down, z along the
  gaze (an optical-style frame of the person's view).
"""
from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

#: Columns: the REP-155 face axes expressed in FaceVerse model axes.
#: Face x (out of the face) = -model z, face y (person's left) = +model x
#: (the person's left is the image right for a face looking at the camera),
#: face z (toward the scalp) = -model y. Because model axes equal the optical
#: axes for a frontal face, this is also the face rotation, in the optical
#: frame, of a face looking straight into the camera.
FACE_AXES_IN_MODEL = np.array([[0.0, 1.0, 0.0],
                               [0.0, 0.0, -1.0],
                               [-1.0, 0.0, 0.0]])
FACE_AXES_IN_MODEL.setflags(write=False)

#: Columns: the gaze axes expressed in REP-155 face axes, for a gaze along the
#: face x axis (straight ahead). Gaze x (person's right) = -face y, gaze y
#: (down) = -face z, gaze z (along the gaze) = +face x.
GAZE_AXES_IN_FACE = np.array([[0.0, 0.0, 1.0],
                              [-1.0, 0.0, 0.0],
                              [0.0, -1.0, 0.0]])
GAZE_AXES_IN_FACE.setflags(write=False)

# Directions whose 1 + cos(angle) is below this are taken as opposite (their
# unit vectors are less than ~1.4e-8 from exactly opposite). Either side of it
# rotation_between is accurate to ~1e-8 (checked in test_rotations.py).
_OPPOSITE = 1e-16


def _as_matrices(r, name="rotation"):
    m = np.asarray(r, dtype=np.float64)
    if m.ndim < 2 or m.shape[-2:] != (3, 3):
        raise ValueError(f"{name} must have shape (3, 3) or (..., 3, 3), got {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return m


def quaternion_from_matrix(r: np.ndarray) -> np.ndarray:
    """Rotation matrices (3, 3) or (..., 3, 3) -> unit quaternions (4,) or (..., 4).

    Quaternions are (x, y, z, w) with w >= 0 (for a rotation by pi, w = 0 and
    the sign of (x, y, z) is whatever the computation gives). Per matrix the
    numerically largest of w, x, y, z is computed from the diagonal (trace
    method) and the others from the off-diagonal terms, then the result is
    normalised. The input is assumed to be a rotation (orthonormal, det +1);
    it is not re-orthonormalised.
    """
    m = _as_matrices(r)
    a = m.reshape(-1, 3, 3)
    if a.shape[0] == 1:  # one matrix (a face's pose, every frame): the same steps on floats
        try:
            return np.array(_quaternion_of(a[0].tolist())).reshape(m.shape[:-2] + (4,))
        except (ValueError, ZeroDivisionError):  # not a rotation: as the arrays give it
            pass
    m00, m11, m22 = a[:, 0, 0], a[:, 1, 1], a[:, 2, 2]
    tr = m00 + m11 + m22
    d21, d02, d10 = a[:, 2, 1] - a[:, 1, 2], a[:, 0, 2] - a[:, 2, 0], a[:, 1, 0] - a[:, 0, 1]
    s01, s02, s12 = a[:, 0, 1] + a[:, 1, 0], a[:, 0, 2] + a[:, 2, 0], a[:, 1, 2] + a[:, 2, 1]
    use_w = tr > 0
    use_x = ~use_w & (m00 > m11) & (m00 > m22)
    use_y = ~use_w & ~use_x & (m11 > m22)
    use_z = ~(use_w | use_x | use_y)
    q = np.empty((a.shape[0], 4))
    with np.errstate(invalid="ignore", divide="ignore"):  # unused branches may be nan
        s = 2.0 * np.sqrt(tr + 1.0)
        q[use_w] = np.stack([d21 / s, d02 / s, d10 / s, 0.25 * s], -1)[use_w]
        s = 2.0 * np.sqrt(1.0 + m00 - m11 - m22)
        q[use_x] = np.stack([0.25 * s, s01 / s, s02 / s, d21 / s], -1)[use_x]
        s = 2.0 * np.sqrt(1.0 + m11 - m00 - m22)
        q[use_y] = np.stack([s01 / s, 0.25 * s, s12 / s, d02 / s], -1)[use_y]
        s = 2.0 * np.sqrt(1.0 + m22 - m00 - m11)
        q[use_z] = np.stack([s02 / s, s12 / s, 0.25 * s, d10 / s], -1)[use_z]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[q[:, 3] < 0] *= -1
    return q.reshape(m.shape[:-2] + (4,))


def _quaternion_of(m):
    """quaternion_from_matrix of one matrix given as nested lists: (x, y, z, w)."""
    (m00, m01, m02), (m10, m11, m12), (m20, m21, m22) = m
    tr = m00 + m11 + m22
    d21, d02, d10 = m21 - m12, m02 - m20, m10 - m01
    if tr > 0:
        s = 2.0 * math.sqrt(tr + 1.0)
        q = (d21 / s, d02 / s, d10 / s, 0.25 * s)
    elif m00 > m11 and m00 > m22:
        s = 2.0 * math.sqrt(1.0 + m00 - m11 - m22)
        q = (0.25 * s, (m01 + m10) / s, (m02 + m20) / s, d21 / s)
    elif m11 > m22:
        s = 2.0 * math.sqrt(1.0 + m11 - m00 - m22)
        q = ((m01 + m10) / s, 0.25 * s, (m12 + m21) / s, d02 / s)
    else:
        s = 2.0 * math.sqrt(1.0 + m22 - m00 - m11)
        q = ((m02 + m20) / s, (m12 + m21) / s, 0.25 * s, d10 / s)
    norm = math.sqrt(sum(v * v for v in q))
    sign = -1.0 if q[3] < 0 else 1.0
    return [sign * v / norm for v in q]


def rotation_between(a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
    """Smallest rotations taking directions a onto directions b.

    a, b: (3,) or (..., 3) vectors of any non-zero length (broadcast against
    each other). Returns (..., 3, 3) matrices R with ``R @ a_hat = b_hat``,
    rotating about a x b by the angle between them (Rodrigues' formula),
    accurate to ~1e-8 even for nearly opposite directions.
    For opposite directions (unit vectors within ~1.4e-8 of opposite) the smallest rotation is not unique: the rotation
    by pi about the unit axis along a x (1, 0, 0) (or a x (0, 1, 0) when a is
    nearly along x) is returned, which still takes a onto b.
    Raises ValueError for zero-length or non-finite vectors.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[-1:] != (3,) or b.shape[-1:] != (3,):
        raise ValueError(f"directions must have shape (..., 3), got {a.shape} and {b.shape}")
    if a.size == 3 and b.size == 3:  # one pair (a face's pose, every frame): on floats
        r = _rotation_between_one(a.reshape(3).tolist(), b.reshape(3).tolist())
        if r is not None:
            return np.array(r).reshape(np.broadcast_shapes(a.shape, b.shape)[:-1] + (3, 3))
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    if not (np.all(np.isfinite(na)) and np.all(np.isfinite(nb))):
        raise ValueError("directions contain NaN or infinite values")
    if np.any(na == 0) or np.any(nb == 0):
        raise ValueError("directions must be non-zero vectors")
    a, b = np.broadcast_arrays(a / na, b / nb)
    v = np.cross(a, b)
    # 1 + cos(angle) as |a + b|^2 / 2: exact to rounding even for nearly opposite
    # directions, where 1 + a.b loses all its digits
    h = a + b
    one_plus_c = 0.5 * np.sum(h * h, axis=-1)
    k = np.zeros(a.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2] = -v[..., 2], v[..., 1]
    k[..., 1, 0], k[..., 1, 2] = v[..., 2], -v[..., 0]
    k[..., 2, 0], k[..., 2, 1] = -v[..., 1], v[..., 0]
    opposite = one_plus_c < _OPPOSITE
    denom = np.where(opposite, 1.0, one_plus_c)
    r = np.eye(3) + k + (k @ k) / denom[..., None, None]
    if np.any(opposite):
        ao = a[opposite]
        axis = np.cross(ao, [1.0, 0.0, 0.0])
        near_x = np.linalg.norm(axis, axis=-1) < 1e-6
        axis[near_x] = np.cross(ao[near_x], [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        r[opposite] = 2.0 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
    return r


def _rotation_between_one(a, b):
    """rotation_between of two 3-lists as nested lists; None where the arrays' path is
    needed (a zero, non-finite or nearly opposite direction)."""
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(x * x for x in b))
    if not (0.0 < na < math.inf and 0.0 < nb < math.inf):
        return None
    a = [x / na for x in a]
    b = [x / nb for x in b]
    v = (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])
    one_plus_c = 0.5 * sum((x + y) * (x + y) for x, y in zip(a, b))
    if not one_plus_c >= _OPPOSITE:
        return None
    k = ((0.0, -v[2], v[1]), (v[2], 0.0, -v[0]), (-v[1], v[0], 0.0))
    return [[(1.0 if i == j else 0.0) + k[i][j]
             + sum(k[i][n] * k[n][j] for n in range(3)) / one_plus_c for j in range(3)]
            for i in range(3)]


def _elementary(angle, i, j):
    t = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(t), np.sin(t)
    r = np.zeros(t.shape + (3, 3))
    k = 3 - i - j
    r[..., k, k] = 1.0
    r[..., i, i] = c
    r[..., j, j] = c
    r[..., i, j] = -s
    r[..., j, i] = s
    return r


def rx(angle: float) -> np.ndarray:
    """Rotation by ``angle`` (radians, scalar or (...,)) about x: (3, 3) or (..., 3, 3).

    Right-handed: takes y toward z, ``[[1, 0, 0], [0, c, -s], [0, s, c]]``.
    """
    return _elementary(angle, 1, 2)


def ry(angle: float) -> np.ndarray:
    """Rotation by ``angle`` (radians) about y, taking z toward x: ``[[c, 0, s], [0, 1, 0], [-s, 0, c]]``."""
    return _elementary(angle, 2, 0)


def rz(angle: float) -> np.ndarray:
    """Rotation by ``angle`` (radians) about z, taking x toward y: ``[[c, -s, 0], [s, c, 0], [0, 0, 1]]``."""
    return _elementary(angle, 0, 1)


# --------------------------------------------------------------------------
# Euler angles of the 621 vector (R = Rz(a2) @ Ry(a1) @ Rx(a0)) and quaternions
# --------------------------------------------------------------------------
def quat_multiply(q: np.ndarray, r: np.ndarray):
    """Hamilton product q * r of (x, y, z, w) quaternions."""
    x1, y1, z1, w1 = q
    x2, y2, z2, w2 = r
    return np.array([
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
    ])


def quat_conjugate(q: np.ndarray):
    """Inverse of a unit quaternion (x, y, z, w)."""
    return np.array([-q[0], -q[1], -q[2], q[3]], dtype=np.float64)


def rotation_vector(q: np.ndarray):
    """Axis times angle (radians, angle in [0, pi]) of a unit quaternion (x, y, z, w)."""
    v = np.asarray(q[:3], dtype=np.float64)
    w = float(q[3])
    if w < 0:
        v, w = -v, -w
    n = float(np.linalg.norm(v))
    if n < 1e-12:
        return 2.0 * v  # small-angle limit
    return v / n * (2.0 * math.atan2(n, w))


def euler_to_quat(angles: np.ndarray):
    """Unit quaternion (x, y, z, w) of R = Rz(a[2]) @ Ry(a[1]) @ Rx(a[0]), radians."""
    a0, a1, a2 = (float(v) for v in angles)
    qx = np.array([math.sin(a0 / 2), 0.0, 0.0, math.cos(a0 / 2)])
    qy = np.array([0.0, math.sin(a1 / 2), 0.0, math.cos(a1 / 2)])
    qz = np.array([0.0, 0.0, math.sin(a2 / 2), math.cos(a2 / 2)])
    return quat_multiply(quat_multiply(qz, qy), qx)


def quat_to_matrix(q: np.ndarray):
    """3x3 rotation matrix of a (x, y, z, w) quaternion (normalised first)."""
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_euler(rot: np.ndarray):
    """Angles (a0, a1, a2) with rot = Rz(a2) @ Ry(a1) @ Rx(a0); a1 in [-pi/2, pi/2]."""
    r = np.asarray(rot, dtype=np.float64)
    a1 = math.asin(max(-1.0, min(1.0, -r[2, 0])))
    if abs(r[2, 0]) < 1.0 - 1e-9:
        a0 = math.atan2(r[2, 1], r[2, 2])
        a2 = math.atan2(r[1, 0], r[0, 0])
    else:  # gimbal lock: only a0 -/+ a2 is defined; put it all in a2
        a0 = 0.0
        a2 = math.atan2(-r[0, 1], r[1, 1])
    return np.array([a0, a1, a2])


def quat_to_euler(q: np.ndarray):
    """Euler angles (a0, a1, a2) of R = Rz(a2) @ Ry(a1) @ Rx(a0) from a quaternion."""
    return matrix_to_euler(quat_to_matrix(q))


def slerp(q0: np.ndarray, q1: np.ndarray, t: float):
    """Spherical linear interpolation from q0 (t=0) to q1 (t=1), shortest arc."""
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:  # nearly parallel: normalised linear interpolation is exact enough
        out = q0 + t * (q1 - q0)
        return out / np.linalg.norm(out)
    theta = math.acos(dot)
    s = math.sin(theta)
    out = (math.sin((1 - t) * theta) * q0 + math.sin(t * theta) * q1) / s
    return out / np.linalg.norm(out)


def rotation_matrix(angles: np.ndarray) -> np.ndarray:
    """``Rz(c) @ Ry(b) @ Rx(a)`` for angles (..., 3) = (a, b, c) radians -> (..., 3, 3)."""
    ang = np.asarray(angles, dtype=np.float64)
    a, b, c = ang[..., 0], ang[..., 1], ang[..., 2]
    ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    r = np.empty(ang.shape[:-1] + (3, 3))
    r[..., 0, 0] = cc * cb
    r[..., 0, 1] = cc * sb * sa - sc * ca
    r[..., 0, 2] = cc * sb * ca + sc * sa
    r[..., 1, 0] = sc * cb
    r[..., 1, 1] = sc * sb * sa + cc * ca
    r[..., 1, 2] = sc * sb * ca - cc * sa
    r[..., 2, 0] = -sb
    r[..., 2, 1] = cb * sa
    r[..., 2, 2] = cb * ca
    return r


def eye_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``Ry(b) @ Rx(a)`` (spec 3.3) for arrays of angles -> (..., 3, 3)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return rotation_matrix(np.stack([a, b, np.zeros_like(a)], -1))
