"""What only fill_extend_metadata's CUDA kernel must show: no host
synchronization and one launch, CUDA-graph capture and replay with new
values, the current stream, the flattened table at every alignment, the
documented result for bad values only the device sees (never a write
outside the buffers), the opt-in checked mode, and scale. Values against
the reference on both devices are in test_extend_metadata.py."""
import dataclasses
import re

import pytest
import torch

from conftest import requires_cuda
from extend_cases import (BAD_DEVICE_VALUES, TILE_LIMITS, ExtendCase,
                          assert_guarded_matches_reference, bad_values_case, poisoned_outputs,
                          random_extend_case, tiles_across_int32_case)
from helpers import POISON, cuda_kernels_without_sync, guard_buffers
from step_cases import assert_outputs_equal, assert_runs_on_the_current_stream

pytestmark = requires_cuda


def run_and_compare(case, outputs):
    want = case.expected(outputs)
    case.call(**outputs)
    assert_outputs_equal(outputs, want)


@pytest.mark.parametrize("batch_size", [8, 3000])  # both kernels
def test_no_host_synchronization_and_one_launch(batch_size):
    case = random_extend_case(batch_size, 0, longest_extend=64, width=600).to("cuda")
    outputs = poisoned_outputs(case)
    want = case.expected(outputs)
    kernels = cuda_kernels_without_sync(lambda: case.call(**outputs))
    assert len(kernels) == 1, kernels
    assert_outputs_equal(outputs, want)


@pytest.mark.parametrize("batch_size", [1, 32, 256, 3000])
def test_graph_capture_then_replay_with_new_values(batch_size):
    width = 300 if batch_size > 1000 else 3000
    longest_extend = 16
    template = random_extend_case(batch_size, 0, width=width).to("cuda")
    static = dataclasses.replace(
        template, seq_lens=torch.zeros_like(template.seq_lens),
        extend_seq_lens=torch.zeros_like(template.extend_seq_lens),
        req_pool_indices=torch.zeros_like(template.req_pool_indices))
    # Buffers for the largest step: every request extending by the most
    # tokens onto the longest prefix.
    outputs = poisoned_outputs(template, token_capacity=batch_size * longest_extend + 5,
                               kv_capacity=batch_size * (longest_extend + 3000) + 7)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static.call(**outputs)
    for seed in range(1, 4):
        case = random_extend_case(batch_size, seed, longest_extend=longest_extend, width=width)
        static.load_inputs(case)
        # What a replay does not write keeps the previous replay's values.
        want = case.expected(outputs)
        graph.replay()
        assert_outputs_equal(outputs, want)


def test_runs_on_the_current_stream():
    case = random_extend_case(300, 3, width=500)
    assert_runs_on_the_current_stream(case, poisoned_outputs(case.to("cuda")))


@pytest.mark.parametrize("offset", [0, 1, 2, 3])
@pytest.mark.parametrize("batch_size", [5, 300])  # both kernels
def test_flattened_table_at_every_alignment(offset, batch_size):
    """The flattened slots' 16-byte stores realign each unit by shuffles:
    with the buffer itself starting `offset` int32s past an aligned address,
    requests of several units, and a capacity that cuts a request at an odd
    slot, every slot equals the reference and nothing around it changes."""
    case = random_extend_case(batch_size, 20 + offset, longest_prefix=5000, width=6000)
    capacity = case.kv_tokens() - 1 - 2 * offset
    plain = {"page_table_1_flattened": torch.full((capacity,), POISON, dtype=torch.int32),
             "num_kv_tokens": torch.full((1,), -1, dtype=torch.int64)}
    outputs, assert_guards_intact = guard_buffers(plain, "cuda", 64 + offset)
    assert outputs["page_table_1_flattened"].data_ptr() % 16 == 4 * offset
    assert_guarded_matches_reference(case, outputs, assert_guards_intact)


GUARD = 512


# Tiles of requests in 32-bit and in 64-bit arithmetic in one batch
# (extend_cases.TILE_LIMITS).
@pytest.mark.parametrize("name", list(TILE_LIMITS))
def test_tiles_on_both_sides_of_int32(name):
    case, plain = tiles_across_int32_case(name)
    assert_guarded_matches_reference(case, *guard_buffers(plain, "cuda", GUARD))


@pytest.mark.parametrize("name", list(BAD_DEVICE_VALUES))
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("copies", [1, 10])  # 4 or 40 requests: both kernels
def test_bad_device_values_give_the_documented_result(name, dtype, copies):
    case, plain = bad_values_case(name, dtype, copies)
    assert_guarded_matches_reference(case, *guard_buffers(plain, "cuda", GUARD))


@pytest.mark.parametrize("name", ["negative_seq_lens", "pool_index_out_of_range",
                                  "extend_past_every_buffer"])
def test_checked_mode_raises_what_the_cpu_raises(checked_mode, name):
    seq_lens, extend, pool = BAD_DEVICE_VALUES[name]
    case = ExtendCase(torch.tensor(seq_lens), torch.tensor(extend), torch.tensor(pool),
                      torch.zeros(4, 300, dtype=torch.int32))
    messages = []
    for device in ("cpu", "cuda"):
        outputs = poisoned_outputs(case.to(device), token_capacity=20, kv_capacity=500)
        with pytest.raises(RuntimeError) as error:
            case.to(device).call(**outputs)
        messages.append(str(error.value).splitlines()[0])
    assert messages[0] == messages[1]


def test_checked_mode_passes_valid_data(checked_mode):
    case = random_extend_case(100, 4, width=500).to("cuda")
    run_and_compare(case, poisoned_outputs(case))


def test_checked_mode_refuses_graph_capture(checked_mode):
    case = random_extend_case(4, 0, width=100).to("cuda")
    outputs = poisoned_outputs(case)
    graph = torch.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match=re.escape(
            "checked mode synchronizes and cannot be used during CUDA graph capture")):
        with torch.cuda.graph(graph):
            case.call(**outputs)


def test_scale_against_the_cpu_kernel():
    """200K requests (a mixed batch: most decode by one token, some prefill
    chunks of up to 2048) against the CPU kernel, itself checked against the
    reference at every size class in test_extend_metadata.py."""
    generator = torch.Generator().manual_seed(1)
    batch_size = 200_000
    extend = torch.where(torch.rand(batch_size, generator=generator) < 0.99,
                         torch.ones(batch_size, dtype=torch.int64),
                         torch.randint(0, 2049, (batch_size,), generator=generator))
    prefix = torch.randint(0, 40, (batch_size,), generator=generator)
    case = ExtendCase((extend + prefix).int(), extend.int(),
                      torch.randperm(batch_size, generator=generator),
                      torch.randint(0, 1 << 24, (batch_size, 64), generator=generator,
                                    dtype=torch.int32), page_size=4, index_kpool=2)
    results = []
    for device in ("cpu", "cuda"):
        outputs = poisoned_outputs(case.to(device))
        case.to(device).call(**outputs)
        results.append({name: buffer.cpu() for name, buffer in outputs.items()})
    assert_outputs_equal(results[1], results[0])


def test_one_long_prefill():
    # One request of a whole context: its columns spread over many warps.
    case = random_extend_case(1, 5, longest_extend=8192, longest_prefix=0, width=163840)
    case.seq_lens[:] = 163840 - 9
    case.extend_seq_lens[:] = 8192
    case = case.to("cuda")
    run_and_compare(case, poisoned_outputs(case))
