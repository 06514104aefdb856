"""The landmark update between keyframes: one linearised solve instead of a full fit.

A full landmark fit (core.fitting.LandmarkFitter: Levenberg-Marquardt, the Jacobian
rebuilt as it goes) costs tens of milliseconds on a small CPU. Between keyframes
the face moves little, so one linearised solve about a fitted state is enough:

- :meth:`LinearUpdate.prepare` (once per keyframe interval, after one full fit): at the
  fitted state x0 it builds the Jacobian J of the fitted landmarks' image pixels with
  respect to (angles, trans, the fitted expression values), the Gauss-Newton matrix
  ``A = J^T J + w I_exp`` with the fitter's own expression prior w (this prior is what
  keeps the expression directions the landmarks cannot observe at the keyframe's
  values: their rows of A are w alone) and its inverse, and the landmark pixels f(x0);
- :meth:`LinearUpdate.update` (per frame): ``x = x0 + A^-1 (J^T (obs - f(x0)) - w (e0 -
  e_key))``, or, about a full fit's optimum, ``x0 + A^-1 J^T (obs - obs_fit)``
  (:meth:`LinearUpdate.prepare`): two matrix-vector products, then one evaluation of the model at x for its
  RMS residual. The result is for the crop box the state was prepared with; its
  translation is moved to the frame's box (core.fit_model.rebox_translation).

The caller keeps the accuracy: when the update's RMS is clearly above the prepared
fit's (``acceptable``), it runs the full fit instead and prepares again from it.
"""
import dataclasses
from typing import TYPE_CHECKING, Optional

import numpy as np

from faceverse_ros.core.fit_model import _check_crop_box, rebox_translation
from faceverse_ros.core.fitting import FitLinearisation
from faceverse_ros.core.projection import CROP_SIZE
from faceverse_ros.core.rotations import rotation_matrix

if TYPE_CHECKING:
    from faceverse_ros.core.fitting import LandmarkFitter

#: an update is kept when its RMS is at most RATIO x the prepared fit's RMS + SLACK_PX
ACCEPT_RATIO = 1.5
ACCEPT_SLACK_PX = 1.0
#: linear solves per frame: the first about the state, the others (chord steps) about the
#: solution so far with the prepared J and A, so that a moving face is followed to the fit's
#: optimum of this frame and the next full fit (a keyframe) does not have to catch up
CHORD_STEPS = 2


@dataclasses.dataclass
class LinearState:
    """One face's linearisation (per track: the LinearUpdate itself is shared)."""
    coeffs: np.ndarray      # (n,) float64 the fitted state x0 as full coefficients
    box: np.ndarray         # crop box x0 is expressed for
    x0: np.ndarray          # (6 + m,) angles, trans, fitted expression
    f0: np.ndarray          # (2K,) reference pixels: f(x0), or the fit's landmarks
    jt: np.ndarray          # (6 + m, 2K) float32 J^T
    a_inv: np.ndarray       # (6 + m, 6 + m)
    bias: np.ndarray        # (6 + m,) -w (e0 - e_key) in the expression rows
    const: np.ndarray       # (3, K) unposed constant part (identity folded in)
    rms_px: float           # RMS of the full fit x0 came from
    e_key: Optional[np.ndarray] = None  # (m,) the expression the prior pulls toward
    w: float = 0.0          # the prior's weight for box
    frames: int = 0         # accepted updates since the state was prepared


@dataclasses.dataclass
class UpdateResult:
    coeffs: np.ndarray      # (n,) float32 for the frame's crop box
    rms_px: float
    x: Optional[np.ndarray] = None   # (6 + m,) the solution for the state's box
    f: Optional[np.ndarray] = None   # (2K,) its landmark pixels


class LinearUpdate:
    """One linearised solve per frame on a prepared state (module doc)."""

    def __init__(self, fitter: "LandmarkFitter", steps: int = CHORD_STEPS):
        self.fitter = fitter
        self.steps = max(1, int(steps))

    def _weight(self, box):
        f = self.fitter
        scale2 = (((box[2] - box[0]) + (box[3] - box[1])) / (2.0 * CROP_SIZE)) ** 2
        return f.exp_prior * f.n_landmarks * scale2

    def prepare(self, coeffs: np.ndarray, crop_box: np.ndarray,
                prior_exp: Optional[np.ndarray] = None, rms_px: float = 0.0,
                fit: Optional[FitLinearisation] = None) -> LinearState:
        """The state about ``coeffs`` (for ``crop_box``).

        fit: the linearisation of the fit whose result ``coeffs`` are (FitResult.linearisation).
        Then its last J and J^T J + w I (built at most a few steps before the
        end) are taken instead of being built again, and the update is the first-order
        response of that optimum to a change of the landmarks: x0 + A^-1 J^T (obs -
        fit.landmarks) (at the optimum J^T r balances the prior, so neither the residual
        nor the prior enters, and a slightly stale J cannot bias it). Without it, the
        Gauss-Newton step about x0 with J built there (module doc)."""
        f = self.fitter
        c = f._check_coeffs(coeffs, "coeffs")
        box = _check_crop_box(crop_box)
        m = f.exp_dims
        x0 = np.concatenate([c[f._s_ang], c[f._s_trans], c[f._s_exp][:m]])
        const = f._constant(c)
        v = f._unposed(const, x0[6:])
        p = f._posed(v, rotation_matrix(x0[0:3]), x0[3:6])
        uv, z = f._project(p, box)
        if uv is None:
            raise ValueError("the state puts landmarks behind the crop camera")
        w = self._weight(box)
        if fit is not None:
            a, jt = fit.normal, fit.jt
            ref = fit.landmarks.reshape(-1).copy()
        else:
            a = f._hessian(f._local(v, p, z, x0[0:3], box), w)     # J^T J + w I_exp
            jt = f._jac.T.copy()                                    # float32, out of the buffer
            ref = uv.reshape(-1).copy()
        bias = np.zeros(6 + m)
        e_key = x0[6:] if prior_exp is None else \
            np.asarray(prior_exp, dtype=np.float64).reshape(-1)[:m]
        if m and fit is None:
            bias[6:] = -w * (x0[6:] - e_key)
        return LinearState(c, box, x0, ref, jt,
                           np.linalg.inv(a), bias, const, float(rms_px), e_key.copy(), w)

    def update(self, state: LinearState, landmarks_px: np.ndarray, crop_box: np.ndarray) -> UpdateResult:
        f = self.fitter
        box = _check_crop_box(crop_box)
        obs = f._check_landmarks(landmarks_px)                     # (2, K) image px
        d = obs.reshape(-1) - state.f0
        x = state.x0 + state.a_inv @ (state.jt @ d.astype(np.float32) + state.bias)
        for step in range(self.steps):
            v = f._unposed(state.const, x[6:])
            p = f._posed(v, rotation_matrix(x[0:3]), x[3:6])
            uv, _ = f._project(p, state.box)
            if uv is None or not np.all(np.isfinite(x)):
                return UpdateResult(state.coeffs.astype(np.float32), float("inf"))
            if step + 1 == self.steps:
                break
            # a further chord step about x: exact residual and prior, the prepared J and A
            g = state.jt @ (obs - uv).reshape(-1).astype(np.float32)
            if len(x) > 6:
                g[6:] -= state.w * (x[6:] - state.e_key)
            x = x + state.a_inv @ g
        at = uv.reshape(-1).copy()
        uv -= obs
        rms = float(np.sqrt(np.einsum("ij,ij->", uv, uv) / f.n_landmarks))
        out = state.coeffs.copy()
        out[f._s_ang] = x[0:3]
        out[f._s_exp][:f.exp_dims] = x[6:]
        out[f._s_trans] = rebox_translation(x[3:6], state.box, box) \
            if not np.array_equal(box, state.box) else x[3:6]
        return UpdateResult(out.astype(np.float32), rms, x, at)

    @staticmethod
    def advance(state: LinearState, result: UpdateResult) -> None:
        """Move an accepted update's solution into the state: the next frame's solve is
        then a Gauss-Newton step about this frame's solution (with the prepared J and A
        kept: a chord step), ``x + A^-1 (J^T (obs - f(x)) - w (e - e_key))``, instead of
        the first-order response about the prepared fit. The residual and the prior are
        exact at x, so the frames between full fits do not drift with the linearisation's
        age, and a still face converges to the optimum of the fit (where J^T r balances
        the prior) rather than to a point one linear step away from an older one."""
        if result.x is None or result.f is None:
            return
        state.x0 = result.x
        state.f0 = result.f
        state.frames += 1
        if len(state.bias) > 6:
            state.bias[6:] = -state.w * (result.x[6:] - state.e_key)
    @staticmethod
    def acceptable(state: LinearState, result: UpdateResult) -> bool:
        return bool(np.isfinite(result.rms_px) and
                    result.rms_px <= ACCEPT_RATIO * state.rms_px + ACCEPT_SLACK_PX)
