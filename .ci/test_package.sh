#!/usr/bin/env bash
# Installs the wheel into a fresh environment (scripts/install_package.sh) and runs
# the Python tests there from outside the repository: they import the
# installed package, not the build tree. Extra arguments go to pytest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/install_package.sh"
env_dir="$repo/build/package-env"
mkdir -p "$env_dir/run"
cd "$env_dir/run"
env -u NSA_METADATA_LIBRARY "$env_dir/bin/python" -m pytest "$repo/tests/python" -q -rs \
  -p no:cacheprovider --hypothesis-show-statistics "$@"
