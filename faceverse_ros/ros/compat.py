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
