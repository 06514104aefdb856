"""A head of known size at a known place, seen by a colour camera and a registered depth
camera (test helper; the ground truth is what the scene is built from, not anything the
package estimates).

The head: an ellipsoid skull (semi-axes 95 x 75 x 110 mm toward the face, the person's
left and up) with a face relief in front of it, both scaled by eye_distance / 63 mm. The
face relief is a smooth surface (Gaussian radial basis interpolation) through 46 face
points: the landmark template of landmarks.landmark_pose with a person-specific perturbation
(nose 25 % deeper, forehead 4 mm flatter, cheeks +-3 mm at random), so the face is NOT the
template the package assumes. The head origin (the truth) is the sellion point of that
face. A wall stands behind the head.

The "detector" gives the 478 landmark pixels the way MediaPipe does: x, y the projection
of the face points, z their depth relative to the sellion scaled like x; rows that are not
face points repeat the sellion (the package reads only the face points).
"""
import numpy as np

from faceverse_ros.landmarks.landmark_pose import FIT_INDICES, SELLION, TEMPLATE_MM, \
    rotation_from_yaw_pitch_roll

SIZE = (640, 480)
INTRINSICS = (600.0, 600.0, 320.0, 240.0)
SKULL_MM = np.array([95.0, 75.0, 110.0])


def person_face_mm(eye_distance_mm, seed=0):
    """The person's 46 face points (mm, head frame x out of the face, y left, z up, origin
    the sellion), rows in FIT_INDICES order."""
    rng = np.random.default_rng(seed)
    pts = TEMPLATE_MM.copy()
    nose = [FIT_INDICES.index(i) for i in (6, 197, 195, 5, 4, 1)]
    pts[nose, 0] *= 1.25
    forehead = [FIT_INDICES.index(i) for i in (151, 10, 338, 109, 297, 67)]
    pts[forehead, 0] -= 4.0
    pts[:, 0] += rng.uniform(-3.0, 3.0, len(pts)) * (np.abs(pts[:, 1]) > 30)
    pts[FIT_INDICES.index(SELLION)] = 0.0
    return pts * (eye_distance_mm / 63.0)


class Head:
    def __init__(self, eye_distance_mm=63.0, position=(0.0, 0.0, 1.0), yaw=0.0, pitch=0.0,
                 roll=0.0, seed=0):
        self.k = eye_distance_mm / 63.0
        self.position = np.asarray(position, dtype=np.float64)      # sellion, metres
        self.rotation = rotation_from_yaw_pitch_roll(yaw, pitch, roll)
        self.face_mm = person_face_mm(eye_distance_mm, seed)
        # relief x(y, z) through the face points: Gaussian RBF with a linear part
        yz = self.face_mm[:, 1:]
        self._centres, self._sigma = yz, 25.0 * self.k
        phi = self._phi(yz)
        a = np.block([[phi, np.c_[np.ones(len(yz)), yz]],
                      [np.c_[np.ones(len(yz)), yz].T, np.zeros((3, 3))]])
        rhs = np.r_[self.face_mm[:, 0], np.zeros(3)]
        self._w = np.linalg.solve(a + 1e-9 * np.eye(len(a)), rhs)
        self.skull_mm = SKULL_MM * self.k
        # skull centre behind the sellion so its front touches the relief's back
        self.skull_centre_mm = np.array([-self.skull_mm[0] - 30.0 * self.k, 0.0, 0.0])

    def _phi(self, yz):
        d2 = ((yz[:, None, :] - self._centres[None]) ** 2).sum(-1)
        return np.exp(-d2 / (2 * self._sigma ** 2))

    def relief_mm(self, yz):
        yz = np.atleast_2d(yz)
        return self._phi(yz) @ self._w[:-3] + self._w[-3] + yz @ self._w[-2:]

    def to_camera(self, pts_mm):
        return self.position + (np.asarray(pts_mm) / 1000.0) @ self.rotation.T

    def landmarks(self, intrinsics=INTRINSICS):
        fx, fy, cx, cy = intrinsics
        cam = self.to_camera(self.face_mm)
        lm = np.empty((478, 3))
        s = self.position
        lm[:] = [s[0] * fx / s[2] + cx, s[1] * fy / s[2] + cy, 0.0]
        lm[list(FIT_INDICES), 0] = cam[:, 0] * fx / cam[:, 2] + cx
        lm[list(FIT_INDICES), 1] = cam[:, 1] * fy / cam[:, 2] + cy
        lm[list(FIT_INDICES), 2] = (cam[:, 2] - s[2]) * fx / s[2]
        return lm

    def depth(self, size=SIZE, intrinsics=INTRINSICS, wall_m=None, step_mm=None):
        """Depth image (metres, float64) of the head in front of a wall (NaN beyond it when
        wall_m is None)."""
        w, h = size
        fx, fy, cx, cy = intrinsics
        u, v = np.meshgrid(np.arange(w), np.arange(h))
        rays = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u, float)], -1)
        # skull: ray-ellipsoid intersection in the head frame
        centre = self.to_camera(self.skull_centre_mm)
        d_head = rays @ self.rotation                    # ray directions in head axes
        o_head = (-centre) @ self.rotation               # camera origin in head axes
        a = self.skull_mm / 1000.0
        dd, oo = d_head / a, o_head / a
        qa = (dd ** 2).sum(-1)
        qb = 2 * (dd * oo).sum(-1)
        qc = (oo ** 2).sum() - 1.0
        disc = qb ** 2 - 4 * qa * qc
        t = np.where(disc >= 0, (-qb - np.sqrt(np.maximum(disc, 0))) / (2 * qa), np.inf)
        depth = np.where(t > 0, t, np.inf)              # z of rays with z = 1 is t
        # face relief: dense points splatted with a z-buffer
        step = step_mm or max(0.25, 0.6 * self.position[2] * 1000.0 / fx)
        ys = np.arange(-75, 75 + step, step) * self.k
        zs = np.arange(-55, 58 + step, step) * self.k
        gy, gz = np.meshgrid(ys, zs)
        yz = np.stack([gy.ravel(), gz.ravel()], 1)
        near = ((yz[:, None, :] - self.face_mm[None, :, 1:]) ** 2).sum(-1).min(1) < \
            (14.0 * self.k) ** 2
        yz = yz[near]
        x = np.concatenate([self.relief_mm(yz[i:i + 20000]) for i in range(0, len(yz), 20000)])
        cam = self.to_camera(np.c_[x, yz])
        pu = np.rint(cam[:, 0] * fx / cam[:, 2] + cx).astype(int)
        pv = np.rint(cam[:, 1] * fy / cam[:, 2] + cy).astype(int)
        ok = (pu >= 0) & (pu < w) & (pv >= 0) & (pv < h) & (cam[:, 2] > 0)
        flat = depth.reshape(-1)
        np.minimum.at(flat, pv[ok] * w + pu[ok], cam[ok, 2])
        depth = flat.reshape(h, w)
        if wall_m is not None:
            depth = np.minimum(depth, wall_m)
        depth[~np.isfinite(depth)] = np.nan
        return depth


def to_16uc1(depth_m):
    """Metres -> REP-118 16UC1 millimetres (0 where NaN)."""
    mm = np.rint(np.nan_to_num(depth_m, nan=0.0) * 1000.0)
    return np.clip(mm, 0, 65535).astype(np.uint16)


def degrade(depth_m, holes=0.0, noise=0.0, seed=1):
    """Random holes (share of pixels set to NaN) and Gaussian noise (sigma = noise x range)."""
    rng = np.random.default_rng(seed)
    out = depth_m * (1.0 + noise * rng.standard_normal(depth_m.shape))
    out[rng.random(depth_m.shape) < holes] = np.nan
    return out
