"""The ReconNet checkpoint file (faceverse_resnet50.pth): expected shapes, validation, loading.

Spec ``faceverse_v4.md`` section 4: a torchvision ResNet-50 backbone and eight
1x1 heads whose output sizes follow the model file (ModelSizes.head_sizes).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

from faceverse_ros.core.assets import (CHECKPOINT_FILENAME, HEAD_NAMES, V4_HEAD_SIZES, AssetError,
                                       _checkpoint_hint, find_checkpoint_file)


_BLOCKS = (("layer1", 3, 64), ("layer2", 4, 128), ("layer3", 6, 256), ("layer4", 3, 512))


def reconnet_state_shapes(head_sizes: Sequence[int] = V4_HEAD_SIZES) -> Dict[str, Tuple[int, ...]]:
    """Key -> tensor shape of the ReconNet ``state_dict`` (spec section 4).

    ResNet-50 (Bottleneck [3, 4, 6, 3], torchvision parameter names, no fc)
    under ``backbone.`` and eight 1x1 convolutions with bias under
    ``final_layers.<i>.``. BatchNorm entries include ``num_batches_tracked``
    (shape ``()``).
    """
    shapes: Dict[str, Tuple[int, ...]] = {}

    def bn(prefix, c):
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{name}"] = (c,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    shapes["backbone.conv1.weight"] = (64, 3, 7, 7)
    bn("backbone.bn1", 64)
    inplanes = 64
    for layer, blocks, width in _BLOCKS:
        for b in range(blocks):
            p = f"backbone.{layer}.{b}"
            shapes[f"{p}.conv1.weight"] = (width, inplanes, 1, 1)
            bn(f"{p}.bn1", width)
            shapes[f"{p}.conv2.weight"] = (width, width, 3, 3)
            bn(f"{p}.bn2", width)
            shapes[f"{p}.conv3.weight"] = (width * 4, width, 1, 1)
            bn(f"{p}.bn3", width * 4)
            if b == 0:
                shapes[f"{p}.downsample.0.weight"] = (width * 4, inplanes, 1, 1)
                bn(f"{p}.downsample.1", width * 4)
            inplanes = width * 4
    for i, size in enumerate(head_sizes):
        shapes[f"final_layers.{i}.weight"] = (int(size), 2048, 1, 1)
        shapes[f"final_layers.{i}.bias"] = (int(size),)
    return shapes


def _unwrap_state_dict(obj):
    """Accept the plain state_dict, or one nested under a usual wrapper key,
    and strip a DataParallel ``module.`` prefix."""
    if isinstance(obj, Mapping) and obj and not any(hasattr(v, "shape") for v in obj.values()):
        for key in ("net_recon", "state_dict", "model", "net"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if isinstance(obj, Mapping) and obj and all(str(k).startswith("module.") for k in obj):
        obj = {str(k)[len("module."):]: v for k, v in obj.items()}
    return obj


def validate_state_dict(sd: Mapping, path: Union[str, Path] = CHECKPOINT_FILENAME,
                        head_sizes: Optional[Sequence[int]] = None) -> Tuple[int, ...]:
    """Check a ReconNet state_dict's keys and shapes.

    ``head_sizes`` (from the model file) are the expected head output sizes;
    without it the heads' sizes are read from the checkpoint, checked against
    the fixed ones (gamma 27, angles 3, tx-ty 2, tz 1, eyes 4) and returned.
    """
    hint = _checkpoint_hint()
    if not isinstance(sd, Mapping) or not sd:
        raise AssetError(path, f"holds a {type(sd).__name__}, not a state_dict (a dict of tensors)", hint)
    keys = set(map(str, sd.keys()))
    if "backbone.conv1.weight" not in keys or "final_layers.0.weight" not in keys:
        sample = sorted(keys)[:4]
        raise AssetError(path, f"is not a FaceVerse ReconNet checkpoint: expected keys like "
                               f"'backbone.conv1.weight' and 'final_layers.0.weight', found e.g. {sample}",
                         hint)
    found_heads = []
    i = 0
    while f"final_layers.{i}.weight" in keys:
        found_heads.append(tuple(sd[f"final_layers.{i}.weight"].shape))
        i += 1
    if len(found_heads) != len(HEAD_NAMES):
        raise AssetError(path, f"has {len(found_heads)} output heads, a FaceVerse V4 ReconNet has "
                               f"{len(HEAD_NAMES)} ({', '.join(HEAD_NAMES)})", hint)
    ckpt_sizes = tuple(int(s[0]) if len(s) else -1 for s in found_heads)
    if head_sizes is None:
        head_sizes = ckpt_sizes[:3] + V4_HEAD_SIZES[3:]
    head_sizes = tuple(int(s) for s in head_sizes)
    for name, got, want in zip(HEAD_NAMES, ckpt_sizes, head_sizes):
        if got != want:
            source = "the model file's basis" if name in ("id", "exp", "tex") else "the 621-vector layout"
            raise AssetError(path, f"head '{name}' has {got} outputs, {source} needs {want} "
                                   f"(checkpoint and model file do not belong together)", hint)
    expected = reconnet_state_shapes(head_sizes)
    missing = sorted(set(expected) - keys)
    unexpected = sorted(keys - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s) e.g. {missing[:3]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s) e.g. {unexpected[:3]}")
        raise AssetError(path, "does not match the ResNet-50 ReconNet layout: " + "; ".join(parts), hint)
    for k, shape in expected.items():
        found = tuple(sd[k].shape)
        if found != shape:
            raise AssetError(path, f"tensor '{k}' has shape {found}, expected {shape}", hint)
    return head_sizes


def load_checkpoint(path: Optional[Union[str, Path]] = None, head_sizes: Optional[Sequence[int]] = None):
    """Load and validate the ReconNet ``state_dict`` (torch tensors on CPU).

    Uses ``torch.load(map_location="cpu", weights_only=True)``. ``head_sizes``
    from the model file (:attr:`ModelSizes.head_sizes`) makes a checkpoint
    whose heads do not match the model an :class:`AssetError`.
    Returns ``(state_dict, path)``.
    """
    p = find_checkpoint_file(path)
    hint = _checkpoint_hint()
    if p.stat().st_size == 0:
        raise AssetError(p, "the file is empty", hint)
    import torch  # local: the model arithmetic does not need torch

    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated zip, bad pickle, foreign object...
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise AssetError(p, f"cannot be loaded by torch.load, it is truncated, corrupt or not a "
                            f"state_dict ({type(exc).__name__}: {msg[:200]})", hint) from None
    sd = _unwrap_state_dict(obj)
    if isinstance(sd, Mapping) and not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise AssetError(p, "is a dict but not of tensors, not a state_dict", hint)
    validate_state_dict(sd, p, head_sizes)
    return dict(sd), p
