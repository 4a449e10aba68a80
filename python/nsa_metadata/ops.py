"""Typed Python entry points of the operators: each calls its
``torch.ops.nsa_metadata`` operator and nothing else.

Shared notation: request ``i`` has ``s = seq_lens[i]`` tokens in its KV cache
and ``rows`` query rows (decode 1, target-verify ``N``, draft-extend
``e = extend_seq_lens[i]`` or a static ``N``); its last row sees ``top``
tokens (``s + N`` for target-verify, ``s`` otherwise) and row ``j`` sees
``kv_j = max(0, top - (rows - 1 - j))``. ``nsa_cache_seqlens =
min(kv // K * K, nsa_index_topk) + kv % K`` with ``K = index_kpool`` (every
operator's keyword, default 1: ``min(kv, nsa_index_topk)``), for an indexer
that selects whole pools of ``K`` tokens. Rows of all requests are numbered back to back. Index
inputs are 1-D int32 or int64; every output is a preallocated int32 buffer
on the inputs' device, written in place (nothing is returned, so CUDA-graph
replays keep the addresses). docs/draft_extend.md and docs/step_metadata.md
give the whole contract, errors and the results of bad device values.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor


def fill_draft_extend_metadata(extend_seq_lens: Tensor, seq_lens: Tensor, nsa_index_topk: int,
                               seqlens_expanded: Tensor, nsa_cache_seqlens: Tensor, *,
                               num_tokens: Optional[Tensor] = None,
                               index_kpool: int = 1) -> None:
    """Fills the draft-extend step's per-token KV lengths.

    For request ``i`` and ``j < e``, at row ``sum(e over earlier requests) + j``:
    ``seqlens_expanded = max(0, s - e + 1 + j)`` and ``nsa_cache_seqlens``
    from it (``min(seqlens_expanded, nsa_index_topk)`` for ``index_kpool=1``); positions
    past the batch's rows are zeroed, rows past a buffer's length are not
    written.

    Args:
        extend_seq_lens, seq_lens: ``[bs]`` int32 or int64.
        nsa_index_topk: >= 1.
        seqlens_expanded, nsa_cache_seqlens: ``[capacity]`` int32, mutated.
        num_tokens: optional ``[1]`` int32 or int64, mutated: receives the
            batch's row total (also when it exceeds the capacity).

    Example::

        >>> expanded = torch.zeros(8, dtype=torch.int32)
        >>> cached = torch.zeros(8, dtype=torch.int32)
        >>> nsa_metadata.fill_draft_extend_metadata(
        ...     torch.tensor([2, 1]), torch.tensor([5, 3]), 4, expanded, cached)
        >>> expanded.tolist()
        [4, 5, 3, 0, 0, 0, 0, 0]
    """
    torch.ops.nsa_metadata.fill_draft_extend_metadata(
        extend_seq_lens, seq_lens, nsa_index_topk, seqlens_expanded, nsa_cache_seqlens,
        num_tokens=num_tokens, index_kpool=index_kpool)


def draft_extend_metadata(extend_seq_lens: Tensor, seq_lens: Tensor, nsa_index_topk: int,
                          capacity: int, *, index_kpool: int = 1) -> Tuple[Tensor, Tensor]:
    """The functional form of :func:`fill_draft_extend_metadata`: returns fresh
    ``(seqlens_expanded, nsa_cache_seqlens)``, int32 of length ``capacity``
    on the inputs' device, for ``torch.compile`` and ``torch.export``.

    Example::

        >>> nsa_metadata.draft_extend_metadata(torch.tensor([2, 1]), torch.tensor([5, 3]), 4, 4)
        (tensor([4, 5, 3, 0], dtype=torch.int32), tensor([4, 4, 3, 0], dtype=torch.int32))
    """
    return torch.ops.nsa_metadata.draft_extend_metadata(extend_seq_lens, seq_lens,
                                                        nsa_index_topk, capacity,
                                                        index_kpool=index_kpool)


def fill_decode_metadata(seq_lens: Tensor, req_pool_indices: Tensor, req_to_token: Tensor,
                         nsa_index_topk: int, page_size: int, *, index_kpool: int = 1,
                         cache_seqlens: Optional[Tensor] = None,
                         cu_seqlens_k: Optional[Tensor] = None,
                         nsa_cache_seqlens: Optional[Tensor] = None,
                         nsa_cu_seqlens_k: Optional[Tensor] = None,
                         page_table_1: Optional[Tensor] = None,
                         real_page_table: Optional[Tensor] = None) -> None:
    """Fills a decode step's metadata (one row per request) into the buffers given.

    ``cache_seqlens[i] = s`` (``[bs]``); ``cu_seqlens_k = [0, cumsum(cache_seqlens)]``
    (``[bs + 1]``); ``nsa_cache_seqlens[i] = min(s, nsa_index_topk)`` (``[bs]``)
    and its cumulative sum ``nsa_cu_seqlens_k`` (``[bs + 1]``);
    ``page_table_1[i, c] = req_to_token[req_pool_indices[i], c]`` for ``c < s``
    (``[bs, W]``, W at most ``req_to_token``'s width) and
    ``real_page_table[i, c] = page_table_1[i, c * page_size] // page_size`` for
    ``c * page_size < s``. Columns past a row's KV length are left untouched.

    Args:
        seq_lens, req_pool_indices: ``[bs]`` int32 or int64.
        req_to_token: ``[pool, width]`` int32, unit column stride.
        nsa_index_topk, page_size: >= 1.
        index_kpool: ``K >= 1``, for an indexer that selects whole pools of K
            tokens: ``nsa_cache_seqlens = min(kv // K * K, nsa_index_topk) + kv % K``
            (every operator that writes ``nsa_cache_seqlens`` takes it).
        The keyword buffers: int32, each optional, each mutated.

    Example::

        >>> cu = torch.zeros(3, dtype=torch.int32)
        >>> nsa_metadata.fill_decode_metadata(torch.tensor([3, 1]), torch.tensor([1, 0]),
        ...                                   torch.arange(10, dtype=torch.int32).view(2, 5),
        ...                                   2048, 64, cu_seqlens_k=cu)
        >>> cu.tolist()
        [0, 3, 4]
    """
    torch.ops.nsa_metadata.fill_decode_metadata(
        seq_lens, req_pool_indices, req_to_token, nsa_index_topk, page_size,
        index_kpool=index_kpool, cache_seqlens=cache_seqlens, cu_seqlens_k=cu_seqlens_k,
        nsa_cache_seqlens=nsa_cache_seqlens, nsa_cu_seqlens_k=nsa_cu_seqlens_k,
        page_table_1=page_table_1, real_page_table=real_page_table)


def fill_target_verify_metadata(seq_lens: Tensor, req_pool_indices: Tensor,
                                req_to_token: Tensor, num_draft_tokens: int,
                                nsa_index_topk: int, page_size: int, *,
                                index_kpool: int = 1,
                                cache_seqlens: Optional[Tensor] = None,
                                cu_seqlens_k: Optional[Tensor] = None,
                                seqlens_expanded: Optional[Tensor] = None,
                                nsa_cache_seqlens: Optional[Tensor] = None,
                                nsa_cu_seqlens_k: Optional[Tensor] = None,
                                page_table_1: Optional[Tensor] = None,
                                real_page_table: Optional[Tensor] = None,
                                paged_mqa_context_lens: Optional[Tensor] = None) -> None:
    """Fills a target-verify step's metadata: ``N = num_draft_tokens`` rows per request.

    ``cache_seqlens[i] = s + N``; row ``i * N + j`` has
    ``seqlens_expanded = s + j + 1`` and its ``nsa_cache_seqlens``; the
    cumulative sums and page tables as :func:`fill_decode_metadata`, each row
    of the tables (``[bs * N, W]``) up to its own KV length. Row buffers hold
    exactly ``bs * N`` rows (``nsa_cu_seqlens_k`` one more).
    ``paged_mqa_context_lens`` (``[bs, N]``) gets ``cache_seqlens[i]`` in every
    column of row ``i``, the layout DeepGEMM's paged MQA logits read.

    Example::

        >>> expanded = torch.zeros(4, dtype=torch.int32)
        >>> nsa_metadata.fill_target_verify_metadata(
        ...     torch.tensor([3, 1]), torch.tensor([0, 1]), torch.zeros(2, 8, dtype=torch.int32),
        ...     2, 2048, 64, seqlens_expanded=expanded)
        >>> expanded.tolist()
        [4, 5, 2, 3]
    """
    torch.ops.nsa_metadata.fill_target_verify_metadata(
        seq_lens, req_pool_indices, req_to_token, num_draft_tokens, nsa_index_topk, page_size,
        index_kpool=index_kpool, cache_seqlens=cache_seqlens, cu_seqlens_k=cu_seqlens_k,
        seqlens_expanded=seqlens_expanded, nsa_cache_seqlens=nsa_cache_seqlens,
        nsa_cu_seqlens_k=nsa_cu_seqlens_k, page_table_1=page_table_1,
        real_page_table=real_page_table, paged_mqa_context_lens=paged_mqa_context_lens)


def fill_draft_extend_metadata_full(seq_lens: Tensor, req_pool_indices: Tensor,
                                    req_to_token: Tensor, extend_seq_lens: Optional[Tensor],
                                    nsa_index_topk: int, page_size: int, *,
                                    num_draft_tokens: Optional[int] = None,
                                    index_kpool: int = 1,
                                    cache_seqlens: Optional[Tensor] = None,
                                    cu_seqlens_k: Optional[Tensor] = None,
                                    seqlens_expanded: Optional[Tensor] = None,
                                    nsa_cache_seqlens: Optional[Tensor] = None,
                                    nsa_cu_seqlens_k: Optional[Tensor] = None,
                                    page_table_1: Optional[Tensor] = None,
                                    real_page_table: Optional[Tensor] = None,
                                    num_tokens: Optional[Tensor] = None) -> None:
    """Fills a draft-extend step's metadata, page tables included.

    Give exactly one of ``extend_seq_lens`` (``[bs]``, per-request row counts)
    and ``num_draft_tokens`` (a static count ``N``). ``cache_seqlens[i] = s``;
    the rows as :func:`fill_draft_extend_metadata`; the cumulative sums and
    page tables as :func:`fill_decode_metadata`, each table row up to its own
    KV length. Row buffers have a capacity: positions past the batch's rows
    are zeroed (``nsa_cu_seqlens_k`` repeats its last value there), rows past
    a buffer are not written, and ``num_tokens`` receives the row total.

    Example::

        >>> expanded = torch.zeros(4, dtype=torch.int32)
        >>> nsa_metadata.fill_draft_extend_metadata_full(
        ...     torch.tensor([5, 3]), torch.tensor([0, 1]), torch.zeros(2, 8, dtype=torch.int32),
        ...     torch.tensor([2, 1]), 2048, 64, seqlens_expanded=expanded)
        >>> expanded.tolist()
        [4, 5, 3, 0]
    """
    torch.ops.nsa_metadata.fill_draft_extend_metadata_full(
        seq_lens, req_pool_indices, req_to_token, extend_seq_lens, nsa_index_topk, page_size,
        num_draft_tokens=num_draft_tokens, index_kpool=index_kpool, cache_seqlens=cache_seqlens,
        cu_seqlens_k=cu_seqlens_k, seqlens_expanded=seqlens_expanded,
        nsa_cache_seqlens=nsa_cache_seqlens, nsa_cu_seqlens_k=nsa_cu_seqlens_k,
        page_table_1=page_table_1, real_page_table=real_page_table, num_tokens=num_tokens)


def fill_extend_metadata(seq_lens: Tensor, extend_seq_lens: Tensor, req_pool_indices: Tensor,
                         req_to_token: Tensor, nsa_index_topk: int, page_size: int, *,
                         index_kpool: int = 1,
                         cache_seqlens: Optional[Tensor] = None,
                         cu_seqlens_k: Optional[Tensor] = None,
                         cu_seqlens_q: Optional[Tensor] = None,
                         seqlens_expanded: Optional[Tensor] = None,
                         nsa_cache_seqlens: Optional[Tensor] = None,
                         nsa_cu_seqlens_k: Optional[Tensor] = None,
                         token_to_batch_idx: Optional[Tensor] = None,
                         indexer_k_start: Optional[Tensor] = None,
                         indexer_k_end: Optional[Tensor] = None,
                         page_table_1: Optional[Tensor] = None,
                         real_page_table: Optional[Tensor] = None,
                         page_table_1_flattened: Optional[Tensor] = None,
                         num_tokens: Optional[Tensor] = None,
                         num_kv_tokens: Optional[Tensor] = None) -> None:
    """Fills an extend (prefill) step's metadata into the buffers given.

    Request ``i`` has ``s = seq_lens[i]`` KV tokens after the step, ``e =
    extend_seq_lens[i]`` of them new; its query tokens are ``t = q_i + j``
    (``j < e``), with ``q_i`` and ``k_i`` the sums of ``e`` and ``s`` over the
    requests before it. ``cache_seqlens[i] = s``; ``cu_seqlens_k`` and
    ``cu_seqlens_q`` are the cumulative sums of ``seq_lens`` and
    ``extend_seq_lens`` from 0. Per token: ``seqlens_expanded = max(0, s - e +
    1 + j)``, its ``nsa_cache_seqlens`` (``min(x // K * K, topk) + x % K``
    with ``K = index_kpool``) and their cumulative sum, ``token_to_batch_idx
    = i``, ``indexer_k_start = k_i``, ``indexer_k_end = k_i +
    seqlens_expanded``. ``page_table_1`` and ``real_page_table`` have one row
    per request, as in decode; ``page_table_1_flattened[k_i + c]`` is the
    request's slot ``c``. Per-token buffers and the flattened table have a
    capacity; ``num_tokens`` and ``num_kv_tokens`` receive the totals.
    On CUDA: one launch, no host synchronization, no allocation
    (docs/extend.md).

    Example::

        >>> starts = torch.zeros(5, dtype=torch.int32)
        >>> ends = torch.zeros(5, dtype=torch.int32)
        >>> nsa_metadata.fill_extend_metadata(
        ...     torch.tensor([10, 4]), torch.tensor([3, 2]), torch.tensor([0, 1]),
        ...     torch.zeros(2, 16, dtype=torch.int32), 2048, 64,
        ...     indexer_k_start=starts, indexer_k_end=ends)
        >>> starts.tolist(), ends.tolist()
        ([0, 0, 0, 10, 10], [8, 9, 10, 13, 14])
    """
    torch.ops.nsa_metadata.fill_extend_metadata(
        seq_lens, extend_seq_lens, req_pool_indices, req_to_token, nsa_index_topk, page_size,
        index_kpool=index_kpool, cache_seqlens=cache_seqlens, cu_seqlens_k=cu_seqlens_k,
        cu_seqlens_q=cu_seqlens_q, seqlens_expanded=seqlens_expanded,
        nsa_cache_seqlens=nsa_cache_seqlens, nsa_cu_seqlens_k=nsa_cu_seqlens_k,
        token_to_batch_idx=token_to_batch_idx, indexer_k_start=indexer_k_start,
        indexer_k_end=indexer_k_end, page_table_1=page_table_1,
        real_page_table=real_page_table, page_table_1_flattened=page_table_1_flattened,
        num_tokens=num_tokens, num_kv_tokens=num_kv_tokens)
