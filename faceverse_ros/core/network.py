"""What the regressor's engines and the ONNX export share: the ReconNet's graph constants,
its convolution plan, BatchNorm folding, the crop-to-input conversion, the ONNX Runtime
session, thread and file-hash helpers.

regressor.py (the engines) and onnx_export.py (the graph writer) both import this module;
neither imports the other's internals.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple, Union

import numpy as np

from faceverse_ros.core.assets import V4_HEAD_SIZES, AssetError, FaceVerseError
from faceverse_ros.core.crop import CROP_SIZE

try:  # torch is optional when only the ONNX engine is used
    import torch
except ImportError:  # pragma: no cover - exercised only without torch
    torch = None  # type: ignore[assignment]

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


def file_sha256(path: Union[str, Path], chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def conv_plan(head_sizes: Sequence[int]) -> dict:
    blocks = []
    for i, (n, stride) in enumerate(((3, 1), (4, 2), (6, 2), (3, 2))):
        for b in range(n):
            blocks.append((f"backbone.layer{i + 1}.{b}", stride if b == 0 else 1, b == 0))
    return {"blocks": blocks, "n_heads": len(head_sizes)}


def to_numpy_state_dict(sd: Mapping) -> Dict[str, np.ndarray]:
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
    sd = to_numpy_state_dict(state_dict)

    def fold(conv_w, bn):
        g = sd[bn + ".weight"].astype(np.float64)
        beta = sd[bn + ".bias"].astype(np.float64)
        mean = sd[bn + ".running_mean"].astype(np.float64)
        var = sd[bn + ".running_var"].astype(np.float64)
        scale = g / np.sqrt(var + BN_EPS)
        w = sd[conv_w].astype(np.float64) * scale[:, None, None, None]
        return w.astype(np.float32), (beta - mean * scale).astype(np.float32)

    out = {"backbone.conv1": fold("backbone.conv1.weight", "backbone.bn1")}
    for p, _, has_ds in conv_plan(head_sizes)["blocks"]:
        for j in (1, 2, 3):
            out[f"{p}.conv{j}"] = fold(f"{p}.conv{j}.weight", f"{p}.bn{j}")
        if has_ds:
            out[f"{p}.downsample"] = fold(f"{p}.downsample.0.weight", f"{p}.downsample.1")
    for i in range(len(head_sizes)):
        out[f"final_layers.{i}"] = (sd[f"final_layers.{i}.weight"].astype(np.float32),
                                    sd[f"final_layers.{i}.bias"].astype(np.float32))
    return out


def crops_to_input(crops: np.ndarray) -> np.ndarray:
    """uint8 RGB crops (B, 256, 256, 3) or (256, 256, 3) -> float32 (B, 3, 256, 256) in [0, 1]."""
    c = check_crops(crops)
    x = np.empty((c.shape[0], 3, CROP_SIZE, CROP_SIZE), dtype=np.float32)
    np.multiply(c.transpose(0, 3, 1, 2), np.float32(1.0 / 255.0), out=x, casting="unsafe")
    return x


def check_crops(crops: np.ndarray) -> np.ndarray:
    c = np.asarray(crops)
    if c.ndim == 3:
        c = c[None]
    if c.ndim != 4 or c.shape[1:] != (CROP_SIZE, CROP_SIZE, 3) or c.shape[0] == 0:
        raise ValueError(f"crops must be uint8 RGB of shape (B, {CROP_SIZE}, {CROP_SIZE}, 3), got {c.shape}")
    if c.dtype != np.uint8:
        raise ValueError(f"crops must be uint8 RGB (0..255), got dtype {c.dtype}")
    return c


def ort_session(path: Union[str, Path], threads: int, device: str = "cpu", spinning: bool = True):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers: List[Union[str, Tuple[str, Dict[str, int]]]] = ["CPUExecutionProvider"]
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
