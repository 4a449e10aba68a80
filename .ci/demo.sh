#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds everything, runs
# the Python demo (which saves a TorchScript model and an AOTInductor package),
# then builds the C++ demo against the installed package and runs it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/.ci/setup.sh"
export PATH="$repo/.venv/bin:$PATH"  # the venv's CMake and Ninja
"$repo/.ci/build.sh"
python "$repo/python_demo/demo.py" --library "$repo/build/op/libnsa_metadata.so" \
  --out "$repo/build/demo"
"$repo/.ci/cpp_demo.sh"
