"""Runtime: latest-frame-wins workers, rate meters and latency statistics.

May import: the standard library and numpy only.
"""
