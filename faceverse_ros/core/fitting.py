"""Landmark-driven FaceVerse updates between ResNet keyframes.

The ResNet-50 regressor (``regressor.py``) is too slow to run on every frame
of a CPU robot (50-100 ms) while MediaPipe gives 478 landmarks in a few ms.
Between keyframes, :class:`LandmarkFitter` moves the head pose (angles,
trans) and the expression of the last keyframe's coefficients until the
model's MediaPipe keypoints project onto the detected landmarks; identity,
texture, lighting and eyes stay as given (the eye values come from the iris
landmarks, spec ``faceverse_v4.md`` section 6, set by the caller).

Frames and units (spec sections 1, 3 and 5):

* coefficients: the 621-vector of spec 1 (angles in radians, trans in model
  units = raw millimetres / 100);
* model -> crop: ``p = R(angles) @ v + trans`` with ``R = Rz @ Ry @ Rx``,
  then ``u = f * p_x / (p_z + 10) + 127.5`` (f = 1000, spec 3.9) in the
  256x256 crop;
* crop -> image: ``u_img = u / 256 * (x1 - x0) + x0`` (spec 3.10) for the crop
  box (x0, y0, x1, y1) in image pixels -- the true box of
  :func:`faceverse_ros.core.crop.crop_face`. So the fitted coefficients mean what
  the network would output for a crop made with that box.

Problem solved (Levenberg-Marquardt with analytic Jacobians)::

    minimise  F = sum_k |proj(R v_k + t) - l_k|^2  +  w * |e - e_prior|^2
    over      angles (3), trans (3), e = the first ``exp_dims`` expression values

where l_k are the landmarks in image pixels, v_k the unposed model vertex of
MediaPipe landmark k (``keypoints_mediapipe``), linear in the expression
(``v_k = c_k + E_k e`` with ``c_k`` from the mean shape, the fixed identity
and the expression values that are not fitted), and e_prior the keyframe's
expression (init_coeffs' by default). The prior weight is
``w = exp_prior * K * s^2`` with K the number of fitted landmarks and s the
crop's scale in image pixels per crop pixel, i.e. ``exp_prior`` is the mean
squared landmark error, in crop pixels squared, that one unit of expression
change costs (default 0.01). It must be positive: 2-D landmarks do not
determine every expression direction (some move vertices along the viewing
ray only, some look like a small rotation or a change of distance), and the
prior picks the solution nearest the keyframe in those directions; it also
keeps landmark noise from leaking into the expression.

Expression values fitted by default: all but the last 6, which drive the
tongue (spec 1: untrained) and are left to the keyframe; ``exp_dims``
chooses the first N instead (0: pose only). Fewer values are faster (see
``bench/bench_fitting.py``), but the V4 expression order is not known to be
by importance, so truncating may drop a mouth or eye value.

Landmarks used: the 468 face-mesh landmarks (0..467). The 10 iris landmarks
(468..477), and any landmark whose vertex lies on an eyeball (vertex in
``ver_inds[0]:ver_inds[2]``), are excluded: eyeball vertices rotate with the
eye values, which this fitter does not estimate (the caller measures them
from the iris landmarks, landmarks.eyes) and MediaPipe's iris centre is not the
model's pupil vertex. Landmarks on the mouth interior (lower teeth, tongue,
upper teeth; spec 3.4) are handled exactly: their depth shift is linear in
the identity and expression and is folded into their precomputed basis rows.

Solver: Marquardt-scaled damping ``(H + mu diag(H)) h = -g`` with H = J^T J
(+ w on the expression diagonal) and the gain-ratio update of Nielsen
(1999); the first ``mu`` is ``damping``; a step that does not lower F is
rejected and ``mu`` grows. The gradient g is exact at every step; H, the
costly part (a (2K x (6 + m)) Jacobian and its product), is rebuilt only
after a step whose gain ratio fell below ``refresh_rho`` or that was rejected
(a chord step otherwise: near the solution H barely changes). Stops when a
step moves the landmarks by less than ``step_tol_px`` RMS or lowers F by
less than ``tolerance`` times F. F never increases, so a fit never returns
something worse than its start; non-finite values give
``status="diverged"`` with the init coefficients returned.

Hot path and timings: see faceverse_ros.core.fit_model.

Validity: tested on synthetic models only (``test/test_fitting.py``); the
synthetic file's expression basis can imitate rigid motions, so with it pose
and expression are not separable from landmarks -- see the tests' notes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from faceverse_ros.core.model import FaceVerseModel
from faceverse_ros.core.projection import CROP_SIZE
from faceverse_ros.core.fit_model import FitModel, _check_crop_box, rebox_translation
from faceverse_ros.core.rotations import rotation_matrix

from faceverse_ros.core.assets import MOUTH_VERTEX_JAW, MOUTH_VERTEX_REF  # the hard-wired vertices of spec 3.4

N_MESH_LANDMARKS = 468          #: MediaPipe face-mesh landmarks (the iris ones follow)
N_MEDIAPIPE_LANDMARKS = 478     #: mesh + 10 iris landmarks
N_TONGUE_EXP = 6                #: the last expression values drive the tongue (spec 1; untrained)

DEFAULT_EXP_DIMS = None         #: None: all but the tongue values (171 of V4's 177)
DEFAULT_ITERATIONS = 10         #: LM linear solves at most (accepted or rejected)
DEFAULT_DAMPING = 1e-3          #: first Marquardt damping factor mu
DEFAULT_EXP_PRIOR = 1e-2        #: crop px^2 of mean squared landmark error per unit^2 of expression change
DEFAULT_TOLERANCE = 1e-6        #: stop when a step lowers F by less than this fraction of F
DEFAULT_STEP_TOL_PX = 0.01      #: stop when a step moves the landmarks by less than this (RMS, image px)
DEFAULT_REFRESH_RHO = 0.75      #: rebuild J^T J after a step whose gain ratio is below this
MU_MAX = 1e12                   #: damping at which the solver gives up ("stalled")


@dataclass(frozen=True)
class FitLinearisation:
    """What a fit leaves for a linear update about its optimum (core.fast_update): the
    landmarks it was fitted to ((2, K) image px, the fitted set), J^T of the last Jacobian
    it built ((6 + exp_dims, 2K) float32) and J^T J + w I of the last one it factored."""

    landmarks: np.ndarray
    jt: np.ndarray
    normal: np.ndarray


@dataclass
class FitResult:
    """Result of :meth:`LandmarkFitter.fit`.

    coeffs: (n_coeffs,) float32 -- init_coeffs with angles, trans and the
        fitted expression values replaced (the start itself when diverged:
        init_coeffs, with the translation moved to crop_box if init_box was
        given).
    rms_px: RMS over the fitted landmarks of the 2-D distance, in image
        pixels, between the detections and the model's projection of
        ``coeffs`` (prior term not included).
    iterations: LM linear solves done (accepted and rejected steps).
    converged: True when the fit stopped on a convergence test (a step moved
        the landmarks by less than ``step_tol_px`` RMS, or lowered F by less
        than ``tolerance`` times F, or F reached ~0).
    status: "converged"; "max_iterations" (the budget ran out: coeffs are
        improved and usable, but were still moving); "stalled" (no step
        lowered F any more although no convergence test passed: coeffs are
        the best found); "diverged" (non-finite values: coeffs are the init).
    initial_rms_px: the same RMS for the start (init_coeffs, moved to
        crop_box when init_box was given).
    """

    coeffs: np.ndarray
    rms_px: float
    iterations: int
    converged: bool
    status: str = "converged"
    initial_rms_px: float = float("nan")
    linearisation: Optional[FitLinearisation] = None   #: None when diverged

    def __repr__(self):
        return (f"FitResult(status={self.status!r}, rms_px={self.rms_px:.4g}, initial_rms_px="
                f"{self.initial_rms_px:.4g}, iterations={self.iterations}, converged={self.converged})")


class LandmarkFitter(FitModel):
    """Fit head pose and expression to MediaPipe landmarks (see module doc).

    model: a :class:`faceverse_ros.core.model.FaceVerseModel`.
    exp_dims: number of leading expression values to fit (None: all but the
        6 tongue values, i.e. 171 for V4; 0: pose only; up to n_exp). The
        others keep init_coeffs' values.
    iterations: LM linear solves at most per fit (default 10).
    damping: first Marquardt damping factor (relative to diag(J^T J)).
    exp_prior: Tikhonov weight pulling the expression toward the keyframe's,
        in crop pixels^2 of mean squared landmark error per unit^2 of
        expression change (> 0; default 0.01).
    tolerance: relative decrease of F under which a step counts as converged.
    step_tol_px: RMS landmark motion (image px) under which a step counts as
        converged (0 disables).
    refresh_rho: J^T J is rebuilt after an accepted step whose gain ratio
        (actual / predicted decrease of F) is below this, and after any
        rejected step made with a stale matrix; otherwise the previous matrix
        is reused with the exact gradient (a chord step). Use a value > 1 to
        rebuild it at every step (plain LM).
    landmark_ids: MediaPipe landmark numbers to fit (default 0..467 without
        eyeball vertices); eyeball landmarks are refused.

    A fitter holds work buffers: use one per thread.
    """

    def __init__(self, model: FaceVerseModel, exp_dims: Optional[int] = DEFAULT_EXP_DIMS,
                 iterations: int = DEFAULT_ITERATIONS, damping: float = DEFAULT_DAMPING,
                 exp_prior: float = DEFAULT_EXP_PRIOR, tolerance: float = DEFAULT_TOLERANCE,
                 step_tol_px: float = DEFAULT_STEP_TOL_PX, refresh_rho: float = DEFAULT_REFRESH_RHO,
                 landmark_ids: Optional[Sequence[int]] = None):
        n_exp = model.n_exp
        if exp_dims is None:
            m = n_exp - N_TONGUE_EXP if n_exp > N_TONGUE_EXP else n_exp
        else:
            m = int(exp_dims)
        if not 0 <= m <= n_exp:
            raise ValueError(f"exp_dims must be in [0, {n_exp}], got {exp_dims}")
        if int(iterations) < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        if not (np.isfinite(damping) and damping > 0):
            raise ValueError(f"damping must be a positive number, got {damping}")
        if not (np.isfinite(exp_prior) and exp_prior > 0):
            raise ValueError(f"exp_prior must be a positive number (the landmarks do not determine every "
                             f"expression direction), got {exp_prior}")
        if not (np.isfinite(tolerance) and tolerance >= 0):
            raise ValueError(f"tolerance must be >= 0, got {tolerance}")
        if not (np.isfinite(step_tol_px) and step_tol_px >= 0):
            raise ValueError(f"step_tol_px must be >= 0, got {step_tol_px}")
        if not (np.isfinite(refresh_rho) and refresh_rho >= 0):
            raise ValueError(f"refresh_rho must be >= 0, got {refresh_rho}")
        kp = np.asarray(model.keypoints_mediapipe, dtype=np.int64).reshape(-1)
        if kp.size != N_MEDIAPIPE_LANDMARKS:
            raise ValueError(f"model has {kp.size} MediaPipe keypoints, expected {N_MEDIAPIPE_LANDMARKS}")
        vi = model.ver_inds
        on_eyeball = (kp >= vi[0]) & (kp < vi[2])
        if landmark_ids is None:
            ids = np.arange(N_MESH_LANDMARKS)
            ids = ids[~on_eyeball[ids]]
        else:
            ids = np.unique(np.asarray(landmark_ids, dtype=np.int64).reshape(-1))
            if ids.size == 0 or ids.min() < 0 or ids.max() >= N_MEDIAPIPE_LANDMARKS:
                raise ValueError(f"landmark_ids must be MediaPipe landmark numbers in [0, {N_MEDIAPIPE_LANDMARKS})")
            bad = ids[on_eyeball[ids]]
            if bad.size:
                raise ValueError(f"landmarks {bad.tolist()} lie on an eyeball, which rotates with the eye values; "
                                 "they cannot be fitted")
        if ids.size < 4:
            raise ValueError(f"need at least 4 landmarks to fit a pose, got {ids.size}")

        self.model = model
        self.exp_dims = m
        self.iterations = int(iterations)
        self.damping = float(damping)
        self.exp_prior = float(exp_prior)
        self.tolerance = float(tolerance)
        self.step_tol_px = float(step_tol_px)
        self.refresh_rho = float(refresh_rho)
        self.landmark_ids = ids
        self.n_coeffs = model.n_coeffs
        self._s_id = model.slices["id"]
        self._s_exp = model.slices["exp"]
        self._s_ang = model.slices["angles"]
        self._s_trans = model.slices["trans"]

        # basis rows of the fitted vertices, model units, float64: (n_id + n_exp, K, 3)
        verts = kp[ids]
        k = verts.size
        n_id = model.n_id
        cols = (3 * verts[:, None] + np.arange(3)[None, :]).reshape(-1)
        b = model._geo_bt[:, cols].astype(np.float64).reshape(n_id + n_exp, k, 3)
        mean = model._mean[verts].astype(np.float64)                       # (K, 3)
        mouth = (verts >= vi[2]) & (verts < vi[5])
        if mouth.any():  # spec 3.4: z -= (shape[jaw].z - shape[ref].z) - (mean[jaw].z - mean[ref].z)
            jz = model._geo_bt[:, 3 * MOUTH_VERTEX_JAW + 2].astype(np.float64)
            rz = model._geo_bt[:, 3 * MOUTH_VERTEX_REF + 2].astype(np.float64)
            b[:, mouth, 2] -= (jz - rz)[:, None]
        self._mean_t = np.ascontiguousarray(mean.T)                              # (3, K)
        # per coordinate, contiguous: (3, K, n) for the identity, fixed and fitted expression
        self._b_id = np.ascontiguousarray(b[:n_id].transpose(2, 1, 0)).reshape(3 * k, n_id)
        self._b_rest = np.ascontiguousarray(b[n_id + m:].transpose(2, 1, 0)).reshape(3 * k, n_exp - m)
        self._e = np.ascontiguousarray(b[n_id:n_id + m].transpose(2, 1, 0))      # (3, K, m)
        self._e_flat = self._e.reshape(3 * k, m)
        self._e32 = self._e.astype(np.float32)
        self.n_landmarks = k

        # work buffers reused by every fit
        self._jac = np.zeros((2 * k, 6 + m), dtype=np.float32)
        self._tmp = np.empty((k, m), dtype=np.float32)

    # ----------------------------------------------------------------- geometry (FitModel)
    def landmarks_px(self, coeffs: np.ndarray, crop_box: np.ndarray) -> np.ndarray:
        """(K, 2) image pixels of the fitted landmarks (``landmark_ids`` order)
        for coeffs (n_coeffs,) expressed for crop_box (x0, y0, x1, y1)."""
        c = self._check_coeffs(coeffs, "coeffs")
        box = _check_crop_box(crop_box)
        v = self._unposed(self._constant(c), c[self._s_exp][:self.exp_dims])
        p = self._posed(v, rotation_matrix(c[self._s_ang]), c[self._s_trans])
        uv, _ = self._project(p, box)
        if uv is None:
            raise ValueError("these coefficients put landmarks behind the crop camera")
        return uv.T.copy()

    # ----------------------------------------------------------------- input checks
    def _check_coeffs(self, coeffs, name: str = "init_coeffs") -> np.ndarray:
        """(n_coeffs,) float64 copy (float64 so that derivatives can be checked finely)."""
        c = np.array(coeffs, dtype=np.float64)
        if c.ndim == 2 and c.shape[0] == 1:
            c = c[0]
        if c.shape != (self.n_coeffs,):
            raise ValueError(f"{name} must be ({self.n_coeffs},), got shape {np.shape(coeffs)}")
        if not np.all(np.isfinite(c)):
            raise ValueError(f"{name} contain NaN or infinite values")
        return c

    def _check_landmarks(self, landmarks_px) -> np.ndarray:
        lm = np.asarray(landmarks_px, dtype=np.float64)
        if lm.ndim != 2 or lm.shape[0] not in (N_MESH_LANDMARKS, N_MEDIAPIPE_LANDMARKS) or lm.shape[1] not in (2, 3):
            raise ValueError(f"landmarks_px must be MediaPipe landmarks ({N_MEDIAPIPE_LANDMARKS} or "
                             f"{N_MESH_LANDMARKS}, 2 or 3) in image pixels, got shape {lm.shape}")
        if not np.all(np.isfinite(lm[:, :2])):
            bad = np.flatnonzero(~np.isfinite(lm[:, :2]).all(1))
            raise ValueError(f"landmarks_px contain NaN or infinite values (landmarks {bad[:10].tolist()}"
                             f"{' ...' if bad.size > 10 else ''})")
        if self.landmark_ids.max() >= lm.shape[0]:
            raise ValueError(f"landmark_ids need {N_MEDIAPIPE_LANDMARKS} landmarks, got {lm.shape[0]}")
        return np.ascontiguousarray(lm[self.landmark_ids, :2].T)  # (2, K)

    def fit(self, landmarks_px: np.ndarray, crop_box: np.ndarray, init_coeffs: np.ndarray,
            prior_exp: Optional[np.ndarray] = None, init_box: Optional[np.ndarray] = None) -> FitResult:
        """Fit angles, trans and expression to the landmarks of one face.

        landmarks_px: (478, 2|3) (or (468, 2|3)) MediaPipe landmarks in image
            pixels (a third column, MediaPipe's relative depth, is ignored).
        crop_box: (x0, y0, x1, y1) image pixels: the box the result is
            expressed for (spec 3.10; the true box of ``crop_face``).
        init_coeffs: (n_coeffs,) start: the keyframe's coefficients or the
            previous frame's fit; id, tex, gamma, eyes and the expression
            values beyond ``exp_dims`` are copied from it unchanged.
        prior_exp: (n_exp,) expression the prior pulls toward (the
            keyframe's, when starting from a previous fit); default:
            init_coeffs' own.
        init_box: the crop box init_coeffs were expressed for, when it is not
            crop_box: their translation is first moved to crop_box with
            :func:`rebox_translation`.

        Raises ValueError for NaN/infinite landmarks or coefficients, a
        degenerate crop box, wrong shapes, or a start that puts landmarks
        behind the crop camera.
        """
        init = self._check_coeffs(init_coeffs)
        box = _check_crop_box(crop_box)
        obs = self._check_landmarks(landmarks_px)
        k, m = self.n_landmarks, self.exp_dims
        if init_box is not None:
            init[self._s_trans] = rebox_translation(init[self._s_trans], init_box, box)
        if prior_exp is None:
            e_prior = init[self._s_exp][:m].copy()
        else:
            pe = np.asarray(prior_exp, dtype=np.float64).reshape(-1)
            if pe.shape != (self.model.n_exp,) or not np.all(np.isfinite(pe)):
                raise ValueError(f"prior_exp must be {self.model.n_exp} finite values, got shape {np.shape(prior_exp)}")
            e_prior = pe[:m]
        scale2 = (((box[2] - box[0]) + (box[3] - box[1])) / (2.0 * CROP_SIZE)) ** 2
        w = self.exp_prior * k * scale2

        const = self._constant(init)
        x = np.empty(6 + m)
        x[0:3] = init[self._s_ang]
        x[3:6] = init[self._s_trans]
        x[6:] = init[self._s_exp][:m]

        def evaluate(xx):
            """(F, r, v, p, z) at xx; r is None (F = inf) when a landmark is behind the camera."""
            v = self._unposed(const, xx[6:])
            p = self._posed(v, rotation_matrix(xx[0:3]), xx[3:6])
            uv, z = self._project(p, box)
            if uv is None:
                return np.inf, None, v, p, z
            uv -= obs
            de = xx[6:] - e_prior
            return float(np.einsum("ij,ij->", uv, uv)) + w * float(de @ de), uv, v, p, z

        f, r, v, p, z = evaluate(x)
        if r is None:
            raise ValueError("init_coeffs put landmarks behind the crop camera (depth <= 0); cannot fit")
        if not np.isfinite(f):
            raise ValueError("the landmark residual of init_coeffs is not finite")
        rms0 = float(np.sqrt(np.einsum("ij,ij->", r, r) / k))
        step_tol2 = (self.step_tol_px ** 2) * k

        mu, nu = self.damping, 2.0
        iterations, status = 0, "max_iterations"
        loc = self._local(v, p, z, x[0:3], box)
        g = self._gradient(loc, r, x[6:] - e_prior, w)
        h = self._hessian(loc, w)
        fresh = True            # h was built at the current x
        while iterations < self.iterations:
            a = h.copy()
            a.flat[::a.shape[0] + 1] += mu * np.maximum(h.diagonal(), 1e-12)
            iterations += 1
            try:
                step = np.linalg.solve(a, -g)
            except np.linalg.LinAlgError:
                step = None
            if step is not None:
                h_step = h @ step
                step_h_step = float(step @ h_step)
                predicted = -(2.0 * float(g @ step) + step_h_step)   # model decrease of F
                x_new = x + step
                f_new, r_new, v_new, p_new, z_new = evaluate(x_new)
            if step is not None and r_new is not None and np.isfinite(f_new) and f_new <= f and predicted > 0:
                rho = (f - f_new) / predicted
                decrease = f - f_new
                x, f, r, v, p, z = x_new, f_new, r_new, v_new, p_new, z_new
                moved2 = step_h_step - (w * float(step[6:] @ step[6:]) if m else 0.0)  # |J step|^2
                if moved2 <= step_tol2 or decrease <= self.tolerance * f or f <= 1e-20:
                    status = "converged"
                    break
                mu *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
                nu = 2.0
                loc = self._local(v, p, z, x[0:3], box)
                g = self._gradient(loc, r, x[6:] - e_prior, w)
                if rho < self.refresh_rho:   # the quadratic model was poor: rebuild J^T J
                    h = self._hessian(loc, w)
                    fresh = True
                else:                        # good model: keep J^T J (chord step), exact gradient
                    fresh = False
            elif not fresh:
                h = self._hessian(loc, w)   # the stale matrix may be why the step failed
                fresh = True
            else:
                mu *= nu
                nu *= 2.0
                if mu > MU_MAX:
                    status = "stalled"
                    break

        # core.fast_update linearises about this fit without building J and J^T J again
        linearisation = FitLinearisation(obs.copy(), self._jac.T.copy(), h)
        out = init.astype(np.float32)
        out[self._s_ang] = x[0:3]
        out[self._s_trans] = x[3:6]
        out[self._s_exp][:m] = x[6:]
        rms = float(np.sqrt(np.einsum("ij,ij->", r, r) / k))
        if not (np.all(np.isfinite(out)) and np.isfinite(rms)):
            return FitResult(init.astype(np.float32), rms0, iterations, False, "diverged", rms0)
        if prior_exp is None and rms > rms0 * (1.0 + 1e-6) + 1e-9:
            # cannot happen in exact arithmetic (F never increases and starts at sum r^2)
            return FitResult(init.astype(np.float32), rms0, iterations, False, "diverged", rms0)
        return FitResult(out, rms, iterations, status == "converged", status, rms0, linearisation)


def fit_landmarks(model: FaceVerseModel, landmarks_px: np.ndarray, crop_box: np.ndarray,
                  init_coeffs: np.ndarray, prior_exp: Optional[np.ndarray] = None,
                  init_box: Optional[np.ndarray] = None, **fitter_kwargs) -> FitResult:
    """One-shot convenience: ``LandmarkFitter(model, **fitter_kwargs).fit(...)``. It
    rebuilds the bases on every call (~7 ms): keep a :class:`LandmarkFitter` per stream."""
    return LandmarkFitter(model, **fitter_kwargs).fit(landmarks_px, crop_box, init_coeffs, prior_exp, init_box)
