"""Nodes spun by one executor in a background thread, and spinning a node until a condition."""
import threading
import time
from typing import Callable, Optional

from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor


class SpinThread:
    """Spins the given nodes in a daemon thread until close() (also a context manager).

    threads=1 (the default) uses a single-threaded executor, as the node's own spin does."""

    def __init__(self, *nodes, context=None, threads: int = 1, period_s: float = 0.02):
        if threads == 1:
            self.executor = SingleThreadedExecutor(context=context)
        else:
            self.executor = MultiThreadedExecutor(num_threads=threads, context=context)
        for node in nodes:
            self.executor.add_node(node)
        self._period = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=self._period)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.executor.shutdown()

    def __enter__(self) -> "SpinThread":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def spin_until(node, predicate: Callable[[], object], timeout_s: float,
               context: Optional[object] = None) -> bool:
    """Spins `node` in this thread until predicate() is true or timeout_s passes."""
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        deadline = time.monotonic() + timeout_s
        while not predicate() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
    finally:
        executor.remove_node(node)
        executor.shutdown()
    return bool(predicate())
