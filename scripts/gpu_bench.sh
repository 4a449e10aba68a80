#!/usr/bin/env bash
# On a GPU machine, after scripts/gpu_tests.sh built build-gpu/ with
# -DNSA_METADATA_BUILD_BENCHMARKS=ON: the kernels' resource usage and load/store
# widths from their machine code, then the benchmarks, whose tables go to
# $OUT/benchmarks-<name>.md and are printed last (the step-metadata one also
# writes every figure to $OUT/benchmarks-step_metadata.json and its plot to
# $OUT/step_metadata_gpu_time.png; it times SGLang's kernels when
# benchmarks/peers/fetch_sglang.sh has put them in .peers/, and plots when
# matplotlib is importable).
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
# NSA_BENCHMARKS picks the benchmarks (default: all three).
for benchmark in ${NSA_BENCHMARKS:-draft_extend step_metadata extend_metadata}; do
  extra=()
  if [[ $benchmark == step_metadata ]]; then
    extra=(--json "$logs/benchmarks-$benchmark.json")
    python3 -c "import matplotlib" 2>/dev/null && extra+=(--plot "$logs/step_metadata_gpu_time.png")
  fi
  LD_PRELOAD=/lib/x86_64-linux-gnu/libstdc++.so.6 PYTHONUNBUFFERED=1 \
    python3 "$repo/benchmarks/bench_$benchmark.py" --build "$build" \
    --markdown "$logs/benchmarks-$benchmark.md" "${extra[@]}"
done
