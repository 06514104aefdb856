"""Parameter values as users write them: the rule (faceverse_ros/ros/param_check.py) against
hand-written expectations; the node and command-line paths are in test_params_users.py."""
import pytest

from faceverse_ros.ros.param_check import ParameterValueError, accepts, checked_value
from faceverse_ros.ros.params import BY_NAME


@pytest.mark.parametrize("name, given, stored", [
    ("smoother.box.beta", 3, 3.0),           # an integer for a double: accepted as a double
    ("smoother.box.beta", 0.25, 0.25),
    ("diagnostics.period_s", 2, 2.0),
    ("max_faces", 16, 16),
    ("landmark_only", True, True),
    ("smoother.kind", "original", "original"),
])
def test_accepted(name, given, stored):
    value = checked_value(BY_NAME[name], given)
    assert value == stored and type(value) is type(stored)


@pytest.mark.parametrize("name, given, words", [
    ("max_faces", 0, "parameter max_faces must be an integer in 1..16, got 0"),
    ("max_faces", 2.0, "parameter max_faces must be an integer in 1..16, got 2.0"),
    ("landmark_only", "yes", "parameter landmark_only must be true or false, got 'yes'"),
    ("landmark_only", 1, "parameter landmark_only must be true or false, got 1"),
    ("diagnostics.period_s", 0, "parameter diagnostics.period_s must be a number in 0.1..60, got 0"),
    ("smoother.box.beta", 3000, "parameter smoother.box.beta must be a number in 0..1000, got 3000"),
    ("smoother.box.beta", "fast", "must be a number in 0..1000, got 'fast'"),
    ("smoother.box.beta", float("nan"), "got nan"),
    ("smoother.box.beta", True, "got True"),
    ("smoother.kind", "bogus", "parameter smoother.kind must be one of: one_euro, original, none, got 'bogus'"),
])
def test_refused_in_one_line(name, given, words):
    with pytest.raises(ParameterValueError) as err:
        checked_value(BY_NAME[name], given)
    text = str(err.value)
    assert words in text and "\n" not in text, text


def test_accepts_words():
    assert accepts(BY_NAME["engine"]) == "one of: auto, torch, onnx"   # issue 14 added auto
    assert accepts(BY_NAME["threads"]) == "an integer in 0..256"
    assert accepts(BY_NAME["model_path"]) == "a string"
