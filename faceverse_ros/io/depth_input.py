"""Depth images matched to colour frames by stamp (no ROS): the node's depth input and the
depth topic of a bag (io.bag_source).

:class:`DepthInput` keeps the newest ``queue_size`` depth messages as they arrive (the
node's executor thread only appends; nothing is decoded there) and, for a colour frame,
hands the worker the one nearest in stamp when it lies within ``slop_s`` and is in the colour image's
frame_id, decoded as a core.depth.DepthImage (io.image_msgs.depth_image). No
message_filters: while the depth stream is live but its newest image is still older than
the colour frame (a driver that sends the aligned depth after the colour image), the match
waits for it at most ``wait_s`` (the node's depth.wait_s); a frame without a match is processed from colour alone (each
face keeping its depth scale, tracking/face_depth.py).

What cannot be used is said once per kind (``warn``), never per frame:

- another frame_id than the colour image's (the depth is not registered to it): said with
  what to remap, then again at most every ``WARN_EVERY_S`` seconds while it goes on;
- an encoding other than 16UC1 / 32FC1, a malformed image;
- no depth within the slop (the nearest stamp difference is given);
- the stream stopped (no depth newer than STOPPED_S before the colour frame); when depth
  comes back that is said once too, and the warnings of the kinds above are re-armed;
- a depth camera_info whose intrinsics, at the colour image's size, differ from the colour
  camera_info's by more than INFO_TOLERANCE (not the same camera).

Statistics for the diagnostics: the stamp differences of the matches (``slop_ms``), the
frames matched and not.
"""
import collections
import threading
import time

from faceverse_ros.core.camera import scaled_intrinsics
from faceverse_ros.io.image_msgs import ImageConversionError, depth_image, stamp_to_seconds

WARN_EVERY_S = 5.0
STOPPED_S = 1.0
WAIT_S = 0.03       # default longest wait for a depth image in flight (a frame at 30 Hz)
INFO_TOLERANCE = 0.02
REMAP_HINT = ("remap depth/image and depth/camera_info to a depth stream registered to the "
              "colour camera (RealSense: aligned_depth_to_color/image_raw; ZED: "
              "depth/depth_registered), or set depth.enabled false")


class DepthInput:
    def __init__(self, slop_s=0.02, queue_size=10, warn=print, info=print, wait_s=WAIT_S):
        self.slop_s = float(slop_s)
        self._queue = collections.deque(maxlen=int(queue_size))
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self.wait_s = float(wait_s)
        self.warn, self.info = warn, info
        self._said = set()
        self._frame_warned_at = None
        self._stopped = False
        self._camera_info = None
        self._info_checked = None
        self.slops = collections.deque(maxlen=300)    # |colour - depth| stamp (s) of matches
        self.matched = self.unmatched = 0

    # -- arrival (the node's executor thread) -----------------------------------------------
    def add(self, msg):
        with self._lock:
            self._queue.append((stamp_to_seconds(msg.header.stamp), msg))
            self._arrived.notify_all()

    def set_camera_info(self, msg):
        self._camera_info = msg

    def clear(self):
        with self._lock:
            self._queue.clear()

    # -- matching (the node's worker thread) ------------------------------------------------
    def _once(self, key, text):
        if key not in self._said:
            self._said.add(key)
            self.warn(text)

    def note(self, key, text):
        """A reason the pipeline did not use depth (tracking.face_depth), said once per kind
        (re-armed when the depth stream comes back)."""
        self._once(f"note:{key}", text)

    def match(self, stamp, frame_id, now, colour_k=None, colour_size=None):
        """The DepthImage for the colour frame of ``stamp`` / ``frame_id`` (``now``: a
        monotonic time for throttling), or None (said once per kind, module doc).
        colour_k: (K, (width, height)) of the colour camera_info, colour_size: the colour
        image's (width, height); both None skip the camera check."""
        with self._lock:
            deadline = time.monotonic() + self.wait_s
            while (self._queue and not self._stopped
                   and max(s for s, _ in self._queue) < stamp - self.slop_s
                   and stamp - max(s for s, _ in self._queue) <= STOPPED_S):
                left = deadline - time.monotonic()     # its depth may still be in flight
                if left <= 0 or not self._arrived.wait(left):
                    break
            items = list(self._queue)
        if not items or stamp - max(s for s, _ in items) > STOPPED_S:
            self.unmatched += 1
            if not self.matched:
                self._once("none", "no depth image near the colour stamps has arrived: "
                           "positions from colour alone")
            elif not self._stopped:
                self._stopped = True
                self.warn(f"depth images stopped (none within {STOPPED_S:g} s of the colour "
                          "stamps): positions from colour at each face's kept depth scale "
                          "until they come back")
            return None
        if self._stopped:
            self._stopped = False
            self._said.clear()
            self.info("depth images are back: positions depth-measured again")
        dt, msg = min(((abs(s - stamp), m) for s, m in items), key=lambda x: x[0])
        if dt > self.slop_s:
            self._once("slop", f"no depth image within depth.slop_s={self.slop_s:g} s of a "
                       f"colour frame (nearest {dt * 1000:.0f} ms apart): that frame is from "
                       "colour alone; raise depth.slop_s if the cameras are synchronised "
                       "that loosely")
            self.unmatched += 1
            return None
        if msg.header.frame_id != frame_id:
            if self._frame_warned_at is None or now - self._frame_warned_at >= WARN_EVERY_S:
                self._frame_warned_at = now
                self.warn(f"depth image frame_id '{msg.header.frame_id}' is not the colour "
                          f"image's '{frame_id}': the depth is not registered to the colour "
                          f"camera and is not used; {REMAP_HINT}")
            self.unmatched += 1
            return None
        try:
            depth = depth_image(msg)
        except ImageConversionError as exc:
            self._once(f"bad:{msg.encoding}", f"depth image not used: {exc}")
            self.unmatched += 1
            return None
        if not self._same_camera(colour_k, colour_size):
            self.unmatched += 1
            return None
        self.matched += 1
        self.slops.append(dt)
        return depth

    def _same_camera(self, colour_k, colour_size):
        info = self._camera_info
        if info is None or colour_k is None or colour_size is None:
            return True
        key = (tuple(info.k), tuple(colour_k), tuple(colour_size))
        if self._info_checked is not None and self._info_checked[0] == key:
            return self._info_checked[1]
        ok = True
        try:
            depth_k = scaled_intrinsics(info.k, (info.width, info.height), colour_size)
            colour = scaled_intrinsics(colour_k[0], colour_k[1], colour_size)
            if depth_k[0] > 0 and colour[0] > 0:
                worst = max(abs(d - c) for d, c in zip(depth_k, colour)) / colour[0]
                ok = worst <= INFO_TOLERANCE
        except (TypeError, ValueError, ZeroDivisionError):
            ok = True
        if not ok:
            self._once("info", "depth/camera_info's intrinsics differ from the colour "
                       "camera_info's (more than 2 % of fx): not the same camera, depth not "
                       f"used; {REMAP_HINT}")
        self._info_checked = (key, ok)
        return ok

    def slop_ms(self):
        """(median, max) stamp difference of the recent matches in ms, or (nan, nan)."""
        values = sorted(self.slops)
        if not values:
            return float("nan"), float("nan")
        return values[len(values) // 2] * 1000.0, values[-1] * 1000.0
