#!/usr/bin/env bash
# One command that sets up everything on a fresh Debian 12 / CPython 3.11 machine:
#   1. a virtual environment .venv with the pinned ROS 2 PyPI wheels of one distribution
#      (Jazzy by default, or Kilted), torch 2.13.0 (CPU), mediapipe 0.10.21, OpenCV,
#      ONNX Runtime, Cython, pytest, flake8;
#   2. the two fixes the ROS wheels need before colcon can build messages;
#   3. a stand-in tf2_msgs package when the real one is missing (not on PyPI);
#   4. colcon build of this package INTO .venv (messages, Python sources, Sim3DR,
#      executables), so .venv is itself a ROS prefix;
#   5. Sim3DR built in place for the source tree, and the source tree put first
#      on the environment's sys.path (development mode);
#   6. dev/test extra: the real ROS 2 launch and CLI tools (`ros2 launch/topic/param/...`,
#      not on PyPI) from ../shared/ros2-python when that folder is there (our machines and
#      CI); without it everything else still sets up and the tests that need them skip.
# Idempotent: a second run skips what is already done and changes nothing.
#
# Usage: ./scripts/setup.sh [--distro jazzy|kilted] [--no-dev-tools]
#   --distro   the ROS 2 distribution of the wheels (also FACEVERSE_ROS_DISTRO=...); default
#              jazzy: the LTS release (supported to 2029, what robots run), and the
#              distribution of the ros2-python tools. An environment made for the other
#              distribution is rebuilt from scratch.
#   FACEVERSE_VENV=DIR  another environment folder (CI: Jazzy in .venv, Kilted in .venv-kilted).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DISTRO="${FACEVERSE_ROS_DISTRO:-jazzy}"
DEV_TOOLS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --distro) DISTRO="${2:?--distro needs jazzy or kilted}"; shift 2 ;;
    --distro=*) DISTRO="${1#--distro=}"; shift ;;
    --no-dev-tools) DEV_TOOLS=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "[setup] error: unknown argument '$1' (use --distro jazzy|kilted, --no-dev-tools)" >&2; exit 2 ;;
  esac
done
case "$DISTRO" in
  jazzy|kilted) ;;
  *) echo "[setup] error: unknown ROS 2 distribution '$DISTRO' (PyPI has wheels for: jazzy, kilted)" >&2; exit 2 ;;
esac
source scripts/env.sh
VENV="$FACEVERSE_VENV"
PY="$VENV/bin/python"
REQ="requirements-$DISTRO.txt"
CONSTRAINTS="constraints-$DISTRO.txt"
BUILD="$ROOT/build/$(basename "$VENV")"   # one build folder per environment
t0=$(date +%s)
say() { printf '[setup] %s\n' "$*"; }

# --- 0. system tools: a compiler, CMake, Python headers and venv ----------------
# the interpreter to make the environment with: never the environment's own (env.sh puts
# $VENV/bin first on PATH, and a rebuild for another distribution deletes it)
base_path="$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$VENV/bin" | paste -sd: -)"
BASE_PYTHON="${PYTHON:-$(PATH="$base_path" command -v python3.11 || PATH="$base_path" command -v python3)}"
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
  echo "[setup] error: CPython 3.11 is required (the ROS 2 $DISTRO wheels are cp311); found $("$BASE_PYTHON" --version 2>&1) at $BASE_PYTHON. Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
distro_file="$VENV/.faceverse_ros_distro"
if [ -x "$PY" ] && [ "$(cat "$distro_file" 2>/dev/null || echo kilted)" != "$DISTRO" ]; then
  say "$VENV holds ROS 2 $(cat "$distro_file" 2>/dev/null || echo kilted), not $DISTRO: making it again"
  rm -rf "$VENV" "$BUILD"
fi
if [ ! -x "$PY" ]; then
  say "creating virtual environment $VENV (ROS 2 $DISTRO)"
  "$BASE_PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.faceverse_requirements.sha256"
echo "$DISTRO" > "$distro_file"
want=$(cat requirements.txt "$REQ" "$CONSTRAINTS" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing pinned packages ($REQ + $CONSTRAINTS)"
  "$PY" -m pip install --quiet --disable-pip-version-check -r "$REQ" -c "$CONSTRAINTS" 2>&1 \
    | grep -v '^WARNING: Location' || true
  "$PY" -c 'import rclpy, torch, mediapipe, flake8' 2>/dev/null \
    || { echo "[setup] error: pip could not install $REQ (see above)" >&2; exit 1; }
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
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_\{0,1\}core/include#$np_inc#g" \
    -e "s#/opt/python/cp311-cp311/include/python3.11#$py_inc#g" \
    "${broken[@]}"
fi

colcon_build() {  # colcon_build <name> <package path>
  local log="$BUILD/colcon-$1.log"
  mkdir -p "$BUILD"
  if ! colcon --log-base "$BUILD/colcon-log" build \
      --paths "$2" --build-base "$BUILD/colcon" --install-base "$VENV" --merge-install \
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
  rm -rf "$BUILD/fallback_src" && mkdir -p "$BUILD/fallback_src"
  cp -r ros/tf2_msgs_fallback "$BUILD/fallback_src/tf2_msgs"
  rm -f "$BUILD/fallback_src/tf2_msgs/COLCON_IGNORE"
  colcon_build tf2_msgs "$BUILD/fallback_src/tf2_msgs"
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
"$PY" setup.py -q build_ext --inplace --build-temp "$BUILD/sim3dr" > "$BUILD/sim3dr-inplace.log" 2>&1 || {
  tail -n 30 "$BUILD/sim3dr-inplace.log" >&2; echo "[setup] error: Sim3DR build failed" >&2; exit 1; }
site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
pth="$site/faceverse_ros_dev.pth"
line="import sys; sys.path.insert(0, '$ROOT') if not __import__('os').environ.get('FACEVERSE_ROS_INSTALLED') else None"
if [ "$(cat "$pth" 2>/dev/null)" != "$line" ]; then
  say "putting the source tree first on sys.path ($pth)"
  echo "$line" > "$pth"
fi

# --- 6. dev/test extra: the ROS 2 launch and CLI tools ---------------------------
TOOLS="${FACEVERSE_ROS2_PYTHON:-$ROOT/../shared/ros2-python}"
if [ "$DEV_TOOLS" = 1 ] && [ -f "$TOOLS/install.sh" ]; then
  say "dev/test extra: ros2 launch and CLI tools from $TOOLS"
  bash "$TOOLS/install.sh" "$VENV" > "$BUILD/ros2-python.log" 2>&1 || {
    tail -n 30 "$BUILD/ros2-python.log" >&2; echo "[setup] error: $TOOLS/install.sh failed; full log: $BUILD/ros2-python.log" >&2; exit 1; }
elif [ "$DEV_TOOLS" = 1 ]; then
  say "no $TOOLS: skipping the ros2 launch/CLI tools (a dev/test extra; the tests that need them skip)"
fi

# --- check ----------------------------------------------------------------------
"$PY" -c 'from faceverse_ros.msg import FaceVerseParamsArray; import tf2_msgs.msg, rclpy, faceverse_ros._sim3dr' \
  || { echo "[setup] error: the environment does not import; see the logs under build/" >&2; exit 1; }
say "done (ROS 2 $DISTRO) in $(( $(date +%s) - t0 )) s. Use: ./scripts/test.sh (tests), .venv/bin/faceverse-ros --help"
