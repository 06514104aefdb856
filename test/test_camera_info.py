"""camera_info checks (ros/camera_info.py): the absurd intrinsics of issue 16 are refused after
scaling, the fallback is the last good or the default intrinsics, warnings recur (throttled),
and bad frame_ids are reported once each."""
import math

import pytest

from faceverse_ros.ros.camera_info import FOCAL_MAX_RATIO, FOCAL_MIN_RATIO, FrameIdCheck, \
    IntrinsicsFilter, frame_id_problem, intrinsics_problem, scaled_intrinsics

W, H = 640, 480
DEFAULT = (640.0, 640.0, 319.5, 239.5)
GOOD = (500.0, 505.0, 320.0, 240.0)


def k_of(fx, fy, cx, cy):
    return [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]


def test_scaling_by_hand():
    # K for 1280x960 used on 640x480: everything halves
    assert scaled_intrinsics(k_of(1000, 1010, 640, 480), (1280, 960), (W, H)) == (500, 505, 320, 240)
    # no size in the info (0x0): used as is
    assert scaled_intrinsics(k_of(1000, 1010, 640, 480), (0, 0), (W, H)) == (1000, 1010, 640, 480)


@pytest.mark.parametrize("intrinsics, words", [
    ((1e30, 1e30, 320, 240), "outside"),        # z = 9.8e26 m on /tf before
    ((1e-30, 1e-30, 320, 240), "outside"),      # a negative or 2e82 m depth before
    ((500, 500, 1e12, 240), "cx=1e+12"),        # x = -9.8e8 m before
    ((500, 500, 320, -1e12), "cy=-1e+12"),
    ((0.0, 500, 320, 240), "not positive"),
    ((-500, -500, 320, 240), "not positive"),
    ((math.nan, 500, 320, 240), "non-finite fx=nan"),
    ((500, math.inf, 320, 240), "non-finite fy=inf"),
])
def test_absurd_intrinsics_are_refused_with_the_reason(intrinsics, words):
    problem = intrinsics_problem(intrinsics, (W, H))
    assert problem is not None and words in problem


def test_bounds_are_the_documented_ones():
    lo, hi = FOCAL_MIN_RATIO * W, FOCAL_MAX_RATIO * W        # 32 and 32000 px
    assert (lo, hi) == (32.0, 32000.0)
    assert intrinsics_problem((lo, hi, -W, 2 * H), (W, H)) is None   # edges included
    assert intrinsics_problem((lo * 0.99, 500, 320, 240), (W, H)) is not None
    assert intrinsics_problem((500, hi * 1.01, 320, 240), (W, H)) is not None
    assert intrinsics_problem((500, 500, -W - 1, 240), (W, H)) is not None
    assert intrinsics_problem((500, 500, 320, 2 * H + 1), (W, H)) is not None


def test_checked_after_scaling_not_before():
    f = IntrinsicsFilter()
    # a 6400x4800 sensor's K (fx = 64000 > 50 x 640) used on a 640x480 stream: fx = 6400, fine
    chosen, source, warning = f.choose(k_of(64000, 64000, 3200, 2400), (6400, 4800), (W, H),
                                       DEFAULT, now=0.0)
    assert source == "camera_info" and warning is None
    assert chosen == pytest.approx((6400, 6400, 320, 240))
    # plausible numbers that scaling makes absurd (info claims 1x1 pixels): refused
    chosen, source, warning = f.choose(k_of(500, 500, 0.5, 0.5), (1, 1), (W, H), DEFAULT, now=1.0)
    assert source == "last_good" and "outside" in warning


def test_overflow_in_scaling_does_not_latch():
    """Issue 16: K was checked before scaling; a scaling that overflowed stopped all output."""
    f = IntrinsicsFilter()
    chosen, source, warning = f.choose(k_of(1e308, 1e308, 1e308, 1e308), (1, 1), (W, H), DEFAULT,
                                       now=0.0)
    assert source == "default" and chosen == DEFAULT and "non-finite" in warning
    assert all(math.isfinite(v) for v in chosen)
    # the next good camera_info is used at once
    chosen, source, warning = f.choose(k_of(*GOOD), (W, H), (W, H), DEFAULT, now=0.1)
    assert (chosen, source, warning) == (GOOD, "camera_info", None)


def test_fallback_is_the_last_good_rescaled_to_the_image():
    f = IntrinsicsFilter()
    f.choose(k_of(*GOOD), (W, H), (W, H), DEFAULT, now=0.0)
    chosen, source, _ = f.choose(k_of(0, 0, 0, 0), (W, H), (W // 2, H // 2), DEFAULT, now=1.0)
    assert source == "last_good" and chosen == pytest.approx((250, 252.5, 160, 120))


def test_warning_each_time_throttled_with_a_count():
    f = IntrinsicsFilter(warn_every_s=5.0)
    bad = k_of(1e30, 1e30, 320, 240)
    warnings = [f.choose(bad, (W, H), (W, H), DEFAULT, now=t)[2] for t in (0.0, 1.0, 2.0, 5.5, 6.0)]
    assert warnings[0].startswith("camera_info rejected: fx=1e+30")
    assert warnings[1] is None and warnings[2] is None and warnings[4] is None
    assert warnings[3].startswith("camera_info rejected (3 rejections)")   # 1.0, 2.0 and 5.5
    assert f.rejected == 5
    # a good camera_info in between: the next rejection is said at once
    f.choose(k_of(*GOOD), (W, H), (W, H), DEFAULT, now=6.5)
    assert f.choose(bad, (W, H), (W, H), DEFAULT, now=7.0)[2].startswith("camera_info rejected:")
    # no camera_info at all is not a rejection
    assert IntrinsicsFilter().choose(None, (0, 0), (W, H), DEFAULT, now=0.0) == \
        (DEFAULT, "default", None)


@pytest.mark.parametrize("frame_id, ok", [
    ("camera_optical_frame", True), ("robot1/camera_optical", True),
    ("", False), ("/camera_optical_frame", False), ("camera optical", False),
])
def test_frame_id_rules(frame_id, ok):
    assert (frame_id_problem(frame_id) is None) == ok


def test_bad_frame_id_warned_once_each():
    check = FrameIdCheck(max_reported=2)
    assert check.check("camera") == (True, None)
    ok, warning = check.check("")
    assert not ok and "empty frame_id" in warning and "/tf is not published" in warning
    assert check.check("") == (False, None)
    ok, warning = check.check("/cam")
    assert not ok and "'/cam' starts with '/'" in warning
    ok, warning = check.check("/other")   # the third different one: the last word
    assert not ok and "no further ones are reported" in warning
    assert check.check("/yet_another") == (False, None)
