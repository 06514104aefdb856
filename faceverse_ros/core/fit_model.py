"""The landmark fit's model side: where the fitted landmarks project and how fast they move.

:class:`FitModel` holds what :class:`faceverse_ros.core.fitting.LandmarkFitter`
precomputes from the model (set by its constructor) and the arithmetic on it:
the constant part of the fitted vertices for a keyframe's identity and
expressions, posing and projection into the image through the crop box, and
the analytic Jacobian of the projected landmarks with respect to angles,
translation and the fitted expression values, with the gradient and the
Gauss-Newton matrix J^T J built from it (float32 J in a preallocated buffer).
:func:`rebox_translation` re-expresses a translation for another crop box.

Hot path: everything that depends only on the model (the basis rows of the
fitted landmarks, per coordinate, float64, and a float32 copy for J) is
built once in the constructor; the identity is folded into the constant part
by one (3K x n_id) product when it changes (a keyframe), not per fit; per step one (3K x m) product, the exact
gradient (one (m x 3K) product), one (6+m)^2 solve, and when H is rebuilt
the float32 Jacobian in a preallocated buffer and ``J.T @ J`` (a fit costs
a few milliseconds: doc/performance.md). NumPy's OpenBLAS threads slow these
small products down when the cores are busy: run the process with
``OPENBLAS_NUM_THREADS=1`` (runtime.threads does).
"""
from __future__ import annotations

import numpy as np

from faceverse_ros.core.projection import CAMERA_DISTANCE, CROP_SIZE, FOCAL, PRINCIPAL
from faceverse_ros.core.rotations import rotation_matrix

MIN_DEPTH = 1e-3                #: crop-camera depth (model units) below which a landmark is "behind"


def _check_crop_box(crop_box, name: str = "crop_box") -> np.ndarray:
    b = np.asarray(crop_box, dtype=np.float64).reshape(-1)
    if b.shape != (4,) or not np.all(np.isfinite(b)):
        raise ValueError(f"{name} must be 4 finite numbers (x0, y0, x1, y1) in image pixels, got {crop_box!r}")
    if b[2] - b[0] <= 0 or b[3] - b[1] <= 0:
        raise ValueError(f"degenerate {name} {b.tolist()}: need x1 > x0 and y1 > y0")
    return b


def rebox_translation(trans: np.ndarray, from_box: np.ndarray, to_box: np.ndarray) -> np.ndarray:
    """Translation (3,) for ``to_box`` that puts the head origin on the same
    image pixel, at the same image scale, as ``trans`` does for ``from_box``.

    With s the crop scale (image px per crop px, mean of x and y) and
    Z = tz + 10 the origin's crop-camera depth: Z' = Z s' / s keeps the
    image size (s f / Z), and (tx', ty') = Z' / (s' f) * (image point - box
    origin' - s' 127.5) keeps the origin's image position (spec 3.9-3.10).
    Exact for the origin; other points move by the small change of viewing
    direction, which a fit then absorbs. Boxes are (x0, y0, x1, y1) image px.
    """
    t = np.asarray(trans, dtype=np.float64).reshape(-1)
    if t.shape != (3,) or not np.all(np.isfinite(t)):
        raise ValueError(f"trans must be 3 finite numbers, got {trans!r}")
    a = _check_crop_box(from_box, "from_box")
    b = _check_crop_box(to_box, "to_box")
    z = t[2] + CAMERA_DISTANCE
    if z <= MIN_DEPTH:
        raise ValueError(f"trans puts the head origin behind the crop camera (depth {z})")
    sa = (a[2:] - a[:2]) / CROP_SIZE                 # (sx, sy) of from_box
    sb = (b[2:] - b[:2]) / CROP_SIZE
    img = sa * (FOCAL * t[:2] / z + PRINCIPAL) + a[:2]
    z_new = z * sb.mean() / sa.mean()
    out = np.empty(3)
    out[:2] = (img - b[:2] - sb * PRINCIPAL) * z_new / (sb * FOCAL)
    out[2] = z_new - CAMERA_DISTANCE
    return out


class FitModel:
    """The model arithmetic of the landmark fit (see module doc); a base of LandmarkFitter."""

    # set up by LandmarkFitter.__init__: sizes, coefficient slices, the fitted vertices'
    # mean and bases (float64 and float32 copies) and the Jacobian buffers
    n_landmarks: int
    exp_dims: int
    _s_id: slice
    _s_exp: slice
    _s_ang: slice
    _s_trans: slice
    _mean_t: np.ndarray
    _b_id: np.ndarray
    _b_rest: np.ndarray
    _e: np.ndarray
    _e32: np.ndarray
    _e_flat: np.ndarray
    _jac: np.ndarray
    _tmp: np.ndarray

    def _check_coeffs(self, coeffs: np.ndarray, name: str = "init_coeffs") -> np.ndarray:
        raise NotImplementedError   # LandmarkFitter's

    def _constant(self, init: np.ndarray) -> np.ndarray:
        """(3, K) unposed fitted vertices with the fitted expression values at zero.

        It depends only on the identity and the unfitted expression values, which
        change at keyframes only: the last one is kept and reused while they are
        the same (one comparison instead of a (3K x n_id) product per fit). The
        array returned is shared: callers must not write into it."""
        ident = init[self._s_id]
        rest = init[self._s_exp][self.exp_dims:]
        cached = getattr(self, "_const_cache", None)
        if cached is not None and np.array_equal(cached[0], ident) and \
                np.array_equal(cached[1], rest):
            return cached[2]
        c = self._mean_t.copy()
        c += (self._b_id @ ident).reshape(3, -1)
        if self._b_rest.shape[1]:
            c += (self._b_rest @ rest).reshape(3, -1)
        c.flags.writeable = False
        self._const_cache = (ident.copy(), rest.copy(), c)
        return c

    def _unposed(self, const: np.ndarray, e: np.ndarray) -> np.ndarray:
        """(3, K) unposed vertices for the fitted expression values e (m,)."""
        if not self.exp_dims:
            return const.copy()
        v = (self._e_flat @ e).reshape(3, -1)
        v += const
        return v

    @staticmethod
    def _posed(v: np.ndarray, rot: np.ndarray, t: np.ndarray) -> np.ndarray:
        p = rot @ v               # (3, K)
        p += t[:, None]
        return p

    @staticmethod
    def _project(p: np.ndarray, box: np.ndarray):
        """Image pixels (2, K) of posed points p (3, K) and their depths z (K,),
        or (None, z) when a point is not in front of the crop camera."""
        z = p[2] + CAMERA_DISTANCE
        if not np.all(z > MIN_DEPTH):
            return None, z
        sx = (box[2] - box[0]) / CROP_SIZE
        sy = (box[3] - box[1]) / CROP_SIZE
        uv = p[:2] / z
        uv[0] *= FOCAL * sx
        uv[1] *= FOCAL * sy
        uv[0] += PRINCIPAL * sx + box[0]
        uv[1] += PRINCIPAL * sy + box[1]
        return uv, z

    def _local(self, v: np.ndarray, p: np.ndarray, z: np.ndarray, ang: np.ndarray, box: np.ndarray):
        """Per-landmark derivative pieces at one state.

        Returns (mx, my, rot, q): mx, my (K, 3) = d(u_img, v_img) / d p for the
        posed points p; rot = R(angles); q (3, 3, K) = d p / d angle_i = dR_i @ v.
        """
        k = self.n_landmarks
        iz = 1.0 / z
        ax = FOCAL * (box[2] - box[0]) / CROP_SIZE
        ay = FOCAL * (box[3] - box[1]) / CROP_SIZE
        # rows (ax/z, 0, -ax x/z^2) and (0, ay/z, -ay y/z^2)
        mx = np.zeros((k, 3))
        my = np.zeros((k, 3))
        mx[:, 0] = ax * iz
        mx[:, 2] = -ax * p[0] * iz * iz
        my[:, 1] = ay * iz
        my[:, 2] = -ay * p[1] * iz * iz
        a, b, c = ang
        ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
        rx = np.array([[1.0, 0.0, 0.0], [0.0, ca, -sa], [0.0, sa, ca]])
        ry = np.array([[cb, 0.0, sb], [0.0, 1.0, 0.0], [-sb, 0.0, cb]])
        rz = np.array([[cc, -sc, 0.0], [sc, cc, 0.0], [0.0, 0.0, 1.0]])
        drx = np.array([[0.0, 0.0, 0.0], [0.0, -sa, -ca], [0.0, ca, -sa]])
        dry = np.array([[-sb, 0.0, cb], [0.0, 0.0, 0.0], [-cb, 0.0, -sb]])
        drz = np.array([[-sc, -cc, 0.0], [cc, -sc, 0.0], [0.0, 0.0, 0.0]])
        rzy = rz @ ry
        d = np.concatenate([rzy @ drx, rz @ dry @ rx, drz @ ry @ rx])    # (9, 3)
        q = (d @ v).reshape(3, 3, k)                                      # (angle, coord, K)
        return mx, my, rzy @ rx, q

    def _gradient(self, loc, r: np.ndarray, de: np.ndarray, w: float) -> np.ndarray:
        """Half gradient of F, ``J^T r + w (e - e_prior)``, without forming J."""
        mx, my, rot, q = loc
        s = mx * r[0][:, None]
        s += my * r[1][:, None]                                           # (K, 3): dF/2 / d p
        g = np.empty(6 + self.exp_dims)
        g[0:3] = np.einsum("ijk,kj->i", q, s)
        g[3:6] = s.sum(0)
        if self.exp_dims:
            u = (s @ rot).T                                               # (3, K): dF/2 / d v
            g[6:] = self._e_flat.T @ u.reshape(-1)
            g[6:] += w * de
        return g

    def _fill_jacobian(self, loc) -> np.ndarray:
        """J (2K, 6 + m), x rows then y rows, in the preallocated float32 buffer."""
        mx, my, rot, q = loc
        k = self.n_landmarks
        jac = self._jac
        jac[:k, 0:3] = np.einsum("ijk,kj->ki", q, mx)
        jac[k:, 0:3] = np.einsum("ijk,kj->ki", q, my)
        jac[:k, 3:6] = mx
        jac[k:, 3:6] = my
        if self.exp_dims:
            tmp = self._tmp
            e = self._e32
            for rows, mm in ((slice(0, k), mx), (slice(k, 2 * k), my)):
                g = (mm @ rot).astype(np.float32)                          # (K, 3)
                out = jac[rows, 6:]
                np.multiply(e[0], g[:, 0:1], out=out)
                np.multiply(e[1], g[:, 1:2], out=tmp)
                out += tmp
                np.multiply(e[2], g[:, 2:3], out=tmp)
                out += tmp
        return jac

    def _hessian(self, loc, w: float) -> np.ndarray:
        """Gauss-Newton matrix ``J^T J + w I_exp`` (float64 from a float32 product)."""
        jac = self._fill_jacobian(loc)
        h = (jac.T @ jac).astype(np.float64)
        if self.exp_dims:
            h[6:, 6:].flat[::self.exp_dims + 1] += w
        return h

    def jacobian(self, coeffs: np.ndarray, crop_box: np.ndarray) -> np.ndarray:
        """Analytic Jacobian (2K, 6 + exp_dims) float64 of the fitted landmarks'
        image coordinates (all x rows, then all y rows, ``landmark_ids`` order)
        with respect to (angles, trans, fitted expression values) at coeffs.
        (The solver uses the same formulas in float32 for J^T J.)"""
        c = self._check_coeffs(coeffs, "coeffs")
        box = _check_crop_box(crop_box)
        ang = c[self._s_ang]
        v = self._unposed(self._constant(c), c[self._s_exp][:self.exp_dims])
        p = self._posed(v, rotation_matrix(ang), c[self._s_trans])
        uv, z = self._project(p, box)
        if uv is None:
            raise ValueError("these coefficients put landmarks behind the crop camera")
        mx, my, rot, q = self._local(v, p, z, ang, box)
        k, m = self.n_landmarks, self.exp_dims
        jac = np.empty((2 * k, 6 + m))
        jac[:k, 0:3] = np.einsum("ijk,kj->ki", q, mx)
        jac[k:, 0:3] = np.einsum("ijk,kj->ki", q, my)
        jac[:k, 3:6] = mx
        jac[k:, 3:6] = my
        if m:
            jac[:k, 6:] = np.einsum("kj,jkm->km", mx @ rot, self._e)
            jac[k:, 6:] = np.einsum("kj,jkm->km", my @ rot, self._e)
        return jac

    # ----------------------------------------------------------------- the fit
