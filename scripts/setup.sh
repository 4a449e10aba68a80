#!/usr/bin/env bash
# Installs what building and testing need and is missing, and nothing twice:
#   - Debian packages: a C++ compiler, python3-venv, GoogleTest, Catch2, and
#     python3-dev where the interpreter has no headers;
#   - .venv/ in the repository, with the pinned Python packages
#     (torch 2.14.1 among them) from scripts/requirements.txt.
# The CUDA kernels are built when nvcc is found (PATH, CUDACXX or
# /usr/local/cuda); without it the library is CPU-only and CMake says so.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

debian_packages=(g++ python3-venv libgtest-dev catch2)
missing=()
for package in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" ||
    missing+=("$package")
done
# torch.compile's CPU backend compiles kernels against Python.h.
python3 -c 'import os, sysconfig; raise SystemExit(not os.path.exists(
    os.path.join(sysconfig.get_paths()["include"], "Python.h")))' || missing+=(python3-dev)
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

venv="$repo/.venv"
requirements="$repo/scripts/requirements.txt"
stamp="$venv/.requirements.sha256"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "setup: creating $venv"
  python3 -m venv "$venv"
fi
if ! sha256sum --status -c "$stamp" 2>/dev/null; then
  echo "setup: installing Python packages from scripts/requirements.txt (torch is several GB)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir -r "$requirements"
  sha256sum "$requirements" >"$stamp"
fi
