"""rclpy differences between ROS 2 distributions (Humble, Jazzy, Kilted), in one place.

Every rclpy name the package uses exists in Humble's rclpy, or is used through a function
here that falls back when it is missing (test/test_humble_api.py checks the list).
"""


def add_parameter_callbacks(node, check, apply):
    """`check(params) -> SetParametersResult` before parameters change; `apply(params)` after.

    Jazzy and later: rclpy's post-set callback runs `apply` once the values are stored.
    Humble has no post-set callback: `apply` runs inside the on-set callback, after `check`
    accepted the whole batch (check refuses everything rclpy itself would refuse: read-only,
    type, range), so it only sees values that are then stored.
    """
    if hasattr(node, "add_post_set_parameters_callback"):
        node.add_on_set_parameters_callback(check)
        node.add_post_set_parameters_callback(apply)
        return "post_set"

    def check_then_apply(params):
        result = check(params)
        if result.successful:
            apply(params)
        return result

    node.add_on_set_parameters_callback(check_then_apply)
    return "on_set"


_LOCALHOST_ONLY_DISTROS = ("foxy", "galactic", "humble")


def localhost_variables(environ=None):
    """The environment that keeps DDS discovery on this machine, set before rclpy starts.

    Iron and newer read ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and warn that
    ROS_LOCALHOST_ONLY is deprecated whenever it is set, so only the older distributions get
    ROS_LOCALHOST_ONLY=1. Without ROS_DISTRO (the PyPI environment) rclpy tells: Iron's
    rclpy is also the first with ReliabilityPolicy.BEST_AVAILABLE.
    """
    import os

    environ = os.environ if environ is None else environ
    distro = environ.get("ROS_DISTRO", "").strip().lower()
    if distro:
        old = distro in _LOCALHOST_ONLY_DISTROS
    else:
        from rclpy.qos import ReliabilityPolicy

        old = not hasattr(ReliabilityPolicy, "BEST_AVAILABLE")
    return {"ROS_LOCALHOST_ONLY": "1"} if old else {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
