#!/usr/bin/env bash
# On a GPU machine, after .ci/device_tests.sh built build-gpu/ with
# -DNSA_METADATA_BUILD_BENCHMARKS=ON: the kernel's resource usage and load/store
# widths from its machine code, then the benchmark, whose tables go to
# $OUT/benchmarks.md and are printed last.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$repo/build-gpu"
logs="${OUT:-$build}"
library="$build/op/libnsa_metadata.so"
cuobjdump --dump-resource-usage "$library" >"$logs/resource-usage.txt" 2>&1 || true
cuobjdump --dump-sass "$library" >"$logs/sass.txt" 2>&1 || true
echo "== machine code of the kernels: memory instructions by kind =="
grep -oE "\b(LDG|STG|LDS|STS|LDL|STL|LD|ST)(\.[A-Z0-9_]+)*\b" "$logs/sass.txt" | sort | uniq -c | sort -rn | head -20
grep -E "Function|REG|STACK|SHARED|LOCAL" "$logs/resource-usage.txt" | head -12
LD_PRELOAD=/lib/x86_64-linux-gnu/libstdc++.so.6 PYTHONUNBUFFERED=1 \
  python3 "$repo/benchmarks/bench_draft_extend.py" --build "$build" --markdown "$logs/benchmarks.md"
