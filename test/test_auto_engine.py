"""engine "auto" (issue 14): what it chooses, and the int8 builder's hand-over.

Each decision is checked against the rule of tracking/auto_engine.py's doc, with the GPU
check and the cache made to say what the case needs."""
from pathlib import Path

import numpy as np

from faceverse_ros.tracking import auto_engine
from faceverse_ros.tracking.config import PipelineConfig, config_from_params
from faceverse_ros.ros.params import PARAMS


def _ckpt(tmp_path):
    p = tmp_path / "net.pth"
    p.write_bytes(b"weights")
    return p


def test_defaults_are_auto_and_keyframes():
    assert PipelineConfig().engine == "auto"
    assert config_from_params({p.name: p.default for p in PARAMS}).engine == "auto"
    assert config_from_params({p.name: p.default for p in PARAMS}).keyframe_interval == 5


def test_gpu_means_torch_on_cuda(tmp_path, monkeypatch):
    monkeypatch.setattr(auto_engine, "cuda_available", lambda: True)
    said = []
    got = auto_engine.choose_engine(PipelineConfig(), str(_ckpt(tmp_path)), log=said.append)
    assert got[:2] == ("torch", "cuda") and got[3] is None
    assert len(said) == 1 and "cuda" in said[0]


def test_explicit_engine_and_onnx_path_override(tmp_path, monkeypatch):
    monkeypatch.setattr(auto_engine, "cuda_available", lambda: True)
    ck = str(_ckpt(tmp_path))
    assert auto_engine.choose_engine(PipelineConfig(engine="torch"), ck, log=print)[:3] == \
        ("torch", "cpu", ck)
    monkeypatch.setattr(auto_engine, "cuda_available", lambda: False)
    got = auto_engine.choose_engine(PipelineConfig(onnx_path="/x/given.onnx"), ck, log=print)
    assert got[:3] == ("onnx", "cpu", "/x/given.onnx") and got[3] is None


def test_cpu_uses_the_cached_int8_else_builds_it(tmp_path, monkeypatch):
    monkeypatch.setattr(auto_engine, "cuda_available", lambda: False)
    monkeypatch.setenv("FACEVERSE_CACHE", str(tmp_path / "cache"))
    ck = _ckpt(tmp_path)
    cached = auto_engine.int8_cache_path(ck)
    assert cached.parent == tmp_path / "cache" / "onnx"
    engine, device, weights, builder = auto_engine.choose_engine(PipelineConfig(), str(ck),
                                                                 log=print)
    assert (engine, device, weights) == ("onnx", "cpu", str(ck))  # fp32 until int8 exists
    assert isinstance(builder, auto_engine.Int8Builder) and builder.out_path == cached
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"int8")
    engine, _, weights, builder = auto_engine.choose_engine(PipelineConfig(), str(ck), log=print)
    assert (engine, weights, builder) == ("onnx", str(cached), None)


def test_builder_waits_for_enough_crops_and_hands_over_once(tmp_path, monkeypatch):
    exported = []

    def fake_export(ckpt, out, quantize, crops, head_sizes=None, threads=None):
        exported.append((quantize, crops.shape))
        Path(out).write_bytes(b"int8")

        class Report:
            @staticmethod
            def summary():
                return "ok"
        return Report()

    import faceverse_ros.core.onnx_export as onnx_export
    monkeypatch.setattr(onnx_export, "export_onnx", fake_export)
    b = auto_engine.Int8Builder(_ckpt(tmp_path), tmp_path / "c" / "m.onnx", log=lambda m: None,
                                count=3)
    crop = np.zeros((1, 256, 256, 3), np.uint8)
    b.offer(crop)
    b.offer(crop)
    assert b._thread is None and b.take() is None      # 2 of 3 crops: not yet
    b.offer(np.zeros((2, 256, 256, 3), np.uint8))
    b._thread.join(10)
    assert exported == [("static", (3, 256, 256, 3))]
    assert b.take() == tmp_path / "c" / "m.onnx" and (tmp_path / "c" / "m.onnx").is_file()
    assert b.take() is None                             # once
