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

from conftest import requires_cuda
from fuzzing import fuzz_settings, step_draws, step_draws_across_tiles
from step_cases import (assert_guarded_step_matches_reference, assert_outputs_equal,
                        poisoned_outputs)



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
    assert_guarded_step_matches_reference(case, "cuda", 64, **kwargs)


@requires_cuda
@fuzz_settings
@given(draw=step_draws_across_tiles())
def test_cuda_gives_the_documented_result_across_tiles(draw):
    case, kwargs = draw
    assert_guarded_step_matches_reference(case, "cuda", 64, **kwargs)
