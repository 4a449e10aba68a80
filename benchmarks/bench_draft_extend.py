"""fill_draft_extend_metadata against every approach engines used, side by side.

    python benchmarks/bench_draft_extend.py --build build [--markdown docs-out.md]

Peers, each filling the same preallocated buffers, each checked against the
reference before it is timed:
  1 engine loop     per-request arange + cat, .tolist() host syncs
  2 vectorized      cumsum + repeat_interleave, one host sync
  3 triton          one host sync, a Triton program per request
  4 cuda one-sync   one host sync, a CUDA thread per request
  5 ours            torch.ops (Python) and the C++ header (bench_cpp)
  6 floor           an op registered like ours whose kernel does nothing
Then: the scale sweep (up to 1M requests, 8M tokens) against the GPU's
device-to-device copy bandwidth, and the CPU kernel against peer 1 on the CPU.
Both GPU-time sweeps also time fill_draft_extend_metadata_full asked for the
same two row vectors ("engine"): the engine's warp-batch kernel up to 32
requests, its row-scan kernels, in one pass, up to 32768, and past them its
block kernel (the step operators allocate no workspace, so they cannot take
the row scan's second pass).
The tables are printed last. Goals are reported, never asserted.
"""
import argparse
import datetime
import functools
import pathlib
import platform
import subprocess
import sys

import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
import harness  # noqa: E402
import reference  # noqa: E402
from inputs import draft_batch  # noqa: E402
from peers import python_peers  # noqa: E402

TOPK = 2048
BATCH_SIZES = [1, 8, 32, 64, 128, 256, 512, 1024, 2048, 4096]
SCALE_BATCH_SIZES = [16384, 65536, 262144, 1048576]
INPUT_SETS = 8
OURS = "5 ours (python)"
FLOOR = "6 floor"


def input_sets(batch_size, extend_max, device, seed):
    generator = torch.Generator().manual_seed(seed)
    capacity = batch_size * extend_max
    sets = []
    for _ in range(INPUT_SETS):
        extend, seq = (t.to(device) for t in draft_batch(batch_size, 1, extend_max, generator))
        sets.append((extend, seq, TOPK,
                     torch.empty(capacity, dtype=torch.int32, device=device),
                     torch.empty(capacity, dtype=torch.int32, device=device)))
    return sets


@functools.cache
def unread_pool_and_table(batch_size, device):
    """req_pool_indices and req_to_token for an engine call asked for no page
    table: it never reads them, so zeros of the right shapes do."""
    return (torch.zeros(batch_size, dtype=torch.int32, device=device),
            torch.zeros((1, 1), dtype=torch.int32, device=device))


def engine_rows(extend_seq_lens, seq_lens, nsa_index_topk, seqlens_expanded, nsa_cache_seqlens):
    """The same rows from fill_draft_extend_metadata_full asked for the two
    row vectors only."""
    pool, table = unread_pool_and_table(extend_seq_lens.numel(), extend_seq_lens.device)
    torch.ops.nsa_metadata.fill_draft_extend_metadata_full(
        seq_lens, pool, table, extend_seq_lens, nsa_index_topk, 1,
        seqlens_expanded=seqlens_expanded, nsa_cache_seqlens=nsa_cache_seqlens)


def check_against_reference(name, call, arguments):
    extend, seq, topk, expanded, cached = arguments
    expanded.fill_(-1)
    cached.fill_(-1)
    call(*arguments)
    want_expanded, want_cache, _ = reference.fill_draft_extend_metadata(
        extend.tolist(), seq.tolist(), topk, expanded.numel(), cached.numel())
    if expanded.tolist() != want_expanded or cached.tolist() != want_cache:
        raise SystemExit(f"{name} does not match the reference; not timing it")


def peers(args):
    ops = torch.ops
    found = {
        "1 engine loop": python_peers.engine_loop,
        "2 vectorized": python_peers.vectorized_torch,
        "3 triton": python_peers.triton_one_sync if python_peers.triton else None,
        "4 cuda one-sync": ops.nsa_metadata_bench.one_sync_fill,
        "5 ours (python)": ops.nsa_metadata.fill_draft_extend_metadata,
        "6 floor": ops.nsa_metadata_bench.floor_fill,
    }
    if found["3 triton"] is None:
        print("triton is not installed: peer 3 left out")
        del found["3 triton"]
    return found


def cpp_figures(build, extend_max):
    """Latency and issue cost from bench_cpp, keyed by batch size."""
    program = build / "benchmarks" / "bench_cpp"
    output = subprocess.run([str(program), str(extend_max)] + [str(b) for b in BATCH_SIZES],
                            check=True, capture_output=True, text=True).stdout
    figures = {}
    for line in output.splitlines():
        batch, _, latency, issue = line.split()
        figures[int(batch)] = (float(latency), float(issue))
    return figures


def serving_sweep(args, rows, goals):
    found = peers(args)
    for extend_max in (4, 8):
        cpp = cpp_figures(args.build, extend_max)
        for batch_size in BATCH_SIZES:
            sets = input_sets(batch_size, extend_max, "cuda", seed=batch_size * 10 + extend_max)
            for name, call in found.items():
                if name != "6 floor":
                    check_against_reference(name, call, sets[0])
            # Each peer is timed in turns with ours, so that the ratio of the
            # two does not depend on when each was measured (host latency
            # drifts by up to 2x over a run on the GPU machine): the floor
            # call by call, a heavier peer in turns that let the host settle
            # (harness.TURN_SETTLE), with the floor taking turns too, so that
            # the peer's latency over the floor's comes from the same turns.
            # Each row: latency, issue, GPU, replay, latency over the floor's,
            # latency over ours.
            figures = {}
            for name, call in found.items():
                if name in (OURS, FLOOR):
                    continue
                turns = {name: call, OURS: found[OURS], FLOOR: found[FLOOR]}
                latencies = harness.latencies_with_sync(turns, sets)
                issues = harness.issue_costs(turns, sets)
                figures[name] = [latencies[name], issues[name], "", "",
                                 latencies[name] / latencies[FLOOR],
                                 latencies[name] / latencies[OURS]]
            pair = {FLOOR: found[FLOOR], OURS: found[OURS]}
            latencies = harness.latencies_with_sync(pair, sets, settle=0, timed=1)
            issues = harness.issue_costs(pair, sets, settle=0, timed=1)
            for name, call in pair.items():
                figures[name] = [latencies[name], issues[name],
                                 harness.gpu_time_in_graph(call, sets[1]),
                                 harness.graph_replay_cost(call, sets[2]),
                                 latencies[name] / latencies[FLOOR],
                                 latencies[name] / latencies[OURS]]
            cpp_latency, cpp_issue = cpp[batch_size]
            figures["5 ours (C++ header)"] = [cpp_latency, cpp_issue, "", "",
                                              cpp_latency / latencies[FLOOR], ""]
            for name, (latency, issue, gpu, replay, versus_floor, versus_ours) in sorted(
                    figures.items()):
                rows.append([f"1..{extend_max}", batch_size, name, latency, issue, gpu, replay,
                             f"{versus_floor:.2f}x",
                             f"{versus_ours:.2f}x" if versus_ours != "" else ""])
            goals.append((extend_max, batch_size, figures))


def scale_sweep(rows):
    bandwidth = harness.device_copy_bandwidth()
    fill = torch.ops.nsa_metadata.fill_draft_extend_metadata
    for batch_size in SCALE_BATCH_SIZES:
        generator = torch.Generator().manual_seed(batch_size)
        extend, seq = draft_batch(batch_size, 1, 15, generator)
        total = int(extend.sum())
        arguments = (extend.cuda(), seq.cuda(), TOPK,
                     torch.empty(total, dtype=torch.int32, device="cuda"),
                     torch.empty(total, dtype=torch.int32, device="cuda"))
        if batch_size <= 262144:  # the reference is plain Python: keep it quick
            check_against_reference("ours", fill, arguments)
            check_against_reference("engine", engine_rows, arguments)
        # GPU time per call from calls captured back to back in one graph, like
        # the serving sizes' GPU column: launch gaps do not count, drift of
        # the clocks between calls does not either.
        time_us = harness.gpu_time_in_graph(fill, arguments, launches=20, replays=10)
        # The fewest bytes: extend_seq_lens and seq_lens read once, two int32
        # rows written per token. (Ours reads extend_seq_lens twice past 12288.)
        moved = batch_size * 4 * 2 + total * 4 * 2
        achieved = moved / (time_us * 1e-6)
        engine_us = harness.gpu_time_in_graph(engine_rows, arguments, launches=20, replays=10)
        rows.append([batch_size, total, time_us, f"{time_us * 1e3 / total:.3f}",
                     f"{achieved / 1e9:.0f}", f"{100 * achieved / bandwidth:.0f}%", engine_us,
                     f"{100 * moved / (engine_us * 1e-6) / bandwidth:.0f}%"])
    return bandwidth


def cpu_comparison():
    generator = torch.Generator().manual_seed(4096)
    sets = input_sets(4096, 8, "cpu", seed=4096)
    ours = torch.ops.nsa_metadata.fill_draft_extend_metadata
    check_against_reference("ours (cpu)", ours, sets[0])
    check_against_reference("1 engine loop (cpu)", python_peers.engine_loop, sets[0])
    del generator
    ours_us = harness.latency_with_sync(ours, sets)
    loop_us = harness.latency_with_sync(python_peers.engine_loop, sets, repeats=300, warmup=5)
    return ours_us, loop_us


def goal_lines(goals, scale_rows, cpu):
    lines = []
    worst_ratio = max(f[OURS][0] / f[FLOOR][0] for _, _, f in goals)
    worst_issue = max(f[OURS][1] - f[FLOOR][1] for _, _, f in goals)
    worst_gpu = max(f[OURS][2] for e, _, f in goals if e == 8)
    lines.append(f"- latency with sync, worst ours/floor over bs 1..4096: {worst_ratio:.2f}x "
                 "(goal <= 1.10x)")
    lines.append(f"- issue cost, worst ours minus floor: {worst_issue:.2f} us (goal <= 1 us)")
    lines.append(f"- GPU time, worst at 1..8 tokens up to bs 4096: {worst_gpu:.2f} us "
                 "(goal <= 3 us)")
    for extend_max, batch_size, figures in goals:
        if batch_size == 128:
            peer_4, peer_1 = figures["4 cuda one-sync"], figures["1 engine loop"]
            lines.append(f"- bs 128, extend 1..{extend_max}: {peer_4[5]:.1f}x faster than "
                         f"peer 4 (goal >= 3x), {peer_1[5]:.0f}x faster than peer 1 (goal >= "
                         "90x), each timed in turns with ours; in the same turns the floor, "
                         f"an op whose kernel does nothing, was {peer_1[4]:.0f}x faster than "
                         "peer 1")
    lines.append(f"- largest size: {scale_rows[-1][5]} of copy bandwidth (goal >= 70%)")
    lines.append(f"- CPU kernel at bs 4096: {cpu[1] / cpu[0]:.0f}x faster than peer 1 on the "
                 "CPU (goal >= 20x)")
    return lines


def kernel_only_report(args):
    fill = torch.ops.nsa_metadata.fill_draft_extend_metadata
    rows = []
    for extend_max in (4, 8):
        for batch_size in BATCH_SIZES:
            sets = input_sets(batch_size, extend_max, "cuda", seed=batch_size * 10 + extend_max)
            check_against_reference("ours", fill, sets[0])
            check_against_reference("engine", engine_rows, sets[0])
            rows.append([f"1..{extend_max}", batch_size, harness.gpu_time_in_graph(fill, sets[1]),
                         harness.gpu_time_in_graph(engine_rows, sets[1]),
                         harness.latency_with_sync(fill, sets)])
    scale_rows = []
    bandwidth = scale_sweep(scale_rows)
    return "\n\n".join([
        f"Build: {args.build}",
        harness.format_table(["extend", "bs", "GPU us", "engine GPU us", "latency us"], rows),
        f"copy bandwidth {bandwidth / 1e9:.0f} GB/s",
        harness.format_table(["bs", "tokens", "time us", "ns/token", "GB/s", "of copy",
                              "engine time us", "engine of copy"], scale_rows)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(HERE.parent / "build"), type=pathlib.Path)
    parser.add_argument("--markdown", type=pathlib.Path, help="also write the tables here")
    parser.add_argument("--kernel-only", action="store_true",
                        help="only ours: GPU time at serving sizes and the scale sweep "
                             "(to compare builds of the kernel quickly)")
    args = parser.parse_args()
    torch.ops.load_library(str(args.build / "op" / "libnsa_metadata.so"))
    torch.ops.load_library(str(args.build / "benchmarks" / "libnsa_metadata_bench_peers.so"))

    if args.kernel_only:
        print(kernel_only_report(args))
        return
    serving_rows, goals, scale_rows = [], [], []
    serving_sweep(args, serving_rows, goals)
    bandwidth = scale_sweep(scale_rows)
    cpu = cpu_comparison()

    properties = torch.cuda.get_device_properties(0)
    driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                            capture_output=True, text=True).stdout.strip()
    header = (f"{datetime.date.today()}, {properties.name} ({properties.multi_processor_count} "
              f"SMs), driver {driver}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
              f"Python {platform.python_version()}, {platform.processor() or platform.machine()}")
    report = "\n\n".join([
        f"Run: {header}",
        "Serving sizes (us; latency = one call + synchronize, issue = host time without "
        "synchronize, GPU = kernel alone from 100 launches in one graph, replay = one graph "
        "replay holding the call; medians of 300; latency/floor and latency/ours = the "
        "peer's latency over the floor's and over ours, the three timed in the same turns; "
        "ours and the floor take turns call by call; the C++ header's figures come from "
        "another process):",
        harness.format_table(["extend", "bs", "peer", "latency", "issue", "GPU", "replay",
                              "latency/floor", "latency/ours"], serving_rows),
        f"Scale (device-to-device copy: {bandwidth / 1e9:.0f} GB/s read+written):",
        harness.format_table(["bs", "tokens", "time us", "ns/token", "GB/s", "of copy",
                              "engine time us", "engine of copy"], scale_rows),
        f"CPU, bs 4096, extend 1..8: ours {cpu[0]:.1f} us, peer 1 (engine loop) on the CPU "
        f"{cpu[1]:.1f} us",
        "Goals:\n" + "\n".join(goal_lines(goals, scale_rows, cpu)),
    ])
    if args.markdown:
        args.markdown.write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
