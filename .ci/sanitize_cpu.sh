#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer: builds the library (CPU and
# Meta kernels), the C++ tests and the CPU emulation of the CUDA kernels
# instrumented into build-asan/, then runs the GoogleTest tests, the CPU
# Python tests and the emulated kernels' tests against them. Any report fails the
# run (halt_on_error, no recovery from UB).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
export PATH="$venv/bin:$PATH"
build="$repo/build-asan"
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNSA_METADATA_CUDA=OFF \
  -DNSA_METADATA_BUILD_TESTS=ON -DPython_EXECUTABLE="$venv/bin/python" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$build" --parallel

# Leaks are not checked: CPython and libtorch keep allocations until exit by
# design. Everything else halts the process with a report.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
echo "== sanitized C++ tests =="
"$build/tests/cpp/test_nsa_metadata_api" --gtest_brief=1
"$build/tests/emulation/test_cuda_emulation" --gtest_brief=1
echo "== sanitized Python CPU tests =="
# The interpreter is not instrumented, so the runtimes are preloaded.
LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)" \
NSA_METADATA_LIBRARY="$build/op/libnsa_metadata.so" \
  python -m pytest "$repo/tests/python/test_draft_extend_values.py" \
  "$repo/tests/python/test_draft_extend_errors.py" \
  "$repo/tests/python/test_draft_extend_fuzz.py" \
  "$repo/tests/python/test_draft_extend_concurrency.py" \
  "$repo/tests/python/test_step_metadata_values.py" \
  "$repo/tests/python/test_step_metadata_errors.py" \
  "$repo/tests/python/test_step_metadata_fuzz.py" \
  "$repo/tests/python/test_extend_metadata.py" \
  "$repo/tests/python/test_extend_metadata_fuzz.py" -q -k "not cuda" -p no:cacheprovider
echo "== sanitized emulation of the CUDA kernels (tests/emulation) =="
# The engine's CUDA kernels run on the CPU, instrumented: a read or write of
# theirs outside a buffer is a report, with its line in the device code.
LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)" \
NSA_METADATA_LIBRARY="$build/op/libnsa_metadata.so" \
NSA_METADATA_EMULATION_LIBRARY="$build/tests/emulation/libnsa_metadata_emulation.so" \
  python -m pytest "$repo/tests/python/test_emulated_kernels.py" -q -p no:cacheprovider
