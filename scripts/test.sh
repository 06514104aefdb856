#!/usr/bin/env bash
# Runs the test suite inside the project's environment (made by scripts/setup.sh).
# Extra arguments go to pytest, e.g. ./scripts/test.sh -k tf -x
#   ./scripts/test.sh            everything (what CI runs)
#   ./scripts/test.sh --fast     the fast tier, -m "not slow": the unit tests of every layer,
#                                no processes, ROS peers, whole videos or builds (about
#                                1.5 minutes on a 2-core machine); run it while you work,
#                                and everything before you push
# Markers (pytest.ini, given by module in test/conftest.py): slow, ros, shell, e.g.
#   ./scripts/test.sh -m "ros and not slow"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/env.sh
if [ ! -x "$FACEVERSE_VENV/bin/python" ]; then
  echo "[test] error: no environment at $FACEVERSE_VENV; run ./scripts/setup.sh first" >&2
  exit 1
fi
args=()
for arg in "$@"; do
  if [ "$arg" = "--fast" ]; then args+=(-m "not slow"); else args+=("$arg"); fi
done
exec "$FACEVERSE_VENV/bin/python" -m pytest ${args[@]+"${args[@]}"}  # pytest.ini: testpaths = test
