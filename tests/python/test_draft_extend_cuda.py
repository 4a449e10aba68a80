"""What only the CUDA kernel must show: no host synchronization, CUDA-graph
capture and replay with new values, the current stream, the documented result
for bad values only the device sees (never a write outside the buffers), and
the opt-in checked mode."""
import re

import pytest
import torch

from conftest import requires_cuda
from helpers import (BAD_DEVICE_VALUES, assert_buffers_off_a_16_byte_boundary_match,
                     assert_equal, assert_guarded_run_matches_reference,
                     assert_matches_reference, expected, poisoned_buffer)
from inputs import draft_batch, random_inputs
from reference import INT32_MAX

pytestmark = requires_cuda

fill = torch.ops.nsa_metadata.fill_draft_extend_metadata
functional = torch.ops.nsa_metadata.draft_extend_metadata


@pytest.mark.parametrize("batch_size", [128, 20000])
def test_no_host_synchronization(batch_size):
    extend_seq_lens, seq_lens = random_inputs(batch_size, "draft_1_to_8", "padded", 0,
                                              device="cuda")
    capacity = batch_size * 8
    seqlens_expanded = torch.empty(capacity, dtype=torch.int32, device="cuda")
    nsa_cache_seqlens = torch.empty(capacity, dtype=torch.int32, device="cuda")
    num_tokens = torch.empty(1, dtype=torch.int32, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        fill(extend_seq_lens, seq_lens, 2048, seqlens_expanded, nsa_cache_seqlens,
             num_tokens=num_tokens)
        functional(extend_seq_lens, seq_lens, 2048, capacity)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    want_expanded, _, total = expected(extend_seq_lens, seq_lens, 2048, capacity, capacity)
    assert_equal(seqlens_expanded.cpu(), want_expanded, "seqlens_expanded")
    assert num_tokens.item() == total


# 20000 takes the two-pass path (past 12288 requests), whose workspace comes
# from the caching allocator during capture.
@pytest.mark.parametrize("batch_size", [1, 32, 128, 4096, 20000])
def test_graph_capture_then_replay_with_new_values(batch_size):
    capacity = batch_size * 8 + 64
    static_extend = torch.zeros(batch_size, dtype=torch.int32, device="cuda")
    static_seq = torch.zeros(batch_size, dtype=torch.int64, device="cuda")
    seqlens_expanded = poisoned_buffer(capacity, "cuda")
    nsa_cache_seqlens = poisoned_buffer(capacity, "cuda")
    num_tokens = torch.zeros(1, dtype=torch.int64, device="cuda")

    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fill(static_extend, static_seq, 2048, seqlens_expanded, nsa_cache_seqlens,
             num_tokens=num_tokens)

    for seed, (extend_kind, seq_kind) in enumerate([("draft_1_to_8", "up_to_context"),
                                                    ("zeros_to_8", "padded"),
                                                    ("draft_1_to_8", "near_int32_max"),
                                                    ("zeros_to_8", "up_to_context")]):
        extend_seq_lens, seq_lens = random_inputs(batch_size, extend_kind, seq_kind, seed)
        static_extend.copy_(extend_seq_lens)
        static_seq.copy_(seq_lens)
        graph.replay()
        want_expanded, want_cache, total = expected(extend_seq_lens, seq_lens, 2048,
                                                    capacity, capacity)
        assert_equal(seqlens_expanded.cpu(), want_expanded, "seqlens_expanded")
        assert_equal(nsa_cache_seqlens.cpu(), want_cache, "nsa_cache_seqlens")
        assert num_tokens.item() == total


def test_graph_capture_of_the_functional_form():
    static_extend = torch.zeros(64, dtype=torch.int64, device="cuda")
    static_seq = torch.zeros(64, dtype=torch.int32, device="cuda")
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        seqlens_expanded, nsa_cache_seqlens = functional(static_extend, static_seq, 2048, 600)
    for seed in range(3):
        extend_seq_lens, seq_lens = random_inputs(64, "zeros_to_8", "padded", seed)
        static_extend.copy_(extend_seq_lens)
        static_seq.copy_(seq_lens)
        graph.replay()
        want_expanded, want_cache, _ = expected(extend_seq_lens, seq_lens, 2048, 600, 600)
        assert_equal(seqlens_expanded.cpu(), want_expanded, "seqlens_expanded")
        assert_equal(nsa_cache_seqlens.cpu(), want_cache, "nsa_cache_seqlens")


def test_runs_on_the_current_stream():
    """A kernel on the wrong stream would read the inputs before the side
    stream's copy (held back by a sleep) has written them."""
    extend_seq_lens, seq_lens = random_inputs(512, "draft_1_to_8", "up_to_context", 3)
    device_extend = torch.zeros(512, dtype=torch.int32, device="cuda")
    device_seq = torch.zeros(512, dtype=torch.int32, device="cuda")
    pinned_extend = extend_seq_lens.to(torch.int32).pin_memory()
    pinned_seq = seq_lens.to(torch.int32).pin_memory()
    capacity = 512 * 8
    seqlens_expanded = torch.zeros(capacity, dtype=torch.int32, device="cuda")
    nsa_cache_seqlens = torch.zeros(capacity, dtype=torch.int32, device="cuda")
    torch.cuda.synchronize()
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        torch.cuda._sleep(50_000_000)  # tens of milliseconds of GPU time
        device_extend.copy_(pinned_extend, non_blocking=True)
        device_seq.copy_(pinned_seq, non_blocking=True)
        fill(device_extend, device_seq, 2048, seqlens_expanded, nsa_cache_seqlens)
    side.synchronize()
    want_expanded, want_cache, _ = expected(extend_seq_lens, seq_lens, 2048, capacity, capacity)
    assert_equal(seqlens_expanded.cpu(), want_expanded, "seqlens_expanded")
    assert_equal(nsa_cache_seqlens.cpu(), want_cache, "nsa_cache_seqlens")


# 300001 gives each block of the two-pass grid an odd number of tiles on GPUs
# of 98 to 146 multiprocessors (H100, A100), so chunks end on half a pair of
# tiles, and the last chunk ends inside a tile on any GPU; 0..16
# reaches the short path's longest length, 0..40 mixes in the general path.
@pytest.mark.parametrize("batch_size,extend_min,extend_max", [(1_048_576, 0, 15),
                                                              (262_144, 1, 8),
                                                              (300_001, 0, 16),
                                                              (300_001, 0, 40)])
def test_scale_to_a_million_requests_and_8m_tokens(batch_size, extend_min, extend_max):
    generator = torch.Generator().manual_seed(batch_size)
    extend_seq_lens, seq_lens = draft_batch(batch_size, extend_min, extend_max, generator)
    total = int(extend_seq_lens.sum())
    assert_matches_reference(extend_seq_lens.cuda(), seq_lens.cuda(), 2048, total + 1000)


# Blocks of the two-pass grid walk several pairs of tiles each here (on any
# GPU of up to 160 multiprocessors), which the reference-checked sizes above
# reach only at a million requests; checked against the CPU kernel (itself
# checked against the reference) so that it stays quick under the sanitizers.
@pytest.mark.parametrize("extend_min,extend_max", [(0, 16), (0, 40)])
def test_two_pass_over_many_tiles_per_block_matches_the_cpu_kernel(extend_min, extend_max):
    generator = torch.Generator().manual_seed(extend_max)
    extend_seq_lens, seq_lens = draft_batch(700_001, extend_min, extend_max, generator)
    capacity = int(extend_seq_lens.sum()) + 999
    outputs = {}
    for device in ("cpu", "cuda"):
        seqlens_expanded = poisoned_buffer(capacity, device)
        nsa_cache_seqlens = poisoned_buffer(capacity, device)
        num_tokens = torch.zeros(1, dtype=torch.int64, device=device)
        fill(extend_seq_lens.to(device), seq_lens.to(device), 2048, seqlens_expanded,
             nsa_cache_seqlens, num_tokens=num_tokens)
        outputs[device] = (seqlens_expanded.cpu(), nsa_cache_seqlens.cpu(), num_tokens.item())
    assert_equal(outputs["cuda"][0], outputs["cpu"][0], "seqlens_expanded")
    assert_equal(outputs["cuda"][1], outputs["cpu"][1], "nsa_cache_seqlens")
    assert outputs["cuda"][2] == outputs["cpu"][2]


def test_large_capacity_tail_is_zeroed():
    extend_seq_lens, seq_lens = random_inputs(5, "draft_1_to_8", "up_to_context", 9,
                                              device="cuda")
    assert_matches_reference(extend_seq_lens, seq_lens, 2048, 3_000_000, 2_000_001)


GUARD = 4096  # elements on each side of each buffer, num_tokens included


@pytest.mark.parametrize("count_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("case", list(BAD_DEVICE_VALUES))
def test_bad_device_values_give_the_documented_result(case, count_dtype):
    extend_values, seq_values, dtype, capacity = BAD_DEVICE_VALUES[case]
    # Each output, num_tokens included, lives in the middle of a larger
    # allocation whose guard regions run_guarded checks.
    assert_guarded_run_matches_reference(
        torch.tensor(extend_values, dtype=dtype), torch.tensor(seq_values, dtype=dtype),
        capacity if isinstance(capacity, tuple) else (capacity, capacity), count_dtype, "cuda",
        GUARD)


@pytest.mark.parametrize("batch_size", [300, 3000, 20000])
@pytest.mark.parametrize("guard", [1, 2, 3, 4])
def test_buffers_off_a_16_byte_boundary(batch_size, guard):
    """300: rows stored straight from each request's thread; 3000: staged in
    shared memory, one launch; 20000: two launches."""
    assert_buffers_off_a_16_byte_boundary_match(batch_size, guard, "cuda")


def test_checked_mode_raises_what_the_cpu_raises(checked_mode):
    for extend_values, capacity in (([2, -1, 3], 16), ([4, 4, 4], 11)):
        messages = []
        for device in ("cpu", "cuda"):
            extend_seq_lens = torch.tensor(extend_values, dtype=torch.int32, device=device)
            seq_lens = torch.tensor([9, 9, 9], dtype=torch.int32, device=device)
            buffers = [torch.zeros(capacity, dtype=torch.int32, device=device) for _ in "ab"]
            with pytest.raises(RuntimeError) as error:
                fill(extend_seq_lens, seq_lens, 2048, *buffers)
            messages.append(str(error.value).splitlines()[0])
        assert messages[0] == messages[1]


def test_checked_mode_passes_valid_data(checked_mode):
    extend_seq_lens, seq_lens = random_inputs(100, "zeros_to_8", "padded", 4, device="cuda")
    assert_matches_reference(extend_seq_lens, seq_lens, 2048, 900)


def test_checked_mode_is_read_once(checked_mode, monkeypatch):
    extend_seq_lens = torch.tensor([2, -1, 3], dtype=torch.int32, device="cuda")
    seq_lens = torch.tensor([9, 9, 9], dtype=torch.int32, device="cuda")
    buffers = [torch.zeros(16, dtype=torch.int32, device="cuda") for _ in "ab"]
    fill(extend_seq_lens.abs(), seq_lens, 2048, *buffers)
    monkeypatch.setenv("NSA_METADATA_CHECKED", "0")
    with pytest.raises(RuntimeError, match=re.escape("extend_seq_lens[1] should be >= 0")):
        fill(extend_seq_lens, seq_lens, 2048, *buffers)


def test_checked_mode_refuses_graph_capture(checked_mode):
    extend_seq_lens = torch.ones(4, dtype=torch.int32, device="cuda")
    buffers = [torch.zeros(8, dtype=torch.int32, device="cuda") for _ in "ab"]
    graph = torch.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match=re.escape(
            "checked mode synchronizes and cannot be used during CUDA graph capture")):
        with torch.cuda.graph(graph):
            fill(extend_seq_lens, extend_seq_lens + 3, 2048, *buffers)


def test_int32_num_tokens_saturates():
    extend_seq_lens = torch.tensor([2**40, 5], dtype=torch.int64, device="cuda")
    seq_lens = torch.tensor([1, 1], dtype=torch.int64, device="cuda")
    buffers = [torch.zeros(4, dtype=torch.int32, device="cuda") for _ in "ab"]
    num_tokens = torch.zeros(1, dtype=torch.int32, device="cuda")
    fill(extend_seq_lens, seq_lens, 2048, *buffers, num_tokens=num_tokens)
    assert num_tokens.item() == INT32_MAX
