import math

import pytest

from faceverse_ros.runtime.stats import LatencyStats, RateMeter


def test_rate_of_a_steady_stream():
    meter = RateMeter(window_s=2.0)
    t = 0.0
    for _ in range(100):
        meter.tick(t)
        t += 0.1
    assert meter.rate(t - 0.1) == pytest.approx(10.0, rel=0.01)


def test_rate_decays_to_zero_when_the_stream_stops():
    meter = RateMeter(window_s=1.0)
    for k in range(10):
        meter.tick(k * 0.05)
    assert meter.rate(0.45) > 15
    assert meter.rate(5.0) == 0.0


def test_latency_percentiles():
    stats = LatencyStats(size=100)
    assert math.isnan(stats.percentile_ms(50))
    for k in range(1, 101):
        stats.add(k / 1000.0)
    assert stats.percentile_ms(50) == pytest.approx(50.5)
    assert stats.percentile_ms(95) == pytest.approx(95.05)
    stats.add(1.0)  # the oldest value (1 ms) falls out of the window
    assert len(stats) == 100 and stats.percentile_ms(100) == pytest.approx(1000.0)
