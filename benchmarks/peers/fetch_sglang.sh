#!/usr/bin/env bash
# Puts SGLang's two versions of its fused DSA metadata kernels where
# benchmarks/peers/sglang_peers.py looks for them (.peers/, ignored by git):
# the released file from the sglang 0.5.23 wheel, and upstream's at a fixed
# commit. Needs the network once; the files are SGLang's, never committed.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
peers="${NSA_SGLANG_PEERS:-$repo/.peers}"
commit=017d5cb6c92954a0126a80412b193c93e3a94cce
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir -p "$peers/sglang_0_5_23" "$peers/sglang_upstream"
"$python" -m pip download -q --no-deps sglang==0.5.23 -d "$work"
"$python" -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(
    "sglang/kernels/ops/attention/dsa/metadata.py"))' "$work"/sglang-0.5.23-*.whl \
  >"$peers/sglang_0_5_23/dsa_metadata.py"
curl -fsSL "https://raw.githubusercontent.com/sgl-project/sglang/$commit/python/sglang/kernels/ops/attention/dsa_metadata.py" \
  -o "$peers/sglang_upstream/dsa_metadata.py"
echo "SGLang peers in $peers"
