"""How camera frames reach the node: the Fast DDS profile and the image subscription's QoS.

The Fast DDS profile (config/fastdds_large_frames.xml). Fast DDS's default shared-memory
segment (512 KiB per participant) is smaller than one 640x480 rgb8 frame; between two
processes on one host nearly every large frame was lost (doc/dds.md). The shipped profile
gives shared memory a 32 MiB segment. Fast DDS reads it from an environment variable when a
process starts its first ROS context:

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
"""
import os
import sys
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


class ProfileError(ValueError):
    """FACEVERSE_DDS_PROFILE names a file that does not exist."""


def profile_plan(environ=None):
    """(variables to set, one-line description) for this environment; sets nothing."""
    environ = os.environ if environ is None else environ
    rmw = environ.get("RMW_IMPLEMENTATION", "")
    if rmw and not rmw.startswith("rmw_fastrtps"):
        return {}, f"DDS profile: not used with RMW_IMPLEMENTATION={rmw}"
    for var in (FASTDDS_VAR, FASTRTPS_VAR):
        if environ.get(var):
            return {}, f"DDS profile: yours ({var}={environ[var]})"
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
    return variables, f"DDS profile: {path} ({', '.join(variables)})"


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
                 recheck_period_s=RECHECK_PERIOD_S):
        if setting not in RELIABILITY_CHOICES:
            raise ValueError(f"image reliability must be one of {', '.join(RELIABILITY_CHOICES)}, "
                             f"got {setting!r}")
        self._node, self._type, self._callback = node, msg_type, callback
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
        self.subscription = self._node.create_subscription(
            self._type, self._topic, self._callback, image_qos(reliability))
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
