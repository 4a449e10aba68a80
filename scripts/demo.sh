#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds everything, runs
# the Python demo with the package installed from its wheel (it saves
# TorchScript models and an AOTInductor package),
# then builds the C++ demo against the installed package and runs it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/setup.sh"
export PATH="$repo/.venv/bin:$PATH"  # the venv's CMake and Ninja
"$repo/scripts/build.sh"
"$repo/scripts/install_package.sh"  # the wheel, into build/package-env
"$repo/build/package-env/bin/python" "$repo/python_demo/demo.py" --out "$repo/build/demo"
"$repo/scripts/cpp_demo.sh"
