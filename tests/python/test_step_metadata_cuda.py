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
from step_cases import (StepCase, assert_outputs_equal, assert_runs_on_the_current_stream,
                        assert_step_matches_reference, guarded_outputs, poisoned_outputs,
                        random_step_case)

pytestmark = requires_cuda

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def num_tokens_dtype(mode):
    return torch.int64 if mode == "draft_extend" else None


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_size", [128, 20000])
def test_no_host_synchronization_and_one_launch(mode, batch_size):
    case = random_step_case(mode, batch_size, 0, width=600).to("cuda")
    outputs = poisoned_outputs(case, "cuda", num_tokens_dtype=num_tokens_dtype(mode))
    want = case.expected(outputs)
    kernels = cuda_kernels_without_sync(lambda: case.call(**outputs))
    assert len(kernels) == 1, kernels
    assert_outputs_equal(outputs, want)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_size", [1, 32, 256, 4096, 20000])
def test_graph_capture_then_replay_with_new_values(mode, batch_size):
    width = 300 if batch_size > 1000 else 3000
    template = random_step_case(mode, batch_size, 0, width=width).to("cuda")
    static = StepCase(**{**template.__dict__})
    static.seq_lens = torch.zeros_like(template.seq_lens)
    static.req_pool_indices = torch.zeros_like(template.req_pool_indices)
    if template.extend_seq_lens is not None:
        static.extend_seq_lens = torch.zeros_like(template.extend_seq_lens)
    outputs = poisoned_outputs(template, "cuda", row_capacity=batch_size * 8 + 5,
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


def bad_case(mode, seq_lens, req_pool_indices, extend_seq_lens=None, dtype=torch.int64,
             width=300, pool_rows=4):
    generator = torch.Generator().manual_seed(len(seq_lens))
    return StepCase(
        mode=mode, seq_lens=torch.tensor(seq_lens, dtype=dtype),
        req_pool_indices=torch.tensor(req_pool_indices, dtype=dtype),
        req_to_token=torch.randint(-5, 1 << 20, (pool_rows, width), generator=generator,
                                   dtype=torch.int32),
        extend_seq_lens=(None if extend_seq_lens is None
                         else torch.tensor(extend_seq_lens, dtype=dtype)),
        num_draft_tokens={"target_verify": 3, "draft_extend": None}.get(mode),
        page_size=7)


# Bad values only the device sees, for every mode: (seq_lens, req_pool_indices,
# extend_seq_lens for draft-extend).
BAD_DEVICE_VALUES = {
    "negative_seq_lens": ([-5, 10, INT64_MIN, 3], [0, 1, 2, 3], [2, 2, 2, 2]),
    "pool_index_out_of_range": ([100, 50, 20, 7], [4, -1, INT64_MAX, 1], [1, 3, 2, 1]),
    "seq_lens_past_int32": ([2**40, 2**31 - 1, INT64_MAX, 5], [0, 1, 2, 3], [3, 1, 2, 0]),
    "seq_lens_past_the_pool_width": ([100000, 299, 300, 301], [3, 2, 1, 0], [8, 1, 1, 1]),
    "negative_and_huge_extend": ([50, 60, 70, 80], [0, 1, 2, 3], [-3, 2, INT64_MIN, 5]),
    "extend_past_every_buffer": ([50, 60, 70, 80], [0, 1, 2, 3], [2, 2**62, INT64_MAX, 1]),
    "sums_past_int32": ([2**31 - 1] * 4, [0, 1, 2, 3], [3, 3, 3, 3]),
}
GUARD = 512


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(BAD_DEVICE_VALUES))
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("copies", [1, 10])  # 4 or 40 requests: both kernels
def test_bad_device_values_give_the_documented_result(mode, name, dtype, copies):
    seq_lens, pool, extend = (values * copies for values in BAD_DEVICE_VALUES[name])
    info = torch.iinfo(dtype)
    clip = lambda values: [min(max(v, info.min), info.max) for v in values]  # noqa: E731
    case = bad_case(mode, clip(seq_lens), clip(pool),
                    clip(extend) if mode == "draft_extend" else None, dtype)
    capacity = 20 * copies if mode == "draft_extend" else None
    outputs, assert_guards_intact = guarded_outputs(
        case, "cuda", GUARD, row_capacity=capacity, num_tokens_dtype=num_tokens_dtype(mode))
    want = case.expected(outputs)
    case.to("cuda").call(**outputs)
    torch.cuda.synchronize()
    assert_guards_intact()
    assert_outputs_equal(outputs, want)


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
