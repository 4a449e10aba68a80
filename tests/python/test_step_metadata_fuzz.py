"""Property-based tests of the step-metadata ops: hypothesis draws the mode,
shapes, dtypes, page size, table widths, capacities and adversarial values,
and every element of every buffer is compared with the reference.

On CPU, valid data must match the reference, and bad data (a negative
length, a pool index outside req_to_token, a length or sum past int32, more
rows than a buffer) must raise and leave the buffers untouched. On CUDA every
draw must give the reference's documented result, with guard regions around
every buffer left untouched. NSA_FUZZ_EXAMPLES sets the examples per test.
"""
import torch
from hypothesis import given
from hypothesis import strategies as st

from conftest import requires_cuda
from fuzzing import DTYPES, INT32_MAX, extremes, fuzz_settings
from step_cases import StepCase, assert_outputs_equal, guarded_outputs, poisoned_outputs

@st.composite
def step_draws(draw, allow_bad_values):
    """(case, poisoned_outputs keyword arguments)."""
    mode = draw(st.sampled_from(["decode", "target_verify", "draft_extend"]))
    batch_size = draw(st.integers(0, 40))
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
        nsa_index_topk=draw(st.sampled_from([1, 7, 2048, INT32_MAX, 2**40])),
        page_size=draw(st.sampled_from([1, 2, 16, 64, 1000])))
    pages = -(-width // case.page_size)
    kwargs = dict(widths=(draw(st.integers(0, width)), draw(st.integers(0, pages))),
                  num_tokens_dtype=draw(DTYPES) if mode == "draft_extend" else None)
    if mode == "draft_extend":
        rows = (batch_size * case.num_draft_tokens if static
                else sum(max(0, min(e, 10**6)) for e in case.extend_seq_lens.tolist()))
        capacity = draw(st.sampled_from([max(rows - 1, 0), rows, rows + 5]))
        if static:
            capacity = max(capacity, rows)  # a static count's shortfall is a host check
        kwargs["row_capacity"] = min(capacity, 2000)
    return case, kwargs


@fuzz_settings
@given(draw=step_draws(allow_bad_values=True))
def test_cpu_matches_the_reference_or_raises_before_writing(draw):
    case, kwargs = draw
    outputs = poisoned_outputs(case, "cpu", **kwargs)
    before = {name: buffer.clone() for name, buffer in outputs.items()}
    try:
        case.call(**outputs)
    except RuntimeError:
        for name, buffer in outputs.items():
            assert torch.equal(buffer, before[name]), f"{name} written before the error"
        return
    assert_outputs_equal(outputs, case.expected(before))


@fuzz_settings
@given(draw=step_draws(allow_bad_values=False))
def test_cpu_accepts_valid_data(draw):
    case, kwargs = draw
    if case.mode == "draft_extend" and "row_capacity" in kwargs:
        kwargs["row_capacity"] = max(kwargs["row_capacity"], case.rows())
    outputs = poisoned_outputs(case, "cpu", **kwargs)
    want = case.expected(outputs)
    case.call(**outputs)
    assert_outputs_equal(outputs, want)


@requires_cuda
@fuzz_settings
@given(draw=step_draws(allow_bad_values=True))
def test_cuda_gives_the_documented_result_inside_its_buffers(draw):
    case, kwargs = draw
    outputs, assert_guards_intact = guarded_outputs(case, "cuda", 64, **kwargs)
    want = case.expected(outputs)
    case.to("cuda").call(**outputs)
    torch.cuda.synchronize()
    assert_guards_intact()
    assert_outputs_equal(outputs, want)
