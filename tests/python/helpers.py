"""Calls the ops the way an engine does and compares with the reference."""
import torch

import reference

POISON = -123456  # Any row left unwritten shows up as this value.


def poisoned_buffer(capacity, device):
    return torch.full((capacity,), POISON, dtype=torch.int32, device=device)


def expected(extend_seq_lens, seq_lens, topk, expanded_capacity, cache_capacity):
    seqlens_expanded, nsa_cache_seqlens, total = reference.fill_draft_extend_metadata(
        extend_seq_lens.tolist(), seq_lens.tolist(), topk, expanded_capacity, cache_capacity)
    return (torch.tensor(seqlens_expanded, dtype=torch.int32),
            torch.tensor(nsa_cache_seqlens, dtype=torch.int32), total)


def fill(extend_seq_lens, seq_lens, topk, expanded_capacity, cache_capacity=None,
         count_dtype=torch.int64):
    """Runs the fill op into poisoned buffers; returns them and num_tokens on the CPU."""
    device = extend_seq_lens.device
    cache_capacity = expanded_capacity if cache_capacity is None else cache_capacity
    seqlens_expanded = poisoned_buffer(expanded_capacity, device)
    nsa_cache_seqlens = poisoned_buffer(cache_capacity, device)
    num_tokens = torch.full((1,), -1, dtype=count_dtype, device=device)
    torch.ops.nsa_metadata.fill_draft_extend_metadata(
        extend_seq_lens, seq_lens, topk, seqlens_expanded, nsa_cache_seqlens,
        num_tokens=num_tokens)
    return seqlens_expanded.cpu(), nsa_cache_seqlens.cpu(), num_tokens.item()


def assert_matches_reference(extend_seq_lens, seq_lens, topk, expanded_capacity,
                             cache_capacity=None, count_dtype=torch.int64):
    cache_capacity = expanded_capacity if cache_capacity is None else cache_capacity
    got_expanded, got_cache, got_total = fill(extend_seq_lens, seq_lens, topk,
                                              expanded_capacity, cache_capacity, count_dtype)
    want_expanded, want_cache, want_total = expected(extend_seq_lens, seq_lens, topk,
                                                     expanded_capacity, cache_capacity)
    count_max = torch.iinfo(count_dtype).max
    assert got_total == min(want_total, count_max)
    assert_equal(got_expanded, want_expanded, "seqlens_expanded")
    assert_equal(got_cache, want_cache, "nsa_cache_seqlens")


def assert_equal(got, want, name):
    if torch.equal(got, want):
        return
    assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    wrong = (got != want).nonzero().flatten()
    first = wrong[0].item()
    raise AssertionError(f"{name}: {wrong.numel()} rows differ; first at row {first}: "
                         f"got {got[first].item()}, want {want[first].item()}")
