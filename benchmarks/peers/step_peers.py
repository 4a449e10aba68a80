"""The eager composition engines ran before their fused kernels, as a peer
of ours: a dozen small PyTorch ops per mode, each table gathered at its full
width (the width req_to_token has), and for draft-extend with per-request
lengths a host sync to learn the number of rows. Each fills the same buffers
as our ops; columns past a row's KV length hold whatever the gather brought
(consumers never read them)."""
import torch


def _cumsum_into(target, values):
    # target[0] was zeroed once at allocation, as engines do.
    target[1:values.numel() + 1].copy_(torch.cumsum(values, 0))


def _gather_pages(page_table_1, real_page_table, req_to_token, pool_rows, page_size):
    page_table_1.copy_(req_to_token[pool_rows])
    real_page_table.copy_(torch.div(page_table_1[:, ::page_size], page_size,
                                    rounding_mode="floor")[:, :real_page_table.shape[1]])


def decode(case, outputs):
    seq_lens = case.seq_lens
    outputs["cache_seqlens"].copy_(seq_lens)
    _cumsum_into(outputs["cu_seqlens_k"], seq_lens)
    nsa = seq_lens.clamp(max=case.nsa_index_topk)
    outputs["nsa_cache_seqlens"].copy_(nsa)
    _cumsum_into(outputs["nsa_cu_seqlens_k"], nsa)
    _gather_pages(outputs["page_table_1"], outputs["real_page_table"], case.req_to_token,
                  case.req_pool_indices, case.page_size)


def target_verify(case, outputs):
    n = case.num_draft_tokens
    seq_lens = case.seq_lens
    cache = seq_lens + n
    outputs["cache_seqlens"].copy_(cache)
    _cumsum_into(outputs["cu_seqlens_k"], cache)
    offsets = torch.arange(1, n + 1, device=seq_lens.device, dtype=seq_lens.dtype)
    expanded = (seq_lens.view(-1, 1) + offsets.view(1, -1)).flatten()
    outputs["seqlens_expanded"].copy_(expanded)
    nsa = expanded.clamp(max=case.nsa_index_topk)
    outputs["nsa_cache_seqlens"].copy_(nsa)
    _cumsum_into(outputs["nsa_cu_seqlens_k"], nsa)
    _gather_pages(outputs["page_table_1"], outputs["real_page_table"], case.req_to_token,
                  case.req_pool_indices.repeat_interleave(n), case.page_size)


def draft_extend(case, outputs):
    seq_lens, extend = case.seq_lens, case.extend_seq_lens
    outputs["cache_seqlens"].copy_(seq_lens)
    _cumsum_into(outputs["cu_seqlens_k"], seq_lens)
    if extend is None:  # a static count: the rows are known on the host
        extend = torch.full_like(seq_lens, case.num_draft_tokens)
        rows = case.batch_size * case.num_draft_tokens
    else:
        rows = None  # the host sync
    request_of_row = torch.repeat_interleave(
        torch.arange(extend.numel(), device=extend.device), extend, output_size=rows)
    total = request_of_row.numel()
    first_row = torch.cumsum(extend, 0) - extend
    j = torch.arange(total, device=extend.device) - first_row[request_of_row]
    expanded = (seq_lens[request_of_row] - extend[request_of_row] + 1 + j).clamp(min=0)
    nsa = expanded.clamp(max=case.nsa_index_topk)
    for name, values in (("seqlens_expanded", expanded), ("nsa_cache_seqlens", nsa)):
        outputs[name][:total].copy_(values)
        outputs[name][total:].zero_()
    nsa_cu = outputs["nsa_cu_seqlens_k"]
    _cumsum_into(nsa_cu, nsa)
    nsa_cu[total + 1:].copy_(nsa_cu[total].expand(nsa_cu.numel() - total - 1))
    _gather_pages(outputs["page_table_1"][:total], outputs["real_page_table"][:total],
                  case.req_to_token, case.req_pool_indices[request_of_row], case.page_size)


PEERS = {"decode": decode, "target_verify": target_verify, "draft_extend": draft_extend}
