"""The FaceVerse V4 regressor: a ResNet-50 ReconNet, 256x256 RGB crop -> 621 values.

Architecture (spec ``faceverse_v4.md`` section 4), written in plain torch
(no torchvision) with torchvision's parameter names so the official
``faceverse_resnet50.pth`` loads strictly:

* ``backbone``: ResNet-50, Bottleneck blocks [3, 4, 6, 3], stride on the 3x3
  convolution, BatchNorm (eps 1e-5), global average pooling, no fc;
* ``final_layers``: eight 1x1 convolutions with bias, 2048 -> 156, 177, 251,
  27, 3, 2, 1, 4 (id, exp, tex, gamma, angles, tx-ty, tz, eyes), concatenated
  in that order into the 621-vector.

Input: RGB crop scaled to [0, 1], no mean/std normalisation.

Engines of :class:`Regressor`:

* ``"torch"``: PyTorch eager on ``device`` ("cpu", "cuda", "cuda:1", ...),
  BatchNorm folded into the convolutions for inference.
* ``"onnx"``: ONNX Runtime. The ONNX graph is written directly from the
  state_dict (faceverse_ros.core.onnx_export, which also makes int8 variants:
  ``"static"`` (QDQ, per-channel int8 weights, uint8 activations calibrated
  on real face crops: the variant that pays on x86 CPUs with VNNI) and
  ``"dynamic"``, usually slower than fp32 on a convolutional network).

Thread counts are set deliberately: ``threads`` (default: the CPUs this
process may use) becomes ``torch.set_num_threads`` (process-wide!) for the
torch engine and ``intra_op_num_threads`` for ONNX Runtime.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence

import numpy as np

from faceverse_ros.core.assets import V4_HEAD_SIZES, AssetError, FaceVerseError
from faceverse_ros.core.checkpoint import load_checkpoint, validate_state_dict
from faceverse_ros.core.crop import CROP_SIZE

try:  # torch is optional when only the ONNX engine is used
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - exercised only without torch
    torch = None
    nn = None


BN_EPS = 1e-5
ONNX_INPUT = "input"
ONNX_OUTPUT = "coeffs"
ONNX_OPSET = 17


def default_threads() -> int:
    """Number of CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def file_sha256(path, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


# =========================================================================== torch network
if torch is not None:

    class Bottleneck(nn.Module):
        """torchvision-style ResNet bottleneck (stride on the 3x3 convolution)."""

        def __init__(self, inplanes: int, width: int, stride: int = 1, downsample: bool = False):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width, eps=BN_EPS)
            self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(width, eps=BN_EPS)
            self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(width * 4, eps=BN_EPS)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if downsample:
                self.downsample = nn.Sequential(
                    nn.Conv2d(inplanes, width * 4, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(width * 4, eps=BN_EPS))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + identity)

    class ResNet50Backbone(nn.Module):
        """ResNet-50 feature extractor ending in global average pooling (B, 2048, 1, 1)."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64, eps=BN_EPS)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            inplanes = 64
            for i, (blocks, width, stride) in enumerate(((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2))):
                layers = []
                for b in range(blocks):
                    layers.append(Bottleneck(inplanes, width, stride if b == 0 else 1, downsample=(b == 0)))
                    inplanes = width * 4
                setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
            self.avgpool = nn.AdaptiveAvgPool2d(1)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.avgpool(x)

    class ReconNet(nn.Module):
        """ResNet-50 + eight 1x1 heads; input (B, 3, 256, 256) in [0, 1], output (B, 621)."""

        def __init__(self, head_sizes: Sequence[int] = V4_HEAD_SIZES):
            super().__init__()
            self.head_sizes = tuple(int(s) for s in head_sizes)
            self.backbone = ResNet50Backbone()
            self.final_layers = nn.ModuleList(nn.Conv2d(2048, s, 1, bias=True) for s in self.head_sizes)

        def forward(self, x):
            f = self.backbone(x)
            return torch.cat([head(f) for head in self.final_layers], dim=1).flatten(1)

    class _FoldedReconNet(nn.Module):
        """Inference copy of a ReconNet with every BatchNorm folded into its convolution."""

        def __init__(self, folded: Dict[str, tuple], head_sizes: Sequence[int]):
            super().__init__()
            self._plan = _conv_plan(head_sizes)
            self.weights = nn.ParameterDict()
            for name, (w, b) in folded.items():
                key = name.replace(".", "_")
                self.weights[key + "_w"] = nn.Parameter(torch.from_numpy(w), requires_grad=False)
                self.weights[key + "_b"] = nn.Parameter(torch.from_numpy(b), requires_grad=False)

        def _conv(self, x, name, stride=1, padding=0):
            key = name.replace(".", "_")
            return torch.nn.functional.conv2d(x, self.weights[key + "_w"], self.weights[key + "_b"],
                                              stride=stride, padding=padding)

        def forward(self, x):
            relu = torch.relu_
            x = relu(self._conv(x, "backbone.conv1", 2, 3))
            x = torch.nn.functional.max_pool2d(x, 3, 2, 1)
            for p, stride, has_ds in self._plan["blocks"]:
                idt = self._conv(x, f"{p}.downsample", stride) if has_ds else x
                out = relu(self._conv(x, f"{p}.conv1"))
                out = relu(self._conv(out, f"{p}.conv2", stride, 1))
                out = self._conv(out, f"{p}.conv3")
                x = relu(out.add_(idt))
            f = x.mean(dim=(2, 3), keepdim=True)
            heads = [self._conv(f, f"final_layers.{i}") for i in range(self._plan["n_heads"])]
            return torch.cat(heads, dim=1).flatten(1)


def _conv_plan(head_sizes: Sequence[int]) -> dict:
    blocks = []
    for i, (n, stride) in enumerate(((3, 1), (4, 2), (6, 2), (3, 2))):
        for b in range(n):
            blocks.append((f"backbone.layer{i + 1}.{b}", stride if b == 0 else 1, b == 0))
    return {"blocks": blocks, "n_heads": len(head_sizes)}


def _to_numpy_sd(sd: Mapping) -> Dict[str, np.ndarray]:
    out = {}
    for k, v in sd.items():
        if torch is not None and isinstance(v, torch.Tensor):
            out[k] = v.detach().cpu().numpy()
        else:
            out[k] = np.asarray(v)
    return out


def fold_batchnorm(state_dict: Mapping, head_sizes: Sequence[int] = V4_HEAD_SIZES) -> Dict[str, tuple]:
    """Fold each BatchNorm into the convolution before it (inference only).

    Returns ``{conv_name: (weight float32 (O, I, k, k), bias float32 (O,))}``
    with ``w' = w * g / sqrt(var + eps)``, ``b' = beta - mean * g / sqrt(var + eps)``;
    head convolutions keep their weight and bias. Names: ``backbone.conv1``,
    ``backbone.layerX.Y.convZ``, ``backbone.layerX.Y.downsample``,
    ``final_layers.i``.
    """
    sd = _to_numpy_sd(state_dict)

    def fold(conv_w, bn):
        g = sd[bn + ".weight"].astype(np.float64)
        beta = sd[bn + ".bias"].astype(np.float64)
        mean = sd[bn + ".running_mean"].astype(np.float64)
        var = sd[bn + ".running_var"].astype(np.float64)
        scale = g / np.sqrt(var + BN_EPS)
        w = sd[conv_w].astype(np.float64) * scale[:, None, None, None]
        return w.astype(np.float32), (beta - mean * scale).astype(np.float32)

    out = {"backbone.conv1": fold("backbone.conv1.weight", "backbone.bn1")}
    for p, _, has_ds in _conv_plan(head_sizes)["blocks"]:
        for j in (1, 2, 3):
            out[f"{p}.conv{j}"] = fold(f"{p}.conv{j}.weight", f"{p}.bn{j}")
        if has_ds:
            out[f"{p}.downsample"] = fold(f"{p}.downsample.0.weight", f"{p}.downsample.1")
    for i in range(len(head_sizes)):
        out[f"final_layers.{i}"] = (sd[f"final_layers.{i}.weight"].astype(np.float32),
                                    sd[f"final_layers.{i}.bias"].astype(np.float32))
    return out


def build_reconnet(state_dict: Mapping, head_sizes: Optional[Sequence[int]] = None, path="state_dict"):
    """A :class:`ReconNet` in eval mode with ``state_dict`` loaded strictly.

    Raises :class:`AssetError` naming ``path`` on any key or shape mismatch.
    """
    if torch is None:  # pragma: no cover
        raise FaceVerseError("the torch engine needs PyTorch (pip install torch)")
    head_sizes = validate_state_dict(state_dict, path, head_sizes)
    net = ReconNet(head_sizes)
    try:
        net.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:  # pragma: no cover - validate_state_dict catches these first
        raise AssetError(path, f"strict load failed: {exc}") from None
    return net.eval()


# =========================================================================== ONNX graph
def crops_to_input(crops) -> np.ndarray:
    """uint8 RGB crops (B, 256, 256, 3) or (256, 256, 3) -> float32 (B, 3, 256, 256) in [0, 1]."""
    c = _check_crops(crops)
    x = np.empty((c.shape[0], 3, CROP_SIZE, CROP_SIZE), dtype=np.float32)
    np.multiply(c.transpose(0, 3, 1, 2), np.float32(1.0 / 255.0), out=x, casting="unsafe")
    return x


def _check_crops(crops) -> np.ndarray:
    c = np.asarray(crops)
    if c.ndim == 3:
        c = c[None]
    if c.ndim != 4 or c.shape[1:] != (CROP_SIZE, CROP_SIZE, 3) or c.shape[0] == 0:
        raise ValueError(f"crops must be uint8 RGB of shape (B, {CROP_SIZE}, {CROP_SIZE}, 3), got {c.shape}")
    if c.dtype != np.uint8:
        raise ValueError(f"crops must be uint8 RGB (0..255), got dtype {c.dtype}")
    return c


def _ort_session(path, threads: int, device: str = "cpu", spinning: bool = True):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise FaceVerseError(f"device '{device}' asked for, but this onnxruntime has no CUDA provider "
                                 f"(available: {ort.get_available_providers()}); install onnxruntime-gpu "
                                 "or use device='cpu'")
        dev_id = int(device.split(":")[1]) if ":" in device else 0
        providers = [("CUDAExecutionProvider", {"device_id": dev_id}), "CPUExecutionProvider"]
    try:
        return ort.InferenceSession(str(path), sess_options=so, providers=providers)
    except Exception as exc:  # noqa: BLE001
        raise AssetError(path, f"ONNX Runtime cannot load it ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:200]})",
                         "Make it with `faceverse-ros export-onnx` from faceverse_resnet50.pth") from None


# =========================================================================== Regressor
class Regressor:
    """Face crops -> FaceVerse coefficients.

    ``Regressor(checkpoint, engine="torch", device="cpu")``

    checkpoint:
        ``faceverse_resnet50.pth`` (path, folder, or None to search ``data/``),
        or for ``engine="onnx"`` also an ``.onnx`` file made by
        :func:`export_onnx` (fp32 or int8). A ``.pth`` given to the ONNX
        engine is exported once to the cache (fp32).
    engine: ``"torch"`` or ``"onnx"``.
    device: ``"cpu"`` or ``"cuda[:i]"``.
    threads: CPU threads (default: all CPUs this process may use); for the
        torch engine this calls ``torch.set_num_threads`` (process-wide).
    head_sizes: expected head sizes from the model file
        (``FaceVerseModel.sizes.head_sizes``); a checkpoint that does not
        match raises :class:`AssetError`.
    """

    def __init__(self, checkpoint=None, engine: str = "torch", device: str = "cpu",
                 threads: Optional[int] = None, head_sizes: Optional[Sequence[int]] = None,
                 ort_spinning: bool = True):
        if engine not in ("torch", "onnx"):
            raise ValueError(f"engine must be 'torch' or 'onnx', got {engine!r}")
        self.engine = engine
        self.device = str(device)
        self.threads = int(threads) if threads else default_threads()
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        ckpt = Path(checkpoint) if checkpoint is not None else None
        if engine == "torch":
            if torch is None:  # pragma: no cover
                raise FaceVerseError("engine='torch' needs PyTorch; use engine='onnx'")
            if self.device.startswith("cuda") and not torch.cuda.is_available():
                raise FaceVerseError(f"device '{self.device}' asked for, but torch sees no CUDA GPU; "
                                     "use device='cpu'")
            if ckpt is not None and ckpt.suffix == ".onnx":
                raise ValueError(f"{ckpt} is an ONNX file: use engine='onnx'")
            torch.set_num_threads(self.threads)
            sd, self.checkpoint_path = load_checkpoint(ckpt, head_sizes)
            self.head_sizes = validate_state_dict(sd, self.checkpoint_path, head_sizes)
            self._net = _FoldedReconNet(fold_batchnorm(sd, self.head_sizes), self.head_sizes)
            self._net.eval().to(self.device)
            self.onnx_path = None
        else:
            if ckpt is not None and ckpt.suffix == ".onnx":
                if not ckpt.is_file():
                    raise AssetError(ckpt, "file not found",
                                     "Make it with `faceverse-ros export-onnx` from faceverse_resnet50.pth")
                self.onnx_path = ckpt
            else:
                _, path = load_checkpoint(ckpt, head_sizes)  # validates before exporting
                from faceverse_ros.core.onnx_export import cached_onnx

                self.onnx_path = cached_onnx(path, head_sizes)
            self.checkpoint_path = self.onnx_path
            self._sess = _ort_session(self.onnx_path, self.threads, self.device, ort_spinning)
            inp = self._sess.get_inputs()[0]
            out = self._sess.get_outputs()[0]
            if list(inp.shape[1:]) != [3, CROP_SIZE, CROP_SIZE] or len(out.shape) != 2:
                raise AssetError(self.onnx_path, f"has input {inp.shape} / output {out.shape}, expected "
                                                 f"(batch, 3, {CROP_SIZE}, {CROP_SIZE}) -> (batch, K)")
            n_out = out.shape[1]
            if head_sizes is not None and isinstance(n_out, int) and n_out != sum(head_sizes):
                raise AssetError(self.onnx_path, f"outputs {n_out} values, the model file needs "
                                                 f"{sum(head_sizes)}")
            self.head_sizes = tuple(head_sizes) if head_sizes else None
            self._in_name = inp.name
        self.n_outputs = int(sum(self.head_sizes)) if self.head_sizes else None

    def predict(self, crops) -> np.ndarray:
        """uint8 RGB crops (B, 256, 256, 3) (or one (256, 256, 3)) -> float32 (B, 621).

        The crops are made by :func:`faceverse_ros.core.crop.crop_face`; they are
        scaled to [0, 1] with no normalisation.
        """
        c = _check_crops(crops)
        if self.engine == "onnx":
            return self._sess.run(None, {self._in_name: crops_to_input(c)})[0]
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(c)).to(self.device)
            x = x.permute(0, 3, 1, 2).float().mul_(1.0 / 255.0).contiguous()
            y = self._net(x)
            return y.float().cpu().numpy()

    __call__ = predict
