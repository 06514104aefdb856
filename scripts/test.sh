#!/usr/bin/env bash
# Runs the test suite inside the project's environment (made by scripts/setup.sh).
# Extra arguments go to pytest, e.g. ./scripts/test.sh -k tf -x
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/env.sh
if [ ! -x "$FACEVERSE_VENV/bin/python" ]; then
  echo "[test] error: no environment at $FACEVERSE_VENV; run ./scripts/setup.sh first" >&2
  exit 1
fi
exec "$FACEVERSE_VENV/bin/python" -m pytest "$@"  # pytest.ini: testpaths = test
