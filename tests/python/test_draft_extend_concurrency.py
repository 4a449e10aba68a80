"""Several callers at once: CPU threads; CUDA streams; a CUDA graph captured
on a side stream while another stream works. Every result is compared with
the reference."""
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

from conftest import requires_cuda
from helpers import assert_equal, expected, poisoned_buffer
from inputs import random_inputs

fill = torch.ops.nsa_metadata.fill_draft_extend_metadata
THREADS, CALLS = 8, 25


def one_caller(seed, device):
    """Fills its own buffers CALLS times with fresh inputs; checks each result."""
    for call in range(CALLS):
        batch_size = 1 + (seed * 131 + call * 17) % 700
        extend_seq_lens, seq_lens = random_inputs(batch_size, "zeros_to_8", "padded",
                                                  seed * 1000 + call, device=device)
        capacity = int(extend_seq_lens.sum()) + 9
        seqlens_expanded = poisoned_buffer(capacity, device)
        nsa_cache_seqlens = poisoned_buffer(capacity, device)
        fill(extend_seq_lens, seq_lens, 2048, seqlens_expanded, nsa_cache_seqlens)
        want_expanded, want_cache, _ = expected(extend_seq_lens, seq_lens, 2048, capacity,
                                                capacity)
        assert_equal(seqlens_expanded.cpu(), want_expanded, "seqlens_expanded")
        assert_equal(nsa_cache_seqlens.cpu(), want_cache, "nsa_cache_seqlens")
    return CALLS


def test_cpu_threads_at_once():
    start = threading.Barrier(THREADS)

    def caller(seed):
        start.wait()
        return one_caller(seed, "cpu")

    with ThreadPoolExecutor(THREADS) as pool:
        assert sum(pool.map(caller, range(THREADS))) == THREADS * CALLS


@requires_cuda
def test_cuda_streams_at_once():
    """Each thread issues on its own stream; the GPU runs them concurrently."""
    streams = [torch.cuda.Stream() for _ in range(THREADS)]

    def caller(seed):
        with torch.cuda.stream(streams[seed]):
            return one_caller(seed, "cuda")

    with ThreadPoolExecutor(THREADS) as pool:
        assert sum(pool.map(caller, range(THREADS))) == THREADS * CALLS


@requires_cuda
def test_graph_captured_on_a_side_stream_while_another_stream_works():
    batch_size, capacity = 4096, 4096 * 8 + 100
    static_extend = torch.zeros(batch_size, dtype=torch.int32, device="cuda")
    static_seq = torch.zeros(batch_size, dtype=torch.int32, device="cuda")
    graph_expanded = poisoned_buffer(capacity, "cuda")
    graph_cache = poisoned_buffer(capacity, "cuda")

    busy = torch.cuda.Stream()
    busy_inputs = [random_inputs(batch_size, "draft_1_to_8", "up_to_context", 50 + k,
                                 device="cuda") for k in range(20)]
    busy_outputs = [(poisoned_buffer(capacity, "cuda"), poisoned_buffer(capacity, "cuda"))
                    for _ in range(20)]
    torch.cuda.synchronize()
    with torch.cuda.stream(busy):  # queued work on another stream during the capture
        torch.cuda._sleep(10_000_000)
        for (extend, seq), (expanded, cache) in zip(busy_inputs, busy_outputs):
            fill(extend, seq, 2048, expanded, cache)

    side = torch.cuda.Stream()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.stream(side):
        with torch.cuda.graph(graph, stream=side):
            fill(static_extend, static_seq, 2048, graph_expanded, graph_cache)

    for seed in range(3):
        extend, seq = random_inputs(batch_size, "zeros_to_8", "padded", seed)
        static_extend.copy_(extend)
        static_seq.copy_(seq)
        graph.replay()
        want_expanded, want_cache, _ = expected(extend, seq, 2048, capacity, capacity)
        assert_equal(graph_expanded.cpu(), want_expanded, "graph seqlens_expanded")
        assert_equal(graph_cache.cpu(), want_cache, "graph nsa_cache_seqlens")

    busy.synchronize()
    for (extend, seq), (expanded, cache) in zip(busy_inputs, busy_outputs):
        want_expanded, want_cache, _ = expected(extend.cpu(), seq.cpu(), 2048, capacity,
                                                capacity)
        assert_equal(expanded.cpu(), want_expanded, "busy seqlens_expanded")
        assert_equal(cache.cpu(), want_cache, "busy nsa_cache_seqlens")
