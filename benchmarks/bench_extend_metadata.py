"""fill_extend_metadata against the eager composition an engine runs today,
side by side in one run.

    python benchmarks/bench_extend_metadata.py --build build [--markdown out.md] [--json out.json]

Inputs like a DeepSeek-V3.2 prefill step: a req_to_token pool 163840 columns
wide, page size 64, topk 2048, every output asked for (the page tables at
the pool's width and pages, the flattened table and the per-token buffers
as large as the largest input set needs). Workloads, at bs 1, 8, 32, 128,
256:
  mixed     every request extends by 1 token on a 1K-8K context (decode
            requests in an extend batch: small data)
  prefill   extends of 1..8192 tokens, no cached prefix
  chunked   extends of 1..8192 tokens on cached prefixes of 0..128K
Peers, each checked before it is timed (ours against the CPU kernel on every
buffer; the eager peer against ours where consumers read):
  eager     benchmarks/peers/extend_peers.py: per-request arange/full in a
            Python loop from host lists, a host concatenation of
            req_to_token slices, repeat_interleave, cumsums
  ours      one launch
  floor     an op of the same schema, registered the same way, whose kernel
            does nothing
Columns: latency of one call with a synchronize (the peers in turns), GPU
time per call of ours and the floor (calls captured in a CUDA graph), and
the least traffic the work needs: each request's req_to_token prefix read
once, page_table_1, real_page_table and the flattened table written up to
each request's KV length, the per-token and per-request vectors written
once; "ours of bound" is that traffic at the measured copy rate over our
GPU time. "copy x2 of rate" is what the GPU itself reaches for the page
tables' mix of traffic at this size: a plain kernel (copy_fan_out in
peers/peers.cu) that reads the batch's KV tokens once and writes them twice,
nothing gathered, its traffic at the copy rate over its GPU time.
"""
import argparse
import dataclasses
import datetime
import json
import pathlib
import platform
import sys

import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
import harness  # noqa: E402
from bench_step_metadata import driver_version  # noqa: E402
from extend_cases import TOKEN_OUTPUTS, ExtendCase, poisoned_outputs  # noqa: E402
from helpers import POISON, define_like_ours  # noqa: E402
from peers import extend_peers  # noqa: E402

WIDTH = 163840
PAGE_SIZE = 64
TOPK = 2048
INPUT_SETS = 4
BATCH_SIZES = (1, 8, 32, 128, 256)
# (name, extend lengths, cached prefixes): inclusive ranges
WORKLOADS = (("mixed", (1, 1), (1023, 8191)),
             ("prefill", (1, 8192), (0, 0)),
             ("chunked", (1, 8192), (0, 131072)))
PEERS = ("eager", "ours", "floor")
INT32_MAX = 2**31 - 1


@dataclasses.dataclass
class Row:
    workload: str
    batch_size: int
    tokens: int
    kv_tokens: int
    latency: dict
    gpu: dict
    bound_us: float
    copy_to_two_share: float

    def share(self, name):
        return self.bound_us / self.gpu[name]


def random_case(batch_size, extend_range, prefix_range, req_to_token, generator):
    extend = torch.randint(extend_range[0], extend_range[1] + 1, (batch_size,),
                           generator=generator)
    prefix = torch.randint(prefix_range[0], prefix_range[1] + 1, (batch_size,),
                           generator=generator)
    seq_lens = (extend + prefix).clamp(max=WIDTH)
    pool = torch.randperm(req_to_token.shape[0], generator=generator)[:batch_size]
    return ExtendCase(seq_lens.int().cuda(), extend.int().cuda(), pool.cuda(), req_to_token,
                      nsa_index_topk=TOPK, page_size=PAGE_SIZE)


def least_traffic_bytes(case):
    seq_lens = case.seq_lens.long().clamp(max=WIDTH)
    pages = (seq_lens + PAGE_SIZE - 1) // PAGE_SIZE
    read = int(seq_lens.sum())
    written = 2 * int(seq_lens.sum()) + int(pages.sum())  # page_table_1, flattened, real
    tokens = case.tokens()
    vectors = len(TOKEN_OUTPUTS) * tokens + (tokens + 1) + 3 * (case.batch_size + 1)
    inputs = 3 * case.batch_size
    return 4 * (read + written + vectors + inputs)


# Ours and the floor are called the same way, straight through torch.ops:
# a helper's Python between the timer and the op (ExtendCase.call) cost
# about 2.8 us a call on an H200 host, which would count against whichever
# peer it wrapped.
def ours(case, host, outputs):
    torch.ops.nsa_metadata.fill_extend_metadata(
        *case.inputs(), index_kpool=case.index_kpool, **outputs)


def eager(case, host, outputs):
    extend_peers.eager_extend(case, host, outputs)


def define_floor():
    """nsa_metadata_bench::floor_fill_extend_metadata, ours's schema; its
    empty CUDA kernel is in peers/peers.cu."""
    library = torch.library.Library("nsa_metadata_bench", "FRAGMENT")
    define_like_ours(library, ("fill_extend_metadata",), prefix="floor_")
    return library


def floor(case, host, outputs):
    torch.ops.nsa_metadata_bench.floor_fill_extend_metadata(
        *case.inputs(), index_kpool=case.index_kpool, **outputs)


def check_ours(case, outputs):
    """Ours on the GPU equals the CPU kernel (checked against the reference
    in the tests) on every buffer, untouched positions included. The CPU
    kernel refuses an nsa_cu_seqlens_k whose sum passes INT32_MAX (a batch of
    a million tokens can), where ours saturates: that one comes from the CPU
    kernel's nsa_cache_seqlens, summed and saturated here."""
    want = {name: buffer.cpu() for name, buffer in outputs.items()}
    nsa_cu = want.pop("nsa_cu_seqlens_k")
    case.to("cpu").call(**want)
    sums = torch.cumsum(want["nsa_cache_seqlens"][:case.tokens()].long(), 0)
    nsa_cu[0] = 0
    nsa_cu[1:case.tokens() + 1] = sums.clamp(max=INT32_MAX)
    nsa_cu[case.tokens() + 1:] = nsa_cu[case.tokens()]
    want["nsa_cu_seqlens_k"] = nsa_cu
    case.call(**outputs)
    for name, buffer in outputs.items():
        if not torch.equal(buffer.cpu(), want[name]):
            raise SystemExit(f"ours bs {case.batch_size}: {name} differs from the CPU kernel")


def check_eager(case, host, outputs, want):
    """The eager peer fills every position a consumer reads as ours does."""
    for buffer in outputs.values():
        buffer.fill_(POISON)
    eager(case, host, outputs)
    tokens, kv_tokens = case.tokens(), case.kv_tokens()
    read = {name: tokens for name in TOKEN_OUTPUTS}
    # nsa_cu_seqlens_k as far as its sums fit int32 (past that the peer's wrap).
    fits = int((want["nsa_cu_seqlens_k"][:tokens + 1] < INT32_MAX).sum())
    read.update(nsa_cu_seqlens_k=fits, page_table_1_flattened=kv_tokens)
    for name, buffer in outputs.items():
        got, expected = buffer.cpu(), want[name]
        if name in read:
            got, expected = got[:read[name]], expected[:read[name]]
        elif name in ("page_table_1", "real_page_table"):
            mask = expected != POISON  # what ours wrote: each row up to its length
            got, expected = got[mask], expected[mask]
        if not torch.equal(got, expected):
            raise SystemExit(f"eager bs {case.batch_size}: {name} differs from ours")


def copy_to_two_share(kv_tokens, copy_rate):
    """A plain kernel's share of the copy rate reading `kv_tokens` int32s once
    and writing them twice (harness.fan_out_copy_us, which rounds the buffers
    up to whole 16-byte vectors)."""
    seconds = harness.fan_out_copy_us(kv_tokens, 2 * kv_tokens) / 1e6
    return 3 * 4 * kv_tokens / copy_rate / seconds


def measure(workload, extend_range, prefix_range, batch_size, req_to_token, copy_rate,
            generator, repeats):
    sets = [random_case(batch_size, extend_range, prefix_range, req_to_token, generator)
            for _ in range(INPUT_SETS)]
    hosts = {id(case): extend_peers.HostLists(case) for case in sets}
    outputs = poisoned_outputs(sets[0], token_capacity=max(c.tokens() for c in sets),
                               kv_capacity=max(c.kv_tokens() for c in sets))
    check_ours(sets[0], outputs)
    want = {name: buffer.cpu() for name, buffer in outputs.items()}
    check_eager(sets[0], hosts[id(sets[0])], outputs, want)
    calls = {"eager": eager, "ours": ours, "floor": floor}
    input_sets = [(case, hosts[id(case)], outputs) for case in sets]
    latency = harness.latencies_with_sync(calls, input_sets, repeats=repeats, settle=2, timed=5)
    gpu = harness.gpu_times_in_graphs({name: calls[name] for name in ("ours", "floor")},
                                      input_sets[0])
    row = Row(workload, batch_size, sets[0].tokens(), sets[0].kv_tokens(), latency, gpu,
              least_traffic_bytes(sets[0]) / copy_rate * 1e6, 0.0)
    del outputs
    torch.cuda.empty_cache()
    row.copy_to_two_share = copy_to_two_share(row.kv_tokens, copy_rate)
    return row


def table(rows):
    headers = ["workload", "bs", "tokens", "KV tokens"]
    headers += [f"{name} latency" for name in PEERS]
    headers += ["eager / ours", "ours / floor", "ours GPU", "floor GPU", "bound",
                "ours of bound", "copy x2 of rate"]
    body = [[row.workload, row.batch_size, row.tokens, row.kv_tokens]
            + [row.latency[name] for name in PEERS]
            + [f"{row.latency['eager'] / row.latency['ours']:.1f}x",
               f"{row.latency['ours'] / row.latency['floor']:.2f}x",
               row.gpu["ours"], row.gpu["floor"], row.bound_us,
               f"{100 * row.share('ours'):.0f}%", f"{100 * row.copy_to_two_share:.0f}%"]
            for row in rows]
    return harness.format_table(headers, body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(HERE.parent / "build"), type=pathlib.Path)
    parser.add_argument("--markdown", type=pathlib.Path, help="also write the table here")
    parser.add_argument("--json", type=pathlib.Path, help="also write every figure here")
    parser.add_argument("--repeats", type=int, default=40, help="latency samples per peer")
    parser.add_argument("--workloads", nargs="*", default=[w[0] for w in WORKLOADS],
                        choices=[w[0] for w in WORKLOADS])
    args = parser.parse_args()
    torch.ops.load_library(str(args.build / "op" / "libnsa_metadata.so"))
    torch.ops.load_library(str(args.build / "benchmarks" / "libnsa_metadata_bench_peers.so"))
    library = define_floor()  # noqa: F841 (the definition lives as long as it does)
    copy_rate = harness.device_copy_bandwidth()
    generator = torch.Generator().manual_seed(0)
    req_to_token = torch.randint(0, 1 << 24, (max(BATCH_SIZES) + 64, WIDTH),
                                 generator=generator, dtype=torch.int32).cuda()
    rows = []
    for workload, extend_range, prefix_range in WORKLOADS:
        if workload not in args.workloads:
            continue
        for batch_size in BATCH_SIZES:
            rows.append(measure(workload, extend_range, prefix_range, batch_size, req_to_token,
                                copy_rate, generator, args.repeats))
            row = rows[-1]
            print(workload, batch_size, {n: round(v, 1) for n, v in row.latency.items()},
                  {n: round(v, 2) for n, v in row.gpu.items()}, f"bound {row.bound_us:.2f}",
                  f"copy x2 {100 * row.copy_to_two_share:.0f}%", flush=True)
    header = (f"{datetime.date.today()}, {torch.cuda.get_device_name(0)}, driver "
              f"{driver_version()}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
              f"Python {platform.python_version()}; copy rate {copy_rate / 1e9:.0f} GB/s "
              "(read + write); times in us, medians")
    text = f"{header}\n\n{table(rows)}\n"
    if args.json:
        args.json.write_text(json.dumps({"header": header,
                                         "rows": [dataclasses.asdict(r) for r in rows]},
                                        indent=1))
    if args.markdown:
        args.markdown.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
