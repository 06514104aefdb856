"""A face-shaped STAND-IN for the FaceVerse V4 files, for tests and benchmarks of behaviour on a face.

The synthetic files (``synthetic_assets.py``) have random bases, landmarks on random vertices and
a network that outputs noise: right for formats, parity and speed, useless for asking
whether the landmark fit, the fast update and the keyframe handover behave on a face.
This module writes files with the same structure and sizes (spec ``faceverse_v4.md``
sections 2 and 4: every key, N = 20000 vertices, 156/177/251 basis columns, a ResNet-50
ReconNet state_dict) whose contents are a face:

* mean shape: MediaPipe's canonical face geometry (the 468-vertex mesh inside
  ``face_landmarker.task``, Apache-2.0; read by faceverse_ros.landmarks.canonical_mesh),
  turned into the model's axes (x right, y down, z away from the camera, millimetres)
  and oriented so that angles 0 are the frontal pose of our own landmark template
  (faceverse_ros.landmarks.landmark_pose: the template is fitted to the canonical landmarks,
  so zero rotation means what the landmark-only pose calls zero). The face is the front
  of a closed head (the synthetic head's sphere layout: its front vertices are moved
  onto the canonical surface, one vertex exactly onto each landmark); eyeballs, lower
  teeth, tongue and upper teeth sit behind the eyes and lips, in the spec's part order;
* ``keypoints_mediapipe``: landmark i points at the vertex placed exactly at canonical
  landmark i (iris landmarks at the front of the eyeballs);
* expression basis: the first columns are hand-made movements of MediaPipe's landmark
  groups (jaw open, lips, smile, blinks, brows; see ``EXPRESSIONS``), each spread from
  the landmarks to the vertices around them; dims 14 and 15 close the eyes and dim 49
  closes the mouth, where the spec's display gains put those movements; the rest, up to
  the tongue values, are small smooth movements confined to the mouth, eyes, brows,
  cheeks and jaw (no rigid motion of the head), and the last 6 move the tongue only;
* identity basis: smooth global shape changes of a few millimetres;
* the network: ``STANDIN_COEFFS``, one fixed coefficient vector (mean identity,
  neutral expression, frontal, the face centred in the crop at the size a detected
  face has there), whatever the image (final layers with zero weights and that vector
  as bias). Every keyframe thus hands the landmark fit a neutral start: the fit alone
  finds the pose and expression.

What it can show: whether the fit, the fast update and the keyframe handover find and
hold a face's pose and expression from MediaPipe landmarks (agreement with the
landmark-only pose, stability on a still frame, no jumps at keyframes). What it cannot:
anything about the real network (its accuracy, its noise, how its keyframes differ from
the fit), the real identity and expression bases (their sizes, what each column does,
how far they can imitate a rotation), or the real mean shape's fit to MediaPipe's
landmarks. Never present its output as a FaceVerse reconstruction. Every file is named
``*_standin.*`` and the model dict carries a ``standin`` entry saying so.

Files are cached under ``<cache_root>/standin/<STANDIN_VERSION>/`` like the synthetic ones.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from faceverse_ros.core.assets import MOUTH_VERTEX_JAW, MOUTH_VERTEX_REF, V4_HEAD_SIZES

STANDIN_VERSION = "v2"
MODEL_NAME = "faceverse_v4_2_standin.npy"
CHECKPOINT_NAME = "faceverse_resnet50_standin.pth"
STANDIN_NOTE = ("STAND-IN FaceVerse-V4-shaped test asset made by standin "
                f"{STANDIN_VERSION} from MediaPipe's canonical face; not FaceVerse, never "
                "report its output as a FaceVerse reconstruction")

#: head ellipsoid (semi-axes, centre) in mm, model axes; the sellion sits at SELLION_MM
HEAD_AXES_MM = (80.0, 120.0, 100.0)
HEAD_CENTRE_MM = (0.0, 5.0, 0.0)
SELLION_MM = (0.0, -25.0, -88.0)
EYEBALL_RADIUS_MM = 12.0

#: (expression dim, name, what it does) of the hand-made expression columns (module doc)
EXPRESSIONS = (
    (0, "jaw_open", "the lower lip, chin and jaw turn down about an axis near the ears, 0.3 rad"),
    (1, "smile", "the mouth corners move out 6 mm and up 4 mm, the cheeks follow"),
    (2, "pucker", "the lips move 6 mm forward and in toward the mouth centre"),
    (3, "brows_up", "both brows move up 6 mm"),
    (4, "brows_down", "both brows move down 4 mm and in 3 mm"),
    (5, "mouth_stretch", "the mouth corners move out 5 mm and down 3 mm"),
    (6, "upper_lip_up", "the upper lip moves up 4 mm"),
    (7, "smile_left", "the person's left mouth corner moves out and up"),
    (8, "smile_right", "the person's right mouth corner moves out and up"),
    (14, "close_left_eye", "the person's left upper eyelid moves onto the lower one"),
    (15, "close_right_eye", "the person's right upper eyelid moves onto the lower one"),
    (49, "close_mouth", "the lower lip moves up 4 mm"),
)
N_TONGUE = 6

#: the stand-in network's output (module doc): the crop of spec 5 puts a face box of side L
#: in a 1.3 L square whose top is 0.70 L above the box centre, i.e. the face box spans
#: 256 / 1.3 crop px centred at (127.5, 0.70 / 1.3 * 256 - 0.5) in the crop
CROP_FACE_SIDE_PX = 256.0 / 1.3
CROP_FACE_CENTRE_PX = (127.5, 0.70 / 1.3 * 256.0 - 0.5)


# =========================================================================== geometry
def _mediapipe_groups():
    """Landmark groups of MediaPipe's face mesh (its published connection sets)."""
    from mediapipe.python.solutions import face_mesh_connections as fmc

    def ids(name):
        return sorted({i for e in getattr(fmc, name) for i in e})

    return {"lips": ids("FACEMESH_LIPS"), "left_eye": ids("FACEMESH_LEFT_EYE"),
            "right_eye": ids("FACEMESH_RIGHT_EYE"), "left_brow": ids("FACEMESH_LEFT_EYEBROW"),
            "right_brow": ids("FACEMESH_RIGHT_EYEBROW"), "oval": ids("FACEMESH_FACE_OVAL")}


def _task(task_path):
    """The face_landmarker.task to read the canonical face from (tracking.detector's search
    when None); a clear error without one."""
    from faceverse_ros.tracking.detector import find_task_file

    found = find_task_file(task_path)
    if found is None:
        raise FileNotFoundError("the stand-in files are made from MediaPipe's canonical face in "
                                "face_landmarker.task: give its path (none found)")
    return found


def canonical_face_mm(task_path=None):
    """(468, 3) canonical landmarks in model axes and mm with angles 0 = the landmark
    template's frontal pose, the sellion at SELLION_MM; and the canonical triangles."""
    from faceverse_ros.landmarks import landmark_pose as lp
    from faceverse_ros.landmarks.canonical_mesh import mesh_from_task
    from faceverse_ros.core.rotations import FACE_AXES_IN_MODEL

    mesh = mesh_from_task(_task(task_path))
    v = mesh.vertices_cm.astype(np.float64) * 10.0         # x image right, y up, z out; mm
    head = np.stack([v[:, 2], v[:, 0], v[:, 1]], axis=1)   # head frame: x out, y left, z up
    s, rot, t = lp.similarity_fit(head[list(lp.FIT_INDICES)], lp.TEMPLATE_MM)
    head = s * head @ rot.T + t                            # on the template: sellion at 0
    # the template's 46 landmarks exactly where the template has them, the rest moved along
    # smoothly: the face's rigid part is our template's average face
    fit = list(lp.FIT_INDICES)
    moved = lp.TEMPLATE_MM - head[fit]
    w = np.exp(-((head[:, None, :] - head[None, fit, :]) ** 2).sum(-1) / (2 * 15.0 ** 2))
    head = head + (w @ moved) / (w.sum(1, keepdims=True) + 1e-9) * np.clip(w.sum(1, keepdims=True), 0, 1)
    head[fit] = lp.TEMPLATE_MM
    model = head @ FACE_AXES_IN_MODEL.T                    # head axes -> model axes
    return model + np.array(SELLION_MM), mesh.triangles.astype(np.int64)


def _front_depth(xy, face, tris):
    """Depth (model z) of the canonical face surface seen along +z at points xy (n, 2);
    NaN outside the face. The nearest surface where several triangles cover a point."""
    a, b, c = face[tris[:, 0]], face[tris[:, 1]], face[tris[:, 2]]
    out = np.full(len(xy), np.nan)
    for lo in range(0, len(xy), 2048):
        p = xy[lo:lo + 2048, None, :]
        v0, v1, v2 = (b - a)[None, :, :2], (c - a)[None, :, :2], p - a[None, :, :2]
        den = v0[..., 0] * v1[..., 1] - v1[..., 0] * v0[..., 1]
        den = np.where(np.abs(den) < 1e-12, np.nan, den)
        wb = (v2[..., 0] * v1[..., 1] - v1[..., 0] * v2[..., 1]) / den
        wc = (v0[..., 0] * v2[..., 1] - v2[..., 0] * v0[..., 1]) / den
        wa = 1.0 - wb - wc
        inside = (wa >= -1e-9) & (wb >= -1e-9) & (wc >= -1e-9)
        z = wa * a[None, :, 2] + wb * b[None, :, 2] + wc * c[None, :, 2]
        z = np.where(inside, z, np.inf)
        zmin = z.min(axis=1)
        out[lo:lo + 2048] = np.where(np.isfinite(zmin), zmin, np.nan)
    return out


def _spread(disp, at, verts, sigma=7.0, reach=18.0):
    """Displacements (n, 3) of vertices ``verts`` from displacements ``disp`` (k, 3) given
    at points ``at`` (k, 3): a Gaussian-weighted mean of the nearest given points, fading
    to zero farther than ``reach`` mm from all of them."""
    out = np.zeros_like(verts)
    moving = np.linalg.norm(disp, axis=1) > 0
    if not moving.any():
        return out
    for lo in range(0, len(verts), 4096):
        d2 = ((verts[lo:lo + 4096, None, :] - at[None, :, :]) ** 2).sum(-1)
        w = np.exp(-d2 / (2 * sigma ** 2))
        near = np.sqrt(d2.min(axis=1))
        fade = np.clip(1.5 - near / reach, 0.0, 1.0)
        out[lo:lo + 4096] = (w @ disp) / (w.sum(1, keepdims=True) + 1e-12) * fade[:, None]
    return out


def _expression_landmark_motions(face, groups):
    """{dim: (468, 3) mm displacement of each landmark} for EXPRESSIONS (model axes)."""
    lips = np.array(groups["lips"])
    corner_r, corner_l = face[61], face[291]
    mouth_c = (corner_r + corner_l) / 2.0
    half_w = (corner_l[0] - corner_r[0]) / 2.0
    # lip landmarks below the corners' line (larger y) are the lower lip
    lower_lip = lips[face[lips, 1] > mouth_c[1] + 0.3]
    upper_lip = lips[face[lips, 1] < mouth_c[1] - 0.3]
    n = len(face)
    idx = np.arange(n)
    out = {}

    def zero():
        return np.zeros((n, 3))

    # jaw open: points below the mouth line turn about an axis through the ears
    pivot = np.array([0.0, mouth_c[1] - 20.0, mouth_c[2] + 85.0])
    wj = np.clip((face[:, 1] - mouth_c[1]) / 8.0, 0.0, 1.0)
    wj[upper_lip] = 0.0
    wj[lower_lip] = 1.0
    wj[face[:, 2] > pivot[2] - 10] = 0.0
    ang = 0.3
    rel = face - pivot
    turned = np.stack([rel[:, 0], np.cos(ang) * rel[:, 1] - np.sin(ang) * rel[:, 2],
                       np.sin(ang) * rel[:, 1] + np.cos(ang) * rel[:, 2]], 1)
    out[0] = (turned - rel) * wj[:, None]
    near_mouth = np.exp(-((face - mouth_c) ** 2).sum(1) / (2 * 22.0 ** 2))
    side = np.clip((face[:, 0] - mouth_c[0]) / half_w, -1.5, 1.5)
    d = zero()
    d[:, 0] = 6.0 * side * near_mouth
    d[:, 1] = -4.0 * np.abs(side) * near_mouth
    out[1] = d
    d = zero()
    lip_w = np.zeros(n)
    lip_w[lips] = 1.0
    d[:, 2] = -6.0 * lip_w
    d[:, 0] = -0.3 * (face[:, 0] - mouth_c[0]) * lip_w
    out[2] = d
    brows = np.array(groups["left_brow"] + groups["right_brow"])
    d = zero()
    d[brows, 1] = -6.0
    out[3] = d
    d = zero()
    d[brows, 1] = 4.0
    d[brows, 0] = -3.0 * np.sign(face[brows, 0])
    out[4] = d
    d = zero()
    d[:, 0] = 5.0 * side * near_mouth
    d[:, 1] = 3.0 * np.abs(side) * near_mouth
    out[5] = d
    d = zero()
    d[upper_lip, 1] = -4.0
    out[6] = d
    for dim, sign in ((7, 1.0), (8, -1.0)):  # the person's left is image right (+x)
        d = out[1].copy()
        d[np.sign(face[:, 0] - mouth_c[0]) != sign] = 0.0
        out[dim] = d
    for dim, eye in ((14, "left_eye"), (15, "right_eye")):
        ring = np.array(groups[eye])
        a, b = (263, 362) if eye == "left_eye" else (33, 133)
        line_y = (face[a, 1] + face[b, 1]) / 2.0
        upper = ring[face[ring, 1] < line_y - 0.2]
        lower = ring[face[ring, 1] >= line_y - 0.2]
        d = zero()
        for i in upper:
            j = lower[np.argmin(np.abs(face[lower, 0] - face[i, 0]))]
            d[i] = 0.95 * (face[j] - face[i])
        out[dim] = d
    d = zero()
    d[lower_lip, 1] = -4.0
    out[49] = d
    assert set(out) == {e[0] for e in EXPRESSIONS} and len(idx) == n
    return out


def _uv_head(rings, segs):
    from faceverse_ros.cli.synthetic_assets import _uv_sphere

    return _uv_sphere(rings, segs)


def make_model_dict(seed: int = 0, task_path=None) -> dict:
    """The stand-in model dict (module doc): the synthetic file's layout and keys, a face."""
    from faceverse_ros.cli import synthetic_assets as synthetic

    d = synthetic.make_model_dict(seed)     # layout, triangles, point_buf, part boundaries
    rng = np.random.default_rng(seed + 100)
    n = len(d["meanshape"])
    vi = [int(x) for x in d["ver_inds"]]
    face, _tris = canonical_face_mm(task_path)
    canon_tris = _tris
    groups = _mediapipe_groups()

    # ---- head: ellipsoid, front moved onto the canonical face
    (rings, segs) = synthetic._PARTS[0][1]
    u, _ = _uv_head(rings, segs)
    assert len(u) == vi[0]
    head = u * np.array(HEAD_AXES_MM) + np.array(HEAD_CENTRE_MM)
    front = u[:, 2] < 0
    z = _front_depth(head[:, :2], face, canon_tris)
    on_face = front & np.isfinite(z)
    head[on_face, 2] = z[on_face]
    # a band around the face: blend toward the face's edge depth so the head closes smoothly
    edge = ~on_face & front
    if edge.any():
        fi = np.flatnonzero(on_face)
        for lo in range(0, int(edge.sum()), 2048):
            ids = np.flatnonzero(edge)[lo:lo + 2048]
            d2 = ((head[ids, None, :2] - head[None, fi, :2]) ** 2).sum(-1)
            j = fi[np.argmin(d2, axis=1)]
            dist = np.sqrt(d2.min(axis=1))
            t = np.clip(dist / 25.0, 0.0, 1.0)
            head[ids, 2] = (1 - t) * np.minimum(head[j, 2] + 0.3 * dist, head[ids, 2]) + t * head[ids, 2]
    # one head vertex exactly on each canonical landmark (nearest free vertex in x, y)
    mp = np.empty(478, np.int64)
    taken = np.zeros(vi[0], bool)
    cand = np.flatnonzero(front)
    order = np.argsort(np.abs(face[:, 0]))  # any fixed order; ties are rare
    for i in order:
        d2 = ((head[cand, :2] - face[i, :2]) ** 2).sum(1) + 1e6 * taken[cand]
        k = cand[np.argmin(d2)]
        taken[k] = True
        mp[i] = k
        head[k] = face[i]

    ms = np.asarray(d["meanshape"], np.float64).copy()
    ms[:vi[0]] = head
    # ---- eyeballs behind the eye corners, mouth parts behind the lips (rigid moves)
    syn = np.asarray(d["meanshape"], np.float64)
    eye_l = (face[263] + face[362]) / 2.0 + np.array([0.0, 0.0, EYEBALL_RADIUS_MM - 2.0])
    eye_r = (face[33] + face[133]) / 2.0 + np.array([0.0, 0.0, EYEBALL_RADIUS_MM - 2.0])
    mouth_c = (face[13] + face[14]) / 2.0
    centres = {1: eye_l, 2: eye_r, 3: mouth_c + [0.0, 5.0, 10.0], 4: mouth_c + [0.0, 8.0, 18.0],
               5: mouth_c + [0.0, -3.0, 8.0]}
    for part, c in centres.items():
        sl = slice(vi[part - 1], vi[part])
        p = syn[sl] - syn[sl].mean(0)
        if part in (1, 2):
            p *= EYEBALL_RADIUS_MM / 12.0
        ms[sl] = p + c
    # iris landmarks: the front of each eyeball (468.. right eye = person's right, image left)
    for first, part in ((468, 2), (473, 1)):
        sl = np.arange(vi[part - 1], vi[part])
        front_most = sl[np.argsort(ms[sl, 2])[:5]]
        mp[first:first + 5] = front_most
    part = np.zeros(n, np.int64)
    for k in range(1, 6):
        part[vi[k - 1]:vi[k]] = k

    # ---- expression basis
    n_id, n_exp, n_tex = V4_HEAD_SIZES[:3]
    ex = np.zeros((n, 3, n_exp))
    head_v = ms[:vi[0]]
    motions = _expression_landmark_motions(face, groups)
    lower_lip_pt = (face[14] + face[17]) / 2.0
    upper_lip_pt = face[13]
    for dim, disp in motions.items():
        col = np.zeros((n, 3))
        col[:vi[0]] = _spread(disp, face, head_v)
        col[mp[:468]] = disp
        # mouth parts move rigidly with the lip next to them (lower teeth, tongue: lower lip)
        lower = _spread(disp, face, lower_lip_pt[None])[0]
        upper = _spread(disp, face, upper_lip_pt[None])[0]
        col[vi[2]:vi[4]] = lower
        col[vi[4]:vi[5]] = upper
        ex[:, :, dim] = col
    # the other columns: small smooth movements of the mouth, eye, brow, cheek and jaw regions
    regions = [face[13], face[14], face[61], face[291], face[159], face[386], face[105], face[334],
               face[50], face[280], face[152], face[172], face[397]]
    fixed = {e[0] for e in EXPRESSIONS}
    for dim in range(n_exp - N_TONGUE):
        if dim in fixed:
            continue
        pts = rng.choice(len(regions), 2, replace=False)
        disp_pts = np.stack([regions[i] for i in pts])
        disp = rng.normal(0.0, 1.5, (2, 3))
        col = np.zeros((n, 3))
        col[:vi[0]] = _spread(disp, disp_pts, head_v, sigma=10.0, reach=20.0)
        col[vi[2]:vi[5]] = _spread(disp, disp_pts, mouth_c[None], sigma=10.0, reach=20.0)[0]
        ex[:, :, dim] = col
    tongue = part == 4
    for k, dim in enumerate(range(n_exp - N_TONGUE, n_exp)):
        ex[tongue, k % 3, dim] = 2.0 * (1 if k < 3 else -1)
    # ---- identity: smooth global shape changes of a few mm (eyeballs and mouth parts rigid)
    eval_pos = ms.copy()
    for k in range(1, 6):
        eval_pos[part == k] = ms[part == k].mean(0)
    feats = synthetic._smooth_features(eval_pos, rng)
    w = rng.standard_normal((feats.shape[1], 3 * n_id)) * (1.0 / np.sqrt(feats.shape[1] / 2))
    id_base = (feats @ w).reshape(n, 3, n_id)

    # ---- albedo: skin, red lips, dark brows, white eyes with a dark iris
    meantex = np.tile(np.array([205.0, 160.0, 135.0]), (n, 1))
    lip_pts = face[groups["lips"]]
    near_lip = np.min(((ms[:, None, :] - lip_pts[None]) ** 2).sum(-1), axis=1) < 4.0 ** 2
    meantex[(part == 0) & near_lip] = (185, 100, 100)
    brow_pts = face[groups["left_brow"] + groups["right_brow"]]
    near_brow = np.min(((ms[:, None, :] - brow_pts[None]) ** 2).sum(-1), axis=1) < 4.0 ** 2
    meantex[(part == 0) & near_brow] = (90, 70, 60)
    for k, c in ((3, (240, 235, 220)), (4, (185, 85, 85)), (5, (240, 235, 220))):
        meantex[part == k] = c
    for k, centre in ((1, eye_l), (2, eye_r)):
        sel = np.flatnonzero(part == k)
        dirz = (ms[sel, 2] - centre[2]) / EYEBALL_RADIUS_MM
        meantex[sel] = np.where((dirz < -0.85)[:, None], [60.0, 45.0, 35.0], [235.0, 235.0, 230.0])
    tex = np.asarray(d["texBase"]).reshape(n, 3, n_tex)

    # ---- keypoints: the 68/370 lists and groups point at the landmark vertices
    def lm(i):
        return int(mp[i])

    oval = groups["oval"]
    jaw17 = sorted(oval, key=lambda i: np.arctan2(face[i, 1] - face[1, 1], face[i, 0]))
    jaw17 = [i for i in jaw17 if face[i, 1] > face[1, 1]]
    jaw17 = [jaw17[int(round(k))] for k in np.linspace(0, len(jaw17) - 1, 17)]
    names = {
        "pupil_left_5": [int(x) for x in mp[473:478]],
        "pupil_right_5": [int(x) for x in mp[468:473]],
        "out_17": [lm(i) for i in jaw17],
        "left_brow_5": [lm(i) for i in (285, 295, 282, 283, 276)],
        "right_brow_5": [lm(i) for i in (46, 53, 52, 65, 55)],
        "left_eye_6": [lm(i) for i in (362, 385, 387, 263, 373, 380)],
        "right_eye_6": [lm(i) for i in (33, 160, 158, 133, 153, 144)],
    }
    kp, name_list = [], {}
    for g, idx in names.items():
        name_list[g] = list(range(len(kp), len(kp) + len(idx)))
        kp.extend(idx)
    rest = [lm(i) for i in range(468) if lm(i) not in set(kp)]
    kp.extend(rest[:370 - len(kp)])
    k68 = [lm(i) for i in jaw17]
    k68 += [lm(i) for i in (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)]
    k68 += [lm(i) for i in (168, 197, 5, 4, 75, 97, 2, 326, 305)]
    k68 += [lm(i) for i in (33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380)]
    k68 += [lm(i) for i in (61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181)]
    k68 += [lm(i) for i in (78, 82, 13, 312, 308, 317, 14, 87)]
    k68 += [int(mp[473]), int(mp[468])]
    face_mask = ((part == 0) & np.isin(np.arange(n), np.flatnonzero(on_face))).astype(np.float32)

    assert vi[2] <= MOUTH_VERTEX_JAW < vi[3] and MOUTH_VERTEX_REF < vi[0]
    out = dict(d)
    out.update({
        "meanshape": ms.astype(np.float32),
        "idBase": np.ascontiguousarray(id_base.reshape(3 * n, n_id)).astype(np.float32),
        "exBase": np.ascontiguousarray(ex.reshape(3 * n, n_exp)).astype(np.float32),
        "texBase": np.ascontiguousarray(tex.reshape(3 * n, n_tex)).astype(np.float32),
        "meantex": meantex.astype(np.float32),
        "keypoints_mediapipe": mp,
        "keypoints": np.array(kp[:370], dtype=np.int64),
        "keypoints_68": np.array(k68, dtype=np.int64),
        "keypoints_name_list": name_list,
        "face_mask": face_mask,
        "parsing": {"skin": (part == 0).astype(np.float32)},
        "standin": STANDIN_NOTE,
    })
    out.pop("synthetic", None)
    assert out["keypoints_68"].shape == (70,) and out["keypoints"].shape == (370,)
    return out


# =========================================================================== network
def standin_coeffs(model_dict: dict) -> np.ndarray:
    """The stand-in network's fixed output (621,) float32 for a model dict (module doc):
    id, exp, tex, eyes 0; gamma 0 but a light from the camera side; angles 0; trans so
    that the mean face's 468 landmarks fill the crop's face box (CROP_FACE_SIDE_PX, the
    larger side) centred at CROP_FACE_CENTRE_PX."""
    from faceverse_ros.core.layout import V4 as lay
    from faceverse_ros.core.projection import CAMERA_DISTANCE, FOCAL

    c = np.zeros(lay.total, np.float32)
    c[lay.slices["gamma"]][6:9] = -0.15  # band 1, the nz row: light from the camera side
    pts = np.asarray(model_dict["meanshape"], np.float64)[np.asarray(model_dict["keypoints_mediapipe"])[:468]]
    pts = pts / 100.0
    # at depth Z = 10 + tz a width w spans f w / Z px: pick Z for the side, then (tx, ty)
    ext = pts.max(0) - pts.min(0)
    z = FOCAL * max(ext[0], ext[1]) / CROP_FACE_SIDE_PX
    centre = (pts.max(0) + pts.min(0)) / 2.0
    for _ in range(3):  # perspective: the box of the projected points, not of the points
        zc = z + pts[:, 2] - centre[2]
        uv = FOCAL * (pts[:, :2] - centre[:2]) / zc[:, None]
        side = max(*(uv.max(0) - uv.min(0)))
        z *= side / CROP_FACE_SIDE_PX
        zc = z + pts[:, 2] - centre[2]
        uv = FOCAL * (pts[:, :2] - centre[:2]) / zc[:, None]
        mid = (uv.max(0) + uv.min(0)) / 2.0
        want = np.array(CROP_FACE_CENTRE_PX) - 127.5
        centre[:2] -= (want - mid) * z / FOCAL
    trans = np.array([-centre[0], -centre[1], z - centre[2] - CAMERA_DISTANCE])
    c[lay.trans] = trans
    return c


def make_reconnet_state_dict(coeffs: np.ndarray, seed: int = 0) -> dict:
    """A ReconNet whose output is ``coeffs`` for every image: a fixed-seed ResNet-50
    backbone (small residual gains so its features stay moderate) and final layers with
    zero weights and ``coeffs`` as their biases."""
    import torch

    from faceverse_ros.core.regressor import ReconNet

    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        net = ReconNet(V4_HEAD_SIZES)
        for name, mod in net.backbone.named_modules():
            if name.endswith("bn3"):
                torch.nn.init.constant_(mod.weight, 0.2)
        start = 0
        for head, size in zip(net.final_layers, V4_HEAD_SIZES):
            head.weight.data.zero_()
            head.bias.data.copy_(torch.from_numpy(np.asarray(coeffs[start:start + size], np.float32)))
            start += size
        sd = {k: v.detach().clone() for k, v in net.state_dict().items()}
    finally:
        torch.random.set_rng_state(gen_state)
    return sd


# =========================================================================== files and cache
@dataclass(frozen=True)
class StandinAssets:
    """Paths of the stand-in model file and checkpoint (both labelled STAND-IN)."""

    model_path: Path
    checkpoint_path: Path


def write_standin_assets(out_dir, seed: int = 0, overwrite: bool = False, task_path=None) -> StandinAssets:
    """Write ``faceverse_v4_2_standin.npy`` and ``faceverse_resnet50_standin.pth`` (and a
    README saying what they are) into ``out_dir``."""
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path, ckpt_path = out / MODEL_NAME, out / CHECKPOINT_NAME
    d = None
    if overwrite or not model_path.is_file():
        d = make_model_dict(seed, task_path)
        tmp = out / f".{MODEL_NAME}.{os.getpid()}.tmp.npy"
        np.save(tmp, d, allow_pickle=True)
        os.replace(tmp, model_path)
    if overwrite or not ckpt_path.is_file():
        if d is None:
            d = np.load(model_path, allow_pickle=True).item()
        sd = make_reconnet_state_dict(standin_coeffs(d), seed)
        tmp = out / f".{CHECKPOINT_NAME}.{os.getpid()}.tmp"
        torch.save(sd, tmp)
        os.replace(tmp, ckpt_path)
    readme = out / "README_STANDIN.txt"
    if not readme.is_file():
        readme.write_text(STANDIN_NOTE + "\nMade by faceverse_ros/cli/standin_assets.py "
                          "(scripts/make_standin_assets.py)."
                          "\nA face to test the landmark fit on; not FaceVerse.\n")
    return StandinAssets(model_path, ckpt_path)


def standin_assets(cache_dir: Optional[Path] = None, task_path=None) -> StandinAssets:
    """Cached stand-in assets (made on first use, shared by parallel runs)."""
    from faceverse_ros.cli.synthetic_assets import made_once
    from faceverse_ros.paths import cache_root

    d = Path(cache_dir) if cache_dir else cache_root() / "standin" / STANDIN_VERSION
    made = made_once(d, (MODEL_NAME, CHECKPOINT_NAME),
                     lambda out: write_standin_assets(out, task_path=task_path))
    return made or StandinAssets(d / MODEL_NAME, d / CHECKPOINT_NAME)
