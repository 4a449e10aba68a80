"""Property-based tests: hypothesis draws shapes, dtypes, capacities and
adversarial values, and every output element is compared with the reference.

On CPU, valid data must match the reference and bad data (a negative length,
a KV length past int32, a total over a capacity) must raise and leave the
buffers untouched.
On CUDA every draw must give the reference's documented result, with guard
regions around every buffer left untouched. NSA_FUZZ_EXAMPLES sets the number
of examples per test (CI: 150; the GPU run uses more);
`--hypothesis-show-statistics` prints how many ran.
"""

import pytest
import torch
from hypothesis import given

from conftest import requires_cuda
from fuzzing import draft_extend_draws, fuzz_settings
import helpers
from helpers import POISON, expected

GUARD = 64


def first_bad_length(extend_seq_lens, seq_lens):
    """The start of the CPU's message for the first request with a bad
    length, checked in the order the CPU checks them; None when all are good."""
    for i, (extend, seq) in enumerate(zip(extend_seq_lens, seq_lens)):
        if seq < 0:
            return f"seq_lens[{i}] should be >= 0"
        if extend < 0:
            return f"extend_seq_lens[{i}] should be >= 0"
        if seq > 2**31 - 1:
            return f"the KV length of request {i} (seq_lens[{i}] = {seq}) should fit int32"
    return None


def run_guarded(*batch, device):
    return helpers.run_guarded(*batch, device, guard=GUARD)


def assert_reference_result(batch, device, namespace=None):
    """Runs a batch (any values) on `device` (the op of `namespace`, default
    nsa_metadata) and expects the reference's result."""
    extend_seq_lens, seq_lens, topk, expanded_capacity, cache_capacity, count_dtype = batch
    helpers.assert_guarded_run_matches_reference(
        extend_seq_lens, seq_lens, (expanded_capacity, cache_capacity), count_dtype, device,
        GUARD, namespace, topk)


@fuzz_settings
@given(draft_extend_draws(allow_bad_values=True))
def test_cpu_matches_the_reference_or_raises(batch):
    extend_seq_lens, seq_lens, topk, expanded_capacity, cache_capacity, count_dtype = batch
    error, got_expanded, got_cache, got_count = run_guarded(*batch, device="cpu")
    bad = first_bad_length(extend_seq_lens.tolist(), seq_lens.tolist())
    want_expanded, want_cache, total = expected(extend_seq_lens, seq_lens, topk,
                                                expanded_capacity, cache_capacity)
    if bad is not None:
        assert error is not None and bad in str(error), (bad, error)
    elif total > min(expanded_capacity, cache_capacity):
        assert error is not None and "rows of the batch, got" in str(error)
    else:
        assert error is None, error
        assert torch.equal(got_expanded, want_expanded)
        assert torch.equal(got_cache, want_cache)
        assert got_count == min(total, torch.iinfo(count_dtype).max)
        return
    # An error leaves every buffer as it was (num_tokens keeps its poison, -7).
    assert got_expanded.eq(POISON).all() and got_cache.eq(POISON).all() and got_count == -7


@requires_cuda
@fuzz_settings
@given(draft_extend_draws(allow_bad_values=True))
def test_cuda_gives_the_documented_result(batch):
    assert_reference_result(batch, "cuda")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=requires_cuda)])
@fuzz_settings
@given(batch=draft_extend_draws(allow_bad_values=False))
def test_valid_batches_match_on_every_device(device, batch):
    extend_seq_lens, seq_lens, topk, expanded_capacity, cache_capacity, count_dtype = batch
    total = sum(extend_seq_lens.tolist())
    # Valid means every row fits.
    assert_reference_result((extend_seq_lens, seq_lens, topk, max(expanded_capacity, total),
                             max(cache_capacity, total), count_dtype), device)
