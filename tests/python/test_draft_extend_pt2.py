"""The ops under PyTorch 2's tooling: torch.library.opcheck (schema, FakeTensor,
AOT dispatch with dynamic shapes) and torch.compile(fullgraph=True)."""
import pytest
import torch

from helpers import assert_equal, expected, poisoned_buffer
from inputs import random_inputs

fill = torch.ops.nsa_metadata.fill_draft_extend_metadata
functional = torch.ops.nsa_metadata.draft_extend_metadata


def sample_inputs(device, batch_size=37, seed=0):
    return random_inputs(batch_size, "zeros_to_8", "padded", seed, torch.int32, torch.int64,
                         device)


@pytest.mark.parametrize("with_counter", [False, True])
def test_opcheck_fill(device, with_counter):
    extend_seq_lens, seq_lens = sample_inputs(device)
    capacity = int(extend_seq_lens.sum()) + 5
    num_tokens = torch.zeros(1, dtype=torch.int64, device=device) if with_counter else None
    torch.library.opcheck(
        fill,
        (extend_seq_lens, seq_lens, 2048, poisoned_buffer(capacity, device),
         poisoned_buffer(capacity, device)),
        {"num_tokens": num_tokens})


def test_opcheck_functional(device):
    extend_seq_lens, seq_lens = sample_inputs(device)
    torch.library.opcheck(functional, (extend_seq_lens, seq_lens, 2048,
                                       int(extend_seq_lens.sum()) + 3))


class DraftExtendStep(torch.nn.Module):
    """What an engine's per-step metadata update looks like under compile."""

    def __init__(self, capacity, device):
        super().__init__()
        self.register_buffer("seqlens_expanded", torch.zeros(capacity, dtype=torch.int32,
                                                             device=device))
        self.register_buffer("nsa_cache_seqlens", torch.zeros(capacity, dtype=torch.int32,
                                                              device=device))
        self.register_buffer("num_tokens", torch.zeros(1, dtype=torch.int64, device=device))

    def forward(self, extend_seq_lens, seq_lens):
        fill(extend_seq_lens, seq_lens, 2048, self.seqlens_expanded, self.nsa_cache_seqlens,
             num_tokens=self.num_tokens)
        fresh_expanded, fresh_cache = functional(extend_seq_lens, seq_lens, 2048,
                                                 self.seqlens_expanded.shape[0])
        return fresh_expanded + 0, fresh_cache


@pytest.mark.parametrize("dynamic", [False, True])
def test_torch_compile_fullgraph(device, dynamic):
    torch._dynamo.reset()
    capacity = 400
    step = DraftExtendStep(capacity, device)
    compiled = torch.compile(step, fullgraph=True, dynamic=dynamic)
    for batch_size, seed in ((33, 1), (40, 2), (12, 3)):
        extend_seq_lens, seq_lens = sample_inputs(device, batch_size, seed)
        fresh_expanded, fresh_cache = compiled(extend_seq_lens, seq_lens)
        want_expanded, want_cache, total = expected(extend_seq_lens, seq_lens, 2048, capacity,
                                                    capacity)
        assert_equal(step.seqlens_expanded.cpu(), want_expanded, "seqlens_expanded")
        assert_equal(step.nsa_cache_seqlens.cpu(), want_cache, "nsa_cache_seqlens")
        assert step.num_tokens.item() == total
        assert_equal(fresh_expanded.cpu(), want_expanded, "functional seqlens_expanded")
        assert_equal(fresh_cache.cpu(), want_cache, "functional nsa_cache_seqlens")
