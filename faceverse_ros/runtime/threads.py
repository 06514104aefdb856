"""One thread plan for the process: ONNX Runtime, BLAS, OpenCV and MediaPipe together.

On a small CPU (a robot's 2 cores) the pipeline already runs two stage
threads at once (detection of frame t+1 beside the coefficients of frame t), so a
library that also starts one thread per core in each stage oversubscribes the cores:
the threads preempt each other and every stage gets slower. The plan:

- OpenCV: 1 thread (``cv2.setNumThreads``; its work here is small warps and resizes);
- BLAS (numpy's OpenBLAS): 1 thread (the landmark fit's matrices are small); set through
  the environment before numpy loads where possible (``OPENBLAS_NUM_THREADS``, the
  command line does) and at run time through OpenBLAS's own setter;
- ONNX Runtime: ``ort_threads(cpus)`` intra-op threads (all cores), one inter-op thread,
  no spinning (``tracking.config``): without spinning, a second ONNX Runtime thread
  takes a core only while the detector is not using it, so the regression gets faster
  and the throughput is no lower (doc/performance.md);
- MediaPipe: its graph and XNNPACK threads are its own (the Python API exposes no count).

An explicit ``threads`` parameter still sets the ONNX Runtime / torch count.
"""
import ctypes
import glob
import os
from typing import Optional

_applied = None


def cpu_count() -> int:
    """Number of CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def ort_threads(cpus: Optional[int] = None) -> int:
    """ONNX Runtime intra-op threads: all cores (module doc)."""
    cpus = cpu_count() if cpus is None else int(cpus)
    return max(1, cpus)


def _set_openblas(n: int) -> bool:
    import numpy

    libs = glob.glob(os.path.join(os.path.dirname(numpy.__file__), "..", "numpy.libs", "*openblas*"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("openblas_set_num_threads64_", "openblas_set_num_threads",
                     "scipy_openblas_set_num_threads64_"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn(ctypes.c_int(n))
                return True
    return False


def apply_thread_plan() -> str:
    """Set OpenCV and BLAS to one thread (once per process); returns a one-line summary."""
    global _applied
    if _applied is not None:
        return _applied
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parts = []
    try:
        import cv2

        cv2.setNumThreads(1)
        parts.append("OpenCV 1")
    except ImportError:  # pragma: no cover - OpenCV is a dependency
        pass
    parts.append("BLAS 1" if _set_openblas(1) else
                 f"BLAS {os.environ.get('OPENBLAS_NUM_THREADS')} (environment)")
    _applied = (f"threads: {cpu_count()} CPUs; " + ", ".join(parts) +
                f", ONNX Runtime {ort_threads()} (threads=0), MediaPipe its own")
    return _applied
