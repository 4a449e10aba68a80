"""What the property-based tests share: hypothesis settings, the index dtypes
they draw, the adversarial values of each, and the draws of each operator
family (the CPU, CUDA and emulated-kernel tests take the same ones).

NSA_FUZZ_EXAMPLES sets the examples per test (150 by default). The draws are
the same on every run unless NSA_FUZZ_RANDOM=1, so that a test run (CI's
too) passes or fails on the code alone; random draws explore further and
belong to runs that hunt for new failures (scripts/gpu_tests.sh)."""
import os

import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from extend_cases import OUTPUTS, TOKEN_OUTPUTS, ExtendCase, random_extend_case
from step_cases import (ROW_VECTORS, SEQ_KINDS, TABLES, StepCase, outputs_of,
                        random_step_case)

EXAMPLES = int(os.environ.get("NSA_FUZZ_EXAMPLES", "150"))
RANDOM = os.environ.get("NSA_FUZZ_RANDOM") == "1"
fuzz_settings = settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM,
                         suppress_health_check=[HealthCheck.too_slow])
DTYPES = st.sampled_from([torch.int32, torch.int64])
INT32_MAX = 2**31 - 1
# The step-metadata and extend draws' topk, page sizes and index pools.
PAGE_TOPKS = st.sampled_from([1, 7, 2048, INT32_MAX, 2**40])
PAGE_SIZES = st.sampled_from([1, 2, 16, 64, 1000])
INDEX_KPOOLS = st.sampled_from([1, 2, 64])


def extremes(dtype):
    """The dtype's edges and int32's, either side of zero."""
    info = torch.iinfo(dtype)
    return [0, 1, -1, info.min, info.max, INT32_MAX, INT32_MAX - 3, -(2**31)]


@st.composite
def step_draws(draw, allow_bad_values, batch_sizes=st.integers(0, 40),
               modes=st.sampled_from(["decode", "target_verify", "draft_extend"])):
    """(case, poisoned_outputs keyword arguments), the batch's size from
    `batch_sizes` and its mode from `modes`."""
    mode = draw(modes)
    batch_size = draw(batch_sizes)
    seq_dtype, pool_dtype = draw(DTYPES), draw(DTYPES)
    pool_rows, width = draw(st.integers(1, 6)), draw(st.integers(1, 400))
    seq = st.one_of(st.integers(0, 5), st.integers(0, width + 50),
                    st.sampled_from([v for v in extremes(seq_dtype)
                                     if allow_bad_values or 0 <= v <= 2**20]))
    pool = (st.one_of(st.integers(0, pool_rows - 1),
                      st.sampled_from([pool_rows, -1] + extremes(pool_dtype)))
            if allow_bad_values else st.integers(0, pool_rows - 1))
    extend = st.one_of(st.integers(0, 9), st.integers(0, 9),
                       st.sampled_from(extremes(pool_dtype) if allow_bad_values else [50]))
    static = mode == "draft_extend" and draw(st.booleans())
    case = StepCase(
        mode=mode,
        seq_lens=torch.tensor(draw(st.lists(seq, min_size=batch_size, max_size=batch_size)),
                              dtype=seq_dtype),
        req_pool_indices=torch.tensor(
            draw(st.lists(pool, min_size=batch_size, max_size=batch_size)), dtype=pool_dtype),
        req_to_token=torch.randint(-3, 1 << 20, (pool_rows, width), dtype=torch.int32,
                                   generator=torch.Generator().manual_seed(width)),
        extend_seq_lens=(torch.tensor(draw(st.lists(extend, min_size=batch_size,
                                                    max_size=batch_size)), dtype=pool_dtype)
                         if mode == "draft_extend" and not static else None),
        num_draft_tokens=(draw(st.integers(1, 9))
                          if mode == "target_verify" or static else None),
        nsa_index_topk=draw(PAGE_TOPKS),
        page_size=draw(PAGE_SIZES))
    return case, step_outputs(draw, case, width, row_capacity_limit=2000)


def step_outputs(draw, case, width, row_capacity_limit):
    """poisoned_outputs keyword arguments for `case`, whose table is `width`
    wide: every output, the vectors alone, the tables alone, or
    (draft-extend) its row vectors alone, which the CUDA engine gives its
    row-scan kernels; tables up to that width; row capacities just under, at
    and over the batch's rows (at most row_capacity_limit)."""
    mode, static = case.mode, case.mode == "draft_extend" and case.extend_seq_lens is None
    pages = -(-width // case.page_size)
    subsets = [None, tuple(n for n in outputs_of(mode) if n not in TABLES), TABLES]
    kwargs = dict(names=draw(st.sampled_from(subsets + ([ROW_VECTORS] if mode == "draft_extend"
                                                        else []))),
                  widths=(draw(st.integers(0, width)), draw(st.integers(0, pages))),
                  num_tokens_dtype=draw(DTYPES) if mode == "draft_extend" else None)
    if mode == "draft_extend":
        rows = (case.batch_size * case.num_draft_tokens if static
                else sum(max(0, min(e, 10**6)) for e in case.extend_seq_lens.tolist()))
        capacity = draw(st.sampled_from([max(rows - 1, 0), rows, rows + 5]))
        if static:
            capacity = max(capacity, rows)  # a static count's shortfall is a host check
        kwargs["row_capacity"] = min(capacity, row_capacity_limit)
    return kwargs


@st.composite
def step_draws_across_tiles(draw):
    """(case, poisoned_outputs keyword arguments) of batches that span
    several of the CUDA block kernel's tiles of 512 requests: random_step_case's
    inputs of a drawn seed, with a few adversarial values at drawn places."""
    mode = draw(st.sampled_from(["decode", "target_verify", "draft_extend"]))
    static = mode == "draft_extend" and draw(st.booleans())
    width = draw(st.integers(1, 700))
    case = random_step_case(
        mode, draw(st.integers(400, 1100)), draw(st.integers(0, 2**31)),
        seq_kind=draw(st.sampled_from(SEQ_KINDS)), width=width,
        page_size=draw(PAGE_SIZES),
        num_draft_tokens=draw(st.integers(1, 9)), static_extend=static,
        dtypes=(draw(DTYPES), draw(DTYPES)),
        topk=draw(PAGE_TOPKS))
    copying = draw(st.one_of(st.none(), st.integers(0, 12)))
    if copying is not None:
        # Only a few requests with page rows: their tile's units leave the
        # page warps room to share a unit's rows in groups.
        idle = torch.randperm(case.batch_size,
                              generator=torch.Generator().manual_seed(width))[copying:]
        case.seq_lens[idle] = 0
    put_adversarial_values(draw, case)
    return case, step_outputs(draw, case, width, row_capacity_limit=12000)


def put_adversarial_values(draw, case):
    """Up to 8 of each dtype's extremes, or the pool's row count, at drawn
    places of the case's seq_lens, req_pool_indices and extend_seq_lens."""
    inputs = ["seq_lens", "req_pool_indices"] + (
        ["extend_seq_lens"] if case.extend_seq_lens is not None else [])
    for _ in range(draw(st.integers(0, 8))):
        values = getattr(case, draw(st.sampled_from(inputs)))
        place = draw(st.integers(0, case.batch_size - 1))
        values[place] = draw(st.sampled_from(extremes(values.dtype) + [case.req_to_token.shape[0]]))


@st.composite
def extend_draws(draw):
    """(case, poisoned_outputs keyword arguments)."""
    batch_size = draw(st.integers(0, 40))
    seq_dtype, extend_dtype, pool_dtype = draw(DTYPES), draw(DTYPES), draw(DTYPES)
    pool_rows, width = draw(st.integers(1, 6)), draw(st.integers(1, 400))
    bad = draw(st.booleans())
    seq = st.one_of(st.integers(0, 5), st.integers(0, width + 50),
                    *([st.sampled_from(extremes(seq_dtype))] if bad else []))
    extend = st.one_of(st.integers(0, 9), st.integers(0, 60),
                       *([st.sampled_from(extremes(extend_dtype))] if bad else []))
    pool = st.one_of(st.integers(0, pool_rows - 1),
                     *([st.sampled_from([pool_rows, -1] + extremes(pool_dtype))] if bad else []))
    lists = {name: draw(st.lists(values, min_size=batch_size, max_size=batch_size))
             for name, values in (("seq", seq), ("extend", extend), ("pool", pool))}
    case = ExtendCase(
        seq_lens=torch.tensor(lists["seq"], dtype=seq_dtype),
        extend_seq_lens=torch.tensor(lists["extend"], dtype=extend_dtype),
        req_pool_indices=torch.tensor(lists["pool"], dtype=pool_dtype),
        req_to_token=torch.randint(-5, 1 << 20, (pool_rows, width), dtype=torch.int32),
        nsa_index_topk=draw(PAGE_TOPKS),
        page_size=draw(PAGE_SIZES),
        index_kpool=draw(INDEX_KPOOLS))
    return case, extend_outputs(draw, case, width)


def extend_outputs(draw, case, width):
    """poisoned_outputs keyword arguments for `case`, whose table is `width`
    wide: every output, the per-token ones, the flattened table or the
    cumulative sums; tables up to that width; capacities just under, at and
    over the totals (bad totals: small buffers)."""
    pages = -(-width // case.page_size)
    names = draw(st.sampled_from([OUTPUTS, TOKEN_OUTPUTS, ("page_table_1_flattened",),
                                  ("cu_seqlens_k", "cu_seqlens_q", "nsa_cu_seqlens_k")]))

    def capacity(values):
        total = sum(max(v, 0) for v in values.tolist())
        total = total if total <= 10**5 else 3
        return max(0, total + draw(st.sampled_from([-1, 0, 5])))
    return dict(names=names, widths=(draw(st.integers(0, width)), draw(st.integers(0, pages))),
                token_capacity=capacity(case.extend_seq_lens),
                kv_capacity=capacity(case.seq_lens), counter_dtype=draw(DTYPES))


@st.composite
def extend_draws_across_tiles(draw):
    """(case, poisoned_outputs keyword arguments) of batches that span
    several of the CUDA block kernel's tiles of 512 requests:
    random_extend_case's inputs of a drawn seed, with a few adversarial
    values at drawn places."""
    width = draw(st.integers(1, 700))
    case = random_extend_case(
        draw(st.integers(400, 1100)), draw(st.integers(0, 2**31)),
        longest_extend=draw(st.sampled_from([1, 8, 60])),
        longest_prefix=draw(st.sampled_from([0, 50, 1000])), width=width,
        dtypes=(draw(DTYPES), draw(DTYPES)),
        nsa_index_topk=draw(PAGE_TOPKS),
        page_size=draw(PAGE_SIZES),
        index_kpool=draw(INDEX_KPOOLS))
    put_adversarial_values(draw, case)
    return case, extend_outputs(draw, case, width)


TOPKS = st.sampled_from([1, 2, 2047, 2048, 2049, 163840, 2**31 - 1, 2**40])


def draft_extend_extremes(dtype):
    """The dtype's edges, one step inside them, and int32's."""
    info = torch.iinfo(dtype)
    return [0, 1, -1, info.min, info.max, info.max - 1, info.min + 1, 2**31 - 1, -(2**31)]


@st.composite
def draft_extend_draws(draw, allow_bad_values):
    """(extend_seq_lens, seq_lens, topk, expanded_capacity, cache_capacity, count dtype)."""
    batch_size = draw(st.integers(0, 80))
    extend_dtype, seq_dtype, count_dtype = draw(DTYPES), draw(DTYPES), draw(DTYPES)
    small_extend = st.integers(0, 9)
    if allow_bad_values:
        extend = st.one_of(small_extend, small_extend,
                           st.sampled_from(draft_extend_extremes(extend_dtype)),
                           st.integers(-5, -1), st.integers(100, 3000))
    else:
        extend = st.one_of(small_extend, small_extend, st.integers(100, 3000))
    seq = st.one_of(st.integers(0, 4), st.integers(0, 163840),
                    st.sampled_from([v for v in draft_extend_extremes(seq_dtype)
                                     if allow_bad_values or 0 <= v <= 2**31 - 1]))
    extend_values = draw(st.lists(extend, min_size=batch_size, max_size=batch_size))
    seq_values = draw(st.lists(seq, min_size=batch_size, max_size=batch_size))
    total = sum(max(e, 0) for e in extend_values)
    # Capacities just under, at and over the total, bounded so that a total
    # of 2**62 still gives small buffers.
    def capacity():
        return draw(st.sampled_from([0, 1, max(total - 1, 0), total, total + 1, total + 37]))
    expanded_capacity, cache_capacity = min(capacity(), 20000), min(capacity(), 20000)
    return (torch.tensor(extend_values, dtype=extend_dtype),
            torch.tensor(seq_values, dtype=seq_dtype), draw(TOPKS), expanded_capacity,
            cache_capacity, count_dtype)
