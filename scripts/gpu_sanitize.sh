#!/usr/bin/env bash
# Runs the CUDA tests under compute-sanitizer's memcheck, racecheck, initcheck
# and synccheck on a GPU machine, after scripts/gpu_tests.sh built build-gpu/.
# Fails on any report; each tool's log goes to $OUT/sanitize-<tool>.log.
#   NSA_SANITIZE_TOOLS="memcheck ..."  the tools to run (default: all four)
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$repo/build-gpu"
logs="${OUT:-$build}"
mkdir -p "$logs"
python="${PYTHON:-python3}"
status=0
# The scale tests (and the large step batches) are left out: under a sanitizer
# they take tens of minutes. So are the launch-counting tests: the profiler
# they use cannot attach while the sanitizer does.
# test_checked_mode.py reruns the checked-mode tests in a child process, which
# the sanitizer follows (--target-processes all).
tests=("$repo/tests/python/test_draft_extend_cuda.py" "$repo/tests/python/test_step_metadata_cuda.py"
       "$repo/tests/python/test_extend_metadata_cuda.py"
       "$repo/tests/python/test_checked_mode.py")
sanitize() {  # sanitize <tool>: the exit code of compute-sanitizer
  # The op library needs the preload in that machine's Python (docs/testing.md).
  LD_PRELOAD=/lib/x86_64-linux-gnu/libstdc++.so.6 NSA_METADATA_LIBRARY="$build/op/libnsa_metadata.so" \
    compute-sanitizer --tool "$1" --error-exitcode 97 --target-processes all \
    "$python" -m pytest "${tests[@]}" -q -p no:cacheprovider \
    -k "not scale and not one_launch and not (step_metadata and (20000 or 4096))" >"$logs/sanitize-$1.log" 2>&1
}
# The tools run side by side (each alone took 30-50 s on the H100).
jobs=()
for tool in ${NSA_SANITIZE_TOOLS:-memcheck racecheck initcheck synccheck}; do
  sanitize "$tool" &
  jobs+=("$!:$tool")
done
for job in "${jobs[@]}"; do
  wait "${job%%:*}"
  code=$?
  tool="${job#*:}"
  echo "$tool: exit $code; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$logs/sanitize-$tool.log" | tail -1); $(grep -E '[0-9]+ (passed|failed)' "$logs/sanitize-$tool.log" | tail -1)"
  [[ $code -eq 0 ]] || status=1
done
exit $status
