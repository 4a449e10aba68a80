"""The eager composition an engine runs today for an extend (prefill) step,
as the peer of fill_extend_metadata: SGLang's DSA backend keeps seq_lens and
extend_seq_lens on the host and builds the indexer's key ranges with one
torch.arange and two torch.full per request in a Python loop, the flattened
page table as a host concatenation of per-request slices of req_to_token,
the token-to-request map with repeat_interleave, and the cumulative sums
with torch.cumsum. It fills the same buffers as ours, each up to the
batch's totals (known on the host)."""
import torch


class HostLists:
    """What the engine knows on the host about a step: the lengths as lists."""

    def __init__(self, case):
        self.seq_lens = [int(s) for s in case.seq_lens.tolist()]
        self.extend_seq_lens = [int(e) for e in case.extend_seq_lens.tolist()]
        self.req_pool_indices = [int(p) for p in case.req_pool_indices.tolist()]


def _cumsum_into(target, values):
    # target[0] was zeroed once at allocation, as engines do.
    target[0] = 0
    target[1:values.numel() + 1].copy_(torch.cumsum(values, 0))


def eager_extend(case, host, outputs):
    device = case.seq_lens.device
    seq_lens = case.seq_lens.to(torch.int32)
    extend_seq_lens = case.extend_seq_lens.to(torch.int32)
    outputs["cache_seqlens"].copy_(seq_lens)
    _cumsum_into(outputs["cu_seqlens_k"], seq_lens)
    _cumsum_into(outputs["cu_seqlens_q"], extend_seq_lens)

    expanded, starts, slices = [], [], []
    kv_before = 0
    for s, e, pool_index in zip(host.seq_lens, host.extend_seq_lens, host.req_pool_indices):
        expanded.append(torch.arange(s - e + 1, s + 1, device=device, dtype=torch.int32)
                        .clamp_(min=0))
        starts.append(torch.full((e,), kv_before, device=device, dtype=torch.int32))
        slices.append(case.req_to_token[pool_index, :min(s, case.req_to_token.shape[1])])
        kv_before += s
    tokens = sum(host.extend_seq_lens)
    expanded = torch.cat(expanded) if expanded else seq_lens.new_empty(0)
    starts = torch.cat(starts) if starts else seq_lens.new_empty(0)
    k = case.index_kpool
    pooled = torch.div(expanded, k, rounding_mode="floor") * k
    nsa = pooled.clamp(max=case.nsa_index_topk) + (expanded - pooled)
    outputs["seqlens_expanded"][:tokens].copy_(expanded)
    outputs["nsa_cache_seqlens"][:tokens].copy_(nsa)
    _cumsum_into(outputs["nsa_cu_seqlens_k"], nsa)
    outputs["indexer_k_start"][:tokens].copy_(starts)
    outputs["indexer_k_end"][:tokens].copy_(starts + expanded)
    outputs["token_to_batch_idx"][:tokens].copy_(torch.repeat_interleave(
        torch.arange(case.batch_size, device=device, dtype=torch.int32), extend_seq_lens,
        output_size=tokens))

    pool_rows = case.req_pool_indices
    longest = max(host.seq_lens, default=0)
    width = min(longest, outputs["page_table_1"].shape[1])
    outputs["page_table_1"][:, :width].copy_(case.req_to_token[pool_rows, :width])
    real = outputs["real_page_table"]
    pages = min(-(-longest // case.page_size), real.shape[1])
    real[:, :pages].copy_(torch.div(case.req_to_token[pool_rows, :pages * case.page_size:
                                                      case.page_size],
                                    case.page_size, rounding_mode="floor"))
    flattened = torch.cat(slices) if slices else seq_lens.new_empty(0)
    outputs["page_table_1_flattened"][:flattened.numel()].copy_(flattened)
    outputs["num_tokens"].fill_(tokens)
    outputs["num_kv_tokens"].fill_(kv_before)
