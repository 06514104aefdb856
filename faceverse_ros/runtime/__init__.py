"""Runtime: the latest-frame-wins workers (their threads), the bounded history of
recent frames, rates, latency statistics and counters, and the process's thread plan
(threads.py: how many threads OpenCV, BLAS, torch and ONNX Runtime get).

May import: the standard library and numpy only (OpenCV, lazily, to set its threads).
"""
