"""Values of the step-metadata ops (decode, target-verify, draft-extend with
page tables) against the one reference, on the CPU and, where present, the
GPU: every size class, random inputs, edge cases, dtype combinations, any
subset of outputs, and untouched page-table columns."""
import pytest
import torch

from helpers import POISON
from reference import MODES
from step_cases import (INDEX_DTYPES, ROW_VECTORS, SEQ_KINDS, StepCase, TABLES,
                        assert_outputs_equal, assert_step_matches_reference, outputs_of,
                        poisoned_outputs, random_step_case, strided_inputs)

# Around the CUDA kernels' boundaries: a warp (32 requests: the warp-batch
# kernel up to it, the block kernel past it), a tile (256 requests), the 64
# chunks' 16384 requests, and more.
SIZE_CLASSES = (0, 1, 2, 31, 32, 33, 255, 256, 257, 1000, 4096, 16385, 40000)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_size", SIZE_CLASSES)
def test_size_classes(device, mode, batch_size):
    # Big batches get narrow pools, so that the reference stays quick.
    width = 300 if batch_size > 1000 else 2048
    case = random_step_case(mode, batch_size, seed=batch_size, width=width)
    assert_step_matches_reference(case, device)


# Draft-extend's row vectors alone: on CUDA the warp-batch kernel up to 32
# requests, the row-scan kernels up to 32768, the block kernel past them.
@pytest.mark.parametrize("batch_size", [0, 1, 33, 1000, 8193, 32768, 32769])
@pytest.mark.parametrize("names", [ROW_VECTORS, ("nsa_cache_seqlens",)])
def test_draft_extend_row_vectors_alone(device, batch_size, names):
    case = random_step_case("draft_extend", batch_size, seed=batch_size, width=300)
    assert_step_matches_reference(case, device, names=names, row_capacity=case.rows() + 300,
                                  num_tokens_dtype=torch.int32)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seq_kind", SEQ_KINDS)
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("batch_size", [20, 97])  # both CUDA kernels
def test_random_lengths(device, mode, seq_kind, seed, batch_size):
    case = random_step_case(mode, batch_size, seed, seq_kind=seq_kind, width=1500)
    assert_step_matches_reference(case, device)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtypes", INDEX_DTYPES)
@pytest.mark.parametrize("batch_size", [5, 50])  # the small-batch and block kernels
def test_index_dtypes(device, mode, dtypes, batch_size):
    case = random_step_case(mode, batch_size, 7, dtypes=dtypes[:2], extend_dtype=dtypes[2],
                            width=700)
    assert_step_matches_reference(case, device)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("page_size", [1, 3, 64, 1000, 5000])
def test_page_sizes(device, mode, page_size):
    # 3 and 1000 do not divide the width: the last page is partial.
    case = random_step_case(mode, 40, page_size, width=2000, page_size=page_size)
    assert_step_matches_reference(case, device)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("topk", [1, 5, 2048, 2**31 - 1, 2**40])
def test_topk_values(device, mode, topk):
    case = random_step_case(mode, 40, 3, width=3000, topk=topk)
    assert_step_matches_reference(case, device)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("index_kpool,topk", [(2, 2048), (4, 7), (64, 2048), (5000, 100),
                                              (2**40, 2048)])
@pytest.mark.parametrize("batch_size", [20, 97])  # both CUDA kernels
def test_index_kpool(device, mode, index_kpool, topk, batch_size):
    case = random_step_case(mode, batch_size, index_kpool % 97, width=3000, topk=topk)
    case.index_kpool = index_kpool
    assert_step_matches_reference(case, device)


def test_index_kpool_by_hand(device):
    # K = 4, topk 8: kv 14 keeps min(12, 8) + 2 = 10; kv 5 keeps 4 + 1; kv 3 keeps 3.
    case = hand_case("decode").to(device)
    case.seq_lens = torch.tensor([14, 5, 3], device=device)
    case.nsa_index_topk, case.index_kpool = 8, 4
    outputs = poisoned_outputs(case, device, names=("nsa_cache_seqlens", "nsa_cu_seqlens_k"))
    case.call(**outputs)
    assert outputs["nsa_cache_seqlens"].tolist() == [10, 5, 3]
    assert outputs["nsa_cu_seqlens_k"].tolist() == [0, 10, 15, 18]


@pytest.mark.parametrize("num_draft_tokens", [1, 4, 33])
@pytest.mark.parametrize("batch_size", [0, 5, 32, 33, 300])  # both CUDA kernels
def test_target_verify_paged_mqa_context_lens(device, num_draft_tokens, batch_size):
    case = random_step_case("target_verify", batch_size, num_draft_tokens, width=900,
                            num_draft_tokens=num_draft_tokens)
    names = ("paged_mqa_context_lens", "cache_seqlens", "seqlens_expanded")
    assert_step_matches_reference(case, device, names=names)
    assert_step_matches_reference(case, device, names=("paged_mqa_context_lens",))


def test_paged_mqa_context_lens_by_hand(device):
    case = hand_case("target_verify", num_draft_tokens=2).to(device)
    outputs = poisoned_outputs(case, device, names=("paged_mqa_context_lens",))
    case.call(**outputs)
    assert outputs["paged_mqa_context_lens"].tolist() == [[7, 7], [2, 2], [5, 5]]


@pytest.mark.parametrize("num_draft_tokens", [1, 2, 4, 8, 33])
def test_target_verify_draft_counts(device, num_draft_tokens):
    case = random_step_case("target_verify", 30, num_draft_tokens, width=900,
                            num_draft_tokens=num_draft_tokens)
    assert_step_matches_reference(case, device)


@pytest.mark.parametrize("num_draft_tokens", [1, 4, 7])
@pytest.mark.parametrize("seq_kind", ["up_to_width", "padded"])
def test_draft_extend_static_count(device, num_draft_tokens, seq_kind):
    case = random_step_case("draft_extend", 60, 11, seq_kind=seq_kind, width=800,
                            num_draft_tokens=num_draft_tokens, static_extend=True)
    assert_step_matches_reference(case, device)


@pytest.mark.parametrize("extra_rows", [0, 1, 1000])
@pytest.mark.parametrize("batch_size", [1, 20, 32, 70])  # both CUDA kernels
def test_draft_extend_one_static_row_and_tail(device, extra_rows, batch_size):
    # One row per request, as decode, but with a capacity past the rows: the
    # tail spans several warps of the small-batch kernel.
    case = random_step_case("draft_extend", batch_size, 6, width=600, seq_kind="padded",
                            num_draft_tokens=1, static_extend=True)
    assert_step_matches_reference(case, device, row_capacity=case.rows() + extra_rows,
                                  num_tokens_dtype=torch.int32)


@pytest.mark.parametrize("extend_kind", ["draft_1_to_8", "zeros_to_8", "some_large"])
@pytest.mark.parametrize("extra_rows", [0, 1, 1000])
@pytest.mark.parametrize("batch_size", [20, 70])  # both CUDA kernels
def test_draft_extend_capacity_and_tail(device, extend_kind, extra_rows, batch_size):
    case = random_step_case("draft_extend", batch_size, 5, width=600, extend_kind=extend_kind)
    assert_step_matches_reference(case, device, row_capacity=case.rows() + extra_rows,
                                  num_tokens_dtype=torch.int32)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("names", [("cache_seqlens",), ("cu_seqlens_k",), ("nsa_cache_seqlens",),
                                   ("nsa_cache_seqlens", "nsa_cu_seqlens_k"),
                                   ("page_table_1",), ("real_page_table",), TABLES, ()])
# Both CUDA kernels; 300 requests make two chunks, whose vector blocks sum
# only what the outputs read.
@pytest.mark.parametrize("batch_size", [7, 45, 300])
def test_any_subset_of_outputs(device, mode, names, batch_size):
    case = random_step_case(mode, batch_size, 2, width=1000)
    assert_step_matches_reference(case, device, names=names)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("widths", [(1, 1), (100, 2), (1000, 16), (0, 0)])
@pytest.mark.parametrize("batch_size", [32, 33])  # both CUDA kernels
def test_page_tables_narrower_than_the_pool(device, mode, widths, batch_size):
    # An engine may keep tables narrower than req_to_token; rows stop at the width.
    case = random_step_case(mode, batch_size, 4, width=1024, seq_kind="past_width")
    assert_step_matches_reference(case, device, widths=widths)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_size", [5, 64])  # the small-batch and block kernels
def test_strided_inputs_and_row_strided_tables(device, mode, batch_size):
    case = random_step_case(mode, batch_size, 8, width=512, extend_dtype=torch.int32)
    case = strided_inputs(case.to(device))
    outputs = poisoned_outputs(case, device, names=[n for n in outputs_of(mode) if n not in TABLES])
    rows = outputs["nsa_cache_seqlens"].shape[0]
    for name, width in (("page_table_1", 512), ("real_page_table", 8)):
        storage = torch.full((rows, width + 9), POISON, dtype=torch.int32,
                             device=device)
        outputs[name] = storage[:, 4:4 + width]  # row stride > width
    want = case.expected(outputs)
    case.call(**outputs)
    assert_outputs_equal(outputs, want)


def hand_case(mode, **overrides):
    """Three requests in pool rows 2, 0, 1 of a pool whose row p holds slots
    1000*p + c, so every value can be read off by hand."""
    req_to_token = (torch.arange(3).view(3, 1) * 1000 + torch.arange(10).view(1, 10)).int()
    fields = dict(mode=mode, seq_lens=torch.tensor([5, 0, 3]),
                  req_pool_indices=torch.tensor([2, 0, 1]), req_to_token=req_to_token,
                  nsa_index_topk=4, page_size=4)
    fields.update(overrides)
    return StepCase(**fields)


def test_decode_by_hand(device):
    case = hand_case("decode").to(device)
    outputs = poisoned_outputs(case, device)
    case.call(**outputs)
    assert outputs["cache_seqlens"].tolist() == [5, 0, 3]
    assert outputs["cu_seqlens_k"].tolist() == [0, 5, 5, 8]
    assert outputs["nsa_cache_seqlens"].tolist() == [4, 0, 3]
    assert outputs["nsa_cu_seqlens_k"].tolist() == [0, 4, 4, 7]
    p = POISON
    assert outputs["page_table_1"].tolist() == [
        [2000, 2001, 2002, 2003, 2004, p, p, p, p, p],
        [p] * 10,
        [1000, 1001, 1002, p, p, p, p, p, p, p]]
    # Columns c with 4c < kv: slot 4c // 4.
    assert outputs["real_page_table"].tolist() == [[500, 501, p], [p, p, p], [250, p, p]]


def test_target_verify_by_hand(device):
    case = hand_case("target_verify", num_draft_tokens=2).to(device)
    outputs = poisoned_outputs(case, device)
    case.call(**outputs)
    assert outputs["cache_seqlens"].tolist() == [7, 2, 5]
    assert outputs["cu_seqlens_k"].tolist() == [0, 7, 9, 14]
    assert outputs["seqlens_expanded"].tolist() == [6, 7, 1, 2, 4, 5]
    assert outputs["nsa_cache_seqlens"].tolist() == [4, 4, 1, 2, 4, 4]
    assert outputs["nsa_cu_seqlens_k"].tolist() == [0, 4, 8, 9, 11, 15, 19]
    assert outputs["page_table_1"][3].tolist()[:3] == [0, 1, POISON]


def test_draft_extend_by_hand(device):
    case = hand_case("draft_extend", extend_seq_lens=torch.tensor([2, 1, 3])).to(device)
    outputs = poisoned_outputs(case, device, row_capacity=8, num_tokens_dtype=torch.int64)
    case.call(**outputs)
    assert outputs["cache_seqlens"].tolist() == [5, 0, 3]
    assert outputs["cu_seqlens_k"].tolist() == [0, 5, 5, 8]
    # Request 1 is a padded row: seq_len 0 below its extend length 1.
    assert outputs["seqlens_expanded"].tolist() == [4, 5, 0, 1, 2, 3, 0, 0]
    assert outputs["nsa_cache_seqlens"].tolist() == [4, 4, 0, 1, 2, 3, 0, 0]
    assert outputs["nsa_cu_seqlens_k"].tolist() == [0, 4, 8, 8, 9, 11, 14, 14, 14]
    assert outputs["num_tokens"].item() == 6
    assert outputs["page_table_1"][2].eq(POISON).all()  # kv 0: nothing to copy
    assert outputs["page_table_1"][6:].eq(POISON).all()  # past the batch's rows
    assert outputs["page_table_1"][5].tolist()[:4] == [1000, 1001, 1002, POISON]
