"""Parameter values as users write them (ROS layer, no rclpy import).

Users type `--set smoother.box.beta=3`, `-p smoother.box.beta:=3`, `beta: 3` in YAML or a
launch dict: an integer where a double is declared. That is accepted (as 3.0). Anything
else that does not fit a parameter's declaration (a wrong type, a value out of its range,
an unknown choice) is refused with one line naming the parameter, what it accepts and the
value, at start (the node exits 1) and at run time (`ros2 param set` says why).
"""
import math


class ParameterValueError(ValueError):
    """One readable line: parameter, what it accepts, the value given."""


def _kind(spec):
    d = spec.default
    if isinstance(d, bool):
        return "bool"
    if isinstance(d, int):
        return "int"
    if isinstance(d, float):
        return "float"
    return "str"


def _number(x):
    return f"{x:g}" if isinstance(x, float) else str(x)


def accepts(spec):
    """What the parameter accepts, in words: 'one of: a, b', 'a number in 0..10', ..."""
    kind = _kind(spec)
    if spec.choices:
        return "one of: " + ", ".join(spec.choices)
    if kind == "bool":
        return "true or false"
    words = {"int": "an integer", "float": "a number", "str": "a string"}[kind]
    if spec.range is not None:
        lo, hi = spec.range
        words += f" in {_number(lo)}..{_number(hi)}"
    return words


def checked_value(spec, value):
    """`value` as the parameter stores it (an integer for a double becomes a float), or
    ParameterValueError."""
    kind = _kind(spec)
    given = value
    ok = {"bool": isinstance(value, bool),
          "int": isinstance(value, int) and not isinstance(value, bool),
          "float": isinstance(value, (int, float)) and not isinstance(value, bool),
          "str": isinstance(value, str)}[kind]
    if ok and kind == "float":
        value = float(value)
        ok = math.isfinite(value)
    if ok and spec.choices and value not in spec.choices:
        ok = False
    if ok and spec.range is not None and kind in ("int", "float"):
        lo, hi = spec.range
        ok = lo <= value <= hi
    if not ok:
        raise ParameterValueError(f"parameter {spec.name} must be {accepts(spec)}, got {given!r}")
    return value
