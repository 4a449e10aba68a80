#!/usr/bin/env bash
# Configures and builds the library and the C++ tests into build/, with the
# venv's CMake, Ninja and libtorch. Extra arguments go to CMake's configure step.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
export PATH="$venv/bin:$PATH"
# A CUDA toolkit in the usual place is used even when nvcc is not on PATH.
if ! command -v nvcc >/dev/null && [[ -z "${CUDACXX:-}" && -x /usr/local/cuda/bin/nvcc ]]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi
cmake -S "$repo" -B "$repo/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DNSA_METADATA_BUILD_TESTS=ON -DPython_EXECUTABLE="$venv/bin/python" "$@"
cmake --build "$repo/build" --parallel
