#!/usr/bin/env bash
# Memory-safety check of Sim3DR: build the extension with AddressSanitizer in
# a temporary copy of the package and run test/test_sim3dr.py against it.
#
#   scripts/asan_sim3dr.sh            # ASan (default)
#   scripts/asan_sim3dr.sh valgrind   # valgrind memcheck on a plain -O1 -g build
#
# Uses the project's .venv Python unless PYTHON is set.  The source tree and
# its in-place build are not touched.  Exit status: that of pytest.  ASan
# aborts the run on the first invalid access and prints its report (pytest
# runs with --capture=sys so that the report reaches the terminal);
# under valgrind any invalid access, or any error through Sim3DR, fails it.
set -euo pipefail

mode="${1:-asan}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
work="$(mktemp -d "${TMPDIR:-/tmp}/sim3dr_${mode}.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# A private copy: the tests import faceverse_ros from their own tree, so the
# sanitised module must live there (never next to the normal build).
mkdir -p "$work/faceverse_ros/views" "$work/test" "$work/Sim3DR"
cp "$root/setup.py" "$work/"
cp "$root"/Sim3DR/rasterize.h "$root"/Sim3DR/rasterize.cpp "$root"/Sim3DR/_sim3dr.pyx "$work/Sim3DR/"
cp "$root"/faceverse_ros/__init__.py "$work/faceverse_ros/"
cp "$root"/faceverse_ros/views/__init__.py "$root"/faceverse_ros/views/render.py "$work/faceverse_ros/views/"
cp "$root"/test/test_sim3dr.py "$root"/test/sim3dr_reference.py "$work/test/"
# No conftest (the project's pulls in other stages' fixtures): PYTHONPATH puts
# the copy first, so `faceverse_ros` and its _sim3dr resolve to it.
export PYTHONPATH="$work"

cd "$work"
case "$mode" in
  asan)
    # setuptools compiles C++ with CXXFLAGS (CFLAGS is ignored for it).
    export CXXFLAGS="-fsanitize=address -fno-omit-frame-pointer -g -O1"
    export LDFLAGS="-fsanitize=address"
    "$python" setup.py -q build_ext --inplace --build-temp "$work/build" >"$work/build.log" 2>&1 \
      || { cat "$work/build.log"; exit 1; }
    symbols="$(nm -D "$work"/faceverse_ros/_sim3dr*.so)"
    if [[ "$symbols" != *__asan_report* ]]; then
      echo "the extension was built without AddressSanitizer instrumentation" >&2
      exit 1
    fi
    libasan="$(gcc -print-file-name=libasan.so)"
    echo "ASan build in $work; LD_PRELOAD=$libasan"
    # detect_leaks=0: CPython and NumPy keep memory until exit on purpose.
    export LD_PRELOAD="$libasan" ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
    # The tests skip when the module cannot be imported: make sure it can,
    # and that it is the sanitised copy.
    "$python" -c 'import faceverse_ros._sim3dr as m; print("module:", m.__file__); assert m.__file__.startswith("'"$work"'")'
    "$python" -m pytest -q -p no:cacheprovider --noconftest --capture=sys test/test_sim3dr.py
    ;;
  valgrind)
    export CXXFLAGS="-g -O1"
    "$python" setup.py -q build_ext --inplace --build-temp "$work/build" >"$work/build.log" 2>&1 \
      || { cat "$work/build.log"; exit 1; }
    echo "plain -O1 -g build in $work; running under valgrind memcheck (slow)"
    "$python" -c 'import faceverse_ros._sim3dr as m; print("module:", m.__file__); assert m.__file__.startswith("'"$work"'")'
    # PYTHONMALLOC=malloc lets memcheck see Python's allocations too;
    # --trace-children: this CPython re-executes itself at start-up.
    # CPython itself reports uninitialised-value noise under memcheck, so
    # the run fails on (a) any invalid read/write/free anywhere and (b) any
    # error whose stack passes through the Sim3DR extension.
    status=0
    PYTHONMALLOC=malloc valgrind --tool=memcheck --trace-children=yes \
      --leak-check=no --track-origins=no --num-callers=30 \
      --log-file="$work/memcheck.%p.log" \
      "$python" -m pytest -q -p no:cacheprovider --noconftest test/test_sim3dr.py || status=$?
    cat "$work"/memcheck.*.log > "$work/memcheck.log"
    invalid=$(grep -cE "Invalid (read|write|free)|Mismatched free|Source and destination overlap" "$work/memcheck.log" || true)
    ours=$(awk '/^==[0-9]+== [A-Z]/{block=""} {block=block"\n"$0} /_sim3dr[.]cpython|_sim3dr[.]cpp:|rasterize[.]cpp:|sim3dr::/{if(!seen[block]++)n++} END{print n+0}' "$work/memcheck.log")
    total=$(grep -cE "^==[0-9]+== [A-Z]" "$work/memcheck.log" || true)
    echo "memcheck: ${invalid} invalid accesses, ${ours} error reports through Sim3DR, ${total} reports in all (the rest is CPython start-up noise)"
    if [[ "$invalid" != 0 || "$ours" != 0 ]]; then
      grep -B2 -A30 -E "Invalid (read|write|free)|_sim3dr[.]cpython|_sim3dr[.]cpp:|rasterize[.]cpp:|sim3dr::" "$work/memcheck.log" | head -120
      status=1
    fi
    exit "$status"
    ;;
  *)
    echo "usage: $0 [asan|valgrind]" >&2
    exit 2
    ;;
esac
