"""engine "auto" (the default): the fast configuration without any setting (doc/performance.md).

- a CUDA GPU that torch sees: engine torch on cuda;
- otherwise ONNX Runtime on the CPU: the explicit ``onnx_path`` when given; else the
  static int8 model of the checkpoint from the cache (``<cache>/onnx/reconnet-<sha>-
  int8-static.onnx``, paths); else the fp32 ONNX export (cached too) until
  :class:`Int8Builder` has collected the first ``CALIBRATION_CROPS`` face crops (the
  keyframes', and one fitted frame's every keyframe.interval frames: tracking.solver) of
  real faces, exported and calibrated the int8 model from them in a child process at a
  low OS priority, and written it to the cache: the pipeline then switches to it, and
  later runs start with it (the command line waits for an export still running at the
  end of its input; a node stopping stops it: :class:`Int8Builder`).

What was chosen is said once in the log; explicit ``engine``/``onnx_path`` override it.
"""
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import List, Optional, Union

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


def int8_cache_path(checkpoint: Union[str, Path]) -> Path:
    from faceverse_ros.paths import cache_root
    from faceverse_ros.core.network import file_sha256

    return cache_root() / "onnx" / f"reconnet-{file_sha256(checkpoint)[:16]}-int8-static.onnx"


class Int8Builder:
    """Collects face crops, then exports the calibrated int8 model in a child process.

    The export (about 30 s of one core) runs in its own process at niceness +NICE: it takes
    no GIL from the frame path, and it can be stopped. ``close(finish=True)`` (the command
    line at the end of its input) waits for it, so that later runs start with the int8
    model; ``close(finish=False)`` (a node shutting down, an interrupt) stops it and says
    so: the next start calibrates again. A process that exits with the export in flight
    lost it before, silently.
    """

    NICE = 10

    def __init__(self, checkpoint: Union[str, Path], out_path: Path, head_sizes=None, log=print,
                 count: int = CALIBRATION_CROPS):
        self.checkpoint, self.out_path = Path(checkpoint), Path(out_path)
        self.head_sizes, self.log, self.count = head_sizes, log, int(count)
        self._crops: List[np.ndarray] = []
        self._thread: Optional[threading.Thread] = None
        self._proc: Optional[subprocess.Popen] = None
        self._stopped = False
        self._lock = threading.Lock()
        self.result: Optional[Path] = None
        self.failed: Optional[str] = None

    @property
    def collecting(self) -> bool:
        """True while it still takes crops (the export has not started)."""
        return self._thread is None and not self._stopped

    def offer(self, crops: np.ndarray) -> None:
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

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def command(self, crops_file: Path, out_file: Path) -> list:
        """The child's command line (a test may replace it)."""
        sizes = ",".join(str(int(n)) for n in self.head_sizes) if self.head_sizes else ""
        return [sys.executable, "-m", "faceverse_ros.tracking.auto_engine", str(self.checkpoint),
                str(out_file), str(crops_file), sizes, str(self.NICE)]

    def _export(self):
        tmp = self.out_path.with_name(self.out_path.name + f".{os.getpid()}.tmp")
        crops_file = self.out_path.with_name(self.out_path.name + f".{os.getpid()}.crops.npy")
        try:
            self.out_path.parent.mkdir(parents=True, exist_ok=True)
            np.save(crops_file, np.stack(self._crops))
            with self._lock:
                if self._stopped:
                    return
                self._proc = subprocess.Popen(self.command(crops_file, tmp), env=_child_env(),
                                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True,
                                              start_new_session=True)  # no terminal Ctrl-C
            out, err = self._proc.communicate()
            if self._stopped:
                return
            if self._proc.returncode != 0 or not tmp.is_file():
                last = (err.strip().splitlines() or [f"exit code {self._proc.returncode}"])[-1]
                raise RuntimeError(last)
            os.replace(tmp, self.out_path)  # atomic: a cache file is whole or absent
            summary = (out.strip().splitlines() or [""])[-1].replace(f"{tmp} ", "")
            self.log(f"engine auto: int8 model calibrated on the first {len(self._crops)} face "
                     f"crops, cached at {self.out_path} ({summary})")
            self.result = self.out_path
        except Exception as exc:  # noqa: BLE001 - said once; the fp32 model goes on
            self.failed = str(exc)
            self.log(f"engine auto: int8 export failed ({exc}); staying with fp32 ONNX")
        finally:
            self._crops = []
            for leftover in (crops_file, tmp):
                leftover.unlink(missing_ok=True)

    def close(self, finish: bool = False) -> None:
        """Wait for an export in flight (finish) or stop it (class doc)."""
        if not self.running:
            return
        if finish:
            self.log("engine auto: waiting for the int8 calibration to finish, so that later "
                     "runs start with the int8 model (Ctrl-C skips it)")
            try:
                if self._thread is not None:
                    self._thread.join()
                return
            except KeyboardInterrupt:
                pass
        with self._lock:
            self._stopped = True
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.log("engine auto: the int8 calibration was stopped before it finished; the next "
                 "start calibrates again")

    def take(self) -> Optional[Path]:
        """The finished int8 file once (None before, after, or on failure)."""
        out, self.result = self.result, None
        return out


def _child_env() -> dict:
    """The parent's environment, with this package importable from where it was loaded."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    return env


def _child_main(argv) -> int:
    """The export child: CHECKPOINT OUT CROPS.npy HEAD_SIZES(comma list or "") NICE."""
    checkpoint, out, crops_file, sizes, nice = argv
    if hasattr(os, "nice"):
        os.nice(int(nice))
    from faceverse_ros.core.onnx_export import export_onnx

    head_sizes = [int(n) for n in sizes.split(",")] if sizes else None
    report = export_onnx(checkpoint, out, "static", np.load(crops_file),
                         head_sizes=head_sizes, threads=1)
    print(report.summary())
    return 0


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


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
