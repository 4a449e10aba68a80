#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds everything and
# runs the Python demo.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/.ci/setup.sh"
"$repo/.ci/build.sh"
"$repo/.venv/bin/python" "$repo/python_demo/demo.py" --library "$repo/build/op/libnsa_metadata.so"
