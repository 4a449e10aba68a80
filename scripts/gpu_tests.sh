#!/usr/bin/env bash
# Runs every test on a machine with a GPU, also one without network access:
# builds against that machine's own Python torch, with GoogleTest and Catch2
# unpacked from Debian packages copied into .debs/ (see docs/testing.md), then
# runs CTest and pytest side by side, one pytest process per test file: one
# after the other they took over 10 minutes, side by side 4-5 on a
# 16-core machine. The tests share the GPU; none of them times anything.
# Logs go to $OUT (or build-gpu/) as ctest.log and pytest.log (each pytest
# process's log in turn).
#   NSA_DEVICE_CTEST=<regex>   run only the CTest tests it matches
#   NSA_DEVICE_SKIP_PYTEST=1   stop after CTest
#   NSA_DEVICE_PYTEST="<args>" one pytest process with this selection instead
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$repo/build-gpu"
logs="${OUT:-$build}"
mkdir -p "$logs"
python="${PYTHON:-python3}"

debroot=/tmp/nsa-debroot
mkdir -p "$debroot"
for package in "$repo"/.debs/*.deb; do dpkg -x "$package" "$debroot"; done

"$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
torch_prefix="$("$python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNSA_METADATA_BUILD_TESTS=ON \
  -DNSA_METADATA_BUILD_BENCHMARKS=ON \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$debroot/usr" -DPython_EXECUTABLE="$(command -v "$python")" \
  "$@" 2>&1 | tee "$logs/configure.log" | grep -E "nsa_metadata|Error|error" || true
cmake --build "$build" --parallel 2>&1 | tee "$logs/build.log" | grep -E "error|FAILED" || true
[[ -f "$build/op/libnsa_metadata.so" ]] || { echo "build failed"; tail -50 "$logs/build.log"; exit 1; }

status=0
# The preload (see below) also serves the demos' Python step under CTest.
LD_PRELOAD=/lib/x86_64-linux-gnu/libstdc++.so.6 EXTRA_PREFIX_PATH="$debroot/usr" \
  ctest --test-dir "$build" --output-on-failure -R "${NSA_DEVICE_CTEST:-.}" >"$logs/ctest.log" 2>&1 &
ctest_job=$!
# An op library loaded into that machine's Python (torch 2.11, GCC 13.3)
# segfaults when it formats an integer unless the system libstdc++ is
# preloaded; plain C++ programs do not need it.
run_pytest() {  # run_pytest <log name> <pytest arguments...>
  LD_PRELOAD=/lib/x86_64-linux-gnu/libstdc++.so.6 NSA_METADATA_LIBRARY="$build/op/libnsa_metadata.so" \
    NSA_FUZZ_EXAMPLES="${NSA_FUZZ_EXAMPLES:-1000}" NSA_FUZZ_RANDOM="${NSA_FUZZ_RANDOM:-1}" \
    "$python" -m pytest "${@:2}" -q -rs -p no:cacheprovider --hypothesis-show-statistics \
    >"$pytest_logs/$1.log" 2>&1
}
pytest_logs="$build/pytest-logs"
rm -rf "$pytest_logs" && mkdir -p "$pytest_logs"
pytest_jobs=()
if [[ -z "${NSA_DEVICE_SKIP_PYTEST:-}" ]]; then
  if [[ -n "${NSA_DEVICE_PYTEST:-}" ]]; then
    # shellcheck disable=SC2086  # the selection is several arguments
    run_pytest selection $NSA_DEVICE_PYTEST &
    pytest_jobs+=("$!:selection")
  else
    for file in "$repo"/tests/python/test_*.py; do
      name="$(basename "$file" .py)"
      run_pytest "$name" "$file" &
      pytest_jobs+=("$!:$name")
    done
  fi
fi
wait "$ctest_job" || status=1
echo "ctest: $(grep -E "tests passed|tests failed" "$logs/ctest.log" | tail -1)"
: >"$logs/pytest.log"
for job in "${pytest_jobs[@]}"; do
  wait "${job%%:*}" || status=1
  log="$pytest_logs/${job#*:}.log"
  echo "pytest ${job#*:}: $(grep -E "[0-9]+ (passed|failed)|error" "$log" | tail -1)"
  { echo "===== ${job#*:}"; cat "$log"; } >>"$logs/pytest.log"
done
exit $status
