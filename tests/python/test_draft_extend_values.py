"""fill_draft_extend_metadata and draft_extend_metadata against the reference,
on every device present: random inputs over every size class, edge cases."""
import itertools
import zlib

import pytest
import torch

from helpers import assert_equal, assert_matches_reference, expected, fill, poisoned_buffer
from inputs import EXTEND_KINDS, SEQ_KINDS, random_inputs
from reference import INT32_MAX

BATCH_SIZES = [0, 1, 2, 31, 32, 33, 1024, 4096, 65536]
TOPKS = [1, 2047, 2048, 2049, 163840, INT32_MAX]
DTYPES = [torch.int32, torch.int64]


@pytest.mark.parametrize("batch_size", BATCH_SIZES)
@pytest.mark.parametrize("extend_kind", EXTEND_KINDS)
@pytest.mark.parametrize("seq_kind", SEQ_KINDS)
@pytest.mark.parametrize("seed", range(3))
def test_random_inputs(device, batch_size, extend_kind, seq_kind, seed):
    # Dtypes, topk and spare capacity vary with the seed rather than
    # multiplying the grid: every combination still comes up across the cases.
    case = zlib.crc32(repr((batch_size, extend_kind, seq_kind, seed)).encode())
    extend_dtype = DTYPES[case % 2]
    seq_dtype = DTYPES[(case // 2) % 2]
    topk = TOPKS[case % len(TOPKS)]
    extend_seq_lens, seq_lens = random_inputs(batch_size, extend_kind, seq_kind, seed,
                                              extend_dtype, seq_dtype, device)
    total = int(extend_seq_lens.sum())
    for spare in (0, 1 + case % 1000):
        assert_matches_reference(extend_seq_lens, seq_lens, topk, total + spare)


@pytest.mark.parametrize("extend_dtype,seq_dtype,count_dtype",
                         list(itertools.product(DTYPES, DTYPES, DTYPES)))
def test_every_dtype_combination(device, extend_dtype, seq_dtype, count_dtype):
    extend_seq_lens, seq_lens = random_inputs(100, "zeros_to_8", "padded", 7, extend_dtype,
                                              seq_dtype, device)
    total = int(extend_seq_lens.sum())
    assert_matches_reference(extend_seq_lens, seq_lens, 2048, total + 17,
                             count_dtype=count_dtype)


@pytest.mark.parametrize("topk", [1, 2, 3, 4, 5, 2047, 2048, 2049])
def test_topk_around_the_values(device, topk):
    extend_seq_lens = torch.tensor([4, 1, 3, 2], device=device)
    seq_lens = torch.tensor([5, 2048, 2050, 2], device=device)
    assert_matches_reference(extend_seq_lens, seq_lens, topk, 10)


# Every path of the CUDA kernel: a few rows stored directly, rows staged in
# shared memory, long requests, and the two-pass grid of a large batch.
@pytest.mark.parametrize("batch_size,extend_kind", [(4, "draft_1_to_8"), (300, "draft_1_to_8"),
                                                    (40, "some_large"), (65536, "zeros_to_8")])
@pytest.mark.parametrize("index_kpool,topk", [(2, 2048), (4, 7), (64, 100), (2**40, 2048)])
def test_index_kpool(device, batch_size, extend_kind, index_kpool, topk):
    extend_seq_lens, seq_lens = random_inputs(batch_size, extend_kind, "up_to_context", 5,
                                              torch.int32, torch.int64, device)
    total = int(extend_seq_lens.sum())
    assert_matches_reference(extend_seq_lens, seq_lens, topk, total + 9, index_kpool=index_kpool)


def test_index_kpool_by_hand(device):
    # K = 4, topk 8: kv 14 keeps min(12, 8) + 2 = 10, kv 13 keeps 8 + 1, kv 5 keeps 4 + 1.
    seqlens_expanded, nsa_cache_seqlens, total = fill(
        torch.tensor([2, 1], device=device), torch.tensor([14, 5], device=device), 8, 4,
        index_kpool=4)
    assert seqlens_expanded.tolist() == [13, 14, 5, 0]
    assert nsa_cache_seqlens.tolist() == [9, 10, 5, 0] and total == 3


def test_hand_checked_example(device):
    # Request 0: 2 tokens, cache 5 -> 4, 5. Request 1: none. Request 2: padded
    # row, 3 tokens, cache 2 -> 0, 1, 2. Request 3: 1 token, cache 4000.
    extend_seq_lens = torch.tensor([2, 0, 3, 1], dtype=torch.int32, device=device)
    seq_lens = torch.tensor([5, 1, 2, 4000], dtype=torch.int64, device=device)
    seqlens_expanded = poisoned_buffer(8, device)
    nsa_cache_seqlens = poisoned_buffer(8, device)
    num_tokens = torch.zeros(1, dtype=torch.int32, device=device)
    torch.ops.nsa_metadata.fill_draft_extend_metadata(
        extend_seq_lens, seq_lens, 2048, seqlens_expanded, nsa_cache_seqlens,
        num_tokens=num_tokens)
    assert seqlens_expanded.tolist() == [4, 5, 0, 1, 2, 4000, 0, 0]
    assert nsa_cache_seqlens.tolist() == [4, 5, 0, 1, 2, 2048, 0, 0]
    assert num_tokens.tolist() == [6]


def test_capacities_may_differ(device):
    extend_seq_lens, seq_lens = random_inputs(300, "draft_1_to_8", "up_to_context", 3,
                                              device=device)
    total = int(extend_seq_lens.sum())
    assert_matches_reference(extend_seq_lens, seq_lens, 2048, total, total + 500)
    assert_matches_reference(extend_seq_lens, seq_lens, 2048, total + 999, total)


def test_tail_is_zeroed_when_buffers_are_reused(device):
    """A big batch then a small one in the same buffers: no stale rows."""
    capacity = 5000
    seqlens_expanded = poisoned_buffer(capacity, device)
    nsa_cache_seqlens = poisoned_buffer(capacity, device)
    for batch_size, seed in ((600, 1), (3, 2), (0, 3), (450, 4)):
        extend_seq_lens, seq_lens = random_inputs(batch_size, "draft_1_to_8",
                                                  "up_to_context", seed, device=device)
        torch.ops.nsa_metadata.fill_draft_extend_metadata(
            extend_seq_lens, seq_lens, 2048, seqlens_expanded, nsa_cache_seqlens)
        want_expanded, want_cache, _ = expected(extend_seq_lens, seq_lens, 2048, capacity,
                                                capacity)
        assert_equal(seqlens_expanded.cpu(), want_expanded, "seqlens_expanded")
        assert_equal(nsa_cache_seqlens.cpu(), want_cache, "nsa_cache_seqlens")


def test_empty_batch_and_empty_buffers(device):
    empty = torch.zeros(0, dtype=torch.int32, device=device)
    assert_matches_reference(empty, empty, 2048, 0)
    assert_matches_reference(empty, empty, 2048, 7)


def test_strided_inputs_are_read_in_place(device):
    extend_seq_lens, seq_lens = random_inputs(200, "zeros_to_8", "padded", 5, device=device)
    assert_matches_reference(extend_seq_lens[::2], seq_lens[1::2], 2048, 2000)


@pytest.mark.parametrize("offset", [1, 2, 3])
def test_inputs_off_a_16_byte_boundary_are_read_in_place(device, offset):
    # The CUDA kernel reads aligned int32 extend lengths four at a time and
    # anything else one at a time; both must give the same rows.
    extend_seq_lens, seq_lens = random_inputs(1000 + offset, "zeros_to_8", "padded", offset,
                                              device=device)
    assert_matches_reference(extend_seq_lens[offset:], seq_lens[offset:], 2048, 9000)


# Around the batch sizes where the CUDA kernel's read of the whole batch takes
# another load per thread (4 lengths a load for aligned int32, else 1; 128 or
# 256 threads a block), and around its two-pass threshold (12288).
LOAD_ROUND_SIZES = [127, 128, 129, 255, 256, 257, 511, 512, 513, 515, 516, 517, 1023, 1024,
                    1025, 1027, 1028, 1029, 2047, 2048, 2049, 2051, 2052, 2053, 4095, 4096,
                    4097, 4099, 4100, 4101, 8191, 8192, 8193, 12287, 12288, 12289]


@pytest.mark.parametrize("layout", ["int32", "int64", "int32 strided"])
def test_batch_sizes_around_the_load_rounds(device, layout):
    for batch_size in LOAD_ROUND_SIZES:
        extend_dtype = torch.int64 if layout == "int64" else torch.int32
        extend_seq_lens, seq_lens = random_inputs(2 * batch_size, "zeros_to_8", "padded",
                                                  batch_size, extend_dtype, device=device)
        step = 2 if layout.endswith("strided") else 1
        extend_seq_lens = extend_seq_lens[:step * batch_size:step]
        seq_lens = seq_lens[:batch_size]
        assert_matches_reference(extend_seq_lens, seq_lens, 2048,
                                 int(extend_seq_lens.sum()) + batch_size % 7)


def test_one_huge_request(device):
    extend_seq_lens = torch.tensor([3, 300000, 2], device=device)
    seq_lens = torch.tensor([10, 400000, 1], device=device)
    assert_matches_reference(extend_seq_lens, seq_lens, 2048, 300005 + 40)


def test_functional_form_with_index_kpool(device):
    extend_seq_lens, seq_lens = random_inputs(300, "draft_1_to_8", "padded", 12,
                                              torch.int32, torch.int32, device)
    capacity = int(extend_seq_lens.sum()) + 5
    _, nsa_cache_seqlens = torch.ops.nsa_metadata.draft_extend_metadata(
        extend_seq_lens, seq_lens, 100, capacity, index_kpool=16)
    _, want_cache, _ = expected(extend_seq_lens, seq_lens, 100, capacity, capacity, 16)
    assert_equal(nsa_cache_seqlens.cpu(), want_cache, "nsa_cache_seqlens")


@pytest.mark.parametrize("capacity_extra", [0, 123])
def test_functional_form(device, capacity_extra):
    extend_seq_lens, seq_lens = random_inputs(1024, "zeros_to_8", "padded", 11,
                                              torch.int64, torch.int32, device)
    capacity = int(extend_seq_lens.sum()) + capacity_extra
    seqlens_expanded, nsa_cache_seqlens = torch.ops.nsa_metadata.draft_extend_metadata(
        extend_seq_lens, seq_lens, 2048, capacity)
    assert seqlens_expanded.device == extend_seq_lens.device
    assert seqlens_expanded.dtype == torch.int32
    want_expanded, want_cache, _ = expected(extend_seq_lens, seq_lens, 2048, capacity,
                                            capacity)
    assert_equal(seqlens_expanded.cpu(), want_expanded, "seqlens_expanded")
    assert_equal(nsa_cache_seqlens.cpu(), want_cache, "nsa_cache_seqlens")
