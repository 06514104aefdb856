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

from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from faceverse_ros.core.assets import V4_HEAD_SIZES, AssetError, FaceVerseError
from faceverse_ros.core.checkpoint import load_checkpoint, validate_state_dict
from faceverse_ros.core.crop import CROP_SIZE
from faceverse_ros.core.network import (  # noqa: F401 (re-exported for the engines' users)
    BN_EPS, ONNX_INPUT, ONNX_OPSET, ONNX_OUTPUT, check_crops, conv_plan, crops_to_input,
    default_threads, file_sha256, fold_batchnorm, ort_session)

try:  # torch is optional when only the ONNX engine is used
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - exercised only without torch
    torch = None  # type: ignore[assignment]
    nn = None  # type: ignore[assignment]


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
            self._plan = conv_plan(head_sizes)
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


def build_reconnet(state_dict: Mapping, head_sizes: Optional[Sequence[int]] = None,
                   path: Union[str, Path] = "state_dict"):
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

    def __init__(self, checkpoint: Optional[Union[str, Path]] = None, engine: str = "torch", device: str = "cpu",
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
        self.head_sizes: Optional[Tuple[int, ...]]
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
            self._sess = ort_session(self.onnx_path, self.threads, self.device, ort_spinning)
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

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """uint8 RGB crops (B, 256, 256, 3) (or one (256, 256, 3)) -> float32 (B, 621).

        The crops are made by :func:`faceverse_ros.core.crop.crop_face`; they are
        scaled to [0, 1] with no normalisation.
        """
        c = check_crops(crops)
        if self.engine == "onnx":
            return self._sess.run(None, {self._in_name: crops_to_input(c)})[0]
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(c)).to(self.device)
            x = x.permute(0, 3, 1, 2).float().mul_(1.0 / 255.0).contiguous()
            y = self._net(x)
            return y.float().cpu().numpy()

    __call__ = predict
