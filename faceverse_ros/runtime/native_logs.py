"""Native libraries' log lines on stderr: MediaPipe's (absl), TensorFlow Lite's.

MediaPipe's graphs log through absl before anything initialises absl logging, so every
INFO and WARNING line goes straight to file descriptor 2 ("W0000 00:00:... inference_
feedback_manager.cc:114] ...", "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.").
The PyPI wheel exports no function to lower absl's level, and absl's C++ logging reads no
environment variable (GLOG_minloglevel, TF_CPP_MIN_LOG_LEVEL change nothing there).

`quiet_native_logs()` therefore puts a filter on descriptor 2: a pipe read by a thread that
passes every line on to the real stderr except those INFO and WARNING lines of the native
libraries (their ERROR and FATAL lines, ROS's log lines and Python's output pass). Python's
own sys.stderr is pointed at the real stderr directly, so its lines never wait for the
thread. At exit the descriptor is restored and what is left in the pipe is passed on.
FACEVERSE_VERBOSE=1 (or `faceverse-ros ... --verbose`) leaves stderr as it is.
"""
import atexit
import io
import os
import re
import sys
import threading

# absl / glog prefix: severity letter, MMDD, a time (absl before InitializeLog writes
# "00:00:<epoch seconds>.<micros>"), thread id, file:line]
_ABSL_QUIET = re.compile(r"^[IW]\d{4} [\d:.]+\s+\d+ [^ \]]+:\d+\] ")
_NOISE = (
    _ABSL_QUIET,
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are "
               r"written to STDERR$"),
    re.compile(r"^INFO: .*TensorFlow Lite"),
)

VERBOSE_VAR = "FACEVERSE_VERBOSE"
_installed = None


def is_noise(line: str) -> bool:
    """True for a native library's INFO/WARNING line (the ones quiet_native_logs drops)."""
    return any(p.match(line) for p in _NOISE)


def quiet_native_logs():
    """Install the stderr filter (see module doc) once per process; returns True when it is
    on. Left off with FACEVERSE_VERBOSE=1 and when Python's stderr is not descriptor 2 (a
    test harness captures it)."""
    global _installed
    if _installed is not None:
        return True
    if os.environ.get(VERBOSE_VAR, "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    try:
        if sys.stderr is None or sys.stderr.fileno() != 2:
            return False
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False
    sys.stderr.flush()
    if os.isatty(2):  # ROS colours its log lines only on a terminal: descriptor 2 is a pipe now
        os.environ.setdefault("RCUTILS_COLORIZED_OUTPUT", "1")
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    os.set_inheritable(real, False)
    # Python's lines go to the real stderr at once (same buffering as before)
    sys.stderr = io.TextIOWrapper(io.FileIO(real, "w", closefd=False),
                                  encoding=sys.stderr.encoding, errors="backslashreplace",
                                  line_buffering=True)
    thread = threading.Thread(target=_forward, args=(read_end, real), name="stderr-filter",
                              daemon=True)
    thread.start()
    _installed = (real, thread)
    atexit.register(_restore)
    return True


def _forward(read_end, real):
    pending = b""
    while True:
        try:
            chunk = os.read(read_end, 65536)
        except OSError:
            break
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        out = [ln + b"\n" for ln in lines if not is_noise(ln.decode("utf-8", "replace"))]
        if out:
            _write_all(real, b"".join(out))
    if pending and not is_noise(pending.decode("utf-8", "replace")):
        _write_all(real, pending)
    os.close(read_end)


def _write_all(fd, data):
    while data:
        try:
            data = data[os.write(fd, data):]
        except OSError:
            return


def _restore():
    """Descriptor 2 back to the real stderr; the thread passes on what is left and ends."""
    real, thread = _installed
    try:
        os.dup2(real, 2)   # the pipe's last writer closes: the thread reads the rest, then EOF
    except OSError:
        return
    thread.join(timeout=5.0)   # a child process holding descriptor 2 keeps the pipe open
