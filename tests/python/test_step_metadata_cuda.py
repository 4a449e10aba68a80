"""What only the CUDA kernel of the step-metadata ops must show: no host
synchronization, one launch, CUDA-graph capture and replay with new values,
the current stream, the documented result for bad values only the device
sees (never a write outside the buffers), the opt-in checked mode, and
scale."""
import re

import pytest
import torch

from conftest import requires_cuda
from helpers import cuda_kernels_without_sync
from reference import MODES
from step_cases import (BAD_DEVICE_VALUES, BAD_VALUE_DTYPES, ROW_VECTORS, StepCase,
                        assert_guarded_step_matches_reference, assert_outputs_equal,
                        assert_runs_on_the_current_stream, assert_step_matches_reference,
                        bad_case, bad_values_case, poisoned_outputs, random_step_case)

pytestmark = requires_cuda

def num_tokens_dtype(mode):
    return torch.int64 if mode == "draft_extend" else None


# "rows": draft-extend's row vectors alone, which the row-scan kernels write
# from 33 to 32768 requests (the block kernel past them).
@pytest.mark.parametrize("mode", [*MODES, "rows"])
@pytest.mark.parametrize("batch_size", [128, 8192, 20000, 32769])
def test_no_host_synchronization_and_one_launch(mode, batch_size):
    names = ROW_VECTORS if mode == "rows" else None
    mode = "draft_extend" if mode == "rows" else mode
    case = random_step_case(mode, batch_size, 0, width=600).to("cuda")
    outputs = poisoned_outputs(case, "cuda", names=names,
                               num_tokens_dtype=num_tokens_dtype(mode))
    want = case.expected(outputs)
    kernels = cuda_kernels_without_sync(lambda: case.call(**outputs))
    assert len(kernels) == 1, kernels
    assert_outputs_equal(outputs, want)


@pytest.mark.parametrize("mode", [*MODES, "rows"])
@pytest.mark.parametrize("batch_size", [1, 32, 256, 4096, 20000])
def test_graph_capture_then_replay_with_new_values(mode, batch_size):
    names = ROW_VECTORS if mode == "rows" else None
    mode = "draft_extend" if mode == "rows" else mode
    width = 300 if batch_size > 1000 else 3000
    template = random_step_case(mode, batch_size, 0, width=width).to("cuda")
    static = StepCase(**{**template.__dict__})
    static.seq_lens = torch.zeros_like(template.seq_lens)
    static.req_pool_indices = torch.zeros_like(template.req_pool_indices)
    if template.extend_seq_lens is not None:
        static.extend_seq_lens = torch.zeros_like(template.extend_seq_lens)
    outputs = poisoned_outputs(template, "cuda", names=names, row_capacity=batch_size * 8 + 5,
                               num_tokens_dtype=num_tokens_dtype(mode))
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static.call(**outputs)
    for seed, seq_kind in enumerate(["up_to_width", "padded", "past_width", "zeros"]):
        case = random_step_case(mode, batch_size, seed + 1, width=width, seq_kind=seq_kind)
        static.load_inputs(case)
        # Columns a replay does not write keep the previous replay's values.
        want = case.expected(outputs)
        graph.replay()
        assert_outputs_equal(outputs, want)


def test_runs_on_the_current_stream():
    case = random_step_case("draft_extend", 300, 3, width=500)
    assert_runs_on_the_current_stream(
        case, poisoned_outputs(case, "cuda", num_tokens_dtype=torch.int64))


GUARD = 512


@pytest.mark.parametrize("mode", [*MODES, "rows"])
@pytest.mark.parametrize("name", list(BAD_DEVICE_VALUES))
@pytest.mark.parametrize("dtypes", BAD_VALUE_DTYPES)
@pytest.mark.parametrize("copies", [1, 10])  # 4 or 40 requests: both kernels
def test_bad_device_values_give_the_documented_result(mode, name, dtypes, copies):
    names = ROW_VECTORS if mode == "rows" else None
    case, capacity = bad_values_case("draft_extend" if mode == "rows" else mode, name, dtypes[0],
                                     copies, pool_dtype=dtypes[1])
    assert_guarded_step_matches_reference(case, "cuda", GUARD, names=names,
                                          row_capacity=capacity)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["negative_seq_lens", "pool_index_out_of_range",
                                  "extend_past_every_buffer"])
def test_checked_mode_raises_what_the_cpu_raises(checked_mode, mode, name):
    if name == "extend_past_every_buffer" and mode != "draft_extend":
        return
    seq_lens, pool, extend = BAD_DEVICE_VALUES[name]
    case = bad_case(mode, seq_lens, pool, extend if mode == "draft_extend" else None)
    messages = []
    for device in ("cpu", "cuda"):
        outputs = poisoned_outputs(case, device, row_capacity=20,
                                   num_tokens_dtype=num_tokens_dtype(mode))
        with pytest.raises(RuntimeError) as error:
            case.to(device).call(**outputs)
        messages.append(str(error.value).splitlines()[0])
    assert messages[0] == messages[1]


def test_checked_mode_passes_valid_data(checked_mode):
    for mode in MODES:
        assert_step_matches_reference(random_step_case(mode, 100, 4, width=500), "cuda")


def test_checked_mode_refuses_graph_capture(checked_mode):
    case = random_step_case("decode", 4, 0, width=100).to("cuda")
    outputs = poisoned_outputs(case, "cuda")
    graph = torch.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match=re.escape(
            "checked mode synchronizes and cannot be used during CUDA graph capture")):
        with torch.cuda.graph(graph):
            case.call(**outputs)


@pytest.mark.parametrize("mode,batch_size,width", [("decode", 1_048_576, 64),
                                                   ("target_verify", 262_144, 32),
                                                   ("draft_extend", 1_048_576, 16)])
def test_scale_against_the_cpu_kernel(mode, batch_size, width):
    """A million requests (draft-extend: 1 to 8 rows each, about 4.7M rows)
    checked against the CPU kernel, itself checked against the reference at
    every size class in test_step_metadata_values.py: the Python reference
    would take minutes here."""
    case = random_step_case(mode, batch_size, 1, width=width, seq_kind="padded",
                            page_size=4)
    results = []
    for device in ("cpu", "cuda"):
        outputs = poisoned_outputs(case, device, num_tokens_dtype=num_tokens_dtype(mode))
        case.to(device).call(**outputs)
        results.append({name: buffer.cpu() for name, buffer in outputs.items()})
    assert_outputs_equal(results[1], results[0])


@pytest.mark.parametrize("mode", MODES)
def test_long_rows_of_a_small_batch(mode):
    # One request of a whole context: the columns spread over many blocks.
    case = random_step_case(mode, 1, 5, width=163840, seq_kind="past_width")
    case.seq_lens[:] = 163840 - 8
    assert_step_matches_reference(case, "cuda")
