"""Runtime: the latest-frame-wins workers (their threads), the bounded history of
recent frames, rates, latency statistics and counters.

May import: the standard library and numpy only.
"""
