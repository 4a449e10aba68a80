"""The rest of the per-step family (decode, target-verify, draft-extend with
page tables) and extend in one model, saved for the C++ demo in both forms
C++ loads (TorchScript, and an AOTInductor package of torch.export's program
with a dynamic batch) with the reference's outputs for a few batches.

The model fills fresh buffers, prefilled with -1 so that the columns the ops
leave untouched (past each row's KV length) show; an engine keeps its
buffers instead, as DraftExtendMetadata in demo.py does.
"""
from typing import List

import torch

from extend_cases import ExtendCase  # tests/python: the reference's drivers
from step_cases import StepCase

NSA_INDEX_TOPK = 100  # small, so that the topk bound shows in a small demo
PAGE_SIZE = 16
NUM_DRAFT_TOKENS = 2
ROW_CAPACITY_PER_REQUEST = 4  # draft-extend buffers: 4 rows a request

# (seq_lens, req_pool_indices, extend_seq_lens) per batch; pool of 6 x 300.
BATCHES = [
    ([120, 7, 1], [4, 0, 2], [3, 1, 2]),  # the last is a padded row: seq_len < extend
    ([299, 64, 300, 17], [1, 5, 3, 0], [1, 4, 2, 3]),
]
OUTPUT_ORDER = {
    "decode": ["cache_seqlens", "cu_seqlens_k", "nsa_cache_seqlens", "nsa_cu_seqlens_k",
               "page_table_1", "real_page_table"],
    "target_verify": ["cache_seqlens", "cu_seqlens_k", "seqlens_expanded", "nsa_cache_seqlens",
                      "nsa_cu_seqlens_k", "page_table_1", "real_page_table"],
    "draft_extend": ["cache_seqlens", "cu_seqlens_k", "seqlens_expanded", "nsa_cache_seqlens",
                     "nsa_cu_seqlens_k", "page_table_1", "real_page_table", "num_tokens"],
    "extend": ["cache_seqlens", "cu_seqlens_k", "cu_seqlens_q", "seqlens_expanded",
               "nsa_cache_seqlens", "nsa_cu_seqlens_k", "token_to_batch_idx", "indexer_k_start",
               "indexer_k_end", "page_table_1", "real_page_table", "page_table_1_flattened",
               "num_tokens", "num_kv_tokens"],
}


class StepMetadata(torch.nn.Module):
    """Returns decode's, target-verify's, draft-extend's and extend's
    outputs, in OUTPUT_ORDER. Extend reads the batch as a prefill step: each
    request's extend_seq_lens are its new tokens, within seq_lens."""

    def __init__(self):
        super().__init__()
        self.nsa_index_topk = NSA_INDEX_TOPK
        self.page_size = PAGE_SIZE
        self.num_draft_tokens = NUM_DRAFT_TOKENS
        self.rows_per_request = ROW_CAPACITY_PER_REQUEST

    def buffer(self, shape: List[int], like: torch.Tensor) -> torch.Tensor:
        return torch.full(shape, -1, dtype=torch.int32, device=like.device)

    def forward(self, seq_lens: torch.Tensor, req_pool_indices: torch.Tensor,
                req_to_token: torch.Tensor, extend_seq_lens: torch.Tensor) -> List[torch.Tensor]:
        batch = seq_lens.shape[0]
        width = req_to_token.shape[1]
        pages = (width + self.page_size - 1) // self.page_size
        outputs: List[torch.Tensor] = []
        for rows in [batch, batch * self.num_draft_tokens, batch * self.rows_per_request]:
            outputs += [self.buffer([batch], seq_lens), self.buffer([batch + 1], seq_lens)]
            if rows != batch:
                outputs.append(self.buffer([rows], seq_lens))  # seqlens_expanded
            outputs += [self.buffer([rows], seq_lens), self.buffer([rows + 1], seq_lens),
                        self.buffer([rows, width], seq_lens), self.buffer([rows, pages], seq_lens)]
        num_tokens = torch.zeros(1, dtype=torch.int64, device=seq_lens.device)
        decode, verify, draft = outputs[0:6], outputs[6:13], outputs[13:20]
        torch.ops.nsa_metadata.fill_decode_metadata(
            seq_lens, req_pool_indices, req_to_token, self.nsa_index_topk, self.page_size,
            cache_seqlens=decode[0], cu_seqlens_k=decode[1], nsa_cache_seqlens=decode[2],
            nsa_cu_seqlens_k=decode[3], page_table_1=decode[4], real_page_table=decode[5])
        torch.ops.nsa_metadata.fill_target_verify_metadata(
            seq_lens, req_pool_indices, req_to_token, self.num_draft_tokens,
            self.nsa_index_topk, self.page_size, cache_seqlens=verify[0],
            cu_seqlens_k=verify[1], seqlens_expanded=verify[2], nsa_cache_seqlens=verify[3],
            nsa_cu_seqlens_k=verify[4], page_table_1=verify[5], real_page_table=verify[6])
        torch.ops.nsa_metadata.fill_draft_extend_metadata_full(
            seq_lens, req_pool_indices, req_to_token, extend_seq_lens, self.nsa_index_topk,
            self.page_size, cache_seqlens=draft[0], cu_seqlens_k=draft[1],
            seqlens_expanded=draft[2], nsa_cache_seqlens=draft[3], nsa_cu_seqlens_k=draft[4],
            page_table_1=draft[5], real_page_table=draft[6], num_tokens=num_tokens)
        extend = self.extend_buffers(seq_lens, batch, width, pages)
        torch.ops.nsa_metadata.fill_extend_metadata(
            seq_lens, extend_seq_lens, req_pool_indices, req_to_token, self.nsa_index_topk,
            self.page_size, cache_seqlens=extend[0], cu_seqlens_k=extend[1],
            cu_seqlens_q=extend[2], seqlens_expanded=extend[3], nsa_cache_seqlens=extend[4],
            nsa_cu_seqlens_k=extend[5], token_to_batch_idx=extend[6], indexer_k_start=extend[7],
            indexer_k_end=extend[8], page_table_1=extend[9], real_page_table=extend[10],
            page_table_1_flattened=extend[11], num_tokens=extend[12], num_kv_tokens=extend[13])
        return decode + verify + draft + [num_tokens] + extend

    def extend_buffers(self, like: torch.Tensor, batch: int, width: int,
                       pages: int) -> List[torch.Tensor]:
        """Extend's buffers in OUTPUT_ORDER: per-token ones for
        rows_per_request tokens a request, the flattened table for a whole
        row of req_to_token a request."""
        tokens = batch * self.rows_per_request
        per_request = [self.buffer([batch], like), self.buffer([batch + 1], like),
                       self.buffer([batch + 1], like)]
        per_token = [self.buffer([tokens], like), self.buffer([tokens], like),
                     self.buffer([tokens + 1], like), self.buffer([tokens], like),
                     self.buffer([tokens], like), self.buffer([tokens], like)]
        tables = [self.buffer([batch, width], like), self.buffer([batch, pages], like),
                  self.buffer([batch * width], like)]
        counters = [torch.zeros(1, dtype=torch.int64, device=like.device),
                    torch.zeros(1, dtype=torch.int64, device=like.device)]
        return per_request + per_token + tables + counters


def req_to_token():
    # Slot 1000 * pool row + column: readable in the printed tables.
    return (torch.arange(6).view(6, 1) * 1000 + torch.arange(300).view(1, 300)).int()


def batch_inputs(batch, device):
    seq_lens, req_pool_indices, extend_seq_lens = BATCHES[batch]
    return (torch.tensor(seq_lens, device=device),
            torch.tensor(req_pool_indices, dtype=torch.int32, device=device),
            req_to_token().to(device), torch.tensor(extend_seq_lens, device=device))


def expected_outputs(batch):
    """The reference's outputs, in the model's order, for buffers prefilled with -1."""
    seq_lens, req_pool_indices, _, extend_seq_lens = batch_inputs(batch, "cpu")
    model = StepMetadata()
    batch_size = seq_lens.numel()
    pages = -(-300 // PAGE_SIZE)
    expected = []
    for mode in ("decode", "target_verify", "draft_extend"):
        case = StepCase(mode=mode, seq_lens=seq_lens, req_pool_indices=req_pool_indices,
                        req_to_token=req_to_token(),
                        extend_seq_lens=extend_seq_lens if mode == "draft_extend" else None,
                        num_draft_tokens=NUM_DRAFT_TOKENS if mode == "target_verify" else None,
                        nsa_index_topk=model.nsa_index_topk, page_size=model.page_size)
        rows = {"decode": batch_size, "target_verify": case.rows(),
                "draft_extend": batch_size * ROW_CAPACITY_PER_REQUEST}[mode]
        shapes = {"cache_seqlens": [batch_size], "cu_seqlens_k": [batch_size + 1],
                  "seqlens_expanded": [rows], "nsa_cache_seqlens": [rows],
                  "nsa_cu_seqlens_k": [rows + 1], "page_table_1": [rows, 300],
                  "real_page_table": [rows, pages]}
        buffers = {name: torch.full(shapes[name], -1, dtype=torch.int32)
                   for name in OUTPUT_ORDER[mode] if name != "num_tokens"}
        if mode == "draft_extend":
            buffers["num_tokens"] = torch.zeros(1, dtype=torch.int64)
        want = case.expected(buffers)
        expected += [want[name] for name in OUTPUT_ORDER[mode]]
    extend = ExtendCase(seq_lens=seq_lens, extend_seq_lens=extend_seq_lens,
                        req_pool_indices=req_pool_indices, req_to_token=req_to_token(),
                        nsa_index_topk=model.nsa_index_topk, page_size=model.page_size)
    tokens = batch_size * ROW_CAPACITY_PER_REQUEST
    shapes = {"cache_seqlens": [batch_size], "cu_seqlens_k": [batch_size + 1],
              "cu_seqlens_q": [batch_size + 1], "nsa_cu_seqlens_k": [tokens + 1],
              "page_table_1": [batch_size, 300], "real_page_table": [batch_size, pages],
              "page_table_1_flattened": [batch_size * 300]}
    buffers = {name: torch.full(shapes.get(name, [tokens]), -1, dtype=torch.int32)
               for name in OUTPUT_ORDER["extend"] if not name.startswith("num_")}
    buffers.update(num_tokens=torch.zeros(1, dtype=torch.int64),
                   num_kv_tokens=torch.zeros(1, dtype=torch.int64))
    want = extend.expected(buffers)
    return expected + [want[name] for name in OUTPUT_ORDER["extend"]]


def check_model(name, model, device):
    """Runs `model` (StepMetadata in any form) on every batch; True if all
    outputs match the reference."""
    matches = True
    for batch in range(len(BATCHES)):
        got = model(*batch_inputs(batch, device))
        want = expected_outputs(batch)
        same = len(got) == len(want) and all(torch.equal(g.cpu(), w) for g, w in zip(got, want))
        seq_lens, _, extend = BATCHES[batch]
        print(f"[{name}] batch {batch}: seq_lens={seq_lens} extend_seq_lens={extend}")
        print(f"    decode cu_seqlens_k = {got[1].tolist()}, target-verify "
              f"seqlens_expanded = {got[8].tolist()}, draft-extend nsa_cu_seqlens_k = "
              f"{got[17].tolist()}, extend indexer_k_end[:{sum(extend)}] = "
              f"{got[29][:sum(extend)].tolist()}")
        print(f"    {'matches' if same else 'DOES NOT MATCH'} the reference")
        matches &= same
    return matches


def run(device):
    """The TorchScript model on every batch; True if all outputs match."""
    return check_model("TorchScript step metadata", torch.jit.script(StepMetadata()), device)


def save(out):
    torch.jit.script(StepMetadata()).save(str(out / "step_metadata.ts"))
    cases = [{"inputs": list(batch_inputs(batch, "cpu")), "expected": expected_outputs(batch)}
             for batch in range(len(BATCHES))]
    torch.save(cases, out / "step_cases.pt")
    print(f"saved TorchScript: {out / 'step_metadata.ts'}, reference: {out / 'step_cases.pt'}")


def save_aoti_package(out, device):
    """torch.export with a dynamic batch, checked, then an AOTInductor package
    for C++, checked again; True if every output matched."""
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(StepMetadata(), batch_inputs(0, device),
                                  dynamic_shapes=({0: batch}, {0: batch}, None, {0: batch}))
    matches = check_model("torch.export step metadata", program.module(), device)
    path = torch._inductor.aoti_compile_and_package(
        program, package_path=str(out / "step_metadata.pt2"))
    loaded = torch._inductor.aoti_load_package(path)
    matches = check_model("AOTInductor step metadata (Python)", loaded, device) and matches
    print(f"saved AOTInductor package ({device}): {path}")
    return matches
