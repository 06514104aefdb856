"""engine "auto" (issue 14): what it chooses, and the int8 builder's hand-over.

Each decision is checked against the rule of tracking/auto_engine.py's doc, with the GPU
check and the cache made to say what the case needs."""
import sys
import time

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


def _fake_child(b, script):
    """Replace the export child's command by a small Python script (argv: crops, out)."""
    b.command = lambda crops, out: [sys.executable, "-c", script, str(crops), str(out)]


WRITES_SHAPE = ("import sys, numpy as np; c = np.load(sys.argv[1]); "
                "open(sys.argv[2], 'w').write(str(c.shape)); print('done', c.dtype)")


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".npy")))


def test_builder_waits_for_enough_crops_and_hands_over_once(tmp_path):
    said = []
    b = auto_engine.Int8Builder(_ckpt(tmp_path), tmp_path / "c" / "m.onnx", log=said.append,
                                count=3)
    _fake_child(b, WRITES_SHAPE)
    crop = np.zeros((1, 256, 256, 3), np.uint8)
    b.offer(crop)
    b.offer(crop)
    assert b._thread is None and b.take() is None      # 2 of 3 crops: not yet
    b.offer(np.zeros((2, 256, 256, 3), np.uint8))
    b._thread.join(60)
    out = tmp_path / "c" / "m.onnx"
    assert out.read_text() == "(3, 256, 256, 3)"        # the crops reached the child
    assert b.take() == out and b.take() is None         # once
    assert len(said) == 1 and "calibrated" in said[0] and "done uint8" in said[0]
    assert _leftovers(out.parent) == []


def test_builder_says_why_the_child_failed(tmp_path):
    said = []
    b = auto_engine.Int8Builder(_ckpt(tmp_path), tmp_path / "c" / "m.onnx", log=said.append,
                                count=1)
    _fake_child(b, "import sys; print('note', file=sys.stderr); sys.exit('no calibration')")
    b.offer(np.zeros((1, 256, 256, 3), np.uint8))
    b._thread.join(60)
    assert b.failed == "no calibration" and b.take() is None
    assert said == ["engine auto: int8 export failed (no calibration); staying with fp32 ONNX"]
    assert not (tmp_path / "c" / "m.onnx").exists() and _leftovers(tmp_path / "c") == []


def test_closing_stops_or_finishes_the_export_in_flight(tmp_path):
    """A node stopping stops the child (nothing cached, nothing left, said); the command
    line at the end of its input waits for it (cached for the next run)."""
    slow = "import time; time.sleep(60)"
    said = []
    b = auto_engine.Int8Builder(_ckpt(tmp_path), tmp_path / "a" / "m.onnx", log=said.append,
                                count=1)
    _fake_child(b, slow)
    b.offer(np.zeros((1, 256, 256, 3), np.uint8))
    deadline = time.monotonic() + 30
    while b._proc is None and time.monotonic() < deadline:
        time.sleep(0.01)
    t = time.monotonic()
    b.close(finish=False)
    assert time.monotonic() - t < 20          # not the child's 60 s
    assert b._proc.poll() is not None and not b.running
    assert said[-1].startswith("engine auto: the int8 calibration was stopped")
    assert not (tmp_path / "a" / "m.onnx").exists() and _leftovers(tmp_path / "a") == []
    assert b.take() is None

    said = []
    b = auto_engine.Int8Builder(_ckpt(tmp_path), tmp_path / "b" / "m.onnx", log=said.append,
                                count=1)
    _fake_child(b, "import time; time.sleep(1); " + WRITES_SHAPE)
    b.offer(np.zeros((1, 256, 256, 3), np.uint8))
    assert b.running
    b.close(finish=True)
    assert (tmp_path / "b" / "m.onnx").read_text() == "(1, 256, 256, 3)"
    assert "waiting for the int8 calibration" in said[0] and "calibrated" in said[1]
    b.close(finish=False)                     # nothing running: nothing to do or say
    assert len(said) == 2
