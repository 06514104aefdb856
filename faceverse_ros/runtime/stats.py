"""Rate and latency bookkeeping for diagnostics and benchmarks (no ROS)."""
import collections

import numpy as np


class RateMeter:
    """Events per second over a sliding window of `window_s` seconds (monotonic clock)."""

    def __init__(self, window_s=2.0):
        self.window_s = float(window_s)
        self._times = collections.deque()

    def tick(self, now):
        self._times.append(now)
        self._trim(now)

    def rate(self, now):
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        # intervals between the kept events, over the time from the first to now
        return (len(self._times) - 1) / max(now - self._times[0], 1e-9)

    def _trim(self, now):
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()


class LatencyStats:
    """Keeps the last `size` latencies (seconds); percentiles in milliseconds."""

    def __init__(self, size=300):
        self._values = collections.deque(maxlen=size)

    def add(self, seconds):
        self._values.append(float(seconds))

    def percentile_ms(self, q):
        if not self._values:
            return float("nan")
        return float(np.percentile(np.fromiter(self._values, float), q) * 1000.0)

    def __len__(self):
        return len(self._values)
