"""Rate and latency bookkeeping for diagnostics and benchmarks (no ROS)."""
import collections
import threading
from typing import Dict

import numpy as np


class RateMeter:
    """Events per second over a sliding window of `window_s` seconds (monotonic clock);
    thread-safe (ticked by a worker, read by the diagnostics timer)."""

    def __init__(self, window_s: float = 2.0):
        self.window_s = float(window_s)
        self._times: "collections.deque[float]" = collections.deque()
        self._lock = threading.Lock()

    def tick(self, now: float) -> None:
        with self._lock:
            self._times.append(now)
            self._trim(now)

    def rate(self, now: float) -> float:
        with self._lock:
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            # intervals between the kept events, over the time from the first to now
            return (len(self._times) - 1) / max(now - self._times[0], 1e-9)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()


class LatencyStats:
    """Keeps the last `size` latencies (seconds); percentiles in milliseconds; thread-safe."""

    def __init__(self, size: int = 300):
        self._values: "collections.deque[float]" = collections.deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._values.append(float(seconds))

    def percentile_ms(self, q: float) -> float:
        with self._lock:
            values = list(self._values)
        if not values:
            return float("nan")
        return float(np.percentile(np.asarray(values, float), q) * 1000.0)

    def __len__(self) -> int:
        return len(self._values)


class Counters:
    """Named event counters updated from several threads under one lock."""

    def __init__(self, *names: str):
        self._lock = threading.Lock()
        self._values: Dict[str, int] = dict.fromkeys(names, 0)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._values[name] += n

    def set(self, name: str, value: int) -> None:
        with self._lock:
            self._values[name] = value

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._values[name]

    def snapshot(self) -> Dict[str, int]:
        """All counters as one consistent dict."""
        with self._lock:
            return dict(self._values)
