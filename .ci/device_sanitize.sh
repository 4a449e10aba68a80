#!/usr/bin/env bash
# Runs the CUDA tests under compute-sanitizer's memcheck, racecheck, initcheck
# and synccheck on a GPU machine, after .ci/device_tests.sh built build-gpu/.
# Fails on any report; each tool's log goes to $OUT/sanitize-<tool>.log.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$repo/build-gpu"
logs="${OUT:-$build}"
python="${PYTHON:-python3}"
status=0
for tool in memcheck racecheck initcheck synccheck; do
  # The op library needs the preload in that machine's Python (docs/testing.md).
  LD_PRELOAD=/lib/x86_64-linux-gnu/libstdc++.so.6 NSA_METADATA_LIBRARY="$build/op/libnsa_metadata.so" \
    compute-sanitizer --tool "$tool" --error-exitcode 97 --target-processes all \
    "$python" -m pytest "$repo/tests/python/test_draft_extend_cuda.py" -q -p no:cacheprovider \
    -k "not scale" >"$logs/sanitize-$tool.log" 2>&1
  code=$?
  echo "$tool: exit $code; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$logs/sanitize-$tool.log" | tail -1); $(grep -E '[0-9]+ (passed|failed)' "$logs/sanitize-$tool.log" | tail -1)"
  [[ $code -eq 0 ]] || status=1
done
exit $status
