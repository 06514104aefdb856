"""Camera frames from another process reach the node (issue 16): with the shipped Fast DDS
profile, at least 95% of 640x480 and 1280x720 rgb8 frames published at 30 Hz by a reliable and
by a best-effort publisher in a separate process are received by the node (its own image
subscription, landmark-only). Runs bench/bench_delivery.py: the publisher and the node each in
a process of their own; about 50 s.

A loaded CI machine can starve the node's executor for a moment (a frame replaced in the
keep-last-1 queue before it is taken), so a size/publisher pair below 95% gets one more run of
60 frames; without the profile the same pairs deliver 0-3% (best effort) and 40-60% (reliable,
1280x720), so a second chance cannot hide a transport that fails.
"""
import json
import os
import subprocess
import sys

from conftest import ROOT

SIZES = ("640x480", "1280x720")
KINDS = ("reliable", "best_effort")
FRAMES = 60


def run_bench(tmp_path, sizes, kinds, name):
    out = tmp_path / f"{name}.json"
    cmd = [sys.executable, str(ROOT / "bench" / "bench_delivery.py"), "--receiver", "node",
           "--sizes", ",".join(sizes), "--encodings", "rgb8", "--publishers", ",".join(kinds),
           "--profiles", "shipped", "--runs", "1", "--frames", str(FRAMES), "--json", str(out)]
    env = {k: v for k, v in os.environ.items()
           if k not in ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE",
                        "FACEVERSE_DDS_PROFILE")}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stderr


def test_shipped_profile_delivers_large_frames_between_processes(tmp_path):
    rows, log = run_bench(tmp_path, SIZES, KINDS, "first")
    assert sorted((r["size"], r["publisher"]) for r in rows) == sorted(
        (s, k) for s in SIZES for k in KINDS)
    for r in rows:
        assert r["published"] == FRAMES, r
        assert r["latency_p50_ms"] < 1000.0, r      # stamps are the publisher's, one clock
    for r in [r for r in rows if r["delivery"] < 0.95]:
        again, log2 = run_bench(tmp_path, [r["size"]], [r["publisher"]], f"again_{r['size']}")
        assert again[0]["delivery"] >= 0.95, (
            f"{r['size']} {r['publisher']}: {r['received']} then {again[0]['received']} of "
            f"{FRAMES} received\n{log[-1500:]}\n{log2[-1500:]}")
