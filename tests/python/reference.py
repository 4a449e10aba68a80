"""The one reference for every value test: plain Python, written to be read.

It implements the documented contract of every operator (docs/step_metadata.md,
docs/draft_extend.md), including the result the CUDA kernels give for values
only the device sees: lengths outside [0, INT32_MAX] clamp, negative extend
lengths add no rows, rows that do not fit a buffer are not written, the row
total saturates at INT64_MAX. fill_draft_extend_metadata is the draft-extend
mode of fill_step_metadata asked for two row vectors.
"""

import torch

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def fill_draft_extend_metadata(extend_seq_lens, seq_lens, nsa_index_topk,
                               expanded_capacity, cache_capacity, index_kpool=1):
    """Returns (seqlens_expanded, nsa_cache_seqlens, num_tokens) as lists.

    Each list is as long as its buffer's capacity: the rows that fit, then
    zeros up to the capacity.
    """
    outputs = {"seqlens_expanded": [0] * expanded_capacity,
               "nsa_cache_seqlens": [0] * cache_capacity}
    total = fill_step_metadata("draft_extend", seq_lens, [0] * len(seq_lens),
                               torch.zeros((1, 0), dtype=torch.int32), nsa_index_topk, 1,
                               outputs, extend_seq_lens=extend_seq_lens,
                               index_kpool=index_kpool)
    return outputs["seqlens_expanded"], outputs["nsa_cache_seqlens"], total


MODES = ("decode", "target_verify", "draft_extend")


def clamp_int32(value):
    """The documented device result for a length outside [0, INT32_MAX]."""
    return min(max(value, 0), INT32_MAX)


def step_requests(mode, seq_lens, extend_seq_lens=None, num_draft_tokens=None):
    """Yields, per request, (its KV length, its number of query rows, the KV
    length of its row j as a function of j), in the issue's words."""
    for i, seq_len in enumerate(seq_lens):
        if mode == "decode":
            yield seq_len, 1, lambda j, seq_len=seq_len: seq_len
        elif mode == "target_verify":
            yield (seq_len + num_draft_tokens, num_draft_tokens,
                   lambda j, seq_len=seq_len: seq_len + j + 1)
        else:
            extend = num_draft_tokens if extend_seq_lens is None else extend_seq_lens[i]
            yield (seq_len, max(extend, 0),
                   lambda j, seq_len=seq_len, extend=extend: max(0, seq_len - extend + 1 + j))


def fill_step_metadata(mode, seq_lens, req_pool_indices, req_to_token, nsa_index_topk,
                       page_size, outputs, extend_seq_lens=None, num_draft_tokens=None,
                       index_kpool=1):
    """Writes the expected contents into `outputs` (name -> CPU tensor, or list
    for a vector, holding the buffer's prior contents) and returns the number
    of rows (num_tokens).

    Rows past a vector's capacity are not written; past the batch's rows the
    vectors are 0 and nsa_cu_seqlens_k repeats its last value. Page-table
    columns past a row's KV length, rows past the batch's and rows of a
    request whose pool index is outside req_to_token keep their contents.
    """
    seq_lens = [int(s) for s in seq_lens]
    req_pool_indices = [int(p) for p in req_pool_indices]
    if extend_seq_lens is not None:
        extend_seq_lens = [int(e) for e in extend_seq_lens]
    cache_seqlens = outputs.get("cache_seqlens")
    cu_seqlens_k = outputs.get("cu_seqlens_k")
    seqlens_expanded = outputs.get("seqlens_expanded")
    nsa_cache_seqlens = outputs.get("nsa_cache_seqlens")
    nsa_cu_seqlens_k = outputs.get("nsa_cu_seqlens_k")
    page_table_1 = outputs.get("page_table_1")
    real_page_table = outputs.get("real_page_table")
    paged_mqa_context_lens = outputs.get("paged_mqa_context_lens")

    def capacity(buffer, extra=0):  # a tensor or, for vectors, a list
        return 0 if buffer is None else len(buffer) - extra

    row_limit = max(capacity(seqlens_expanded), capacity(nsa_cache_seqlens),
                    capacity(nsa_cu_seqlens_k, 1), capacity(page_table_1),
                    capacity(real_page_table))
    if cu_seqlens_k is not None:
        cu_seqlens_k[0] = 0
    if nsa_cu_seqlens_k is not None:
        nsa_cu_seqlens_k[0] = 0
    kv_sum = 0
    topk_sum = 0
    rows = 0
    for i, (kv_len, row_count, row_kv_len_of) in enumerate(
            step_requests(mode, seq_lens, extend_seq_lens, num_draft_tokens)):
        kv_sum += clamp_int32(kv_len)
        if cache_seqlens is not None:
            cache_seqlens[i] = clamp_int32(kv_len)
        if paged_mqa_context_lens is not None:
            paged_mqa_context_lens[i, :] = clamp_int32(kv_len)
        if cu_seqlens_k is not None:
            cu_seqlens_k[i + 1] = min(kv_sum, INT32_MAX)
        # Rows past every buffer are counted, not listed.
        for j in range(max(0, min(row_count, row_limit - rows))):
            row = rows + j
            row_kv_len = clamp_int32(row_kv_len_of(j))
            selected = pooled_topk(row_kv_len, nsa_index_topk, index_kpool)
            topk_sum += selected
            if row < capacity(seqlens_expanded):
                seqlens_expanded[row] = row_kv_len
            if row < capacity(nsa_cache_seqlens):
                nsa_cache_seqlens[row] = selected
            if row < capacity(nsa_cu_seqlens_k, 1):
                nsa_cu_seqlens_k[row + 1] = min(topk_sum, INT32_MAX)
            if page_table_1 is None and real_page_table is None:
                continue
            if not 0 <= req_pool_indices[i] < req_to_token.shape[0]:
                continue
            tokens = req_to_token[req_pool_indices[i]]
            if row < capacity(page_table_1):
                columns = min(row_kv_len, page_table_1.shape[1])
                page_table_1[row, :columns] = tokens[:columns]
            if row < capacity(real_page_table):
                pages = min(-(-row_kv_len // page_size), real_page_table.shape[1])
                real_page_table[row, :pages] = torch.div(
                    tokens[0:pages * page_size:page_size], page_size, rounding_mode="floor")
        rows += row_count
    for position in range(rows, row_limit):
        if position < capacity(seqlens_expanded):
            seqlens_expanded[position] = 0
        if position < capacity(nsa_cache_seqlens):
            nsa_cache_seqlens[position] = 0
        if position < capacity(nsa_cu_seqlens_k, 1):
            nsa_cu_seqlens_k[position + 1] = min(topk_sum, INT32_MAX)
    return min(rows, INT64_MAX)


def pooled_topk(kv_len, nsa_index_topk, index_kpool):
    """nsa_cache_seqlens of a row: min(floor(x / K) * K, topk) + x mod K."""
    pooled = kv_len // index_kpool * index_kpool
    return min(pooled, nsa_index_topk) + kv_len % index_kpool


def fill_extend_metadata(seq_lens, extend_seq_lens, req_pool_indices, req_to_token,
                         nsa_index_topk, page_size, outputs, index_kpool=1):
    """Writes the expected contents into `outputs` (name -> CPU tensor holding
    the buffer's prior contents), from the formulas of docs/extend.md, and
    returns (num_tokens, num_kv_tokens).

    Per-token positions past the token total are 0 (nsa_cu_seqlens_k repeats
    its last value there); flattened positions past the KV total, and
    columns past a row's KV length, keep their contents. Values only the
    device sees get the CUDA kernel's documented result: lengths clamp to
    [0, INT32_MAX] (a negative extend adds no tokens), sums written to int32
    saturate there, tokens and slots past a buffer are not written, a request
    whose pool index is outside req_to_token leaves its page-table row and
    flattened slots untouched.
    """
    raw_seq_lens = [int(s) for s in seq_lens]  # a row's length saturates, not s first
    seq_lens = [clamp_int32(s) for s in raw_seq_lens]
    extend_seq_lens = [max(0, int(e)) for e in extend_seq_lens]
    req_pool_indices = [int(p) for p in req_pool_indices]
    width = req_to_token.shape[1]

    def cumsum0(values):
        sums = [0]
        for value in values:
            sums.append(sums[-1] + value)
        return sums

    q = cumsum0(extend_seq_lens)
    k = cumsum0(seq_lens)
    narrow = lambda values: [min(value, INT32_MAX) for value in values]  # noqa: E731
    token_names = ("seqlens_expanded", "nsa_cache_seqlens", "token_to_batch_idx",
                   "indexer_k_start", "indexer_k_end")
    token_limit = max([outputs[name].shape[0] for name in token_names if name in outputs] +
                      [outputs["nsa_cu_seqlens_k"].shape[0] - 1
                       if "nsa_cu_seqlens_k" in outputs else 0])
    per_token = {name: [] for name in token_names}
    for i, (s, e) in enumerate(zip(raw_seq_lens, extend_seq_lens)):
        # Tokens past every buffer are counted (q), not listed.
        for j in range(max(0, min(e, token_limit - q[i]))):
            expanded = clamp_int32(s - e + 1 + j)
            per_token["seqlens_expanded"].append(expanded)
            per_token["nsa_cache_seqlens"].append(pooled_topk(expanded, nsa_index_topk,
                                                              index_kpool))
            per_token["token_to_batch_idx"].append(i)
            per_token["indexer_k_start"].append(min(k[i], INT32_MAX))
            per_token["indexer_k_end"].append(min(k[i] + expanded, INT32_MAX))
    nsa_cu = narrow(cumsum0(per_token["nsa_cache_seqlens"]))

    def write_vector(name, values, tail):
        buffer = outputs.get(name)
        if buffer is not None:
            for position in range(buffer.shape[0]):
                buffer[position] = values[position] if position < len(values) else tail

    write_vector("cache_seqlens", seq_lens, 0)
    write_vector("cu_seqlens_k", narrow(k), 0)
    write_vector("cu_seqlens_q", narrow(q), 0)
    for name, values in per_token.items():
        write_vector(name, values, 0)
    # A tail exists only when every token was listed.
    write_vector("nsa_cu_seqlens_k", nsa_cu, nsa_cu[-1])
    flattened = outputs.get("page_table_1_flattened")
    for i, s in enumerate(seq_lens):
        if not 0 <= req_pool_indices[i] < req_to_token.shape[0]:
            continue
        row = req_to_token[req_pool_indices[i]]
        if outputs.get("page_table_1") is not None:
            columns = min(s, outputs["page_table_1"].shape[1])
            outputs["page_table_1"][i, :columns] = row[:columns]
        if outputs.get("real_page_table") is not None:
            pages = min(-(-s // page_size), outputs["real_page_table"].shape[1])
            outputs["real_page_table"][i, :pages] = torch.div(
                row[0:pages * page_size:page_size], page_size, rounding_mode="floor")
        if flattened is not None:
            columns = max(0, min(s, width, flattened.shape[0] - k[i]))
            flattened[k[i]:k[i] + columns] = row[:columns]
    return min(q[-1], INT64_MAX), k[-1]
