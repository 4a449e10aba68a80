"""Property-based tests of fill_extend_metadata: hypothesis draws shapes,
dtypes, page size, index_kpool, table widths, capacities, a subset of
outputs and adversarial values (fuzzing.extend_draws; on CUDA also
batches across the block kernel's tiles, extend_draws_across_tiles). On
CPU, valid data must match the reference in every element of every buffer;
bad data (a negative length, a length or sum past int32, a pool index
outside req_to_token, more tokens than a buffer) must raise and leave every
buffer untouched. On CUDA every draw must give the reference's documented result,
with guard regions around every buffer left untouched. NSA_FUZZ_EXAMPLES
sets the examples per test."""
import torch
from hypothesis import given

from conftest import requires_cuda
from extend_cases import TOKEN_OUTPUTS, assert_guarded_matches_reference, poisoned_outputs
from fuzzing import INT32_MAX, extend_draws, extend_draws_across_tiles, fuzz_settings
from helpers import guard_buffers
from step_cases import assert_outputs_equal



def is_valid(case, outputs):
    """Whether the CPU must accept the data (docs/extend.md, Bad values)."""
    seq, extend = case.seq_lens.tolist(), case.extend_seq_lens.tolist()
    if any(s < 0 or s > INT32_MAX for s in seq) or any(e < 0 for e in extend):
        return False
    tables = outputs.keys() & {"page_table_1", "real_page_table", "page_table_1_flattened"}
    pool_rows = case.req_to_token.shape[0]
    if tables and any(not 0 <= p < pool_rows for p in case.req_pool_indices.tolist()):
        return False
    tokens, kv = sum(extend), sum(seq)
    for name in outputs.keys() & set(TOKEN_OUTPUTS):
        if outputs[name].numel() < tokens:
            return False
    if "nsa_cu_seqlens_k" in outputs and outputs["nsa_cu_seqlens_k"].numel() < tokens + 1:
        return False
    if "page_table_1_flattened" in outputs and outputs["page_table_1_flattened"].numel() < kv:
        return False
    if outputs.keys() & {"cu_seqlens_k", "indexer_k_start", "indexer_k_end"} and kv > INT32_MAX:
        return False
    return not ("cu_seqlens_q" in outputs and tokens > INT32_MAX)


@fuzz_settings
@given(draw=extend_draws())
def test_cpu_matches_the_reference_or_raises_before_writing(draw):
    case, kwargs = draw
    outputs = poisoned_outputs(case, **kwargs)
    before = {name: buffer.clone() for name, buffer in outputs.items()}
    valid = is_valid(case, outputs)
    try:
        case.call(**outputs)
    except RuntimeError as error:
        assert not valid, f"valid data raised: {error}"
        for name, buffer in outputs.items():
            assert torch.equal(buffer, before[name]), f"{name} written before the error"
        return
    assert valid, "bad data was accepted"
    # The counters too: the true totals, saturated in an int32 counter.
    assert_outputs_equal(outputs, case.expected(before))


@requires_cuda
@fuzz_settings
@given(draw=extend_draws())
def test_cuda_gives_the_documented_result_inside_its_buffers(draw):
    assert_cuda_gives_the_documented_result(*draw)


@requires_cuda
@fuzz_settings
@given(draw=extend_draws_across_tiles())
def test_cuda_gives_the_documented_result_across_tiles(draw):
    assert_cuda_gives_the_documented_result(*draw)


def assert_cuda_gives_the_documented_result(case, kwargs):
    outputs, assert_guards_intact = guard_buffers(poisoned_outputs(case, **kwargs), "cuda", 64)
    assert_guarded_matches_reference(case, outputs, assert_guards_intact)
