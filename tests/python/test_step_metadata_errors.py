"""One test per bad input of the step-metadata ops: the error names the
argument, what was expected and what came. Host-visible checks run on every
device, Meta included; data checks (negative lengths, pool indices outside
req_to_token, sums past int32, more rows than a buffer) are CPU errors, and on
CUDA they get the documented result (test_step_metadata_cuda.py)."""
import re

import pytest
import torch

from conftest import DEVICES
from step_cases import StepCase, assert_outputs_equal, poisoned_outputs

DEVICES_AND_META = DEVICES + ["meta"]


def valid_case(mode, device):
    case = StepCase(mode=mode, seq_lens=torch.tensor([10, 1, 7]),
                    req_pool_indices=torch.tensor([1, 0, 2], dtype=torch.int32),
                    req_to_token=torch.zeros(4, 256, dtype=torch.int32),
                    nsa_index_topk=2048, page_size=64)
    if mode == "target_verify":
        case.num_draft_tokens = 2
    if mode == "draft_extend":
        case.extend_seq_lens = torch.tensor([2, 1, 3])
    case = case.to(device)
    outputs = poisoned_outputs(case, device, row_capacity=8,
                               num_tokens_dtype=torch.int64 if mode == "draft_extend" else None)
    return case, outputs


def replace(outputs, name, tensor):
    outputs[name] = tensor


def elsewhere(tensor, device):
    other = "cpu" if torch.device(device).type != "cpu" else "meta"
    return torch.zeros_like(tensor, device=other)


# (name, modes, how to break (case, outputs, device), expected message)
ALL = ("decode", "target_verify", "draft_extend")
HOST_CHECKS = [
    ("seq_float", ALL, lambda c, o, d: setattr(c, "seq_lens", c.seq_lens.float()),
     "seq_lens should have dtype int32 or int64, got Float"),
    ("seq_2d", ALL, lambda c, o, d: setattr(c, "seq_lens", c.seq_lens.view(3, 1)),
     "seq_lens should be a 1-D tensor, got 2-D"),
    ("pool_int16", ALL,
     lambda c, o, d: setattr(c, "req_pool_indices", c.req_pool_indices.short()),
     "req_pool_indices should have dtype int32 or int64, got Short"),
    ("pool_length", ALL,
     lambda c, o, d: setattr(c, "req_pool_indices", c.req_pool_indices[:2]),
     "req_pool_indices should have the same length as seq_lens (3), got 2"),
    ("pool_device", ALL,
     lambda c, o, d: setattr(c, "req_pool_indices", elsewhere(c.req_pool_indices, d)),
     "req_pool_indices should be on the same device as seq_lens"),
    ("tokens_int64", ALL, lambda c, o, d: setattr(c, "req_to_token", c.req_to_token.long()),
     "req_to_token should have dtype int32, got Long"),
    ("tokens_1d", ALL, lambda c, o, d: setattr(c, "req_to_token", c.req_to_token[0]),
     "req_to_token should be a 2-D tensor, got 1-D"),
    ("tokens_column_stride", ALL,
     lambda c, o, d: setattr(c, "req_to_token", c.req_to_token[:, ::2]),
     "req_to_token should have stride 1 along dim 1, got stride 2"),
    ("tokens_device", ALL,
     lambda c, o, d: setattr(c, "req_to_token", elsewhere(c.req_to_token, d)),
     "req_to_token should be on the same device as seq_lens"),
    ("topk_zero", ALL, lambda c, o, d: setattr(c, "nsa_index_topk", 0),
     "nsa_index_topk should be >= 1, got 0"),
    ("page_size_zero", ALL, lambda c, o, d: setattr(c, "page_size", 0),
     "page_size should be in [1, 2147483647], got 0"),
    ("page_size_huge", ALL, lambda c, o, d: setattr(c, "page_size", 2**31),
     "page_size should be in [1, 2147483647], got 2147483648"),
    ("kpool_zero", ALL, lambda c, o, d: setattr(c, "index_kpool", 0),
     "index_kpool should be >= 1, got 0"),
    ("context_lens_rows", ("target_verify",),
     lambda c, o, d: replace(o, "paged_mqa_context_lens",
                             torch.zeros(4, 2, dtype=torch.int32, device=d)),
     "paged_mqa_context_lens should have 3 rows (one per request), got 4"),
    ("context_lens_columns", ("target_verify",),
     lambda c, o, d: replace(o, "paged_mqa_context_lens",
                             torch.zeros(3, 3, dtype=torch.int32, device=d)),
     "paged_mqa_context_lens should have 2 columns (num_draft_tokens), got 3"),
    ("context_lens_dtype", ("target_verify",),
     lambda c, o, d: replace(o, "paged_mqa_context_lens",
                             torch.zeros(3, 2, dtype=torch.int64, device=d)),
     "paged_mqa_context_lens should have dtype int32, got Long"),
    ("draft_tokens_zero", ("target_verify",), lambda c, o, d: setattr(c, "num_draft_tokens", 0),
     "num_draft_tokens should be >= 1, got 0"),
    ("extend_float", ("draft_extend",),
     lambda c, o, d: setattr(c, "extend_seq_lens", c.extend_seq_lens.float()),
     "extend_seq_lens should have dtype int32 or int64, got Float"),
    ("extend_length", ("draft_extend",),
     lambda c, o, d: setattr(c, "extend_seq_lens", c.extend_seq_lens[:1]),
     "extend_seq_lens should have the same length as seq_lens (3), got 1"),
    ("cache_length", ALL, lambda c, o, d: replace(o, "cache_seqlens", o["cache_seqlens"][:2]),
     "cache_seqlens should have 3 elements (batch size), got 2"),
    ("cu_length", ALL, lambda c, o, d: replace(o, "cu_seqlens_k", o["cu_seqlens_k"][:3]),
     "cu_seqlens_k should have 4 elements (batch size + 1), got 3"),
    ("cu_int64", ALL, lambda c, o, d: replace(o, "cu_seqlens_k", o["cu_seqlens_k"].long()),
     "cu_seqlens_k should have dtype int32, got Long"),
    ("cache_strided", ALL,
     lambda c, o, d: replace(o, "cache_seqlens", o["cu_seqlens_k"].repeat(2)[::2][:3]),
     "cache_seqlens should be contiguous, got a tensor with stride 2"),
    ("cache_device", ALL,
     lambda c, o, d: replace(o, "cache_seqlens", elsewhere(o["cache_seqlens"], d)),
     "cache_seqlens should be on the same device as seq_lens"),
    ("nsa_length_decode", ("decode",),
     lambda c, o, d: replace(o, "nsa_cache_seqlens", o["nsa_cache_seqlens"][:2]),
     "nsa_cache_seqlens should have 3 elements (one per query row), got 2"),
    ("expanded_length_verify", ("target_verify",),
     lambda c, o, d: replace(o, "seqlens_expanded", o["seqlens_expanded"][:5]),
     "seqlens_expanded should have 6 elements (one per query row), got 5"),
    ("nsa_cu_length_verify", ("target_verify",),
     lambda c, o, d: replace(o, "nsa_cu_seqlens_k", o["nsa_cu_seqlens_k"][:6]),
     "nsa_cu_seqlens_k should have 7 elements (query rows + 1), got 6"),
    ("nsa_cu_empty", ("draft_extend",),
     lambda c, o, d: replace(o, "nsa_cu_seqlens_k", o["nsa_cu_seqlens_k"][:0]),
     "nsa_cu_seqlens_k should have at least 1 element, got 0"),
    ("page_rows_decode", ("decode",),
     lambda c, o, d: replace(o, "page_table_1", o["page_table_1"][:2]),
     "page_table_1 should have 3 rows (one per query row), got 2"),
    ("page_1d", ALL, lambda c, o, d: replace(o, "page_table_1", o["page_table_1"][0]),
     "page_table_1 should be a 2-D tensor, got 1-D"),
    ("page_float", ALL,
     lambda c, o, d: replace(o, "real_page_table", o["real_page_table"].float()),
     "real_page_table should have dtype int32, got Float"),
    ("page_column_stride", ALL,
     lambda c, o, d: replace(o, "page_table_1", o["page_table_1"].repeat(1, 2)[:, ::2]),
     "page_table_1 should have stride 1 along dim 1, got stride 2"),
    ("page_wider_than_pool", ALL,
     lambda c, o, d: replace(o, "page_table_1", o["page_table_1"].repeat(1, 2)),
     "page_table_1 should have at most 256 columns (req_to_token has 256), got 512"),
    ("real_wider_than_pool", ALL,
     lambda c, o, d: replace(o, "real_page_table", o["real_page_table"].repeat(1, 2)),
     "real_page_table should have at most 4 columns (req_to_token has 256), got 8"),
    ("page_device", ALL,
     lambda c, o, d: replace(o, "page_table_1", elsewhere(o["page_table_1"], d)),
     "page_table_1 should be on the same device as seq_lens"),
    ("counter_two_elements", ("draft_extend",),
     lambda c, o, d: replace(o, "num_tokens", o["num_tokens"].repeat(2)),
     "num_tokens should have exactly 1 element, got 2"),
]


def per_mode(checks):
    """(mode, breaker, message) for every mode each check applies to."""
    return [pytest.param(mode, breaker, message, id=f"{name}-{mode}")
            for name, modes, breaker, message in checks for mode in modes]


def host_checks_on(device):
    # The Meta kernel sees Meta tensors only, so it has no device mismatch.
    return per_mode([c for c in HOST_CHECKS if not (device == "meta" and "device" in c[0])])


@pytest.mark.parametrize("mode,breaker,message", host_checks_on("cpu"))
@pytest.mark.parametrize("device", DEVICES)
def test_host_checks(device, mode, breaker, message):
    case, outputs = valid_case(mode, device)
    breaker(case, outputs, device)
    with pytest.raises(RuntimeError, match=re.escape(message)):
        case.call(**outputs)


@pytest.mark.parametrize("mode,breaker,message", host_checks_on("meta"))
def test_host_checks_on_meta(mode, breaker, message):
    test_host_checks("meta", mode, breaker, message)


# Data only the host can read: CPU errors, raised before any write.
DATA_CHECKS = [
    ("negative_seq", ALL, lambda c: c.seq_lens.__setitem__(1, -1),
     "seq_lens[1] should be >= 0, got -1"),
    ("pool_index_past_pool", ALL, lambda c: c.req_pool_indices.__setitem__(2, 4),
     "req_pool_indices[2] should be in [0, 4) (the rows of req_to_token), got 4"),
    ("pool_index_negative", ALL, lambda c: c.req_pool_indices.__setitem__(0, -1),
     "req_pool_indices[0] should be in [0, 4) (the rows of req_to_token), got -1"),
    ("seq_past_int32", ("decode", "draft_extend"),
     lambda c: setattr(c, "seq_lens", torch.tensor([10, 2**31, 7])),
     "the KV length of request 1 (seq_lens[1] = 2147483648) should fit int32, got 2147483648"),
    ("seq_plus_draft_past_int32", ("target_verify",),
     lambda c: setattr(c, "seq_lens", torch.tensor([10, 2**31 - 2, 7])),
     "the KV length of request 1 (seq_lens[1] = 2147483646 + num_draft_tokens) should fit "
     "int32, got 2147483648"),
    ("cu_sum_past_int32", ALL,
     lambda c: setattr(c, "seq_lens", torch.tensor([2**30, 2**30, 7])),
     "cu_seqlens_k's last element, the sum of the KV lengths, should fit int32, got"),
    ("negative_extend", ("draft_extend",), lambda c: c.extend_seq_lens.__setitem__(0, -2),
     "extend_seq_lens[0] should be >= 0, got -2"),
    ("rows_past_capacity", ("draft_extend",), lambda c: c.extend_seq_lens.__setitem__(0, 9),
     "seqlens_expanded should hold the 13 rows of the batch, got 8 elements"),
]


@pytest.mark.parametrize("mode,breaker,message", per_mode(DATA_CHECKS))
def test_data_checks_on_cpu_leave_buffers_untouched(mode, breaker, message):
    case, outputs = valid_case(mode, "cpu")
    breaker(case)
    before = {n: b.clone() for n, b in outputs.items()}
    with pytest.raises(RuntimeError, match=re.escape(message)):
        case.call(**outputs)
    for n, buffer in outputs.items():
        assert torch.equal(buffer, before[n]), f"{n} was written before the error"


def test_pool_index_is_not_read_without_page_tables():
    case, outputs = valid_case("decode", "cpu")
    case.req_pool_indices[0] = 99
    del outputs["page_table_1"], outputs["real_page_table"]
    case.call(**outputs)
    assert outputs["cache_seqlens"].tolist() == [10, 1, 7]


def test_nsa_sum_past_int32_names_nsa_cu_seqlens_k():
    case, outputs = valid_case("decode", "cpu")
    case.seq_lens = torch.tensor([2**30, 2**30, 7])
    case.nsa_index_topk = 2**31
    del outputs["cu_seqlens_k"]
    with pytest.raises(RuntimeError, match="nsa_cu_seqlens_k's last element, the sum of "
                                           "nsa_cache_seqlens, should fit int32"):
        case.call(**outputs)


@pytest.mark.parametrize("device", DEVICES_AND_META)
def test_draft_extend_needs_exactly_one_row_count(device):
    case, outputs = valid_case("draft_extend", device)
    op = torch.ops.nsa_metadata.fill_draft_extend_metadata_full
    args = (case.seq_lens, case.req_pool_indices, case.req_to_token)
    with pytest.raises(RuntimeError, match="exactly one of extend_seq_lens and "
                                           "num_draft_tokens, got both"):
        op(*args, case.extend_seq_lens, 2048, 64, num_draft_tokens=2)
    with pytest.raises(RuntimeError, match="got neither"):
        op(*args, None, 2048, 64)


@pytest.mark.parametrize("device", DEVICES_AND_META)
def test_draft_extend_static_count_checks_capacity_on_every_device(device):
    case, outputs = valid_case("draft_extend", device)
    case.extend_seq_lens, case.num_draft_tokens = None, 3  # 9 rows, capacity 8
    with pytest.raises(RuntimeError, match=re.escape(
            "seqlens_expanded should hold the 9 elements of the batch's 9 rows, got 8")):
        case.call(**outputs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("pair", [("cache_seqlens", "cu_seqlens_k"),
                                  ("nsa_cache_seqlens", "seq_lens"),
                                  ("page_table_1", "req_to_token")])
def test_outputs_must_not_alias(device, pair):
    case, outputs = valid_case("decode", device)
    written, other = pair
    if other == "seq_lens":
        case.seq_lens = outputs[written].view(-1)[:3].long().int()
        outputs[written] = case.seq_lens
        case.seq_lens[:] = 1
    elif other == "req_to_token":
        outputs[written] = case.req_to_token[:3]
    else:
        storage = torch.zeros(8, dtype=torch.int32, device=device)
        outputs[written], outputs[other] = storage[:3], storage[:4]
    with pytest.raises(RuntimeError, match="should not share memory with"):
        case.call(**outputs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ALL)
def test_outputs_side_by_side_in_one_buffer_are_allowed(device, mode):
    """Outputs carved from one allocation without overlapping are separate
    buffers: the call accepts them and fills each as it would alone."""
    case, outputs = valid_case(mode, device)
    pool = torch.empty(sum(buffer.nbytes + 8 for buffer in outputs.values()),
                       dtype=torch.uint8, device=device)
    start = 0
    for name, buffer in outputs.items():
        carved = pool[start:start + buffer.nbytes].view(buffer.dtype).view(buffer.shape)
        carved.copy_(buffer)
        outputs[name] = carved
        start += -(-buffer.nbytes // 8) * 8
    assert len({buffer.untyped_storage().data_ptr() for buffer in outputs.values()}) == 1
    want = case.expected(outputs)
    case.call(**outputs)
    assert_outputs_equal(outputs, want)
