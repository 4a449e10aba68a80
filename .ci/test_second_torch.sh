#!/usr/bin/env bash
# The library against a second torch release, the oldest the tests run on in
# CI (2.13.0, a CPU build): its own venv (.venv-torch<version>/), a CPU-only
# build in build-torch<version>/, then CTest and the Python tests against that
# build. Installs what is missing, nothing twice.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${NSA_SECOND_TORCH:-2.13.0}"
venv="$repo/.venv-torch$version"
build="$repo/build-torch$version"
requirements="$venv/requirements.txt"

if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
# The project's pins, with this torch instead of the project's.
sed "s/^torch==.*/torch==$version/" "$repo/scripts/requirements.txt" >"$requirements.new"
if ! cmp -s "$requirements.new" "$requirements"; then
  echo "setup: installing torch $version and the pinned test packages into $venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir -r "$requirements.new"
  mv "$requirements.new" "$requirements"
else
  rm "$requirements.new"
fi

export PATH="$venv/bin:$PATH"
mkdir -p "$build"
log="$build/build.log"
# A CPU build of torch has no CUDA headers, so the library is CPU-only here.
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNSA_METADATA_CUDA=OFF \
  -DNSA_METADATA_BUILD_TESTS=ON -DPython_EXECUTABLE="$venv/bin/python" >"$log" 2>&1 ||
  { cat "$log"; exit 1; }
grep "nsa_metadata: libtorch" "$log"
cmake --build "$build" --parallel >>"$log" 2>&1 || { tail -40 "$log"; exit 1; }

status=0
ctest --test-dir "$build" --output-on-failure || status=1
NSA_METADATA_LIBRARY="$build/op/libnsa_metadata.so" "$venv/bin/python" -m pytest \
  "$repo/tests/python" -q -rs -p no:cacheprovider || status=1
exit $status
