"""Memory that follows the work: what big frames or many faces made the C heap hold goes
back to the system once the frames are small again.

glibc's malloc raises its mmap threshold to the size of the largest mmapped block freed
(up to 32 MiB): after a few 4096x2160 frames, every later frame-sized buffer (the image
message, the RGB copy, MediaPipe's and OpenCV's images) comes from the heap arenas, whose
free space stays resident. Two remedies, both through ctypes on glibc and no-ops elsewhere:

- ``fix_mmap_threshold``: a fixed threshold (which also turns the dynamic raise off), so
  that any block at least that large is its own mapping and is unmapped when freed;
- ``MemoryReturn``: after a frame clearly smaller than the largest of the recent ones
  (or after faces went away), ``malloc_trim(0)`` gives the arenas' free pages back, at
  most once per ``min_period_s`` (a trim walks the arenas: about a millisecond per
  hundred MB of heap).
"""
import collections
import ctypes
import ctypes.util
import threading
import time

M_MMAP_THRESHOLD = -3  # glibc <malloc.h>
DEFAULT_THRESHOLD = 4 << 20


def _libc():
    try:
        name = ctypes.util.find_library("c")
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    if lib is None or not hasattr(lib, "malloc_trim") or not hasattr(lib, "mallopt"):
        return None  # not glibc (musl, macOS): nothing to do
    lib.malloc_trim.argtypes = [ctypes.c_size_t]
    lib.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return lib


_LIBC = _libc()


def fix_mmap_threshold(nbytes: int = DEFAULT_THRESHOLD) -> bool:
    """Blocks of `nbytes` or more get a mapping of their own from now on (True when set)."""
    return bool(_LIBC is not None and _LIBC.mallopt(M_MMAP_THRESHOLD, int(nbytes)) == 1)


def trim() -> bool:
    """Give the heap arenas' free pages back to the system (True when any went back)."""
    return bool(_LIBC is not None and _LIBC.malloc_trim(0))


class MemoryReturn:
    """Decides when to trim: call ``note(width, height, n_faces)`` once per frame.

    A trim is due while the frame has at most half the pixels of the largest frame of the
    last ``window_s`` seconds, or fewer faces than that window's most: at most once per
    ``min_period_s``, so a few times after the work shrinks (the large frames' buffers
    may still be in flight at the first trim), then no more once the window has passed."""

    def __init__(self, window_s=5.0, min_period_s=2.0, clock=time.monotonic):
        self.window_s, self.min_period_s, self.clock = float(window_s), float(min_period_s), clock
        self._lock = threading.Lock()
        self._recent = collections.deque()  # (when, pixels, faces)
        self._last_trim = -1e18
        self.trims = 0

    def note(self, width, height, n_faces=0) -> bool:
        """Account one frame; trims when due (True when it did)."""
        now = self.clock()
        pixels, n_faces = int(width) * int(height), int(n_faces)
        with self._lock:
            recent = self._recent
            while recent and now - recent[0][0] > self.window_s:
                recent.popleft()
            recent.append((now, pixels, n_faces))
            peak_px = max(r[1] for r in recent)
            peak_faces = max(r[2] for r in recent)
            smaller = 2 * pixels <= peak_px or n_faces < peak_faces
            if not smaller or now - self._last_trim < self.min_period_s:
                return False
            self._last_trim = now
        trim()
        self.trims += 1
        return True
