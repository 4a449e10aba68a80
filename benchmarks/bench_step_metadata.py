"""The step-metadata ops (decode, target-verify, draft-extend with page
tables) against what engines ship today, side by side in one run.

    python benchmarks/bench_step_metadata.py --build build [--markdown out.md] [--plot out.png]

Inputs like a DeepSeek-V3.2 serving step: a req_to_token pool 163840 columns
wide, page size 64, topk 2048, N = 4 draft tokens; contexts of 1K-8K tokens
(bs 1 to 1024) and of 1K-163840 (bs 1 to 256). Modes: decode, target-verify,
draft-extend with a static N (SGLang's current path) and with extend lengths
1..4. Peers, each checked against the reference before it is timed (ours on
every buffer, untouched columns included; the others where consumers read):
  pytorch ops      a dozen small PyTorch ops, tables gathered at full width
                   (variable draft-extend: one host sync for the rows)
  sglang 0.5.23    SGLang's released fused Triton kernels
  sglang upstream  the same kernels at SGLang's newest commit
                   (both: benchmarks/peers/sglang_peers.py, skipped when absent)
  ours             one launch, tables up to each row's KV length
  floor            an op of the same schema as ours, registered the same
                   way, whose kernel does nothing
Columns: latency of one call with a synchronize (all peers in turns), GPU
time per call (calls captured in a CUDA graph; a peer that syncs cannot be),
SGLang's first call at the row's batch size (Triton compiles its kernels
once per batch size, into a cache of the run's own unless TRITON_CACHE_DIR
names one), and the least traffic the work needs: each request's
req_to_token prefix read once, each row's page-table columns written up to
its own KV length, the vectors written once; "ours of bound" is that traffic
at the measured copy rate over our GPU time. "fan-out copy of bound" is what
the GPU itself reaches for that mix of reads and writes at that size: a
plain kernel (copy_fan_out in peers/peers.cu) reading as many bytes once and
writing as many, contiguous, nothing gathered, the bound over its GPU time.
"""
import argparse
import atexit
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
import harness  # noqa: E402
from helpers import POISON, define_like_ours  # noqa: E402
from peers import sglang_peers, step_peers  # noqa: E402
from step_cases import OPS, poisoned_outputs  # noqa: E402

WIDTH = 163840
PAGE_SIZE = 64
NUM_DRAFT_TOKENS = 4
INPUT_SETS = 4
# (name, shortest and longest context, batch sizes)
CONTEXTS = (("1K-8K", 1024, 8192, (1, 8, 32, 128, 256, 1024)),
            ("1K-163840", 1024, WIDTH, (1, 8, 32, 128, 256)))
MODES = sglang_peers.MODES
SGLANG = tuple(sglang_peers.VERSIONS)


@dataclasses.dataclass
class Row:
    context: str
    mode: str
    batch_size: int
    latency: dict
    gpu: dict
    first_call_ms: dict
    bound_us: float
    # A plain kernel moving the same bytes, read once and written, with
    # nothing to gather (harness.fan_out_copy_us): what the GPU reaches for
    # the mix of reads and writes at this size.
    fan_out_us: float = None

    def share(self, name):
        """The least-traffic bound over `name`'s GPU time."""
        return self.bound_us / self.gpu[name]


def step_inputs(mode, batch_size, shortest, longest, req_to_token, generator):
    pool_rows = req_to_token.shape[0]
    extend = torch.randint(1, NUM_DRAFT_TOKENS + 1, (batch_size,), generator=generator)
    seq_lens = torch.randint(shortest, longest + 1, (batch_size,), generator=generator)
    if mode == "target_verify":
        # The KV length stays in the table.
        seq_lens = seq_lens.clamp(max=longest - NUM_DRAFT_TOKENS)
    case = sglang_peers.step_case(
        mode, seq_lens, extend, torch.randperm(pool_rows, generator=generator)[:batch_size],
        req_to_token, NUM_DRAFT_TOKENS)
    return case.to("cuda")


def least_traffic(case):
    """Bytes the work must (read, write): each request's req_to_token prefix
    and the inputs read once, each row's page-table columns written up to its
    own KV length, the vectors written once."""
    seq_lens = case.seq_lens.cpu().long()
    if case.mode == "draft_extend":
        rows = (case.extend_seq_lens.cpu().long() if case.extend_seq_lens is not None
                else torch.full_like(seq_lens, case.num_draft_tokens))
        top = seq_lens
    elif case.mode == "target_verify":
        rows = torch.full_like(seq_lens, case.num_draft_tokens)
        top = seq_lens + case.num_draft_tokens
    else:
        rows = torch.ones_like(seq_lens)
        top = seq_lens
    width = case.req_to_token.shape[1]
    pages = -(-width // case.page_size)
    read = int(top.clamp(max=width).sum())
    written = 0
    for r, t in zip(rows.tolist(), top.tolist()):
        for later in range(r):
            kv = max(0, t - later)
            written += min(kv, width) + min(-(-kv // case.page_size), pages)
    total_rows = int(rows.sum())
    vectors = 2 * (case.batch_size + 1) + 3 * (total_rows + 1)
    inputs = 3 * case.batch_size
    return 4 * (read + inputs), 4 * (written + vectors)


def outputs_for(case):
    # Draft-extend buffers hold the largest batch's rows (N per request).
    capacity = case.batch_size * NUM_DRAFT_TOKENS if case.mode == "draft_extend" else None
    outputs = poisoned_outputs(case, "cuda", row_capacity=capacity)
    zero_cumsum_heads(outputs)
    return outputs


def zero_cumsum_heads(outputs):
    # The PyTorch peers write cumsums from position 1: position 0 is zeroed
    # once at allocation, as engines do.
    for name in ("cu_seqlens_k", "nsa_cu_seqlens_k"):
        outputs[name][0] = 0


def check(name, call, case, outputs, exact):
    for buffer in outputs.values():
        buffer.fill_(POISON)
    zero_cumsum_heads(outputs)
    want = case.expected(outputs)
    call(case, outputs)
    for output, buffer in outputs.items():
        got = buffer.cpu()
        mask = (torch.ones_like(got, dtype=torch.bool) if exact else
                sglang_peers.consumer_mask(case, output, want[output], POISON))
        if not torch.equal(got[mask], want[output][mask]):
            raise SystemExit(f"{name} {case.mode} bs {case.batch_size}: {output} does not "
                             "match the reference; not timing it")


def ours(case, outputs):
    case.call(**outputs)


def define_floors():
    """Defines nsa_metadata_bench::floor_<op> with each step op's own schema
    (their empty CUDA kernel is in peers/peers.cu)."""
    library = torch.library.Library("nsa_metadata_bench", "FRAGMENT")
    define_like_ours(library, OPS.values(), prefix="floor_")
    return library


def floor(case, outputs):
    case.call(namespace=torch.ops.nsa_metadata_bench, prefix="floor_", **outputs)


def sglang_call(module, hosts):
    """A peer calling SGLang's kernel with the host view of each input set."""
    def call(case, outputs):
        sglang_peers.call(module, case, hosts[id(case)], outputs)
    return call


def first_call_ms(call, case, outputs):
    torch.cuda.synchronize()
    start = time.perf_counter()
    call(case, outputs)
    torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3


def measure(context, shortest, longest, mode, batch_size, req_to_token, modules, copy_rate,
            check_up_to, repeats):
    # Each point's inputs from a seed of its own, so that a run of part of
    # the grid (--contexts, --modes, --batch-sizes) measures the same inputs.
    seed = zlib.crc32(f"{context} {mode} {batch_size}".encode())
    generator = torch.Generator().manual_seed(seed)
    sets = [step_inputs(mode, batch_size, shortest, longest, req_to_token, generator)
            for _ in range(INPUT_SETS)]
    hosts = {id(case): sglang_peers.HostView(case) for case in sets}
    outputs = outputs_for(sets[0])
    pytorch_ops = (step_peers.PEERS["draft_extend"] if mode == "draft_extend_static"
                   else step_peers.PEERS[sets[0].mode])
    calls = {"pytorch ops": pytorch_ops}
    first = {}
    for version, module in modules.items():
        calls[version] = sglang_call(module, hosts)
        first[version] = first_call_ms(calls[version], sets[0], outputs)
    calls["ours"] = ours
    calls["floor"] = floor
    if batch_size <= check_up_to:
        check("ours", ours, sets[0], outputs, exact=True)
        for name in calls:
            if name not in ("ours", "floor"):
                check(name, calls[name], sets[1], outputs, exact=False)
    latency = harness.latencies_with_sync(calls, [(c, outputs) for c in sets], repeats=repeats,
                                          settle=2, timed=5)
    syncs = mode == "draft_extend"  # the PyTorch ops' host sync cannot be captured
    captured = {name: call for name, call in calls.items()
                if not (name == "pytorch ops" and syncs)}
    gpu = {name: None for name in calls}
    gpu.update(harness.gpu_times_in_graphs(captured, (sets[0], outputs)))
    read_bytes, written_bytes = least_traffic(sets[0])
    bound_us = (read_bytes + written_bytes) / copy_rate * 1e6
    del outputs
    torch.cuda.empty_cache()
    fan_out_us = harness.fan_out_copy_us(read_bytes // 4, written_bytes // 4)
    return Row(context, mode, batch_size, latency, gpu, first, bound_us, fan_out_us)


def fmt(value):
    return "syncs" if value is None else value


def table(rows, versions):
    headers = ["context", "mode", "bs"]
    headers += [f"{n} latency" for n in ("pytorch ops", *versions, "ours", "floor")]
    headers += [f"{n} GPU" for n in ("pytorch ops", *versions, "ours", "floor")]
    headers += [f"{v} first call (ms)" for v in versions]
    headers += ["bound GPU"] + [f"{n} of bound" for n in (*versions, "ours")]
    headers += ["fan-out copy of bound", "ours vs best SGLang GPU"]
    lines = []
    for row in rows:
        best = min((row.gpu[v] for v in versions), default=None)
        lines.append(
            [row.context, row.mode, row.batch_size]
            + [row.latency[n] for n in ("pytorch ops", *versions, "ours", "floor")]
            + [fmt(row.gpu[n]) for n in ("pytorch ops", *versions, "ours", "floor")]
            + [row.first_call_ms[v] for v in versions]
            + [row.bound_us] + [f"{100 * row.share(n):.0f}%" for n in (*versions, "ours")]
            + ["-" if row.fan_out_us is None else f"{100 * row.bound_us / row.fan_out_us:.0f}%"]
            + ["-" if best is None else f"{best / row.gpu['ours']:.2f}x"])
    return harness.format_table(headers, lines)


def plot(rows, versions, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(CONTEXTS), len(MODES), figsize=(4 * len(MODES), 7),
                                squeeze=False)
    for r, (context, *_rest) in enumerate(CONTEXTS):
        for c, mode in enumerate(MODES):
            ax = axes[r][c]
            selected = [row for row in rows if row.context == context and row.mode == mode]
            sizes = [row.batch_size for row in selected]
            for name in (*versions, "ours", "floor"):
                ax.plot(sizes, [row.gpu[name] for row in selected], marker="o", label=name)
            ax.plot(sizes, [row.bound_us for row in selected], linestyle="--", color="gray",
                    label="least traffic at copy rate")
            if all(row.fan_out_us is not None for row in selected):
                ax.plot(sizes, [row.fan_out_us for row in selected], linestyle=":",
                        color="black", label="fan-out copy of the same bytes")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{mode}, contexts {context}", fontsize=9)
            ax.set_xlabel("batch size")
            ax.set_ylabel("GPU time per call (us)")
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def driver_version():
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                               "--format=csv,noheader"], capture_output=True, text=True,
                              check=True).stdout.split()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(HERE.parent / "build"), type=pathlib.Path)
    parser.add_argument("--markdown", type=pathlib.Path, help="also write the table here")
    parser.add_argument("--json", type=pathlib.Path, help="also write every figure here")
    parser.add_argument("--plot", type=pathlib.Path, help="draw the GPU times into this PNG")
    parser.add_argument("--check-up-to", type=int, default=256,
                        help="check against the reference up to this batch size")
    parser.add_argument("--repeats", type=int, default=100, help="latency samples per peer")
    parser.add_argument("--modes", nargs="*", default=MODES, choices=MODES)
    parser.add_argument("--contexts", nargs="*", default=[c[0] for c in CONTEXTS],
                        choices=[c[0] for c in CONTEXTS], help="context classes to measure")
    parser.add_argument("--batch-sizes", nargs="*", type=int,
                        help="measure only these batch sizes of the grid")
    parser.add_argument("--from-json", type=pathlib.Path,
                        help="measure nothing: print (and plot) the figures a --json run saved")
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        rows = [Row(**row) for row in saved["rows"]]
        report(args, saved["header"], rows, tuple(saved["versions"]))
        return
    torch.ops.load_library(str(args.build / "op" / "libnsa_metadata.so"))
    torch.ops.load_library(str(args.build / "benchmarks" / "libnsa_metadata_bench_peers.so"))
    floors = define_floors()  # noqa: F841 (the definitions live as long as it does)
    # "first call" is a compile at every new batch size only on a cold cache.
    if "TRITON_CACHE_DIR" not in os.environ:
        os.environ["TRITON_CACHE_DIR"] = tempfile.mkdtemp(prefix="nsa-bench-triton-")
        atexit.register(shutil.rmtree, os.environ["TRITON_CACHE_DIR"], ignore_errors=True)
    modules = sglang_peers.available()
    versions = tuple(v for v in SGLANG if v in modules)
    missing = [v for v in SGLANG if v not in modules]
    if missing:
        print(f"not timed (file absent, see benchmarks/peers/fetch_sglang.sh): {missing}")
    copy_rate = harness.device_copy_bandwidth()
    generator = torch.Generator().manual_seed(0)
    pool_rows = max(max(sizes) for *_, sizes in CONTEXTS) + 64
    req_to_token = torch.randint(0, 1 << 24, (pool_rows, WIDTH), generator=generator,
                                 dtype=torch.int32).cuda()
    rows = []
    for context, shortest, longest, sizes in CONTEXTS:
        if context not in args.contexts:
            continue
        for mode in args.modes:
            for batch_size in sizes:
                if args.batch_sizes and batch_size not in args.batch_sizes:
                    continue
                rows.append(measure(context, shortest, longest, mode, batch_size, req_to_token,
                                    modules, copy_rate, args.check_up_to, args.repeats))
                row = rows[-1]
                print(context, mode, batch_size, "ours", f"{row.gpu['ours']:.2f}",
                      {v: round(row.gpu[v], 2) for v in versions},
                      f"bound {row.bound_us:.2f}", f"fan-out copy {row.fan_out_us:.2f}",
                      flush=True)
    header = (f"{datetime.date.today()}, {torch.cuda.get_device_name(0)}, driver "
              f"{driver_version()}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
              f"Triton {_triton_version()}, Python {platform.python_version()}; copy rate "
              f"{copy_rate / 1e9:.0f} GB/s (read + write); times in us, medians")
    if args.json:
        args.json.write_text(json.dumps({"header": header, "versions": versions,
                                         "rows": [dataclasses.asdict(r) for r in rows]},
                                        indent=1))
    report(args, header, rows, versions)


def report(args, header, rows, versions):
    text = f"{header}\n\n{table(rows, versions)}\n"
    if args.markdown:
        args.markdown.write_text(text)
    if args.plot:
        plot(rows, versions, args.plot)
    print(text)


def _triton_version():
    try:
        import triton
        return triton.__version__
    except ImportError:
        return "absent"


if __name__ == "__main__":
    main()
