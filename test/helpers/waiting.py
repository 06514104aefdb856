"""Waiting on a condition (a counter, a received message) instead of sleeping a fixed time."""
import time
from typing import Callable


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Polls predicate() until it is true or `timeout` seconds pass; returns its last truth."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
