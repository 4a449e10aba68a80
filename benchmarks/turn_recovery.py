"""How many calls ours needs to reach its steady latency after another call's
turn: the evidence behind harness.TURN_SETTLE.

    python benchmarks/turn_recovery.py --build build

Prints, after a turn of each of: the engine loop (peer 1), the floor, and a
30 ms idle host, ours' median latency with sync at each index of its turn.
"""
import argparse
import pathlib
import statistics
import sys
import time

import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
import bench_draft_extend  # noqa: E402
import harness  # noqa: E402
from peers import python_peers  # noqa: E402

ROUNDS = 12
TURN = 60
SHOWN = 20


def idle(*_):
    time.sleep(0.03)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(HERE.parent / "build"), type=pathlib.Path)
    parser.add_argument("--batch-size", default=128, type=int)
    args = parser.parse_args()
    torch.ops.load_library(str(args.build / "op" / "libnsa_metadata.so"))
    torch.ops.load_library(str(args.build / "benchmarks" / "libnsa_metadata_bench_peers.so"))
    ours = torch.ops.nsa_metadata.fill_draft_extend_metadata
    sets = bench_draft_extend.input_sets(args.batch_size, 4, "cuda", seed=args.batch_size)
    before = {"engine loop": (python_peers.engine_loop, 19),
              "floor": (torch.ops.nsa_metadata_bench.floor_fill, 19),
              "30 ms idle": (idle, 1)}
    for name, (other, calls) in before.items():
        by_index = [[] for _ in range(TURN)]
        for _ in range(ROUNDS):
            for k in range(calls):
                other(*sets[k % len(sets)])
            torch.cuda.synchronize()
            for i in range(TURN):
                by_index[i].append(harness.latency_s(ours, sets[i % len(sets)]))
        medians = [statistics.median(times) * 1e6 for times in by_index]
        print(f"after {name}: ours (us) by index",
              " ".join(f"{m:.1f}" for m in medians[:SHOWN]),
              f"... median of the last {SHOWN}: {statistics.median(medians[-SHOWN:]):.1f}")


if __name__ == "__main__":
    main()
