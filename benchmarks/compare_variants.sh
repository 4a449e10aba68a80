#!/usr/bin/env bash
# Builds the draft-extend kernel once per threads-per-block value given
# (default: 128 256), checks each build with the CUDA tests, and times each
# with `bench_draft_extend.py --kernel-only`. For a GPU machine with
# .ci/device_tests.sh's prerequisites (the torch of python3).
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
logs="${OUT:-$repo/build-variants}"
mkdir -p "$logs"
torch_prefix="$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
export LD_PRELOAD=/lib/x86_64-linux-gnu/libstdc++.so.6  # see docs/testing.md
for threads in ${@:-128 256}; do
  build="$repo/build-threads-$threads"
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DNSA_METADATA_BUILD_BENCHMARKS=ON -DCMAKE_PREFIX_PATH="$torch_prefix" \
    -DCMAKE_CUDA_FLAGS="-DNSA_METADATA_DRAFT_EXTEND_THREADS=$threads" >/dev/null 2>&1
  cmake --build "$build" --parallel >"$logs/build-$threads.log" 2>&1 || { echo "build $threads failed"; continue; }
  grep -E "Used [0-9]+ registers" "$logs/build-$threads.log" | sort | uniq -c | head -3
  NSA_METADATA_LIBRARY="$build/op/libnsa_metadata.so" python3 -m pytest -q -p no:cacheprovider \
    "$repo/tests/python/test_draft_extend_cuda.py" "$repo/tests/python/test_draft_extend_values.py" \
    -k "cuda" >"$logs/tests-$threads.log" 2>&1
  echo "threads $threads: tests exit $? ($(tail -1 "$logs/tests-$threads.log"))"
  python3 "$repo/benchmarks/bench_draft_extend.py" --build "$build" --kernel-only \
    >"$logs/kernel-$threads.md" 2>&1
  cat "$logs/kernel-$threads.md"
done
