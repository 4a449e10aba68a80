"""Our step-metadata outputs equal SGLang's fused Triton kernels' (released
and upstream, benchmarks/peers/sglang_peers.py) on every column a consumer
reads, on random inputs of every mode and size class. Skips, saying why,
where the peers' files or a GPU are absent."""
import pathlib
import sys

import pytest
import torch

from conftest import requires_cuda
from helpers import POISON
from step_cases import poisoned_outputs

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
from peers import sglang_peers  # noqa: E402

pytestmark = requires_cuda

# Batch sizes around SGLang's power-of-two blocks and our tiles; widths below
# and above one 512-column unit of our copy, and a long context.
SIZES = [(1, 64), (7, 700), (33, 4096), (300, 2048), (1100, 520), (24, 40000)]


def sglang_module(version):
    pytest.importorskip("triton", reason="SGLang's kernels need Triton")
    module = sglang_peers.load(version)
    if module is None:
        pytest.skip(f"{version}'s file is absent from {sglang_peers.peers_dir()}: "
                    "benchmarks/peers/fetch_sglang.sh fetches it")
    return module


def random_case(mode, batch_size, width, seed):
    generator = torch.Generator().manual_seed(seed)
    pool_rows = batch_size + 5
    n = sglang_peers.MAX_EXTEND
    # SGLang reads each row up to its KV length whatever the table's width,
    # so KV lengths stay within it (the consumers' contract too).
    longest = width - n if mode == "target_verify" else width
    extend = torch.randint(1, n + 1, (batch_size,), generator=generator)
    seq_lens = torch.randint(0, longest + 1, (batch_size,), generator=generator)
    if mode.startswith("draft_extend"):
        seq_lens = seq_lens.maximum(extend)
    return sglang_peers.step_case(
        mode, seq_lens, extend, torch.randperm(pool_rows, generator=generator)[:batch_size],
        torch.randint(0, 1 << 22, (pool_rows, width), generator=generator, dtype=torch.int32),
        n).to("cuda")


@pytest.mark.parametrize("version", sglang_peers.VERSIONS)
@pytest.mark.parametrize("mode", sglang_peers.MODES)
@pytest.mark.parametrize("batch_size,width", SIZES)
def test_outputs_equal_sglang_where_consumers_read(version, mode, batch_size, width):
    module = sglang_module(version)
    for seed in range(2):
        case = random_case(mode, batch_size, width, seed)
        capacity = batch_size * sglang_peers.MAX_EXTEND + 3
        ours = poisoned_outputs(case, "cuda", row_capacity=capacity)
        theirs = poisoned_outputs(case, "cuda", row_capacity=capacity)
        case.call(**ours)
        sglang_peers.call(module, case, sglang_peers.HostView(case), theirs)
        want = case.expected(poisoned_outputs(case, "cpu", row_capacity=capacity))
        for name, buffer in ours.items():
            mask = sglang_peers.consumer_mask(case, name, want[name], POISON)
            assert mask.any() or case.rows() == 0 or name == "real_page_table", name
            got, peer = buffer.cpu()[mask], theirs[name].cpu()[mask]
            assert torch.equal(got, peer), (
                f"{name}: {int((got != peer).sum())} of {got.numel()} read positions differ")
