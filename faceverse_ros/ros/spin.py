"""Run nodes until Ctrl-C, SIGTERM or SIGHUP, then stop them in order (ROS layer).

rclpy's own signal handler shuts the context down the moment SIGINT arrives, while the
node's worker threads (and a camera source's thread) may still be publishing: "publisher's
context is invalid". Here the context is started without rclpy's handlers; a signal only
sets a flag, the spin loop ends, every node is destroyed (its workers joined first) while
the context is still valid, and only then is the context shut down. Further signals during
that clean-up (a terminal and `ros2 launch` both send SIGINT) are ignored: no traceback.
SIGHUP (the terminal or SSH session closed) stops the same way: by default it would kill the
process at once, with the workers still running.
"""
import signal

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def init(args):
    """rclpy.init without rclpy's signal handlers (see the module docstring)."""
    rclpy.init(args=args, signal_handler_options=rclpy.SignalHandlerOptions.NO)


def spin_until_signal(nodes, poll_s=0.1, ready=None):
    """Spin `nodes` in one executor thread until SIGINT/SIGTERM/SIGHUP (or an external shutdown),
    destroy them in reverse order, shut the context down. Returns the signal number or None.
    `ready()` runs once the signals are caught here (e.g. to say "running": a Ctrl-C after
    that line then stops in order)."""
    received = []
    previous = {s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in STOP_SIGNALS}
    if ready is not None:
        ready()
    executor = SingleThreadedExecutor()
    try:
        for node in nodes:
            executor.add_node(node)
        while not received and rclpy.ok():
            executor.spin_once(timeout_sec=poll_s)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        try:
            for node in reversed(nodes):
                node.destroy_node()
            executor.shutdown()
        finally:
            rclpy.try_shutdown()
            for s, handler in previous.items():
                signal.signal(s, handler)
    return received[0] if received else None
