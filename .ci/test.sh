#!/usr/bin/env bash
# The README's test command: installs what is missing, builds everything, then
# runs every test (C++ through CTest, Python through pytest against the
# installed wheel). Tests that need a
# GPU report themselves skipped where none is present; run them on one as
# docs/testing.md shows. Exits non-zero when any test fails.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/setup.sh"
export PATH="$repo/.venv/bin:$PATH"  # the venv's CMake, CTest and Ninja
"$repo/scripts/build.sh"

status=0
echo "== C++ tests (CTest) =="
ctest --test-dir "$repo/build" --output-on-failure || status=1
echo "== Python tests (pytest), against the wheel installed into a fresh environment =="
"$repo/.ci/test_package.sh" || status=1
echo "== AddressSanitizer + UndefinedBehaviorSanitizer (CPU) =="
"$repo/.ci/sanitize_cpu.sh" || status=1
echo "== A second torch (2.13.0, CPU build): build, CTest, pytest =="
"$repo/.ci/test_second_torch.sh" || status=1
exit $status
