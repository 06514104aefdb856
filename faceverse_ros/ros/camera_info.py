"""camera_info and frame_id checks (ROS layer; pure functions and small state, no rclpy).

Intrinsics come from sensor_msgs/CameraInfo's K, scaled to the image when the info was made for
another size (binned or resized streams). They are checked AFTER scaling, so a K that only
overflows or degenerates once scaled is caught too. Accepted intrinsics (the bounds, in
pixels of the image they are used with, W x H):

- fx, fy, cx, cy finite;
- fx and fy within [FOCAL_MIN_RATIO, FOCAL_MAX_RATIO] x W = [0.05, 50] x W (a horizontal field
  of view from about 1.1 to 169 degrees);
- cx within [-W, 2W] and cy within [-H, 2H] (the image plus or minus its size).

A rejected camera_info never reaches the pose arithmetic: `IntrinsicsFilter` falls back to the
last good intrinsics (rescaled to the current image), or to the defaults before any was good,
and says why in a warning the first time and then at most every `warn_every_s` seconds while
rejections go on, with their count (after a good camera_info the next rejection is warned at
once).
"""
import math

from faceverse_ros.core.camera import scaled_intrinsics  # noqa: F401 (used below, re-exported)

FOCAL_MIN_RATIO = 0.05
FOCAL_MAX_RATIO = 50.0


def intrinsics_problem(intrinsics, image_size):
    """None when (fx, fy, cx, cy) passes the bounds above for image_size (w, h), else why not."""
    fx, fy, cx, cy = intrinsics
    w, h = image_size
    names = ("fx", "fy", "cx", "cy")
    bad = [f"{n}={v:g}" for n, v in zip(names, intrinsics) if not math.isfinite(v)]
    if bad:
        return "non-finite " + ", ".join(bad)
    lo, hi = FOCAL_MIN_RATIO * w, FOCAL_MAX_RATIO * w
    for name, value in (("fx", fx), ("fy", fy)):
        if value <= 0:
            return f"{name}={value:g} is not positive"
        if not lo <= value <= hi:
            return (f"{name}={value:g} px is outside [{FOCAL_MIN_RATIO:g}, {FOCAL_MAX_RATIO:g}] x "
                    f"image width {w} = [{lo:g}, {hi:g}]")
    if not -w <= cx <= 2 * w:
        return f"cx={cx:g} px is outside the image +- its width [{-w}, {2 * w}]"
    if not -h <= cy <= 2 * h:
        return f"cy={cy:g} px is outside the image +- its height [{-h}, {2 * h}]"
    return None


class IntrinsicsFilter:
    """Chooses the intrinsics for each frame from the latest camera_info.

    choose(k, info_size, image_size, default, now) -> (intrinsics, source, warning):
    source is 'camera_info', 'last_good' or 'default'; warning is a one-line message to log
    (None when there is nothing to say now). k None means no camera_info has arrived.
    """

    def __init__(self, warn_every_s=5.0):
        self.warn_every_s = float(warn_every_s)
        self.rejected = 0                 # rejections in the filter's life
        self._good = None                 # (k, info_size) of the last accepted camera_info
        self._last_warning = None         # time of the last warning
        self._since_warning = 0           # rejections not yet reported

    def choose(self, k, info_size, image_size, default, now):
        if k is None:
            return self._fallback(image_size, default)[:2] + (None,)
        try:
            intrinsics = scaled_intrinsics(k, info_size, image_size)
            problem = intrinsics_problem(intrinsics, image_size)
        except (TypeError, ValueError) as exc:
            problem = str(exc)
        if problem is None:
            self._good = (tuple(float(v) for v in k), tuple(info_size))
            self._last_warning, self._since_warning = None, 0  # the next rejection: warned at once
            return intrinsics, "camera_info", None
        self.rejected += 1
        self._since_warning += 1
        fallback, source = self._fallback(image_size, default)
        warning = None
        if self._last_warning is None or now - self._last_warning >= self.warn_every_s:
            count = "" if self._since_warning == 1 else f" ({self._since_warning} rejections)"
            what = "the last good camera_info" if source == "last_good" else "default intrinsics"
            warning = f"camera_info rejected{count}: {problem}; using {what}"
            self._last_warning, self._since_warning = now, 0
        return fallback, source, warning

    def _fallback(self, image_size, default):
        if self._good is not None:
            k, info_size = self._good
            intrinsics = scaled_intrinsics(k, info_size, image_size)
            if intrinsics_problem(intrinsics, image_size) is None:
                return intrinsics, "last_good"
        return tuple(default), "default"


def frame_id_problem(frame_id):
    """None when frame_id can be a tf2 parent frame, else why not (empty, leading '/', spaces)."""
    if not frame_id:
        return "empty frame_id"
    if frame_id.startswith("/"):
        return f"frame_id '{frame_id}' starts with '/' (tf2 frame ids have no leading slash)"
    if any(c.isspace() for c in frame_id):
        return f"frame_id '{frame_id}' contains white space"
    return None


class FrameIdCheck:
    """Remembers the bad frame_ids already reported: check() returns (ok, warning-or-None),
    with a warning once per bad frame_id (up to `max_reported` different ones, then one last
    warning that further ones go unreported, so a hostile stream cannot grow the set)."""

    def __init__(self, max_reported=64):
        self.max_reported = int(max_reported)
        self._reported = set()
        self._full = False

    def check(self, frame_id):
        problem = frame_id_problem(frame_id)
        if problem is None:
            return True, None
        if frame_id in self._reported or self._full:
            return False, None
        if len(self._reported) >= self.max_reported:
            self._full = True
            return False, (f"{problem}: /tf is not published for it; more than "
                           f"{self.max_reported} bad frame_ids seen, no further ones are reported")
        self._reported.add(frame_id)
        return False, f"{problem}: /tf is not published for images with this frame_id"
