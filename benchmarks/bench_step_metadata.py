"""The step-metadata ops (decode, target-verify, draft-extend with page
tables) against what engines ship today, side by side.

    python benchmarks/bench_step_metadata.py --build build [--markdown out.md]

Per mode and batch size: latency of one call including a synchronize, and
GPU time (calls captured in one CUDA graph; a peer that syncs cannot be
captured). Inputs like a DeepSeek-V3.2 serving step: every request under 8K
tokens, a req_to_token pool 163840 columns wide (its context length), page
size 64, topk 2048, 4 draft tokens (target-verify), extend lengths 1..4
(draft-extend). Peers (benchmarks/peers/step_peers.py):
  pytorch ops   a dozen small ops, tables gathered at full width
                (draft-extend: one host sync for the number of rows)
  ours          one launch, tables up to each row's KV length
  floor         an op registered like ours whose kernel does nothing
Each is checked against the reference before it is timed (ours on every
buffer, untouched columns included; the peer on the columns consumers read).
"""
import argparse
import datetime
import pathlib
import platform
import sys

import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
import harness  # noqa: E402
from helpers import POISON  # noqa: E402
from peers import step_peers  # noqa: E402
from reference import MODES  # noqa: E402
from step_cases import StepCase, poisoned_outputs  # noqa: E402

BATCH_SIZES = [1, 8, 32, 128, 256, 1024]
WIDTH = 163840
SEQ_MAX = 8192
INPUT_SETS = 4


def step_inputs(mode, batch_size, req_to_token, generator):
    pool_rows = req_to_token.shape[0]
    extend = torch.randint(1, 5, (batch_size,), generator=generator)
    case = StepCase(
        mode=mode,
        seq_lens=torch.randint(1, SEQ_MAX, (batch_size,), generator=generator).maximum(extend),
        req_pool_indices=torch.randperm(pool_rows, generator=generator)[:batch_size],
        req_to_token=req_to_token,
        extend_seq_lens=extend if mode == "draft_extend" else None,
        num_draft_tokens=4 if mode == "target_verify" else None)
    return case.to("cuda")


def outputs_for(case):
    # Draft-extend buffers hold the largest batch's rows (4 per request).
    capacity = case.batch_size * 4 if case.mode == "draft_extend" else None
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
        mask = torch.ones_like(got, dtype=torch.bool) if exact else want[output] != POISON
        if not torch.equal(got[mask], want[output][mask]):
            raise SystemExit(f"{name} {case.mode} bs {case.batch_size}: {output} does not "
                             "match the reference; not timing it")


def ours(case, outputs):
    case.call(**outputs)


def floor(case, outputs):
    torch.ops.nsa_metadata_bench.floor_fill(case.seq_lens, case.seq_lens, 1,
                                            outputs["cache_seqlens"], outputs["cache_seqlens"])


def sweep(rows, check_up_to):
    generator = torch.Generator().manual_seed(0)
    pool_rows = max(BATCH_SIZES) + 64
    req_to_token = torch.randint(0, 1 << 24, (pool_rows, WIDTH), generator=generator,
                                 dtype=torch.int32).cuda()
    for mode in MODES:
        for batch_size in BATCH_SIZES:
            sets = [step_inputs(mode, batch_size, req_to_token, generator)
                    for _ in range(INPUT_SETS)]
            outputs = outputs_for(sets[0])
            peer = step_peers.PEERS[mode]
            if batch_size <= check_up_to:
                check("ours", ours, sets[0], outputs, exact=True)
                check("pytorch ops", peer, sets[1], outputs, exact=False)
            figures = {}
            for name, call in (("pytorch ops", peer), ("ours", ours), ("floor", floor)):
                latency = harness.latency_with_sync(call, [(c, outputs) for c in sets])
                gpu = (None if name == "pytorch ops" and mode == "draft_extend"
                       else harness.gpu_time_in_graph(call, (sets[0], outputs), launches=20))
                figures[name] = (latency, gpu)
            peer_latency, peer_gpu = figures["pytorch ops"]
            ours_latency, ours_gpu = figures["ours"]
            rows.append([mode, batch_size, peer_latency,
                         "syncs" if peer_gpu is None else peer_gpu,
                         ours_latency, ours_gpu, figures["floor"][0],
                         f"{peer_latency / ours_latency:.1f}x"])
            print(rows[-1], flush=True)
            del outputs
            torch.cuda.empty_cache()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(HERE.parent / "build"), type=pathlib.Path)
    parser.add_argument("--markdown", type=pathlib.Path, help="also write the table here")
    parser.add_argument("--check-up-to", type=int, default=256,
                        help="check against the reference up to this batch size")
    args = parser.parse_args()
    torch.ops.load_library(str(args.build / "op" / "libnsa_metadata.so"))
    torch.ops.load_library(str(args.build / "benchmarks" / "libnsa_metadata_bench_peers.so"))
    rows = []
    sweep(rows, args.check_up_to)
    header = (f"{datetime.date.today()}, {torch.cuda.get_device_name(0)}, torch "
              f"{torch.__version__}, CUDA {torch.version.cuda}, Python "
              f"{platform.python_version()}; times in us, medians")
    table = harness.format_table(
        ["mode", "bs", "pytorch ops latency", "pytorch ops GPU", "ours latency", "ours GPU",
         "floor latency", "speed-up"], rows)
    text = f"{header}\n\n{table}\n"
    if args.markdown:
        args.markdown.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
