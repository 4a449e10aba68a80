"""The one reference for every value test: plain Python, written to be read.

It implements the documented contract of fill_draft_extend_metadata,
including the result the CUDA kernel gives for values only the device sees
(docs/draft_extend.md): negative extend lengths add no tokens, rows that do
not fit a buffer are not written, values saturate at INT32_MAX, the total
saturates at INT64_MAX.
"""

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def draft_extend_rows(extend_seq_lens, seq_lens, nsa_index_topk):
    """Yields (seqlens_expanded, nsa_cache_seqlens) for every token, in order."""
    for extend_seq_len, seq_len in zip(extend_seq_lens, seq_lens):
        for j in range(max(extend_seq_len, 0)):
            expanded = max(0, seq_len - extend_seq_len + 1 + j)
            expanded = min(expanded, INT32_MAX)
            yield expanded, min(expanded, nsa_index_topk)


def draft_extend_total(extend_seq_lens):
    return min(sum(max(e, 0) for e in extend_seq_lens), INT64_MAX)


def fill_draft_extend_metadata(extend_seq_lens, seq_lens, nsa_index_topk,
                               expanded_capacity, cache_capacity):
    """Returns (seqlens_expanded, nsa_cache_seqlens, num_tokens) as lists.

    Each list is as long as its buffer's capacity: the rows that fit, then
    zeros up to the capacity.
    """
    extend_seq_lens = [int(e) for e in extend_seq_lens]
    seq_lens = [int(s) for s in seq_lens]
    seqlens_expanded = [0] * expanded_capacity
    nsa_cache_seqlens = [0] * cache_capacity
    for row, (expanded, cached) in enumerate(
            draft_extend_rows(extend_seq_lens, seq_lens, nsa_index_topk)):
        if row >= max(expanded_capacity, cache_capacity):
            break
        if row < expanded_capacity:
            seqlens_expanded[row] = expanded
        if row < cache_capacity:
            nsa_cache_seqlens[row] = cached
    return seqlens_expanded, nsa_cache_seqlens, draft_extend_total(extend_seq_lens)
