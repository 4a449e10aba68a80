"""SGLang's fused DSA metadata kernels (Triton), called the way SGLang's DSA
backend calls them, as peers of ours in the benchmark and the GPU tests.

Two versions, each a copy of SGLang's own file, kept out of the repository
(benchmarks/peers/fetch_sglang.sh puts them in .peers/):
  released  sglang 0.5.23, sglang/kernels/ops/attention/dsa/metadata.py
  upstream  sgl-project/sglang at 017d5cb6,
            python/sglang/kernels/ops/attention/dsa_metadata.py
NSA_SGLANG_PEERS names another folder holding the same layout.

SGLang keeps seq_lens on the host too, so it gives its kernels the longest KV
length and the row total as Python ints; so do we (taken once per input set,
outside the timed calls). Its kernels write only the rows and columns that
consumers read: each page-table row up to its request's KV length (rounded up
to 128 columns), the vectors up to the batch's rows.
"""
import importlib.util
import os
import pathlib

import torch

from step_cases import StepCase

REPO = pathlib.Path(__file__).resolve().parents[2]
VERSIONS = {
    "sglang 0.5.23": "sglang_0_5_23",
    "sglang upstream": "sglang_upstream",
}
# The largest extend length the benchmark and tests draw (1..4 draft tokens).
MAX_EXTEND = 4
# The calls SGLang makes: draft-extend with a static count is a path of its own.
MODES = ("decode", "target_verify", "draft_extend_static", "draft_extend")


def peers_dir():
    return pathlib.Path(os.environ.get("NSA_SGLANG_PEERS", REPO / ".peers"))


def load(version):
    """SGLang's module of `version`, or None when its file is absent."""
    path = peers_dir() / VERSIONS[version] / "dsa_metadata.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"peer_{VERSIONS[version]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def available():
    """{version: module} for every version whose file is present."""
    modules = {version: load(version) for version in VERSIONS}
    return {version: module for version, module in modules.items() if module is not None}


class HostView:
    """What SGLang knows on the host about one step: the longest KV length,
    the row total, and for a static extend count a tensor of it."""

    def __init__(self, case):
        seq_lens = case.seq_lens.cpu()
        self.batch_size = case.batch_size
        self.max_seq_len = int(seq_lens.max()) if self.batch_size else 0
        self.rows = case.rows()
        self.static_extend = None
        if case.mode == "draft_extend" and case.extend_seq_lens is None:
            self.static_extend = torch.full((self.batch_size,), case.num_draft_tokens,
                                            dtype=torch.int32, device=case.seq_lens.device)


def call(module, case, host, outputs):
    """Fills `outputs` (our buffer names) with SGLang's kernel for case.mode."""
    o = outputs
    page_table_1 = o.get("page_table_1")
    if case.mode == "decode":
        module.fused_dsa_decode_metadata(
            case.seq_lens, case.req_pool_indices, case.req_to_token, o["cache_seqlens"],
            o["cu_seqlens_k"], page_table_1, o["nsa_cache_seqlens"], o["nsa_cu_seqlens_k"],
            o["real_page_table"], host.batch_size, host.max_seq_len, case.nsa_index_topk,
            case.page_size)
    elif case.mode == "target_verify":
        module.fused_dsa_target_verify_metadata(
            case.seq_lens, case.req_pool_indices, case.req_to_token, o["cache_seqlens"],
            o["cu_seqlens_k"], page_table_1, o["seqlens_expanded"], o["nsa_cache_seqlens"],
            o["nsa_cu_seqlens_k"], o["real_page_table"], host.batch_size,
            host.max_seq_len + case.num_draft_tokens, case.nsa_index_topk, case.page_size,
            case.num_draft_tokens)
    else:
        static = host.static_extend is not None
        module.fused_dsa_draft_extend_metadata(
            case.seq_lens, host.static_extend if static else case.extend_seq_lens,
            case.req_pool_indices, case.req_to_token, o["cache_seqlens"], o["cu_seqlens_k"],
            page_table_1, o["seqlens_expanded"], o["nsa_cache_seqlens"], o["nsa_cu_seqlens_k"],
            o["real_page_table"], host.batch_size, host.rows, host.max_seq_len,
            case.nsa_index_topk, case.page_size,
            case.num_draft_tokens if static else MAX_EXTEND,
            o["seqlens_expanded"].shape[0], static)


def step_case(mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token,
              num_draft_tokens=MAX_EXTEND):
    """Our StepCase for one of MODES: target-verify and static draft-extend
    take `num_draft_tokens` rows per request, per-request draft-extend
    `extend_seq_lens`, decode neither."""
    return StepCase(
        mode="draft_extend" if mode.startswith("draft_extend") else mode,
        seq_lens=seq_lens.to(torch.int32),
        req_pool_indices=req_pool_indices,
        req_to_token=req_to_token,
        extend_seq_lens=extend_seq_lens.to(torch.int32) if mode == "draft_extend" else None,
        num_draft_tokens=(num_draft_tokens if mode in ("target_verify", "draft_extend_static")
                          else None))


def consumer_mask(case, name, want, poison):
    """Where a consumer reads `name`: the reference wrote there (so page-table
    rows up to their own KV length), and within the batch's rows."""
    mask = want != poison
    rows = case.rows()
    if name in ("seqlens_expanded", "nsa_cache_seqlens", "page_table_1", "real_page_table"):
        mask[rows:] = False
    elif name == "nsa_cu_seqlens_k":
        mask[rows + 1:] = False
    return mask
