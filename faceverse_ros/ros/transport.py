"""How camera frames reach the node: the Fast DDS profile and the image subscription's QoS.

The Fast DDS profile (config/fastdds_large_frames.xml). Fast DDS's default shared-memory
segment (512 KiB per participant) is smaller than one 640x480 rgb8 frame; between two
processes on one host nearly every large frame was lost (README, "Camera frames between
processes"). The shipped profile gives shared memory a 32 MiB segment. Fast DDS reads it from
an environment variable when a process starts its first ROS context:

- FASTDDS_DEFAULT_PROFILES_FILE: Fast DDS 3 (Kilted and newer; our PyPI wheels: 3.2);
- FASTRTPS_DEFAULT_PROFILES_FILE: Fast DDS 2 (Humble, Jazzy). rmw_fastrtps 9 still reads this
  one too, with a deprecation warning, so only the one this install reads is set.

`apply_profile()` sets it for `faceverse-ros node` and `ros2 run faceverse_ros faceverse_node`
before rclpy starts; `launch_actions()` does the same for every node of the launch file
(the camera driver included: the segment belongs to the sending process). It changes nothing
when the user already set either variable (their profile wins), when RMW_IMPLEMENTATION is not
Fast DDS, or when FACEVERSE_DDS_PROFILE=off. FACEVERSE_DDS_PROFILE=<file> uses another profile.
With the shipped file it also sets RMW_FASTRTPS_USE_QOS_FROM_XML=1 (unless already set), so
that rmw_fastrtps takes the memory policies from the file: readers free each frame's buffer once
it is taken instead of keeping buffers at the largest frame seen (see the file's comment); the
ROS QoS of every publisher and subscription still comes from the code.

The image subscription's reliability (parameter input.reliability): `reliable`,
`best_effort`, or `auto` (default): match the publishers, as rclpy's BEST_AVAILABLE policy does
where the distribution has it (Iron and newer): reliable when every publisher is reliable,
else best effort (and best effort while there is no publisher yet). Humble has no
BEST_AVAILABLE; there the same rule is applied to get_publishers_info_by_topic. Either way
the choice is made when the subscription is created, so `ImageSubscription` checks the
publishers every few seconds and re-creates the subscription when they changed kind (a
reliable driver that started after the node, a best-effort one that replaced it).

Frames lost on the way (FrameLossMonitor). A camera driver started on its own, with Fast
DDS's defaults, sends each frame through its own 512 KiB shared-memory segment; a best-effort
frame larger than that mostly never arrives. The segment is the sender's, so the receiving
side cannot enlarge it, and a reader without shared memory only moves the frames to UDP,
which loses large best-effort frames as well. So the node watches for it: DDS reports the
frames a best-effort reader never got (the message_lost event), and most drivers send one
camera_info per frame. When 5 % or more
of the frames of the last 5 s were lost, the node says so once, with the fix for this
installation (which variable the driver's process needs, and the file).
"""
import collections
import importlib
import os
import sys
import threading
from pathlib import Path

PROFILE_FILE_NAME = "fastdds_large_frames.xml"
SWITCH_VAR = "FACEVERSE_DDS_PROFILE"
FASTDDS_VAR = "FASTDDS_DEFAULT_PROFILES_FILE"
FASTRTPS_VAR = "FASTRTPS_DEFAULT_PROFILES_FILE"
QOS_FROM_XML_VAR = "RMW_FASTRTPS_USE_QOS_FROM_XML"
OFF_VALUES = ("off", "none", "0", "false", "no")
_FAST_DDS_2_DISTROS = ("foxy", "galactic", "humble", "iron", "jazzy")

RELIABILITY_CHOICES = ("auto", "reliable", "best_effort")
RECHECK_PERIOD_S = 2.0


# -- the Fast DDS profile ---------------------------------------------------------------------
def shipped_profile(environ=None):
    """Path of config/fastdds_large_frames.xml (source tree or installed share/), or None."""
    environ = os.environ if environ is None else environ
    candidates = [Path(__file__).resolve().parents[2] / "config" / PROFILE_FILE_NAME]
    for prefix in filter(None, environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        candidates.append(Path(prefix) / "share" / "faceverse_ros" / "config" / PROFILE_FILE_NAME)
    for path in candidates:
        if path.is_file():
            return path
    return None


def profile_variables(environ=None):
    """The variable(s) this install's Fast DDS reads its profile file from."""
    environ = os.environ if environ is None else environ
    distro = environ.get("ROS_DISTRO", "").strip().lower()
    if distro:
        return (FASTRTPS_VAR,) if distro in _FAST_DDS_2_DISTROS else (FASTDDS_VAR,)
    # no ROS_DISTRO (our PyPI environment): the library's name tells the major version
    prefixes = environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) + [sys.prefix]
    for prefix in filter(None, prefixes):
        lib = Path(prefix) / "lib"
        if any(lib.glob("libfastdds.so*")):
            return (FASTDDS_VAR,)
        if any(lib.glob("libfastrtps.so*")):
            return (FASTRTPS_VAR,)
    return (FASTDDS_VAR, FASTRTPS_VAR)


def _is_shipped(path, environ):
    shipped = shipped_profile(environ)
    try:
        return shipped is not None and Path(path).resolve() == shipped.resolve()
    except OSError:
        return False


class ProfileError(ValueError):
    """FACEVERSE_DDS_PROFILE names a file that does not exist."""


def profile_plan(environ=None):
    """(variables to set, one-line description) for this environment; sets nothing."""
    environ = os.environ if environ is None else environ
    rmw = environ.get("RMW_IMPLEMENTATION", "")
    if rmw and not rmw.startswith("rmw_fastrtps"):
        return {}, f"DDS profile: not used with RMW_IMPLEMENTATION={rmw}"
    read = profile_variables(environ)
    if FASTDDS_VAR in read:   # Fast DDS 3 still reads the old name (with a deprecation warning)
        read = (FASTDDS_VAR, FASTRTPS_VAR)
    for var in read:
        if environ.get(var):
            whose = "the shipped one" if _is_shipped(environ[var], environ) else "yours"
            return {}, f"DDS profile: {whose} ({var}={environ[var]})"
    for var in (FASTDDS_VAR, FASTRTPS_VAR):
        if environ.get(var):  # the name the other Fast DDS major version reads: pass it on
            return {read[0]: environ[var]}, (
                f"DDS profile: yours ({environ[var]}); {var} is not read by this Fast DDS, so it "
                f"is set as {read[0]} for this process")
    switch = environ.get(SWITCH_VAR, "").strip()
    if switch.lower() in OFF_VALUES:
        return {}, f"DDS profile: off ({SWITCH_VAR}={switch}); Fast DDS defaults"
    if switch:
        path = Path(switch).expanduser()
        if not path.is_file():
            raise ProfileError(f"{SWITCH_VAR}={switch}: no such file (a Fast DDS XML profile, "
                               f"or 'off')")
    else:
        path = shipped_profile(environ)
        if path is None:
            return {}, f"DDS profile: {PROFILE_FILE_NAME} not found; Fast DDS defaults"
    path = str(path.resolve())
    variables = {var: path for var in profile_variables(environ)}
    if not switch and QOS_FROM_XML_VAR not in environ:  # the shipped file's memory policies
        variables[QOS_FROM_XML_VAR] = "1"
    return variables, f"DDS profile for this process: {path} ({', '.join(variables)})"


def apply_profile(environ=None):
    """Set the profile variable(s) in `environ` (default os.environ) before rclpy starts.

    Returns the one-line description of what is used. Raises ProfileError for a
    FACEVERSE_DDS_PROFILE that names no file.
    """
    environ = os.environ if environ is None else environ
    variables, line = profile_plan(environ)
    environ.update(variables)
    return line


def launch_actions():
    """SetEnvironmentVariable actions for a launch description (the same rule as apply_profile)."""
    from launch.actions import SetEnvironmentVariable

    variables, _ = profile_plan()
    return [SetEnvironmentVariable(name, value) for name, value in variables.items()]


# -- the image subscription's reliability -----------------------------------------------------
def best_available_policy():
    """rclpy's ReliabilityPolicy.BEST_AVAILABLE, or None where the distribution lacks it
    (Humble)."""
    from rclpy.qos import ReliabilityPolicy

    return getattr(ReliabilityPolicy, "BEST_AVAILABLE", None)


def reliability_for_publishers(policies):
    """'reliable' when every publisher is reliable, 'best_effort' when one is not, None for none.

    policies: the publishers' ReliabilityPolicy values (or their names).
    """
    names = [getattr(p, "name", str(p)).lower() for p in policies]
    if not names:
        return None
    return "reliable" if all(n == "reliable" for n in names) else "best_effort"


def image_qos(reliability):
    """Keep-last-1 volatile QoS with `reliability`: 'reliable', 'best_effort' or a policy value."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    if isinstance(reliability, str):
        reliability = {"reliable": ReliabilityPolicy.RELIABLE,
                       "best_effort": ReliabilityPolicy.BEST_EFFORT}[reliability]
    return QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=reliability,
                      durability=DurabilityPolicy.VOLATILE)


class ImageSubscription:
    """The node's image subscription with the reliability of the input.reliability parameter.

    setting 'reliable' / 'best_effort': that policy, fixed. 'auto': best effort while no
    publisher is known (it matches either kind; BEST_AVAILABLE would pick reliable and refuse
    a best-effort driver that starts later), else BEST_AVAILABLE (on Humble: the policy
    reliability_for_publishers gives); then every RECHECK_PERIOD_S the publishers are
    compared with the policy in use and the subscription is re-created when they differ.
    `reliability` is the policy in use ('reliable' / 'best_effort').
    """

    def __init__(self, node, msg_type, topic, callback, setting="auto", log=None,
                 recheck_period_s=RECHECK_PERIOD_S, raw=False, on_lost=None):
        if setting not in RELIABILITY_CHOICES:
            raise ValueError(f"image reliability must be one of {', '.join(RELIABILITY_CHOICES)}, "
                             f"got {setting!r}")
        self._node, self._type, self._callback = node, msg_type, callback
        self._raw = raw   # the callback takes the message's CDR bytes (ros/cdr.py RawImage)
        self._on_lost = on_lost   # called with the number of messages DDS reports lost
        self._topic = node.resolve_topic_name(topic)
        self._log = log or node.get_logger().info
        self.setting = setting
        self.subscription = None
        self.reliability = None
        self.recreated = 0
        self._timer = None
        if setting == "auto":
            best, wanted = best_available_policy(), self._wanted()
            if wanted is None:      # no publisher yet: best effort matches either kind
                self._create("best_effort")
            elif best is not None:  # rmw resolves BEST_AVAILABLE from the publishers it knows
                self._create(best)
                self.reliability = self._resolved() or wanted
            else:                   # Humble: the same rule, applied here
                self._create(wanted)
            self._timer = node.create_timer(recheck_period_s, self.check)
        else:
            self._create(setting)

    @property
    def topic(self):
        return self._topic

    def _create(self, reliability):
        events = _lost_events(self._on_lost)
        raw = {"raw": True} if self._raw else {}
        try:
            self.subscription = self._node.create_subscription(
                self._type, self._topic, self._callback, image_qos(reliability),
                **({"event_callbacks": events} if events is not None else {}), **raw)
        except Exception as exc:  # noqa: BLE001 - an RMW without the message_lost event
            if events is None or "Unsupported" not in type(exc).__name__:
                raise
            self.subscription = self._node.create_subscription(
                self._type, self._topic, self._callback, image_qos(reliability), **raw)
        if isinstance(reliability, str):
            self.reliability = reliability

    def _publisher_policies(self):
        return [info.qos_profile.reliability
                for info in self._node.get_publishers_info_by_topic(self._topic)]

    def _wanted(self):
        return reliability_for_publishers(self._publisher_policies())

    def _resolved(self):
        """The policy rmw chose for our subscription (read back from the graph), or None."""
        me = (self._node.get_name(), self._node.get_namespace())
        for info in self._node.get_subscriptions_info_by_topic(self._topic):
            if (info.node_name, info.node_namespace) == me:
                return reliability_for_publishers([info.qos_profile.reliability])
        return None

    def check(self):
        """Re-create the subscription when the publishers now want the other reliability."""
        wanted = self._wanted()
        if wanted is None or wanted == self.reliability:
            return False
        old = self.reliability
        self._node.destroy_subscription(self.subscription)
        self._create(wanted)
        self.recreated += 1
        kinds = "all reliable" if wanted == "reliable" else "not all reliable"
        self._log(f"image publishers on {self._topic} are {kinds}: subscription changed from "
                  f"{old} to {wanted}")
        return True

    def destroy(self):
        if self._timer is not None:
            self._node.destroy_timer(self._timer)
            self._timer = None
        if self.subscription is not None:
            self._node.destroy_subscription(self.subscription)
            self.subscription = None


# -- frames lost between the camera driver and the node ---------------------------------------
LOSS_WINDOW_S = 5.0
LOSS_FRACTION = 0.05
SHM_SEGMENT_KIB = 512   # Fast DDS's default shared-memory segment per participant


def _lost_events(on_lost):
    """SubscriptionEventCallbacks with a message_lost callback (rclpy.event_handler; Humble:
    rclpy.qos_event), or None without a callback."""
    if on_lost is None:
        return None
    for name in ("rclpy.event_handler", "rclpy.qos_event"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        return module.SubscriptionEventCallbacks(
            message_lost=lambda info: on_lost(int(info.total_count_change)))
    return None


def driver_fix(environ=None):
    """What a camera driver's process needs so that its large best-effort frames arrive:
    one sentence for this installation (the variable this Fast DDS reads, the file)."""
    environ = os.environ if environ is None else environ
    rmw = environ.get("RMW_IMPLEMENTATION", "")
    other = "make the driver publish reliable, or send image/compressed (input.compressed)"
    if rmw and not rmw.startswith("rmw_fastrtps"):
        return f"Fix: {other}."
    profile = shipped_profile(environ)
    where = str(profile) if profile is not None else \
        "<faceverse_ros share>/config/" + PROFILE_FILE_NAME
    var = profile_variables(environ)[0]
    return (f"The driver's own Fast DDS sends each frame through its default {SHM_SEGMENT_KIB} KiB "
            f"shared-memory segment, too small for these frames, and a best-effort frame that "
            f"does not fit is lost. Fix: start the camera driver's process with {var}={where} "
            f"and {QOS_FROM_XML_VAR}=1 in its environment (this Fast DDS reads {var}), or start it "
            f"from faceverse.launch.py, or {other}.")


class FrameLossMonitor:
    """Frames that did not arrive, over the last `window_s` seconds, said once (see the module
    doc). Feed it `add("received")` per image, `add("lost", n)` from the message_lost event
    and `add("camera_info")` per camera_info; `check(now, publishers)` returns the warning the
    first time at least `fraction` of the frames were lost, else None. Thread-safe."""

    def __init__(self, topic, window_s=LOSS_WINDOW_S, fraction=LOSS_FRACTION, fix=None,
                 clock=None):
        import time

        self.topic, self.window_s, self.fraction = topic, float(window_s), float(fraction)
        self.fix = fix if fix is not None else driver_fix()
        self._clock = clock or time.monotonic
        self._events = collections.deque()   # (time, kind, count)
        self._lock = threading.Lock()
        self.said = None

    def add(self, kind, count=1):
        with self._lock:
            self._events.append((self._clock(), kind, int(count)))

    def counts(self, now=None):
        """{'received', 'lost', 'camera_info'} over the window ending at `now`."""
        now = self._clock() if now is None else now
        with self._lock:
            while self._events and self._events[0][0] < now - self.window_s:
                self._events.popleft()
            out = {"received": 0, "lost": 0, "camera_info": 0}
            for _, kind, count in self._events:
                out[kind] += count
        return out

    def check(self, now=None, publishers=1):
        if self.said is not None:
            return None
        c = self.counts(now)
        received, lost = c["received"], c["lost"]
        if c["camera_info"] and publishers:   # one camera_info per frame sent
            # an RMW that reports no lost messages: the frames the camera_info says were sent
            # (the node's keep-last-1 queue may drop a few itself: only a large gap counts)
            if c["camera_info"] >= 10 and received < 0.5 * c["camera_info"]:
                lost = max(lost, c["camera_info"] - received)
        sent = received + lost
        if lost < 3 or lost < self.fraction * sent:
            return None
        self.said = (f"image frames are being lost before they reach the node: {lost} of "
                     f"{sent} on {self.topic} in the last {self.window_s:g} s. {self.fix}")
        return self.said
