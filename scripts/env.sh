# Source this file (or let scripts/*.sh do it) to use the project's environment:
# the virtual environment .venv, which is itself a ROS 2 prefix.
# DDS discovery stays on loopback: our test and development machines must never
# multicast on the network. (A robot keeps the ROS defaults; this file is for
# this repository's tests, benchmarks and scripts.)
FACEVERSE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FACEVERSE_VENV="${FACEVERSE_VENV:-$FACEVERSE_ROOT/.venv}"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_LOCALHOST_ONLY=1
export AMENT_PREFIX_PATH="$FACEVERSE_VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$FACEVERSE_VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export PATH="$FACEVERSE_VENV/bin:$PATH"
export FACEVERSE_ROOT FACEVERSE_VENV
