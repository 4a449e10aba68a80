"""Property-based tests of fill_extend_metadata on the CPU: hypothesis draws
shapes, dtypes, page size, index_kpool, table widths, capacities, a subset
of outputs and adversarial values. Valid data must match the reference in
every element of every buffer; bad data (a negative length, a length or sum
past int32, a pool index outside req_to_token, more tokens than a buffer)
must raise and leave every buffer untouched. NSA_FUZZ_EXAMPLES sets the
examples per test."""
import torch
from hypothesis import given
from hypothesis import strategies as st

from extend_cases import OUTPUTS, TOKEN_OUTPUTS, ExtendCase, poisoned_outputs
from fuzzing import DTYPES, INT32_MAX, extremes, fuzz_settings
from step_cases import assert_outputs_equal

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
        nsa_index_topk=draw(st.sampled_from([1, 7, 2048, INT32_MAX, 2**40])),
        page_size=draw(st.sampled_from([1, 2, 16, 64, 1000])),
        index_kpool=draw(st.sampled_from([1, 2, 64])))
    pages = -(-width // case.page_size)
    names = draw(st.sampled_from([OUTPUTS, TOKEN_OUTPUTS, ("page_table_1_flattened",),
                                  ("cu_seqlens_k", "cu_seqlens_q", "nsa_cu_seqlens_k")]))
    # Capacities just under, at and over the totals (bad totals: small buffers).
    def capacity(values):
        total = sum(max(v, 0) for v in values)
        total = total if total <= 10**5 else 3
        return max(0, total + draw(st.sampled_from([-1, 0, 5])))
    kwargs = dict(names=names, widths=(draw(st.integers(0, width)), draw(st.integers(0, pages))),
                  token_capacity=capacity(lists["extend"]), kv_capacity=capacity(lists["seq"]),
                  counter_dtype=draw(DTYPES))
    return case, kwargs


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
