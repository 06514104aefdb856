"""Export of the FaceVerse V4 ReconNet to ONNX (fp32 and int8) and its command line.

The ONNX graph is written directly from the state_dict with ``onnx.helper``
(BatchNorm folded, opset 17), so it needs no torch exporter; :func:`export_onnx`
also makes int8 variants: ``"static"`` (QDQ, per-channel int8 weights, uint8
activations calibrated on real face crops: the variant that pays on x86 CPUs
with VNNI) and ``"dynamic"`` (usually slower than fp32 on a convolutional
network, see ``spec/performance_facts.md``). :func:`cached_onnx` exports a
checkpoint once into the cache (faceverse_ros.paths) for the ONNX engine.
The command line ``faceverse-ros export-onnx`` is faceverse_ros.cli.export_onnx.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np

from faceverse_ros.core.assets import V4_HEAD_SIZES
from faceverse_ros.core.checkpoint import load_checkpoint, validate_state_dict
from faceverse_ros.paths import cache_root
from faceverse_ros.core.network import (CROP_SIZE, ONNX_INPUT, ONNX_OPSET, ONNX_OUTPUT, check_crops,
                                        conv_plan, crops_to_input, default_threads, file_sha256,
                                        fold_batchnorm, ort_session)


def build_onnx_model(state_dict: Mapping, head_sizes: Sequence[int] = V4_HEAD_SIZES,
                     opset: int = ONNX_OPSET):
    """ONNX ``ModelProto`` of the ReconNet, BatchNorm folded, written node by node.

    Input ``input``: float32 (batch, 3, 256, 256) RGB in [0, 1]; output
    ``coeffs``: float32 (batch, sum(head_sizes)). The batch axis is dynamic.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folded = fold_batchnorm(state_dict, head_sizes)
    inits, nodes = [], []

    def conv(x, name, stride=1, pad=0, relu=True):
        w, b = folded[name]
        inits.append(numpy_helper.from_array(w, name + ".weight"))
        inits.append(numpy_helper.from_array(b, name + ".bias"))
        k = int(w.shape[-1])
        y = name + ".out"
        nodes.append(helper.make_node("Conv", [x, name + ".weight", name + ".bias"], [y], name=name,
                                      kernel_shape=[k, k], strides=[stride, stride],
                                      pads=[pad, pad, pad, pad]))
        if relu:
            nodes.append(helper.make_node("Relu", [y], [name + ".relu"], name=name + ".relu"))
            y = name + ".relu"
        return y

    x = conv(ONNX_INPUT, "backbone.conv1", 2, 3)
    nodes.append(helper.make_node("MaxPool", [x], ["backbone.maxpool"], name="backbone.maxpool",
                                  kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    x = "backbone.maxpool"
    for p, stride, has_ds in conv_plan(head_sizes)["blocks"]:
        idt = conv(x, f"{p}.downsample", stride, 0, relu=False) if has_ds else x
        out = conv(x, f"{p}.conv1")
        out = conv(out, f"{p}.conv2", stride, 1)
        out = conv(out, f"{p}.conv3", relu=False)
        nodes.append(helper.make_node("Add", [out, idt], [p + ".add"], name=p + ".add"))
        nodes.append(helper.make_node("Relu", [p + ".add"], [p + ".out"], name=p + ".out"))
        x = p + ".out"
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["backbone.avgpool"], name="backbone.avgpool"))
    heads = [conv("backbone.avgpool", f"final_layers.{i}", relu=False) for i in range(len(head_sizes))]
    nodes.append(helper.make_node("Concat", heads, ["heads"], name="concat", axis=1))
    nodes.append(helper.make_node("Flatten", ["heads"], [ONNX_OUTPUT], name="flatten", axis=1))
    total = int(sum(head_sizes))
    graph = helper.make_graph(
        nodes, "faceverse_reconnet",
        [helper.make_tensor_value_info(ONNX_INPUT, TensorProto.FLOAT, ["batch", 3, CROP_SIZE, CROP_SIZE])],
        [helper.make_tensor_value_info(ONNX_OUTPUT, TensorProto.FLOAT, ["batch", total])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="faceverse_ros")
    model.ir_version = min(model.ir_version, 9)
    model.doc_string = ("FaceVerse V4 ReconNet (ResNet-50 + 8 heads, BatchNorm folded). Input RGB crop "
                        "(batch, 3, 256, 256) in [0, 1], no normalisation; output the coefficient vector.")
    onnx.checker.check_model(model)
    return model


@dataclass
class ExportReport:
    """What :func:`export_onnx` wrote and what the quantiser changed."""

    path: Path
    quantize: Optional[str]
    n_bytes: int
    n_conv: int
    n_conv_quantized: int
    op_counts: Dict[str, int] = field(default_factory=dict)
    calibration_images: int = 0
    max_abs_diff: Optional[float] = None
    mean_abs_diff: Optional[float] = None

    def summary(self) -> str:
        kind = {None: "fp32", "dynamic": "int8 dynamic", "static": "int8 static (QDQ)"}[self.quantize]
        text = (f"{self.path} [{kind}]: {self.n_bytes / 1e6:.1f} MB, {self.n_conv_quantized} of "
                f"{self.n_conv} convolutions quantised")
        interesting = {k: v for k, v in self.op_counts.items()
                       if k in ("Conv", "ConvInteger", "QLinearConv", "QuantizeLinear", "DequantizeLinear",
                                "DynamicQuantizeLinear", "MatMulInteger")}
        text += f"; ops {interesting}"
        if self.max_abs_diff is not None:
            text += (f"; vs fp32 on the {self.calibration_images} given crops: max |diff| {self.max_abs_diff:.4g}, "
                     f"mean |diff| {self.mean_abs_diff:.4g}")
        return text


def count_quantized_convs(model) -> tuple:
    """(convolutions, quantised convolutions, op histogram) of an ONNX model.

    A convolution counts as quantised when it is a ConvInteger/QLinearConv,
    or a Conv whose weight comes from a DequantizeLinear (QDQ format).
    """
    nodes = model.graph.node
    ops = Counter(n.op_type for n in nodes)
    producer = {o: n for n in nodes for o in n.output}
    n_conv = ops.get("Conv", 0) + ops.get("ConvInteger", 0) + ops.get("QLinearConv", 0)
    n_q = ops.get("ConvInteger", 0) + ops.get("QLinearConv", 0)
    for n in nodes:
        if n.op_type == "Conv" and len(n.input) > 1:
            src = producer.get(n.input[1])
            if src is not None and src.op_type == "DequantizeLinear":
                n_q += 1
    return n_conv, n_q, dict(ops)


class _CropReader:
    """ONNX Runtime calibration reader over uint8 crops, one crop per batch."""

    def __init__(self, crops: np.ndarray):
        self._x = crops_to_input(crops)
        self._i = 0

    def get_next(self):
        if self._i >= len(self._x):
            return None
        x = self._x[self._i:self._i + 1]
        self._i += 1
        return {ONNX_INPUT: x}

    def rewind(self):
        self._i = 0


def export_onnx(checkpoint: Union[str, Path], out_path: Union[str, Path],
                quantize: Optional[str] = None, calibration_crops: Optional[np.ndarray] = None,
                head_sizes: Optional[Sequence[int]] = None, per_channel: bool = True,
                threads: Optional[int] = None) -> ExportReport:
    """Write the ReconNet of ``checkpoint`` (.pth) as an ONNX file.

    quantize:
        ``None``: fp32 (BatchNorm folded). ``"static"``: QDQ int8, per-channel
        int8 weights and uint8 activations whose ranges come from a MinMax
        calibration pass over ``calibration_crops`` (uint8 (K, 256, 256, 3)
        real face crops made like the tracker makes them; noise would give
        wrong ranges). ``"dynamic"``: ONNX Runtime dynamic quantisation
        (int8 weights, activations quantised at run time).
    Returns an :class:`ExportReport` that counts the convolutions actually
    quantised and, with calibration crops, the difference from fp32 on them.
    """
    import onnx

    if quantize not in (None, "dynamic", "static"):
        raise ValueError(f"quantize must be None, 'dynamic' or 'static', got {quantize!r}")
    if quantize == "static" and calibration_crops is None:
        raise ValueError("static quantisation needs calibration_crops: uint8 (K, 256, 256, 3) real face "
                         "crops (K >= 8 recommended); random noise would calibrate the wrong ranges")
    threads = threads or default_threads()
    sd, ckpt_path = load_checkpoint(checkpoint, head_sizes)
    head_sizes = validate_state_dict(sd, ckpt_path, head_sizes)
    model = build_onnx_model(sd, head_sizes)
    crops = None if calibration_crops is None else check_crops(calibration_crops)

    with tempfile.TemporaryDirectory(prefix="faceverse_onnx_") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        onnx.save(model, str(fp32))
        report = quantize_onnx_file(fp32, out_path, quantize, crops, per_channel, threads)
    return report


def quantize_onnx_file(src: Union[str, Path], out_path: Union[str, Path],
                       quantize: Optional[str] = None, calibration_crops: Optional[np.ndarray] = None,
                       per_channel: bool = True, threads: Optional[int] = None) -> ExportReport:
    """Copy (``quantize=None``) or quantise the fp32 ONNX file ``src`` into ``out_path``.

    The model must take ``input`` (B, 3, 256, 256) in [0, 1]; the calibration
    crops are uint8 (K, 256, 256, 3). See :func:`export_onnx` for the modes.
    The report counts what the quantiser actually changed and, with crops,
    the largest and mean output difference from fp32 on them.
    """
    import onnx

    if quantize not in (None, "dynamic", "static"):
        raise ValueError(f"quantize must be None, 'dynamic' or 'static', got {quantize!r}")
    crops = None if calibration_crops is None else check_crops(calibration_crops)
    if quantize == "static" and crops is None:
        raise ValueError("static quantisation needs calibration crops")
    threads = threads or default_threads()
    src, out_path = Path(src), Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="faceverse_quant_") as tmp:
        tmp_out = Path(tmp) / "out.onnx"
        if quantize is None:
            import shutil

            shutil.copyfile(src, tmp_out)
        elif quantize == "dynamic":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(src), str(tmp_out), weight_type=QuantType.QInt8, per_channel=per_channel)
        else:
            from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                                  quant_pre_process, quantize_static)

            prep = Path(tmp) / "prep.onnx"
            try:
                quant_pre_process(str(src), str(prep), skip_symbolic_shape=True)
            except Exception:  # noqa: BLE001 - pre-processing is an optimisation only
                prep = src
            assert crops is not None   # checked above for static
            quantize_static(str(prep), str(tmp_out), _CropReader(crops), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            per_channel=per_channel, calibrate_method=CalibrationMethod.MinMax,
                            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
        n_conv, n_q, ops = count_quantized_convs(onnx.load(str(tmp_out)))
        report = ExportReport(path=out_path, quantize=quantize, n_bytes=tmp_out.stat().st_size,
                              n_conv=n_conv, n_conv_quantized=n_q, op_counts=ops)
        if crops is not None:
            x = crops_to_input(crops)
            ref = ort_session(src, threads).run(None, {ONNX_INPUT: x})[0]
            got = ref if quantize is None else ort_session(tmp_out, threads).run(None, {ONNX_INPUT: x})[0]
            d = np.abs(got - ref)
            report.calibration_images = int(x.shape[0])
            report.max_abs_diff = float(d.max())
            report.mean_abs_diff = float(d.mean())
        _move_into_place(tmp_out, out_path)
    return report


def _move_into_place(src: Path, dst: Path):
    """Copy ``src`` next to ``dst`` then rename: readers never see a half-written file."""
    import shutil

    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def cached_onnx(checkpoint: Union[str, Path], head_sizes: Optional[Sequence[int]] = None) -> Path:
    """fp32 ONNX file of ``checkpoint`` under ``<cache>/onnx/``, keyed by the
    checkpoint's SHA-256 (made on first use)."""
    ckpt = Path(checkpoint)
    key = file_sha256(ckpt)[:16]
    sizes = "-".join(map(str, head_sizes)) if head_sizes else "auto"
    out = cache_root() / "onnx" / f"reconnet-{key}-{hashlib.sha1(sizes.encode()).hexdigest()[:6]}-fp32.onnx"
    if not out.is_file():
        export_onnx(ckpt, out, None, head_sizes=head_sizes)
    return out
