"""SYNTHETIC stand-ins for the FaceVerse V4 files, for tests and `faceverse-ros bench`.

NOT a face model: random fixed-seed contents with the official files' structure. It
ships with the package because `faceverse-ros bench` measures the real sizes' cost
without the research files; nothing else in the package imports it.

The official ``faceverse_v4_2.npy`` and ``faceverse_resnet50.pth`` cannot be
downloaded here. This module writes files with exactly their structure (spec
``faceverse_v4.md`` section 2 and 4, "Synthetic assets"):

* a model dict with every key, the V4 basis sizes (156/177/251), N = 20000
  vertices on smooth closed surfaces in raw millimetre-like units (a deformed
  ellipsoid head of about 150 x 210 x 190 mm whose front faces -z, i.e. the
  camera, two eyeballs, lower teeth, tongue, upper teeth, in that order),
  outward-facing triangles, valid ``point_buf``, plausible part boundaries,
  keypoint index lists and masks, and small smooth fixed-seed bases;
* a ReconNet state_dict with fixed-seed random weights whose BatchNorm
  statistics were measured on synthetic images and whose heads are scaled so
  that outputs stay small (angles within about +-0.3 rad, translations of a
  few hundredths of a model unit, on real face crops too): renders stay on
  screen.

They exercise every code path and every file format; they say nothing about
accuracy on real faces. Never present their output as a face reconstruction.
Every file is named ``*_synthetic.*`` and the model dict carries a
``synthetic`` entry (a string saying so).

Files are cached under ``<project>/.cache/synthetic/<SYNTHETIC_VERSION>/``
(see :func:`faceverse_ros.paths.cache_root`), written atomically under a
file lock so parallel test runs share one copy.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from faceverse_ros.core.assets import MOUTH_VERTEX_JAW, MOUTH_VERTEX_REF, V4_HEAD_SIZES

SYNTHETIC_VERSION = "v3"
MODEL_NAME = "faceverse_v4_2_synthetic.npy"
CHECKPOINT_NAME = "faceverse_resnet50_synthetic.pth"
SYNTHETIC_NOTE = ("SYNTHETIC FaceVerse-V4-shaped test asset made by synthetic "
                  f"{SYNTHETIC_VERSION}; not a face model, never report its output as a face")

# Part layout: (rings, segments) of a UV sphere per part; head first. Chosen so
# that N = 20000 exactly and vertex 19496 falls in the lower teeth.
_PARTS = (
    ("head", (106, 175), (75.0, 105.0, 95.0), (0.0, 0.0, 0.0)),
    ("left_eye", (16, 24), (12.0, 12.0, 12.0), (32.0, -30.0, -74.0)),
    ("right_eye", (16, 24), (12.0, 12.0, 12.0), (-32.0, -30.0, -74.0)),
    ("lower_teeth", (6, 45), (22.0, 4.0, 10.0), (0.0, 48.0, -70.0)),
    ("tongue", (8, 25), (18.0, 5.0, 20.0), (0.0, 52.0, -60.0)),
    ("upper_teeth", (8, 25), (22.0, 4.0, 10.0), (0.0, 40.0, -72.0)),
)
N_VERTICES = 20000
POINT_BUF_K = 8


# =========================================================================== mesh
def _uv_sphere(rings: int, segs: int):
    """Unit sphere, poles on the y axis (top = -y), seam-free; outward triangles."""
    theta = np.pi * np.arange(1, rings + 1) / (rings + 1)
    phi = 2 * np.pi * np.arange(segs) / segs
    st, ct = np.sin(theta)[:, None], np.cos(theta)[:, None]
    ring = np.stack([st * np.sin(phi), -ct * np.ones_like(phi), -st * np.cos(phi)], -1).reshape(-1, 3)
    verts = np.concatenate([[[0.0, -1.0, 0.0]], ring, [[0.0, 1.0, 0.0]]])
    top, bottom = 0, len(verts) - 1

    def rid(i, j):
        return 1 + i * segs + (j % segs)

    tris = []
    for j in range(segs):
        tris.append((top, rid(0, j), rid(0, j + 1)))
        tris.append((bottom, rid(rings - 1, j + 1), rid(rings - 1, j)))
    for i in range(rings - 1):
        for j in range(segs):
            a, b, c, d = rid(i, j), rid(i, j + 1), rid(i + 1, j), rid(i + 1, j + 1)
            tris.append((a, c, b))
            tris.append((b, c, d))
    tris = np.array(tris, dtype=np.int64)
    # orient outward: face normal cross(v1 - v2, v2 - v3) must point away from the centre
    v1, v2, v3 = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    n = np.cross(v1 - v2, v2 - v3)
    flip = np.einsum("ij,ij->i", n, (v1 + v2 + v3)) < 0
    tris[flip] = tris[flip][:, [0, 2, 1]]
    return verts, tris


def _smooth_features(p: np.ndarray, rng: np.random.Generator, m: int = 24) -> np.ndarray:
    """(n, m) smooth functions of positions in mm (wavelengths 120-400 mm)."""
    dirs = rng.standard_normal((m, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    wavelength = rng.uniform(120.0, 400.0, m)
    phase = rng.uniform(0, 2 * np.pi, m)
    return np.sin(p @ (dirs.T * (2 * np.pi / wavelength)) + phase)


def make_model_dict(seed: int = 0) -> dict:
    """A synthetic model dict with every key of spec section 2 (see module doc)."""
    rng = np.random.default_rng(seed)
    verts, tris, unit_dirs, part_of = [], [], [], []
    ver_inds, tri_inds = [], []
    offset = 0
    for k, (name, (rings, segs), axes, centre) in enumerate(_PARTS):
        u, t = _uv_sphere(rings, segs)
        v = u * np.array(axes)
        if name == "head":
            front = np.clip(-u[:, 2], 0, None)
            nose = 20.0 * np.exp(-(v[:, 0] ** 2 / (2 * 11.0 ** 2) + (v[:, 1] - 5.0) ** 2 / (2 * 20.0 ** 2)))
            v[:, 2] -= nose * front ** 2
            chin = 6.0 * np.exp(-((v[:, 1] - 90.0) ** 2) / (2 * 15.0 ** 2)) * front
            v[:, 2] -= chin
        v = v + np.array(centre)
        verts.append(v)
        unit_dirs.append(u)
        tris.append(t + offset)
        part_of.append(np.full(len(v), k))
        offset += len(v)
        ver_inds.append(offset)
        tri_inds.append(sum(len(x) for x in tris))
    meanshape = np.concatenate(verts)
    tri = np.concatenate(tris)
    udir = np.concatenate(unit_dirs)
    part = np.concatenate(part_of)
    n, t = len(meanshape), len(tri)
    assert n == N_VERTICES, n
    assert ver_inds[2] <= MOUTH_VERTEX_JAW < ver_inds[3] and MOUTH_VERTEX_REF < ver_inds[0]

    # point_buf: K adjacent triangles per vertex (cycled when fewer, truncated when more)
    inc = np.argsort(tri.reshape(-1), kind="stable")
    owner = tri.reshape(-1)[inc]
    tri_of = inc // 3
    starts = np.searchsorted(owner, np.arange(n))
    counts = np.bincount(owner, minlength=n)
    assert counts.min() > 0
    k = np.arange(POINT_BUF_K)[None, :] % counts[:, None]
    point_buf = tri_of[starts[:, None] + k].astype(np.int64)

    # smooth bases; eyeballs and mouth parts move rigidly (features taken at their centres)
    eval_pos = meanshape.copy()
    for k_part in range(1, len(_PARTS)):
        sel = part == k_part
        eval_pos[sel] = meanshape[sel].mean(0)
    feats = _smooth_features(eval_pos, rng).astype(np.float32)  # (N, M)
    m = feats.shape[1]

    def basis(cols, scale, part_scale=None):
        w = rng.standard_normal((m, 3 * cols)).astype(np.float32) * np.float32(scale / np.sqrt(m / 2))
        b = (feats @ w).reshape(n, 3, cols)
        if part_scale is not None:
            b *= part_scale[:, None, None]
        return np.ascontiguousarray(b.reshape(3 * n, cols))

    exp_scale = np.ones(n, np.float32)
    exp_scale[(part == 1) | (part == 2)] = 0.1  # eyeballs barely move with expression
    id_base = basis(V4_HEAD_SIZES[0], 1.2)
    ex_base = basis(V4_HEAD_SIZES[1], 1.5, exp_scale)
    tex_base = basis(V4_HEAD_SIZES[2], 4.0)

    colours = {0: (205, 160, 135), 3: (240, 235, 220), 4: (185, 85, 85), 5: (240, 235, 220)}
    meantex = np.zeros((n, 3), np.float32)
    for k_part, c in colours.items():
        meantex[part == k_part] = c
    for k_part in (1, 2):
        sel = part == k_part
        iris = -udir[sel, 2] > 0.85
        col = np.where(iris[:, None], np.array([60.0, 45.0, 35.0]), np.array([235.0, 235.0, 230.0]))
        meantex[sel] = col
    head = part == 0
    meantex[head] += (8.0 * _smooth_features(meanshape[head], rng, 3)).astype(np.float32)
    lips = head & (np.abs(meanshape[:, 0]) < 24) & (np.abs(meanshape[:, 1] - 48) < 7) & (udir[:, 2] < -0.5)
    meantex[lips] = (190, 110, 110)
    brows = head & (np.abs(np.abs(meanshape[:, 0]) - 32) < 14) & (np.abs(meanshape[:, 1] + 50) < 4) \
        & (udir[:, 2] < -0.5)
    meantex[brows] = (90, 70, 60)

    front = head & (udir[:, 2] < -0.35) & (np.abs(udir[:, 1]) < 0.85)
    face_mask = front.astype(np.float32)
    skin = head.astype(np.float32)

    head_front_idx = np.flatnonzero(head & (udir[:, 2] < -0.2))

    def nearest(x, y):
        d = (meanshape[head_front_idx, 0] - x) ** 2 + (meanshape[head_front_idx, 1] - y) ** 2
        return int(head_front_idx[np.argmin(d)])

    def eye_front(k_part, count):
        sel = np.flatnonzero(part == k_part)
        order = np.argsort(udir[sel, 2])  # most -z (front) first
        return [int(i) for i in sel[order[:count]]]

    face_idx = np.flatnonzero(front)
    mp = face_idx[np.linspace(0, len(face_idx) - 1, 478).astype(int)].astype(np.int64)
    special = {10: (0, -85), 152: (0, 95), 1: (0, 5), 4: (0, 0), 168: (0, -30), 6: (0, -20),
               33: (-46, -30), 133: (-19, -30), 362: (19, -30), 263: (46, -30),
               159: (-32, -37), 145: (-32, -23), 386: (32, -37), 374: (32, -23),
               61: (-25, 48), 291: (25, 48), 13: (0, 44), 14: (0, 52),
               234: (-72, -5), 454: (72, -5), 70: (-45, -52), 300: (45, -52)}
    for i, (x, y) in special.items():
        mp[i] = nearest(x, y)
    mp[468:473] = eye_front(2, 5)  # right iris (person's right eye: image left, x < 0)
    mp[473:478] = eye_front(1, 5)  # left iris

    groups = {
        "pupil_left_5": eye_front(1, 5),
        "pupil_right_5": eye_front(2, 5),
        "out_17": [nearest(72 * np.cos(a), 95 * np.sin(a) - 5) for a in np.linspace(0.05, np.pi - 0.05, 17)],
        "left_brow_5": [nearest(x, -50) for x in np.linspace(18, 50, 5)],
        "right_brow_5": [nearest(-x, -50) for x in np.linspace(18, 50, 5)],
        "left_eye_6": [nearest(32 + 13 * np.cos(a), -30 + 6 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 6,
                                                                                              endpoint=False)],
        "right_eye_6": [nearest(-32 + 13 * np.cos(a), -30 + 6 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 6,
                                                                                                endpoint=False)],
    }
    kp, name_list = [], {}
    for g, idx in groups.items():
        name_list[g] = list(range(len(kp), len(kp) + len(idx)))
        kp.extend(idx)
    rest = rng.choice(face_idx, 370 - len(kp), replace=False)
    keypoints = np.array(kp + [int(i) for i in rest], dtype=np.int64)

    k68 = [nearest(72 * np.cos(a), 95 * np.sin(a) - 5) for a in np.linspace(0.05, np.pi - 0.05, 17)]
    k68 += [nearest(-x, -50) for x in np.linspace(50, 18, 5)] + [nearest(x, -50) for x in np.linspace(18, 50, 5)]
    k68 += [nearest(0, y) for y in np.linspace(-25, 3, 4)] + [nearest(x, 12) for x in np.linspace(-10, 10, 5)]
    k68 += [nearest(-32 + 13 * np.cos(a), -30 + 6 * np.sin(a)) for a in np.linspace(np.pi, 3 * np.pi, 6,
                                                                                    endpoint=False)]
    k68 += [nearest(32 + 13 * np.cos(a), -30 + 6 * np.sin(a)) for a in np.linspace(np.pi, 3 * np.pi, 6,
                                                                                   endpoint=False)]
    k68 += [nearest(25 * np.cos(a), 48 + 8 * np.sin(a)) for a in np.linspace(np.pi, 3 * np.pi, 12, endpoint=False)]
    k68 += [nearest(16 * np.cos(a), 48 + 3 * np.sin(a)) for a in np.linspace(np.pi, 3 * np.pi, 8, endpoint=False)]
    k68 += [eye_front(1, 1)[0], eye_front(2, 1)[0]]
    keypoints_68 = np.array(k68, dtype=np.int64)
    assert keypoints_68.shape == (70,)

    return {
        "meanshape": meanshape.astype(np.float32),
        "idBase": id_base,
        "exBase": ex_base,
        "texBase": tex_base,
        "meantex": meantex.astype(np.float32),
        "tri": tri.astype(np.int64),
        "point_buf": point_buf,
        "ver_inds": np.array(ver_inds, dtype=np.int64),
        "tri_inds": np.array(tri_inds, dtype=np.int64),
        "keypoints_mediapipe": mp,
        "keypoints": keypoints,
        "keypoints_68": keypoints_68,
        "keypoints_name_list": name_list,
        "face_mask": face_mask,
        "parsing": {"skin": skin},
        "synthetic": SYNTHETIC_NOTE,
    }


def localised_expression_basis(model_dict: dict) -> dict:
    """Copy of a synthetic model dict with the expression basis confined to the
    mouth, eyes, brows and jaw, like a real blendshape basis.

    The synthetic ``exBase`` is made of a few smooth global functions of
    position, so it reproduces rigid motions of the landmarks exactly and pose
    cannot be told apart from expression by a landmark fit. Here every
    vertex's three basis rows are multiplied by a weight in [0, 1]: a sum of
    Gaussian windows in the meanshape's (x, y) (raw units, x right, y down) at
    the synthetic layout's mouth (0, 50), eyes (+-32, -32), brows (+-32, -50)
    and jaw (0, 85), clipped to 1, and zero on the back of the head
    (meanshape z >= 0). The returned dict shares every other entry with the
    input; ``exBase`` is float32 like the file's.
    """
    d = dict(model_dict)
    ms = np.asarray(d["meanshape"], np.float64)
    n = len(ms)

    def bump(cx, cy, sx, sy):
        return np.exp(-((ms[:, 0] - cx) ** 2 / (2 * sx ** 2) + (ms[:, 1] - cy) ** 2 / (2 * sy ** 2)))

    w = (bump(0, 50, 25, 14) + bump(-32, -32, 14, 8) + bump(32, -32, 14, 8) + bump(-32, -50, 16, 6)
         + bump(32, -50, 16, 6) + 0.8 * bump(0, 85, 35, 18))
    w = np.clip(w, 0, 1) * (ms[:, 2] < 0)
    ex = np.asarray(d["exBase"]).reshape(n, 3, -1) * w[:, None, None]
    d["exBase"] = ex.reshape(3 * n, -1).astype(np.float32)
    return d


# =========================================================================== network
def _calibration_images(n: int, seed: int) -> np.ndarray:
    """uint8 (n, 256, 256, 3) images for the synthetic network's statistics:
    alternately smooth random colour fields with a skin-coloured blob, and
    cartoon head shapes (ellipse, dark cap, dark eye and mouth blobs) on
    random backgrounds. Neither is a face photo; they only spread the
    statistics so that real face crops give moderate outputs."""
    import cv2

    rng = np.random.default_rng(seed)
    out = np.empty((n, 256, 256, 3), np.uint8)
    yy, xx = np.mgrid[0:256, 0:256]
    for i in range(n):
        if i % 2 == 0:
            low = rng.uniform(0, 255, (8, 8, 3)).astype(np.float32)
            img = cv2.resize(low, (256, 256), interpolation=cv2.INTER_CUBIC)
            cx, cy = rng.uniform(100, 156), rng.uniform(100, 156)
            rx, ry = rng.uniform(50, 90), rng.uniform(60, 110)
            blob = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
            img[blob] = 0.5 * img[blob] + 0.5 * np.array([210, 160, 135], np.float32)
            img += rng.normal(0, 6, img.shape).astype(np.float32)
        else:
            img = cv2.resize(rng.uniform(0, 255, (4, 4, 3)).astype(np.float32), (256, 256),
                             interpolation=cv2.INTER_CUBIC)
            cx, cy = rng.uniform(110, 146), rng.uniform(115, 140)
            rx, ry = rng.uniform(70, 95), rng.uniform(90, 120)
            head = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
            img[head] = np.array([rng.uniform(150, 235), rng.uniform(110, 190), rng.uniform(90, 170)],
                                 np.float32) * rng.uniform(0.8, 1.1)
            img[head & (yy < cy - ry * rng.uniform(0.4, 0.7))] = rng.uniform(10, 80)
            for side in (-1, 1):
                spot = ((xx - cx - side * rx * 0.4) / (rx * 0.15)) ** 2 + ((yy - cy + ry * 0.1) / (ry * 0.06)) ** 2
                img[spot < 1] = rng.uniform(20, 90)
            mouth = ((xx - cx) / (rx * 0.3)) ** 2 + ((yy - cy - ry * 0.45) / (ry * 0.07)) ** 2 < 1
            img[mouth] = np.array([150, 70, 70], np.float32) * rng.uniform(0.6, 1.1)
            img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 3))
            img += rng.normal(0, rng.uniform(1, 8), img.shape).astype(np.float32)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


# per head: (output spread, output offset)
_HEAD_SCALES = {
    "id": (0.3, 0.0), "exp": (0.2, 0.0), "tex": (0.3, 0.0), "gamma": (0.01, 0.0),
    "angles": (0.04, 0.0), "txy": (0.02, 0.0), "tz": (0.04, 0.0), "eyes": (0.04, 0.0),
}


def make_reconnet_state_dict(head_sizes: Sequence[int] = V4_HEAD_SIZES, seed: int = 0,
                             n_calibration: int = 16) -> dict:
    """State dict of a ReconNet with fixed-seed random weights and sane outputs.

    BatchNorm running statistics are measured (train-mode passes) on
    synthetic images; the heads are then set so that each output has the
    spread and offset of ``_HEAD_SCALES`` over those images (e.g. angles
    about +-0.04 rad, 1 sigma, on those images, larger on real photos); gamma
    gets a small frontal light.
    """
    import torch

    from faceverse_ros.core.assets import HEAD_NAMES
    from faceverse_ros.core.regressor import ReconNet

    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        net = ReconNet(head_sizes)
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.reset_running_stats()
                mod.momentum = None  # cumulative average over the calibration passes
        # a random ResNet is chaotic (pixel noise changes its features as much as the
        # image does); small residual gains and low-pass first filters make it smoother
        for name, mod in net.backbone.named_modules():
            if name.endswith("bn3"):
                torch.nn.init.constant_(mod.weight, 0.2)
        k1 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
        k2 = k1[:, None] * k1[None, :] / 256.0
        w1 = net.backbone.conv1.weight.data
        w1.copy_(torch.nn.functional.conv2d(w1.reshape(-1, 1, 7, 7), k2[None, None], padding=2).reshape(w1.shape))
        x = torch.from_numpy(_calibration_images(n_calibration, seed)).permute(0, 3, 1, 2).float() / 255.0
        net.train()
        with torch.no_grad():
            net.backbone(x)
        net.eval()
        with torch.no_grad():
            f = net.backbone(x).flatten(1).double()  # (n, 2048)
        # one global feature scale (a per-feature one would blow up nearly constant
        # features and make the heads absurdly sensitive to int8 rounding)
        mean, std = f.mean(0), f.std(0).mean()
        g = torch.Generator().manual_seed(seed + 1)
        for i, (head, size) in enumerate(zip(HEAD_NAMES, head_sizes)):
            spread, offset = _HEAD_SCALES[head]
            w = torch.randn(size, 2048, generator=g, dtype=torch.float64) * (spread / np.sqrt(2048)) / std
            b = offset - w @ mean
            if head == "gamma":
                b[6:9] += -0.15  # band 1, nz row: light from the camera side (front normals are -z)
            net.final_layers[i].weight.data.copy_(w.float()[:, :, None, None])
            net.final_layers[i].bias.data.copy_(b.float())
        sd = {k: v.detach().clone() for k, v in net.state_dict().items()}
    finally:
        torch.random.set_rng_state(gen_state)
    return sd


# =========================================================================== files and cache
@dataclass(frozen=True)
class SyntheticAssets:
    """Paths of a synthetic model file and checkpoint (both clearly synthetic)."""

    model_path: Path
    checkpoint_path: Path


def write_synthetic_assets(out_dir, seed: int = 0, overwrite: bool = False) -> SyntheticAssets:
    """Write ``faceverse_v4_2_synthetic.npy`` and ``faceverse_resnet50_synthetic.pth``
    (plus a README saying they are synthetic) into ``out_dir``."""
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path, ckpt_path = out / MODEL_NAME, out / CHECKPOINT_NAME
    if overwrite or not model_path.is_file():
        d = make_model_dict(seed)
        tmp = out / f".{MODEL_NAME}.{os.getpid()}.tmp.npy"
        np.save(tmp, d, allow_pickle=True)
        os.replace(tmp, model_path)
    if overwrite or not ckpt_path.is_file():
        sd = make_reconnet_state_dict(V4_HEAD_SIZES, seed)
        tmp = out / f".{CHECKPOINT_NAME}.{os.getpid()}.tmp"
        torch.save(sd, tmp)
        os.replace(tmp, ckpt_path)
    readme = out / "README_SYNTHETIC.txt"
    if not readme.is_file():
        readme.write_text(SYNTHETIC_NOTE + "\nMade by synthetic / scripts/make_synthetic_assets.py."
                          "\nThey exercise formats and arithmetic only.\n")
    return SyntheticAssets(model_path, ckpt_path)


def made_once(d: Path, names: Sequence[str], make):
    """make(d) unless every file of names is already in d, under an exclusive lock on d so
    that parallel runs (pytest-xdist, several shells) make the files once. Returns what make
    returns, or None when the files were already there."""
    import fcntl

    d.mkdir(parents=True, exist_ok=True)
    if all((d / n).is_file() for n in names):
        return None
    with open(d / ".lock", "w") as lock:
        t0 = time.monotonic()
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - t0 > 600:
                    raise TimeoutError(f"waited 10 min for the lock on {d}")
                time.sleep(0.2)
        try:
            return make(d)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def synthetic_assets(cache_dir: Optional[Path] = None) -> SyntheticAssets:
    """Cached synthetic assets (made on first use, shared by parallel runs)."""
    from faceverse_ros.paths import cache_root

    d = Path(cache_dir) if cache_dir else cache_root() / "synthetic" / SYNTHETIC_VERSION
    made = made_once(d, (MODEL_NAME, CHECKPOINT_NAME), write_synthetic_assets)
    return made or SyntheticAssets(d / MODEL_NAME, d / CHECKPOINT_NAME)
