#!/usr/bin/env bash
# Builds the wheel (python -m build, against the venv's torch) and installs it
# into a fresh virtual environment, build/package-env/, that sees the project
# venv's torch and test packages but not this repository: what a user gets
# from pip. Prints nothing but errors.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
dist="$repo/build/dist"
env_dir="$repo/build/package-env"

rm -rf "$dist" "$env_dir"
"$python" -m build --wheel --no-isolation --outdir "$dist" "$repo" >"$repo/build/wheel.log" 2>&1 ||
  { tail -40 "$repo/build/wheel.log"; exit 1; }
"$python" -m venv "$env_dir"
# torch and the test packages from the project venv, after the fresh
# environment's own packages.
project_site="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
env_site="$("$env_dir/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$project_site" >"$env_site/project-venv.pth"
"$env_dir/bin/python" -m pip install -q --no-deps --no-index "$dist"/nsa_metadata-*.whl
