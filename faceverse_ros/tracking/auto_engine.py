"""engine "auto" (the default, issue 14): the fast configuration without reading the README.

- a CUDA GPU that torch sees: engine torch on cuda;
- otherwise ONNX Runtime on the CPU: the explicit ``onnx_path`` when given; else the
  static int8 model of the checkpoint from the cache (``<cache>/onnx/reconnet-<sha>-
  int8-static.onnx``, core.paths); else the fp32 ONNX export (cached too) until
  :class:`Int8Builder` has collected the first ``CALIBRATION_CROPS`` keyframe crops of
  real faces, exported and calibrated the int8 model from them in a background thread at
  a low OS priority, and written it to the cache: the pipeline then switches to it, and
  later runs start with it.

What was chosen is said once in the log; explicit ``engine``/``onnx_path`` override it.
"""
import os
import threading
from pathlib import Path
from typing import Optional

import numpy as np

CALIBRATION_CROPS = 32


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    try:
        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken CUDA install means no GPU
        return False


def int8_cache_path(checkpoint) -> Path:
    from faceverse_ros.core.paths import cache_root
    from faceverse_ros.core.regressor import file_sha256

    return cache_root() / "onnx" / f"reconnet-{file_sha256(checkpoint)[:16]}-int8-static.onnx"


class Int8Builder:
    """Collects keyframe crops, then exports the calibrated int8 model in a thread."""

    def __init__(self, checkpoint, out_path: Path, head_sizes=None, log=print,
                 count: int = CALIBRATION_CROPS):
        self.checkpoint, self.out_path = Path(checkpoint), Path(out_path)
        self.head_sizes, self.log, self.count = head_sizes, log, int(count)
        self._crops = []
        self._thread = None
        self.result: Optional[Path] = None
        self.failed: Optional[str] = None

    def offer(self, crops) -> None:
        """Keyframe crops (uint8 (B, 256, 256, 3)); the export starts once there are enough."""
        if self._thread is not None:
            return
        for crop in crops:
            if len(self._crops) < self.count:
                self._crops.append(np.array(crop, dtype=np.uint8))
        if len(self._crops) >= self.count:
            self._thread = threading.Thread(target=self._export, name="faceverse_int8",
                                            daemon=True)
            self._thread.start()

    def _export(self):
        from faceverse_ros.core.onnx_export import export_onnx
        from faceverse_ros.runtime.workers import lower_thread_priority

        try:
            lower_thread_priority(10)  # below the pipeline's own threads
            self.out_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.out_path.with_name(self.out_path.name + f".{os.getpid()}.tmp")
            report = export_onnx(self.checkpoint, tmp, "static", np.stack(self._crops),
                                 head_sizes=self.head_sizes, threads=1)
            os.replace(tmp, self.out_path)  # atomic: a cache file is whole or absent
            self.log(f"engine auto: int8 model calibrated on the first {len(self._crops)} face "
                     f"crops, cached at {self.out_path} ({report.summary()})")
            self.result = self.out_path
        except Exception as exc:  # noqa: BLE001 - said once; the fp32 model goes on
            self.failed = str(exc)
            self.log(f"engine auto: int8 export failed ({exc}); staying with fp32 ONNX")
        finally:
            self._crops = []

    def take(self) -> Optional[Path]:
        """The finished int8 file once (None before, after, or on failure)."""
        out, self.result = self.result, None
        return out


def choose_engine(config, weights, head_sizes=None, log=print):
    """(engine, device, weights file, Int8Builder or None) for a PipelineConfig (module doc)."""
    if config.engine != "auto":
        return config.engine, config.device, weights, None
    if cuda_available():
        log("engine auto: a CUDA GPU: torch on cuda")
        return "torch", "cuda", weights, None
    if config.onnx_path:
        log(f"engine auto: no GPU: ONNX Runtime with {config.onnx_path}")
        return "onnx", "cpu", config.onnx_path, None
    cached = int8_cache_path(weights)
    if cached.is_file():
        log(f"engine auto: no GPU: ONNX Runtime int8 (cached {cached}), keyframes every "
            f"{config.keyframe_interval} frames")
        return "onnx", "cpu", str(cached), None
    log(f"engine auto: no GPU: ONNX Runtime fp32 until the int8 model is calibrated on the "
        f"first {CALIBRATION_CROPS} face crops (then cached at {cached}), keyframes every "
        f"{config.keyframe_interval} frames")
    return "onnx", "cpu", weights, Int8Builder(weights, cached, head_sizes, log)
