"""Inputs and buffers of fill_extend_metadata for the tests: one place that
draws a batch, allocates poisoned buffers and asks the reference."""
import dataclasses

import torch

import reference
from helpers import POISON
from step_cases import assert_outputs_equal

TOKEN_OUTPUTS = ("seqlens_expanded", "nsa_cache_seqlens", "token_to_batch_idx",
                 "indexer_k_start", "indexer_k_end")
OUTPUTS = ("cache_seqlens", "cu_seqlens_k", "cu_seqlens_q") + TOKEN_OUTPUTS + (
    "nsa_cu_seqlens_k", "page_table_1", "real_page_table", "page_table_1_flattened")
COUNTERS = ("num_tokens", "num_kv_tokens")


@dataclasses.dataclass
class ExtendCase:
    seq_lens: torch.Tensor
    extend_seq_lens: torch.Tensor
    req_pool_indices: torch.Tensor
    req_to_token: torch.Tensor
    nsa_index_topk: int = 2048
    page_size: int = 64
    index_kpool: int = 1

    @property
    def batch_size(self):
        return self.seq_lens.shape[0]

    def tokens(self):
        return int(self.extend_seq_lens.sum())

    def kv_tokens(self):
        return int(self.seq_lens.sum())

    def inputs(self):
        return (self.seq_lens, self.extend_seq_lens, self.req_pool_indices, self.req_to_token,
                self.nsa_index_topk, self.page_size)

    def to(self, device):
        return dataclasses.replace(
            self, seq_lens=self.seq_lens.to(device),
            extend_seq_lens=self.extend_seq_lens.to(device),
            req_pool_indices=self.req_pool_indices.to(device),
            req_to_token=self.req_to_token.to(device))

    def load_inputs(self, case):
        """Copies case's inputs into this case's tensors (in place, as a
        CUDA graph captured on them replays with them); the same pool."""
        for name in ("seq_lens", "extend_seq_lens", "req_pool_indices"):
            getattr(self, name).copy_(getattr(case, name))
        case.req_to_token = self.req_to_token

    def call(self, namespace=None, **outputs):
        """Calls fill_extend_metadata (of `namespace`, default nsa_metadata)."""
        op = (namespace or torch.ops.nsa_metadata).fill_extend_metadata
        op(*self.inputs(), index_kpool=self.index_kpool, **outputs)

    def expected(self, outputs):
        """What every buffer of `outputs` should hold after the call."""
        want = {name: buffer.cpu().clone() for name, buffer in outputs.items()}
        tokens, kv_tokens = reference.fill_extend_metadata(
            self.seq_lens.cpu(), self.extend_seq_lens.cpu(), self.req_pool_indices.cpu(),
            self.req_to_token.cpu(), self.nsa_index_topk, self.page_size, want,
            self.index_kpool)
        for name, total in (("num_tokens", tokens), ("num_kv_tokens", kv_tokens)):
            if name in want:
                want[name].fill_(min(total, torch.iinfo(want[name].dtype).max))
        return want


def assert_guarded_matches_reference(case, outputs, assert_guards_intact, namespace=None):
    """Runs `case` (the op of `namespace`, default nsa_metadata) into
    `outputs`, poisoned buffers inside guard regions (helpers.guard_buffers):
    every buffer equals the reference, and nothing outside them changed."""
    device = next(iter(outputs.values())).device
    want = case.expected(outputs)
    case.to(device).call(namespace=namespace, **outputs)
    if device.type == "cuda":
        torch.cuda.synchronize()
    assert_guards_intact()
    assert_outputs_equal(outputs, want)


def random_extend_case(batch_size, seed, longest_extend=8, longest_prefix=3000, width=4096,
                       dtypes=(torch.int32, torch.int64), **fields):
    """A batch whose requests add 0..longest_extend tokens to prefixes of
    0..longest_prefix tokens (seq_lens may pass the pool's width), each in
    its own pool row of random slots (a few negative, as padding)."""
    generator = torch.Generator().manual_seed(seed)
    extend = torch.randint(0, longest_extend + 1, (batch_size,), generator=generator)
    prefix = torch.randint(0, longest_prefix + 1, (batch_size,), generator=generator)
    pool_rows = batch_size + 3
    req_to_token = torch.randint(-5, 1 << 24, (pool_rows, width), generator=generator,
                                 dtype=torch.int32)
    return ExtendCase(seq_lens=(extend + prefix).to(dtypes[0]),
                      extend_seq_lens=extend.to(dtypes[1]),
                      req_pool_indices=torch.randperm(pool_rows, generator=generator)[:batch_size]
                      .to(dtypes[1]), req_to_token=req_to_token, **fields)


def poisoned_outputs(case, names=OUTPUTS, spare_tokens=3, spare_kv=5, widths=None,
                     counter_dtype=torch.int64, token_capacity=None, kv_capacity=None):
    """POISON-filled buffers on the case's device: per-token ones with
    `spare_tokens` past the batch's tokens (or `token_capacity` elements), the
    flattened table with `spare_kv` past its KV tokens (or `kv_capacity`),
    page tables of `widths` (default: req_to_token's width and its pages)."""
    device = case.seq_lens.device
    width = case.req_to_token.shape[1]
    widths = widths or (width, -(-width // case.page_size))
    tokens = case.tokens() + spare_tokens if token_capacity is None else token_capacity
    kv_tokens = case.kv_tokens() + spare_kv if kv_capacity is None else kv_capacity
    shapes = {"cache_seqlens": (case.batch_size,), "cu_seqlens_k": (case.batch_size + 1,),
              "cu_seqlens_q": (case.batch_size + 1,), "nsa_cu_seqlens_k": (tokens + 1,),
              "page_table_1": (case.batch_size, widths[0]),
              "real_page_table": (case.batch_size, widths[1]),
              "page_table_1_flattened": (kv_tokens,)}
    outputs = {name: torch.full(shapes.get(name, (tokens,)), POISON, dtype=torch.int32,
                                device=device)
               for name in names}
    for name in COUNTERS:
        if counter_dtype is not None:
            outputs[name] = torch.full((1,), -1, dtype=counter_dtype, device=device)
    return outputs


INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
# Bad values only the device sees: (seq_lens, extend_seq_lens, req_pool_indices).
# The CUDA kernel's documented result for each is what the reference computes.
BAD_DEVICE_VALUES = {
    "negative_seq_lens": ([-5, 10, INT64_MIN, 3], [2, 2, 2, 2], [0, 1, 2, 3]),
    "negative_and_huge_extend": ([50, 60, 70, 80], [-3, 2, INT64_MIN, 5], [0, 1, 2, 3]),
    "extend_past_every_buffer": ([50, 60, 70, 80], [2, 2**62, INT64_MAX, 1], [0, 1, 2, 3]),
    "pool_index_out_of_range": ([100, 50, 20, 7], [1, 3, 2, 1], [4, -1, INT64_MAX, 1]),
    "seq_lens_past_int32": ([2**40, 2**31 - 1, INT64_MAX, 5], [3, 1, 2, 0], [0, 1, 2, 3]),
    "seq_lens_past_the_pool_width": ([100000, 299, 300, 301], [8, 1, 1, 1], [3, 2, 1, 0]),
    "sums_past_int32": ([2**31 - 1] * 4, [3, 3, 3, 3], [0, 1, 2, 3]),
    "kv_past_the_flattened_table": ([250, 260, 270, 280], [1, 1, 1, 1], [0, 1, 2, 3]),
}


def bad_values_case(name, dtype, copies):
    """BAD_DEVICE_VALUES[name] repeated `copies` times (4 or 40 requests take
    both kernels), clipped to dtype, as a CPU case, with poisoned CPU buffers
    for every output (counters of dtype)."""
    info = torch.iinfo(dtype)
    seq_lens, extend, pool = ([min(max(v, info.min), info.max) for v in values * copies]
                              for values in BAD_DEVICE_VALUES[name])
    generator = torch.Generator().manual_seed(copies)
    case = ExtendCase(torch.tensor(seq_lens, dtype=dtype), torch.tensor(extend, dtype=dtype),
                      torch.tensor(pool, dtype=dtype),
                      torch.randint(-5, 1 << 20, (4, 300), generator=generator,
                                    dtype=torch.int32),
                      page_size=7, index_kpool=3)
    plain = poisoned_outputs(case, token_capacity=20 * copies, kv_capacity=500 * copies)
    for counter in COUNTERS:
        plain[counter] = torch.full((1,), -1, dtype=dtype)
    return case, plain


# The block kernel writes the rows of a tile (256 requests) in 32-bit
# arithmetic when its rows and sums stay below INT32_MAX and every KV length
# fits int32, else in 64-bit saturating arithmetic: a batch whose first tile
# ends just under the limit and whose second crosses it takes both.
TILE_LIMITS = {
    # The KV sums: the first tile's end at INT32_MAX - 1, then past it.
    "kv_sums": (None, 2**31 - 1),
    # One KV length past int32, with no output that sums them.
    "kv_length": (("seqlens_expanded", "nsa_cache_seqlens", "page_table_1"), 2**40),
}


def tiles_across_int32_case(name, dtype=torch.int64):
    """A batch of 600 requests of 20 tokens each (rows past the kernel's
    direct path) for TILE_LIMITS[name], with poisoned CPU buffers."""
    names, wide_seq_len = TILE_LIMITS[name]
    generator = torch.Generator().manual_seed(600)
    extend = torch.full((600,), 20, dtype=torch.int64)
    seq_lens = extend + torch.randint(0, 50, (600,), generator=generator)
    if names is None:
        seq_lens[255] = 2**31 - 2 - int(seq_lens[:255].sum())
    seq_lens[300] = wide_seq_len
    case = ExtendCase(seq_lens.to(dtype), extend.to(dtype),
                      torch.randperm(600, generator=generator).to(dtype),
                      torch.randint(-5, 1 << 20, (600, 400), generator=generator,
                                    dtype=torch.int32))
    plain = poisoned_outputs(case, **({} if names is None else {"names": names}),
                             kv_capacity=3000)
    return case, plain
