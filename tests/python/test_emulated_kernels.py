"""The library's CUDA kernels run on the CPU by the emulation in
tests/emulation, against the reference: the step-metadata engine's
small-batch, warp-batch and block kernels (every instance) in every mode and
size class,
subsets of outputs, page sizes, narrow tables, index pools; its row-scan
kernels (one pass and two: fill_draft_extend_metadata, and any call asking
for draft-extend's row vectors alone) at every size class and dtype; the
fuzz tests' draws; every kernel under shuffled schedules; the documented
result of every bad value only the device sees, and never a write outside
the buffers (guard regions). The emulation runs the kernels' own code, the
engine's plans and the CUDA operators' host checks
(tests/emulation/emulated_ops.cpp) on a machine without a GPU; what it
cannot show (timing, the memory model) the GPU tests do.

CTest runs this file with NSA_METADATA_EMULATION_LIBRARY set to the library
it built; without it the tests skip, saying so."""
import os

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from extend_cases import BAD_DEVICE_VALUES as EXTEND_BAD_VALUES
from extend_cases import bad_values_case as extend_bad_values_case
from extend_cases import poisoned_outputs as extend_outputs
from extend_cases import TILE_LIMITS, TOKEN_OUTPUTS, assert_guarded_matches_reference, random_extend_case
from extend_cases import tiles_across_int32_case
from fuzzing import (draft_extend_draws, extend_draws, extend_draws_across_tiles, fuzz_settings,
                     step_draws, step_draws_across_tiles)
from helpers import BAD_DEVICE_VALUES as DRAFT_EXTEND_BAD_VALUES
from helpers import (POISON, assert_buffers_off_a_16_byte_boundary_match,
                     assert_guarded_run_matches_reference, define_like_ours, guard_buffers)
from inputs import EXTEND_KINDS, SEQ_KINDS as DRAFT_SEQ_KINDS, random_inputs
from reference import MODES
from step_cases import (BAD_DEVICE_VALUES, BAD_VALUE_DTYPES, INDEX_DTYPES, OPS, ROW_VECTORS,
                        SEQ_KINDS, TABLES, assert_guarded_step_matches_reference,
                        assert_outputs_equal, bad_case, bad_values_case, guarded_outputs,
                        outputs_of, random_step_case, strided_inputs)

LIBRARY = os.environ.get("NSA_METADATA_EMULATION_LIBRARY")
pytestmark = pytest.mark.skipif(
    not LIBRARY, reason="needs the emulation library (NSA_METADATA_EMULATION_LIBRARY; "
                        "CTest's emulated_cuda_kernels sets it)")
GUARD = 64


@pytest.fixture(scope="module")
def emulated():
    """torch.ops.nsa_metadata_emulated: the operators' schemas, copied from
    nsa_metadata's, over the emulation library's kernels."""
    torch.ops.load_library(LIBRARY)
    library = torch.library.Library("nsa_metadata_emulated", "DEF")
    define_like_ours(library, (*OPS.values(), "fill_extend_metadata", "fill_draft_extend_metadata"))
    yield torch.ops.nsa_metadata_emulated
    del library


def assert_step_matches(emulated, case, **poisoned_kwargs):
    assert_guarded_step_matches_reference(case, "cpu", GUARD, emulated, **poisoned_kwargs)


# Every kernel: the small-batch kernel where the rows fit it, the warp-batch
# kernel up to 32 requests, the block kernel past it (one tile, several
# tiles, several chunks).
SIZES = [0, 1, 5, 32, 33, 300, 700]


def every_output(mode):
    """Every buffer the mode's op fills (num_tokens aside)."""
    extra = ("paged_mqa_context_lens",) if mode == "target_verify" else ()
    return outputs_of(mode) + extra


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_size", SIZES)
@pytest.mark.parametrize("seq_kind", SEQ_KINDS)
def test_every_mode_and_size_class(emulated, mode, batch_size, seq_kind):
    case = random_step_case(mode, batch_size, batch_size + 7, seq_kind=seq_kind, width=600)
    assert_step_matches(emulated, case, names=every_output(mode),
                        row_capacity=8 * batch_size + 5)


# Every instance of the small-batch kernel: dense int32 lengths with int32
# or int64 pool indices, and any other dtypes or strides.
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtypes", INDEX_DTYPES)
@pytest.mark.parametrize("strided", [False, True])
@pytest.mark.parametrize("seq_kind", ["up_to_width", "past_width"])
def test_small_batch_index_dtypes_and_strides(emulated, mode, dtypes, strided, seq_kind):
    case = random_step_case(mode, 6, 13, seq_kind=seq_kind, width=900, dtypes=dtypes[:2],
                            extend_dtype=dtypes[2])
    assert_step_matches(emulated, strided_inputs(case) if strided else case,
                        names=every_output(mode))


@pytest.mark.parametrize("batch_size", [3, 32, 100])
def test_draft_extend_with_a_static_count(emulated, batch_size):
    case = random_step_case("draft_extend", batch_size, 1, width=500, static_extend=True)
    assert_step_matches(emulated, case, num_tokens_dtype=torch.int32)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("names", ["vectors", "tables", "page_table_1", "real_page_table"])
@pytest.mark.parametrize("batch_size", [9, 120])
def test_subsets_of_outputs(emulated, mode, names, batch_size):
    chosen = {"tables": TABLES, "page_table_1": ("page_table_1",),
              "real_page_table": ("real_page_table",),
              "vectors": [n for n in outputs_of(mode) if n not in TABLES]}[names]
    case = random_step_case(mode, batch_size, 3, width=2500)
    assert_step_matches(emulated, case, names=chosen)


# The warp-batch kernel copies units of 256 columns where the batch's units
# fit one pass of its page warps and of 1024 otherwise (device/policy.cuh).
# The emulated GPU's grid holds 32 page warps (36-39 once rounded to whole
# blocks): of each pair of widths, the first keeps the batch's units of 256
# columns within one pass, the second does not (and ends mid-unit).
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_size,width",
                         [(1, 4096), (1, 65000), (4, 1024), (4, 16000), (32, 256), (32, 257)])
def test_warp_batch_units_at_one_pass_of_the_page_warps(emulated, mode, batch_size, width):
    case = random_step_case(mode, batch_size, 11, width=width)
    case.seq_lens[0] = width  # the widest request spans the table
    assert_step_matches(emulated, case, names=every_output(mode))


# The small-batch kernel's page warps (device/small_batch.cuh) copy a unit
# of one row each where the batch's (unit, row) items fit one pass of them
# (each warp taking its item from its place where the items of the widest
# rows the tables hold fit: the direct path), a unit of one request into
# every G-th of its rows where its (unit, request) items times G do (G = 4,
# 2 or 1), else as the warp-batch kernel's. The emulated GPU's small-batch
# grid holds 31 page warps; with the widest request 600 columns (3 units),
# N = 4 rows a request: 1 request is 12 row items (direct), 4 requests are
# 48 row items but 12 request items (G = 2), 8 requests 96 and 24 (G = 1),
# 16 requests 192 and 48; decode's 8 requests 24 row items (direct), 16
# requests 48. With counts from
# extend_seq_lens (1 to 8), the items span the tables' rows: 8 rows of one
# request are 24 items (direct: a batch of one), 3 rows 9; 8 rows of 2
# requests are 24 items, 40 rows of 2 requests 120 (6 request items: G = 4,
# and groups past a request's rows), 20 rows of 4 requests 60 (12: G = 2),
# 100 rows of 16 requests 300 (48); the tables may hold fewer rows than the
# batch has.
@pytest.mark.parametrize("mode,batch_size,static_extend,row_capacity", [
    ("decode", 8, True, None), ("decode", 16, True, None),
    ("target_verify", 1, True, None), ("target_verify", 4, True, None),
    ("target_verify", 8, True, None), ("target_verify", 16, True, None),
    ("draft_extend", 1, True, None), ("draft_extend", 4, True, None),
    ("draft_extend", 16, True, None),
    ("draft_extend", 1, False, 8), ("draft_extend", 1, False, 3),
    ("draft_extend", 2, False, 8), ("draft_extend", 2, False, 40),
    ("draft_extend", 4, False, 20), ("draft_extend", 16, False, 100)])
@pytest.mark.parametrize("page_size", [8, 64])
def test_small_batch_page_items(emulated, mode, batch_size, static_extend, row_capacity,
                                page_size):
    case = random_step_case(mode, batch_size, 13, width=600, page_size=page_size,
                            static_extend=static_extend)
    case.seq_lens[0] = 600
    assert_step_matches(emulated, case, names=every_output(mode), row_capacity=row_capacity)


# The small-batch kernel's page warps count a request's units up to
# min(KV length, unit_span), unit_span being the columns any request's units
# may span (device/small_batch.cuh). With page_table_1 100 columns wide and
# pages wider than a unit (256 columns), a request of 2999 tokens counts 12
# units where its sources end in the 11th (pages of 512, real_page_table 9
# columns: the last page starts at column 2560) or the 8th (pages of 1000, 6
# columns: at 2000): the units past them must load and store nothing. One
# request: its units fit one pass of the page warps as rows with N rows or
# one; three: as requests, or not at all.
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize("page_size,real_columns", [(512, 9), (1000, 6)])
def test_small_batch_units_past_the_last_page(emulated, mode, batch_size, page_size,
                                              real_columns):
    case = random_step_case(mode, batch_size, page_size + batch_size, width=6000,
                            page_size=page_size, static_extend=True)
    case.seq_lens[:] = 2999
    assert_step_matches(emulated, case, names=every_output(mode), widths=(100, real_columns))


# The block kernel's page warps share a unit's rows in G groups where the
# tile's units times G fit one pass of them (device/block_pages.cuh). The
# emulated GPU's block-kernel grid holds 24 page warps: of 40 requests with
# a table 600 wide (one unit each), 3 that copy give G = 4, 10 give G = 2,
# 20 give G = 1 (the others have no page rows: seq_len 0, or a pool index
# past req_to_token's rows).
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("copying", [3, 10, 20])
@pytest.mark.parametrize("idle", ["seq_lens", "req_pool_indices"])
def test_block_kernel_row_groups(emulated, mode, copying, idle):
    case = random_step_case(mode, 40, 17, width=600)
    if idle == "seq_lens":
        case.seq_lens[copying:] = 0
    else:
        case.req_pool_indices[copying:] = case.req_to_token.shape[0] + 5
    assert_step_matches(emulated, case, names=every_output(mode), row_capacity=8 * 40 + 5)


# A count that saturates the row count (extend_seq_lens INT64_MAX) puts
# every later request's first row at INT64_MAX in the block kernel (40
# requests), past every table: a row group's offset must not be added to it
# (an overflow to a negative row). The warp-batch kernel (20 requests)
# counts rows clamped to 32 bits. 3 requests that copy give each kernel its
# most groups.
@pytest.mark.parametrize("batch_size", [20, 40])
def test_row_groups_after_a_saturated_row_count(emulated, batch_size):
    case = random_step_case("draft_extend", batch_size, 23, width=600)
    case.extend_seq_lens[0] = torch.iinfo(torch.int64).max
    case.seq_lens[3:] = 0
    assert_step_matches(emulated, case, names=every_output("draft_extend"),
                        row_capacity=8 * batch_size + 5)


# The small-batch kernel's page warps count req_to_token's rows and the
# tables' row strides in 32 bits; a pool of more rows (2^31 + 5 here, all
# one row of memory) takes the warp-batch kernel's copy instead, where pool
# indices past INT32_MAX are rows like any other (and one past the pool is
# still outside it).
@pytest.mark.parametrize("mode", MODES)
def test_small_batch_with_a_pool_past_32_bit_rows(emulated, mode):
    case = random_step_case(mode, 4, 29, width=600)
    pool_rows = 2**31 + 5
    case.req_to_token = case.req_to_token[:1].expand(pool_rows, -1)
    case.req_pool_indices = torch.tensor([pool_rows - 1, 0, 2**31, pool_rows])
    assert_step_matches(emulated, case, names=every_output(mode))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("page_size", [1, 7, 64, 4096])
@pytest.mark.parametrize("batch_size", [4, 50])
def test_page_sizes(emulated, mode, page_size, batch_size):
    case = random_step_case(mode, batch_size, page_size, width=3000, page_size=page_size)
    assert_step_matches(emulated, case)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_size", [6, 40])
def test_tables_narrower_than_the_pool(emulated, mode, batch_size):
    case = random_step_case(mode, batch_size, 5, width=1000)
    assert_step_matches(emulated, case, widths=(333, 9))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("index_kpool", [1, 3, 64])
@pytest.mark.parametrize("batch_size", [10, 80])
def test_index_pools(emulated, mode, index_kpool, batch_size):
    case = random_step_case(mode, batch_size, index_kpool, width=2500, topk=100)
    case.index_kpool = index_kpool
    assert_step_matches(emulated, case)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(BAD_DEVICE_VALUES))
@pytest.mark.parametrize("dtypes", BAD_VALUE_DTYPES)
@pytest.mark.parametrize("copies", [1, 10])  # 4 or 40 requests: both kernels
@pytest.mark.parametrize("page_size", [7, 64])  # the small-batch kernel's two copies
def test_bad_device_values_give_the_documented_result(emulated, mode, name, dtypes, copies,
                                                      page_size):
    case, capacity = bad_values_case(mode, name, dtypes[0], copies, pool_dtype=dtypes[1])
    case.page_size = page_size
    assert_step_matches(emulated, case, row_capacity=capacity)


# Static draft-extend's bad values in the small-batch kernel's direct path
# (device/small_batch.cuh, copy_direct_unit), as target-verify's above: 4
# requests of N = 3 rows in bad_case's table 300 wide (2 units) are 24 page
# items, within the emulated grid's 31 page warps.
@pytest.mark.parametrize("name", [name for name in BAD_DEVICE_VALUES if "extend" not in name])
@pytest.mark.parametrize("dtypes", BAD_VALUE_DTYPES)
@pytest.mark.parametrize("page_size", [7, 64])
def test_bad_device_values_in_static_draft_extend(emulated, name, dtypes, page_size):
    case, _ = bad_values_case("target_verify", name, dtypes[0], 1, pool_dtype=dtypes[1])
    case.mode = "draft_extend"  # N = 3 rows a request, as target-verify's, without its offset
    case.page_size = page_size
    assert_step_matches(emulated, case)


# Draft-extend's bad values one request at a time: with its count from
# extend_seq_lens, a batch of one takes the small-batch kernel's direct path
# (device/small_batch.cuh, copy_direct_unit): 8 rows of bad_case's table 300
# wide (2 units) are 16 page items, within the emulated grid's 31 page warps.
@pytest.mark.parametrize("name", list(BAD_DEVICE_VALUES))
@pytest.mark.parametrize("request_index", range(4))
@pytest.mark.parametrize("page_size", [7, 64])  # the small-batch kernel's two copies
def test_bad_device_values_in_draft_extend_of_one_request(emulated, name, request_index,
                                                          page_size):
    seq_lens, pool, extend = BAD_DEVICE_VALUES[name]
    case = bad_case("draft_extend", [seq_lens[request_index]], [pool[request_index]],
                    [extend[request_index]])
    case.page_size = page_size
    assert_step_matches(emulated, case, row_capacity=8)


# Draft-extend's row vectors alone (any of seqlens_expanded,
# nsa_cache_seqlens and num_tokens): the warp-batch kernel up to 32 requests,
# the row-scan kernels up to 32768, the block kernel past them (the step
# operators allocate no workspace).
ROW_SUBSETS = [ROW_VECTORS, ("seqlens_expanded",), ("nsa_cache_seqlens",), ()]


@pytest.mark.parametrize("batch_size", [0, 1, 33, 1000, 8193, 32768, 32769])
@pytest.mark.parametrize("names", ROW_SUBSETS)
def test_draft_extend_row_vectors_alone(emulated, batch_size, names):
    case = random_step_case("draft_extend", batch_size, batch_size + len(names), width=300)
    count_dtype = torch.int32 if len(names) % 2 else torch.int64
    assert_step_matches(emulated, case, names=names, row_capacity=case.rows() + 130,
                        num_tokens_dtype=count_dtype)


# The row-scan kernels' nsa_cache_seqlens, with and without index pools, on
# rows they store directly (bs 80) and on rows they stage (bs 1000).
@pytest.mark.parametrize("index_kpool", [1, 3, 64])
@pytest.mark.parametrize("batch_size", [80, 1000])
def test_draft_extend_row_vectors_alone_with_index_pools(emulated, index_kpool, batch_size):
    case = random_step_case("draft_extend", batch_size, index_kpool, width=300, topk=100)
    case.index_kpool = index_kpool
    assert_step_matches(emulated, case, names=ROW_VECTORS, row_capacity=case.rows() + 11)


@pytest.mark.parametrize("name", list(BAD_DEVICE_VALUES))
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_draft_extend_row_vectors_alone_with_bad_device_values(emulated, name, dtype):
    case, capacity = bad_values_case("draft_extend", name, dtype, 10)
    assert_step_matches(emulated, case, names=ROW_VECTORS, row_capacity=capacity,
                        num_tokens_dtype=dtype)


@pytest.mark.parametrize("batch_size", [0, 5, 300, 8193, 32769])
def test_extend_row_vectors_alone(emulated, batch_size):
    case = random_extend_case(batch_size, batch_size + 1, longest_extend=20, width=300)
    plain = {name: buffer for name, buffer in extend_outputs(case, counter_dtype=None).items()
             if name in ROW_VECTORS}
    plain["num_tokens"] = torch.full((1,), -1, dtype=torch.int32)
    assert_extend_matches(emulated, case, plain)


def assert_extend_matches(emulated, case, plain):
    assert_guarded_matches_reference(case, *guard_buffers(plain, "cpu", GUARD), emulated)


@pytest.mark.parametrize("batch_size", SIZES)
@pytest.mark.parametrize("longest_extend", [1, 8, 300])
def test_extend_size_classes(emulated, batch_size, longest_extend):
    case = random_extend_case(batch_size, batch_size + longest_extend,
                              longest_extend=longest_extend, longest_prefix=2000, width=2500)
    assert_extend_matches(emulated, case, extend_outputs(case))


@pytest.mark.parametrize("names", [("page_table_1", "real_page_table"), ("real_page_table",),
                                   TOKEN_OUTPUTS, ("page_table_1_flattened", "num_kv_tokens"),
                                   ("cu_seqlens_q", "nsa_cu_seqlens_k", "num_tokens")])
@pytest.mark.parametrize("batch_size", [9, 120])
def test_extend_subsets_of_outputs(emulated, names, batch_size):
    case = random_extend_case(batch_size, 13, longest_extend=30, width=2000)
    plain = {name: buffer for name, buffer in extend_outputs(case).items() if name in names}
    assert_extend_matches(emulated, case, plain)


@pytest.mark.parametrize("batch_size", [7, 200])
def test_extend_capacities_cut_the_batch(emulated, batch_size):
    case = random_extend_case(batch_size, 11, longest_extend=40, width=900)
    plain = extend_outputs(case, token_capacity=case.tokens() // 2,
                           kv_capacity=case.kv_tokens() // 3)
    assert_extend_matches(emulated, case, plain)


# Extend's late page blocks take the units past the page blocks' lead, whose
# length follows the row vectors' capacity (step_metadata/plan.cuh,
# plan_late_page_blocks): spare token rows move its end from the first units
# to the second tile (600 requests, 800000 spare) or past the last unit (90).
@pytest.mark.parametrize("spare_tokens", [0, 3000, 40000, 800000])
@pytest.mark.parametrize("batch_size", [90, 600])
def test_extend_units_past_the_page_blocks_lead(emulated, spare_tokens, batch_size):
    case = random_extend_case(batch_size, 31, longest_extend=3, longest_prefix=2500, width=2100)
    assert_extend_matches(emulated, case, extend_outputs(case, spare_tokens=spare_tokens))


# Where late page blocks would number under a quarter of the page blocks, an
# extend call runs the block kernel's instance without them
# (step_metadata/device/kernel.cuh): on a GPU of five multiprocessors, one
# vector block and nine page blocks.
@pytest.mark.parametrize("batch_size", [40, 200])
def test_extend_without_late_page_blocks(emulated, monkeypatch, batch_size):
    monkeypatch.setenv("NSA_EMULATION_MULTIPROCESSORS", "5")
    case = random_extend_case(batch_size, 37, longest_extend=1, longest_prefix=2500, width=2100)
    assert_extend_matches(emulated, case, extend_outputs(case))


@pytest.mark.parametrize("offset", [0, 1, 2, 3])
@pytest.mark.parametrize("batch_size", [5, 120])
def test_flattened_table_at_every_alignment(emulated, offset, batch_size):
    case = random_extend_case(batch_size, 20 + offset, longest_prefix=3000, width=4000)
    plain = {"page_table_1_flattened": torch.full((case.kv_tokens() - 1 - 2 * offset,), POISON,
                                                  dtype=torch.int32),
             "num_kv_tokens": torch.full((1,), -1, dtype=torch.int64)}
    outputs, assert_guards_intact = guard_buffers(plain, "cpu", GUARD + offset)
    assert outputs["page_table_1_flattened"].data_ptr() % 16 == 4 * offset
    assert_guarded_matches_reference(case, outputs, assert_guards_intact, emulated)


@pytest.mark.parametrize("name", list(EXTEND_BAD_VALUES))
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("copies", [1, 10])
def test_extend_bad_device_values_give_the_documented_result(emulated, name, dtype, copies):
    case, plain = extend_bad_values_case(name, dtype, copies)
    assert_extend_matches(emulated, case, plain)


@pytest.mark.parametrize("name", list(TILE_LIMITS))
def test_extend_tiles_on_both_sides_of_int32(emulated, name):
    case, plain = tiles_across_int32_case(name)
    assert_extend_matches(emulated, case, plain)


def assert_draft_extend_matches(emulated, extend_seq_lens, seq_lens, capacities,
                                count_dtype=torch.int64):
    assert_guarded_run_matches_reference(extend_seq_lens, seq_lens, capacities, count_dtype,
                                         "cpu", GUARD, emulated)


# One pass up to 12288 requests (the direct path for short requests, the
# general one otherwise), two passes past it.
@pytest.mark.parametrize("batch_size", [0, 1, 31, 33, 1024, 12288, 12289, 20000])
@pytest.mark.parametrize("extend_kind", EXTEND_KINDS)
def test_fill_draft_extend_metadata_size_classes(emulated, batch_size, extend_kind):
    extend_seq_lens, seq_lens = random_inputs(batch_size, extend_kind, "up_to_context",
                                              batch_size + 1)
    total = int(extend_seq_lens.sum())
    assert_draft_extend_matches(emulated, extend_seq_lens, seq_lens, (total + 300, total + 7))


@pytest.mark.parametrize("seq_kind", DRAFT_SEQ_KINDS)
@pytest.mark.parametrize("dtypes", [(torch.int32, torch.int32), (torch.int64, torch.int32),
                                    (torch.int32, torch.int64)])
@pytest.mark.parametrize("count_dtype", [torch.int32, torch.int64])
def test_fill_draft_extend_metadata_dtypes(emulated, seq_kind, dtypes, count_dtype):
    extend_seq_lens, seq_lens = random_inputs(300, "zeros_to_8", seq_kind, 5,
                                              extend_dtype=dtypes[0], seq_dtype=dtypes[1])
    total = int(extend_seq_lens.sum())
    assert_draft_extend_matches(emulated, extend_seq_lens, seq_lens, (total, total + 1),
                                count_dtype)


@pytest.mark.parametrize("batch_size", [40, 9000])
def test_fill_draft_extend_metadata_capacities_below_the_total(emulated, batch_size):
    extend_seq_lens, seq_lens = random_inputs(batch_size, "draft_1_to_8", "up_to_context", 3)
    total = int(extend_seq_lens.sum())
    assert_draft_extend_matches(emulated, extend_seq_lens, seq_lens, (total // 2, total // 3))


# The row scan's stores on both sides of a 16-byte boundary (3000: one launch;
# 20000: two).
@pytest.mark.parametrize("batch_size", [3000, 20000])
@pytest.mark.parametrize("guard", [1, 2, 3, 4])
def test_fill_draft_extend_metadata_off_a_16_byte_boundary(emulated, batch_size, guard):
    assert_buffers_off_a_16_byte_boundary_match(batch_size, guard, "cpu", emulated)


@pytest.mark.parametrize("name", list(DRAFT_EXTEND_BAD_VALUES))
@pytest.mark.parametrize("count_dtype", [torch.int32, torch.int64])
def test_fill_draft_extend_metadata_bad_device_values(emulated, name, count_dtype):
    extend_values, seq_values, dtype, capacity = DRAFT_EXTEND_BAD_VALUES[name]
    capacities = capacity if isinstance(capacity, tuple) else (capacity, capacity)
    assert_draft_extend_matches(emulated, torch.tensor(extend_values, dtype=dtype),
                                torch.tensor(seq_values, dtype=dtype), capacities, count_dtype)


# Blocks, and a block's threads at each step, in orders drawn from a seed
# (cuda_emulation::set_schedule): CUDA promises no order, so a result that
# changed with it would be a race. Every kernel, both of the engine's kinds of
# block, the row scan's one and two passes.
@pytest.mark.parametrize("seed", ["1", "2"])
@pytest.mark.parametrize("kernel",
                         ["small_batch", "warp_batch", "block", "rows", "extend", "two_pass"])
def test_results_do_not_depend_on_the_schedule(emulated, monkeypatch, seed, kernel):
    monkeypatch.setenv("NSA_EMULATION_SCHEDULE_SEED", seed)
    if kernel in ("small_batch", "warp_batch", "block", "rows"):
        batch_size = {"small_batch": 5, "warp_batch": 20}.get(kernel, 700)
        for mode in MODES if kernel != "rows" else ("draft_extend",):
            case = random_step_case(mode, batch_size, int(seed), width=600)
            names = ROW_VECTORS if kernel == "rows" else every_output(mode)
            assert_step_matches(emulated, case, names=names, row_capacity=8 * batch_size + 5)
    elif kernel == "extend":
        case = random_extend_case(300, int(seed), longest_extend=300, width=2500)
        assert_extend_matches(emulated, case, extend_outputs(case))
    else:
        extend_seq_lens, seq_lens = random_inputs(20000, "draft_1_to_8", "up_to_context",
                                                  int(seed))
        total = int(extend_seq_lens.sum())
        assert_draft_extend_matches(emulated, extend_seq_lens, seq_lens, (total + 9, total))


# The fuzz tests' draws (fuzzing.py), bad values included: the documented
# result, and nothing outside the buffers written.
@fuzz_settings
@given(draw=step_draws(allow_bad_values=True))
def test_fuzzed_step_calls(emulated, draw):
    case, kwargs = draw
    assert_guarded_step_matches_reference(case, "cpu", GUARD, emulated, **kwargs)


# Draft-extend batches of one request: their page items, with N rows or
# with the count from extend_seq_lens, take the small-batch kernel's direct
# path wherever they fit its grid (device/small_batch.cuh, copy_direct_unit).
@fuzz_settings
@given(draw=step_draws(allow_bad_values=True, batch_sizes=st.just(1),
                       modes=st.just("draft_extend")))
def test_fuzzed_step_calls_of_one_request(emulated, draw):
    case, kwargs = draw
    assert_guarded_step_matches_reference(case, "cpu", GUARD, emulated, **kwargs)


@fuzz_settings
@given(draw=step_draws_across_tiles())
def test_fuzzed_step_calls_across_tiles(emulated, draw):
    case, kwargs = draw
    assert_guarded_step_matches_reference(case, "cpu", GUARD, emulated, **kwargs)


@fuzz_settings
@given(draw=extend_draws())
def test_fuzzed_extend_calls(emulated, draw):
    case, kwargs = draw
    assert_extend_matches(emulated, case, extend_outputs(case, **kwargs))


@fuzz_settings
@given(draw=extend_draws_across_tiles())
def test_fuzzed_extend_calls_across_tiles(emulated, draw):
    case, kwargs = draw
    assert_extend_matches(emulated, case, extend_outputs(case, **kwargs))


@fuzz_settings
@given(batch=draft_extend_draws(allow_bad_values=True))
def test_fuzzed_fill_draft_extend_metadata_calls(emulated, batch):
    extend_seq_lens, seq_lens, topk, expanded_capacity, cache_capacity, count_dtype = batch
    assert_guarded_run_matches_reference(extend_seq_lens, seq_lens,
                                         (expanded_capacity, cache_capacity), count_dtype,
                                         "cpu", GUARD, emulated, topk)


def test_a_broken_launch_would_show(emulated):
    """The comparison can fail: a buffer the kernels never saw keeps its
    poison and differs from the reference."""
    case = random_step_case("decode", 40, 2, width=300)
    outputs, _ = guarded_outputs(case, "cpu", GUARD)
    want = case.expected(outputs)
    case.call(namespace=emulated, **{n: b for n, b in outputs.items() if n != "cu_seqlens_k"})
    with pytest.raises(AssertionError):
        assert_outputs_equal(outputs, want)
