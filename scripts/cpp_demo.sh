#!/usr/bin/env bash
# Installs the built library into build/install (as a user would install it),
# then builds cpp_demo/ as a separate CMake project against that *installed*
# package, and runs the C++ demo; with --test, runs its Catch2 tests too.
# Expects build/ (from scripts/build.sh) and build/demo/ (from python_demo/demo.py).
#   PYTHON   the interpreter whose torch the library was built against
#   CMAKE, CTEST  the CMake 3.26+ to use (default: the ones on PATH)
#   EXTRA_PREFIX_PATH  more CMake prefixes (Catch2 unpacked somewhere, say)
#   LDFLAGS  extra link flags for the demo (the tests pass -Wl,--as-needed to
#            prove the package needs none of its own)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${NSA_BUILD_DIR:-$repo/build}"
python="${PYTHON:-$repo/.venv/bin/python}"
models="$build/demo"
prefix="$build/install"
cmake="${CMAKE:-cmake}"
ctest="${CTEST:-ctest}"
demo_build="$build/cpp_demo"

"$cmake" --install "$build" --prefix "$prefix" >/dev/null
torch_prefix="$("$python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
"$cmake" -S "$repo/cpp_demo" -B "$demo_build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix;$torch_prefix;${EXTRA_PREFIX_PATH:-}" \
  -DCMAKE_EXE_LINKER_FLAGS="${LDFLAGS:-}" -DCPP_DEMO_MODELS="$models" >/dev/null
"$cmake" --build "$demo_build" --parallel
if [[ "${1:-}" == "--test" ]]; then
  # A consumer with another libtorch gets a clear error from the package.
  mismatch_log="$build/torch_version_mismatch.log"
  if "$cmake" -S "$repo/tests/cmake/torch_version_mismatch" -B "$build/torch_version_mismatch" \
       -DCMAKE_PREFIX_PATH="$prefix" >"$mismatch_log" 2>&1; then
    echo "find_package(nsa_metadata) accepted a mismatched libtorch"; exit 1
  fi
  # CMake wraps long messages: compare with the line breaks taken out.
  tr -s ' \n' ' ' <"$mismatch_log" |
    grep -q "nsa_metadata was built against libtorch .*, but this project found libtorch 1.0.0" || { echo "unclear error for a mismatched libtorch:"; cat "$mismatch_log"; exit 1; }
  echo "a mismatched libtorch is refused with a clear message"
  # A bare project (default C++ standard) given only the package's prefix:
  # the target brings C++20 and finds the libtorch it was built against.
  bare="$build/bare_downstream"
  env -u CMAKE_PREFIX_PATH "$cmake" -S "$repo/tests/cmake/bare_downstream" -B "$bare" -G Ninja \
    -DCMAKE_PREFIX_PATH="$prefix" >"$bare.log" 2>&1 || { cat "$bare.log"; exit 1; }
  "$cmake" --build "$bare" >>"$bare.log" 2>&1 || { cat "$bare.log"; exit 1; }
  "$bare/bare_downstream"
  # The TorchScript-only app calls no function of the library; it must still
  # record it as needed (even under --as-needed), or the ops its model calls
  # would not be registered.
  readelf -d "$demo_build/run_torchscript_model" | grep -q 'NEEDED.*libnsa_metadata' ||
    { echo "libnsa_metadata.so is not a NEEDED entry of run_torchscript_model"; exit 1; }
  "$ctest" --test-dir "$demo_build" --output-on-failure
else
  "$demo_build/nsa_metadata_cpp_demo" "$models"
fi
