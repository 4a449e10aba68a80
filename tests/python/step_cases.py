"""Step-metadata calls (decode, target-verify, draft-extend with page tables)
as an engine makes them: the inputs of one step, poisoned output buffers,
the call, and the comparison with the reference. Shared by the tests and
the benchmarks."""
import dataclasses

import torch

import reference
from helpers import POISON, assert_equal, guard_buffers
from inputs import SEQ_LEN_MAX, random_extend_seq_lens

OPS = {
    "decode": "fill_decode_metadata",
    "target_verify": "fill_target_verify_metadata",
    "draft_extend": "fill_draft_extend_metadata_full",
}
VECTORS = ("cache_seqlens", "cu_seqlens_k", "seqlens_expanded", "nsa_cache_seqlens",
           "nsa_cu_seqlens_k")
TABLES = ("page_table_1", "real_page_table")
# Draft-extend's row vectors: asked for alone (with num_tokens or not), the
# CUDA engine writes them with its row-scan kernels from 33 to 32768 requests.
ROW_VECTORS = ("seqlens_expanded", "nsa_cache_seqlens")


def outputs_of(mode):
    """The buffers a mode's op can fill, num_tokens aside."""
    names = VECTORS + TABLES
    return tuple(n for n in names if not (mode == "decode" and n == "seqlens_expanded"))


@dataclasses.dataclass
class StepCase:
    mode: str
    seq_lens: torch.Tensor
    req_pool_indices: torch.Tensor
    req_to_token: torch.Tensor
    extend_seq_lens: torch.Tensor = None  # draft-extend with per-request lengths
    num_draft_tokens: int = None          # target-verify, or draft-extend's static N
    nsa_index_topk: int = 2048
    page_size: int = 64
    index_kpool: int = 1

    @property
    def batch_size(self):
        return self.seq_lens.shape[0]

    def rows(self):
        """The batch's query rows (the exact row count of decode/target-verify)."""
        if self.mode == "decode":
            return self.batch_size
        if self.extend_seq_lens is None:
            return self.batch_size * self.num_draft_tokens
        return int(self.extend_seq_lens.clamp(min=0).sum())

    def to(self, device):
        moved = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, value in moved.items():
            if isinstance(value, torch.Tensor):
                moved[name] = value.to(device)
        return StepCase(**moved)

    def load_inputs(self, case):
        """Copies case's inputs into this case's tensors (in place, as a
        CUDA graph captured on them replays with them); the same pool."""
        self.seq_lens.copy_(case.seq_lens)
        self.req_pool_indices.copy_(case.req_pool_indices)
        if case.extend_seq_lens is not None:
            self.extend_seq_lens.copy_(case.extend_seq_lens)
        case.req_to_token = self.req_to_token

    def call(self, namespace=None, prefix="", **outputs):
        """Calls the mode's op with the given output buffers as keywords (an
        op of the same schema named prefix + its name, from `namespace`)."""
        op = getattr(namespace or torch.ops.nsa_metadata, prefix + OPS[self.mode])
        inputs = (self.seq_lens, self.req_pool_indices, self.req_to_token)
        if self.index_kpool != 1:
            outputs = dict(outputs, index_kpool=self.index_kpool)
        if self.mode == "decode":
            op(*inputs, self.nsa_index_topk, self.page_size, **outputs)
        elif self.mode == "target_verify":
            op(*inputs, self.num_draft_tokens, self.nsa_index_topk, self.page_size, **outputs)
        else:
            if self.extend_seq_lens is None:
                outputs = dict(outputs, num_draft_tokens=self.num_draft_tokens)
            op(*inputs, self.extend_seq_lens, self.nsa_index_topk, self.page_size, **outputs)

    def expected(self, outputs):
        """The reference's contents of `outputs` after the call, on the CPU."""
        want = {name: buffer.cpu().clone() for name, buffer in outputs.items()
                if name != "num_tokens"}
        rows = reference.fill_step_metadata(
            self.mode, self.seq_lens.tolist(), self.req_pool_indices.tolist(),
            self.req_to_token.cpu(), self.nsa_index_topk, self.page_size, want,
            None if self.extend_seq_lens is None else self.extend_seq_lens.tolist(),
            self.num_draft_tokens, self.index_kpool)
        if "num_tokens" in outputs:
            count_max = torch.iinfo(outputs["num_tokens"].dtype).max
            want["num_tokens"] = torch.tensor([min(rows, count_max)],
                                              dtype=outputs["num_tokens"].dtype)
        return want


def poisoned_outputs(case, device, names=None, row_capacity=None, widths=None,
                     num_tokens_dtype=None):
    """POISON-filled buffers: vectors sized as the mode asks (row_capacity rows
    for draft-extend, default the batch's rows + 3), page tables of `widths`
    (default: req_to_token's width and the pages it holds)."""
    names = outputs_of(case.mode) if names is None else names
    if case.mode == "draft_extend" and row_capacity is not None:
        rows = row_capacity
    else:
        rows = case.rows() + (3 if case.mode == "draft_extend" else 0)
    token_width = case.req_to_token.shape[1]
    widths = widths or (token_width, -(-token_width // case.page_size))
    shapes = {
        "cache_seqlens": (case.batch_size,),
        "cu_seqlens_k": (case.batch_size + 1,),
        "seqlens_expanded": (rows,),
        "nsa_cache_seqlens": (rows,),
        "nsa_cu_seqlens_k": (rows + 1,),
        "page_table_1": (rows, widths[0]),
        "real_page_table": (rows, widths[1]),
        "paged_mqa_context_lens": (case.batch_size, case.num_draft_tokens or 0),
    }
    outputs = {n: torch.full(shapes[n], POISON, dtype=torch.int32, device=device)
               for n in names}
    if num_tokens_dtype is not None:
        outputs["num_tokens"] = torch.full((1,), -1, dtype=num_tokens_dtype, device=device)
    return outputs


def assert_outputs_equal(outputs, want):
    for name, buffer in outputs.items():
        assert_equal(buffer.cpu(), want[name], name)


def assert_runs_on_the_current_stream(case, outputs):
    """Calls `case` (a step or extend case on the CPU) into the CUDA
    `outputs` on a side stream whose copy of seq_lens is held back by a
    sleep: a kernel on another stream would read the zeros before it."""
    device_case = case.to("cuda")
    device_case.seq_lens = torch.zeros_like(device_case.seq_lens)
    want = case.expected(outputs)
    pinned = case.seq_lens.pin_memory()
    torch.cuda.synchronize()
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        torch.cuda._sleep(50_000_000)
        device_case.seq_lens.copy_(pinned, non_blocking=True)
        device_case.call(**outputs)
    side.synchronize()
    assert_outputs_equal(outputs, want)


def assert_step_matches_reference(case, device, **poisoned_kwargs):
    """Runs `case` on `device` into poisoned buffers and compares every buffer,
    untouched page-table columns included, with the reference."""
    case = case.to(device)
    if case.mode == "draft_extend" and "num_tokens_dtype" not in poisoned_kwargs:
        poisoned_kwargs["num_tokens_dtype"] = torch.int64
    outputs = poisoned_outputs(case, device, **poisoned_kwargs)
    want = case.expected(outputs)
    case.call(**outputs)
    assert_outputs_equal(outputs, want)


SEQ_KINDS = ("up_to_width", "past_width", "padded", "zeros")


def random_step_case(mode, batch_size, seed, seq_kind="up_to_width", width=4096,
                     page_size=64, num_draft_tokens=4, extend_kind="draft_1_to_8",
                     static_extend=False, dtypes=(torch.int32, torch.int64), topk=2048,
                     pool_extra=3, extend_dtype=None):
    """One step's inputs: a req_to_token pool of random slots (a few negative,
    as padding) with rows for every request and a few spare, distinct pool
    rows per request, seq_lens of `seq_kind`. dtypes: seq_lens' and
    req_pool_indices'; extend_seq_lens takes extend_dtype, else the second."""
    generator = torch.Generator().manual_seed(seed)
    pool_rows = batch_size + pool_extra
    req_to_token = torch.randint(-2, 1 << 22, (pool_rows, width), generator=generator,
                                 dtype=torch.int32)
    req_pool_indices = torch.randperm(pool_rows, generator=generator)[:batch_size]
    extend_seq_lens = None
    if mode == "draft_extend" and not static_extend:
        extend_seq_lens = random_extend_seq_lens(batch_size, extend_kind, generator)
    if seq_kind == "up_to_width":
        seq_lens = torch.randint(0, width + 1, (batch_size,), generator=generator)
    elif seq_kind == "past_width":
        seq_lens = torch.randint(width // 2, SEQ_LEN_MAX + 1, (batch_size,), generator=generator)
    elif seq_kind == "padded":
        seq_lens = torch.where(torch.rand(batch_size, generator=generator) < 0.5,
                               torch.randint(0, 4, (batch_size,), generator=generator),
                               torch.randint(0, width + 1, (batch_size,), generator=generator))
    elif seq_kind == "zeros":
        seq_lens = torch.zeros(batch_size, dtype=torch.int64)
    else:
        raise ValueError(seq_kind)
    if mode == "draft_extend" and extend_seq_lens is not None and seq_kind != "padded":
        seq_lens = seq_lens.maximum(extend_seq_lens)  # a cache holds its new tokens
    return StepCase(
        mode=mode, seq_lens=seq_lens.to(dtypes[0]), req_pool_indices=req_pool_indices.to(dtypes[1]),
        req_to_token=req_to_token,
        extend_seq_lens=(None if extend_seq_lens is None
                         else extend_seq_lens.to(extend_dtype or dtypes[1])),
        num_draft_tokens=None if mode == "decode" or extend_seq_lens is not None
        else num_draft_tokens,
        nsa_index_topk=topk, page_size=page_size)


# (seq_lens, req_pool_indices, extend_seq_lens) dtypes: the small-batch
# kernel reads int32 lengths with int32 or int64 pool indices at unit stride
# as dense vectors, any other mix through IndexVector (device/kernel.cuh).
INDEX_DTYPES = [(torch.int32, torch.int32, torch.int32), (torch.int32, torch.int64, torch.int32),
                (torch.int32, torch.int64, torch.int64), (torch.int64, torch.int32, torch.int32),
                (torch.int64, torch.int64, torch.int64)]

# (lengths, req_pool_indices) dtypes of the bad-value cases: each instance of
# the small-batch kernel, and the other kernels with either dtype.
BAD_VALUE_DTYPES = [(torch.int32, torch.int32), (torch.int32, torch.int64),
                    (torch.int64, torch.int64)]


def strided_inputs(case):
    """The case with its index vectors every second or third element of
    larger tensors and req_to_token a column slice of a wider pool (the same
    values, on the case's device)."""
    def spread(vector, step):
        if vector is None:
            return None
        storage = torch.zeros(vector.shape[0] * step, dtype=vector.dtype, device=vector.device)
        storage[::step] = vector
        return storage[::step]

    tokens = case.req_to_token
    wide = torch.zeros(tokens.shape[0], tokens.shape[1] + 188, dtype=tokens.dtype,
                       device=tokens.device)
    wide[:, 100:100 + tokens.shape[1]] = tokens
    return dataclasses.replace(case, seq_lens=spread(case.seq_lens, 2),
                               req_pool_indices=spread(case.req_pool_indices, 3),
                               extend_seq_lens=spread(case.extend_seq_lens, 2),
                               req_to_token=wide[:, 100:100 + tokens.shape[1]])


def guarded_outputs(case, device, guard, **poisoned_kwargs):
    """poisoned_outputs inside guard regions (helpers.guard_buffers)."""
    return guard_buffers(poisoned_outputs(case, "cpu", **poisoned_kwargs), device, guard)


def assert_guarded_step_matches_reference(case, device, guard, namespace=None,
                                          **poisoned_kwargs):
    """Runs `case` on `device` (the op of `namespace`, default nsa_metadata)
    into poisoned buffers inside guard regions: every buffer equals the
    reference, and nothing outside them changed."""
    if case.mode == "draft_extend":
        poisoned_kwargs.setdefault("num_tokens_dtype", torch.int64)
    outputs, assert_guards_intact = guarded_outputs(case, device, guard, **poisoned_kwargs)
    want = case.expected(outputs)
    case.to(device).call(namespace=namespace, **outputs)
    if device == "cuda":
        torch.cuda.synchronize()
    assert_guards_intact()
    assert_outputs_equal(outputs, want)


INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
# Bad values only the device sees, for every mode: (seq_lens, req_pool_indices,
# extend_seq_lens for draft-extend). The CUDA kernel's documented result for
# each is what the reference computes.
BAD_DEVICE_VALUES = {
    "negative_seq_lens": ([-5, 10, INT64_MIN, 3], [0, 1, 2, 3], [2, 2, 2, 2]),
    "pool_index_out_of_range": ([100, 50, 20, 7], [4, -1, INT64_MAX, 1], [1, 3, 2, 1]),
    "seq_lens_past_int32": ([2**40, 2**31 - 1, INT64_MAX, 5], [0, 1, 2, 3], [3, 1, 2, 0]),
    "seq_lens_past_the_pool_width": ([100000, 299, 300, 301], [3, 2, 1, 0], [8, 1, 1, 1]),
    "negative_and_huge_extend": ([50, 60, 70, 80], [0, 1, 2, 3], [-3, 2, INT64_MIN, 5]),
    "extend_past_every_buffer": ([50, 60, 70, 80], [0, 1, 2, 3], [2, 2**62, INT64_MAX, 1]),
    "sums_past_int32": ([2**31 - 1] * 4, [0, 1, 2, 3], [3, 3, 3, 3]),
    # Rows far from both ends of a huge cache: short KV lengths.
    "huge_extend_of_a_huge_cache": ([2**40, 2**62, INT64_MAX, 9], [0, 1, 2, 3],
                                    [2**40 - 1, 2**62 + 5, INT64_MAX - 3, 2]),
}


def bad_case(mode, seq_lens, req_pool_indices, extend_seq_lens=None, dtype=torch.int64,
             width=300, pool_rows=4, pool_dtype=None):
    generator = torch.Generator().manual_seed(len(seq_lens))
    return StepCase(
        mode=mode, seq_lens=torch.tensor(seq_lens, dtype=dtype),
        req_pool_indices=torch.tensor(req_pool_indices, dtype=pool_dtype or dtype),
        req_to_token=torch.randint(-5, 1 << 20, (pool_rows, width), generator=generator,
                                   dtype=torch.int32),
        extend_seq_lens=(None if extend_seq_lens is None
                         else torch.tensor(extend_seq_lens, dtype=dtype)),
        num_draft_tokens={"target_verify": 3, "draft_extend": None}.get(mode),
        page_size=7)


def bad_values_case(mode, name, dtype, copies, pool_dtype=None):
    """BAD_DEVICE_VALUES[name] repeated `copies` times (4 or 40 requests take
    both kernels), clipped to dtype (the pool indices to pool_dtype, if
    given), as a case of `mode`; and draft-extend's row capacity (None for
    the other modes)."""
    pool_dtype = pool_dtype or dtype

    def clipped(values, dtype):
        info = torch.iinfo(dtype)
        return [min(max(v, info.min), info.max) for v in values * copies]

    seq_lens, pool, extend = BAD_DEVICE_VALUES[name]
    case = bad_case(mode, clipped(seq_lens, dtype), clipped(pool, pool_dtype),
                    clipped(extend, dtype) if mode == "draft_extend" else None, dtype,
                    pool_dtype=pool_dtype)
    return case, 20 * copies if mode == "draft_extend" else None
