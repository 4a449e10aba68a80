"""The approaches engines used before nsa-metadata, as benchmark peers. Each
fills the same preallocated buffers as fill_draft_extend_metadata (rows, then
a zeroed tail); none of them writes num_tokens. Valid inputs only."""
import torch


def engine_loop(extend_seq_lens, seq_lens, nsa_index_topk, seqlens_expanded,
                nsa_cache_seqlens):
    """Peer 1, the original engine path: per-request arange + cat, with
    .tolist() host syncs."""
    device = extend_seq_lens.device
    rows = torch.cat([
        torch.arange(seq - extend + 1, seq + 1, dtype=torch.int32, device=device)
        for extend, seq in zip(extend_seq_lens.tolist(), seq_lens.tolist())
    ]).clamp_(min=0)
    total = rows.numel()
    seqlens_expanded[:total].copy_(rows)
    seqlens_expanded[total:].zero_()
    nsa_cache_seqlens[:total].copy_(rows.clamp_(max=nsa_index_topk))
    nsa_cache_seqlens[total:].zero_()


def vectorized_torch(extend_seq_lens, seq_lens, nsa_index_topk, seqlens_expanded,
                     nsa_cache_seqlens):
    """Peer 2: cumsum + repeat_interleave, one host sync for the total."""
    device = extend_seq_lens.device
    total = int(extend_seq_lens.sum())  # the host sync
    request = torch.repeat_interleave(torch.arange(extend_seq_lens.numel(), device=device),
                                      extend_seq_lens, output_size=total)
    first_row = torch.cumsum(extend_seq_lens, 0) - extend_seq_lens
    j = torch.arange(total, device=device) - first_row[request]
    rows = (seq_lens[request] - extend_seq_lens[request] + 1 + j).clamp_(min=0)
    seqlens_expanded[:total].copy_(rows)
    seqlens_expanded[total:].zero_()
    nsa_cache_seqlens[:total].copy_(rows.clamp_(max=nsa_index_topk))
    nsa_cache_seqlens[total:].zero_()


try:
    import triton
    import triton.language as tl
except ImportError:  # the benchmark then leaves peer 3 out and says so
    triton = None

if triton is not None:
    @triton.jit
    def _rows_of_request(extend_ptr, seq_ptr, row_end_ptr, expanded_ptr, cache_ptr, topk,
                         BLOCK: tl.constexpr):
        request = tl.program_id(0)
        extend = tl.load(extend_ptr + request).to(tl.int64)
        seq = tl.load(seq_ptr + request).to(tl.int64)
        first = tl.load(row_end_ptr + request) - extend
        j = tl.arange(0, BLOCK)
        mask = j < extend
        rows = tl.maximum(seq - extend + 1 + j, 0)
        tl.store(expanded_ptr + first + j, rows.to(tl.int32), mask=mask)
        tl.store(cache_ptr + first + j, tl.minimum(rows, topk).to(tl.int32), mask=mask)


def triton_one_sync(extend_seq_lens, seq_lens, nsa_index_topk, seqlens_expanded,
                    nsa_cache_seqlens, max_extend=8):
    """Peer 3, the earlier Triton attempt: cumsum, one host sync for the total,
    one program per request."""
    row_ends = torch.cumsum(extend_seq_lens, 0)
    total = int(row_ends[-1]) if row_ends.numel() else 0  # the host sync
    _rows_of_request[(extend_seq_lens.numel(),)](
        extend_seq_lens, seq_lens, row_ends, seqlens_expanded, nsa_cache_seqlens,
        nsa_index_topk, BLOCK=triton.next_power_of_2(max_extend))
    seqlens_expanded[total:].zero_()
    nsa_cache_seqlens[total:].zero_()
