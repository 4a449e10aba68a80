"""Every operator with its tensors on a GPU other than the current one: the
kernel runs on that GPU (behind a device guard, on its current stream), and
a CUDA graph captured there replays with new values."""
import pytest
import torch

import extend_cases
from conftest import requires_two_gpus
from helpers import POISON, expected
from reference import MODES
from step_cases import StepCase, assert_outputs_equal, poisoned_outputs, random_step_case

pytestmark = requires_two_gpus

OTHER = torch.device("cuda", 1)


def draft_extend_call(extend_seq_lens, seq_lens, outputs):
    torch.ops.nsa_metadata.fill_draft_extend_metadata(
        extend_seq_lens, seq_lens, 2048, outputs["seqlens_expanded"],
        outputs["nsa_cache_seqlens"], num_tokens=outputs["num_tokens"])


def draft_extend_expected(extend_seq_lens, seq_lens, capacity):
    expanded, cached, total = expected(extend_seq_lens, seq_lens, 2048, capacity, capacity)
    return {"seqlens_expanded": expanded, "nsa_cache_seqlens": cached,
            "num_tokens": torch.tensor([total], dtype=torch.int64)}


def random_draft_extend(batch_size, seed):
    generator = torch.Generator().manual_seed(seed)
    extend = torch.randint(0, 9, (batch_size,), generator=generator)
    seq_lens = extend + torch.randint(0, 5000, (batch_size,), generator=generator)
    return extend.to(torch.int32), seq_lens.to(torch.int32)


@pytest.fixture(autouse=True)
def current_device_is_the_first():
    torch.cuda.set_device(0)
    yield


@pytest.mark.parametrize("batch_size", [3, 5000])
def test_fill_draft_extend_metadata(batch_size):
    capacity = batch_size * 8 + 5
    def poisoned(size, fill=POISON, dtype=torch.int32):
        return torch.full((size,), fill, dtype=dtype, device=OTHER)

    outputs = {"seqlens_expanded": poisoned(capacity), "nsa_cache_seqlens": poisoned(capacity),
               "num_tokens": poisoned(1, -1, torch.int64)}
    extend, seq_lens = random_draft_extend(batch_size, 0)
    draft_extend_call(extend.to(OTHER), seq_lens.to(OTHER), outputs)
    assert torch.cuda.current_device() == 0
    for name, want in draft_extend_expected(extend, seq_lens, capacity).items():
        assert torch.equal(outputs[name].cpu(), want), name

    static_extend, static_seq = extend.to(OTHER), seq_lens.to(OTHER)
    stream = torch.cuda.Stream(device=OTHER)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream):
        draft_extend_call(static_extend, static_seq, outputs)
    extend, seq_lens = random_draft_extend(batch_size, 1)
    static_extend.copy_(extend)
    static_seq.copy_(seq_lens)
    graph.replay()
    torch.cuda.synchronize(OTHER)
    for name, want in draft_extend_expected(extend, seq_lens, capacity).items():
        assert torch.equal(outputs[name].cpu(), want), name


def test_draft_extend_metadata_functional():
    extend, seq_lens = random_draft_extend(100, 2)
    expanded, cached = torch.ops.nsa_metadata.draft_extend_metadata(
        extend.to(OTHER), seq_lens.to(OTHER), 2048, 1000)
    assert expanded.device == OTHER and cached.device == OTHER
    want = draft_extend_expected(extend, seq_lens, 1000)
    assert torch.equal(expanded.cpu(), want["seqlens_expanded"])
    assert torch.equal(cached.cpu(), want["nsa_cache_seqlens"])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_size", [4, 700])
def test_step_metadata_ops(mode, batch_size):
    template = random_step_case(mode, batch_size, 0, width=3000).to(OTHER)
    dtype = torch.int64 if mode == "draft_extend" else None
    outputs = poisoned_outputs(template, OTHER, row_capacity=batch_size * 8 + 5,
                               num_tokens_dtype=dtype)
    want = template.expected(outputs)
    template.call(**outputs)
    assert torch.cuda.current_device() == 0
    assert_outputs_equal(outputs, want)

    static = StepCase(**{**template.__dict__})
    stream = torch.cuda.Stream(device=OTHER)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream):
        static.call(**outputs)
    case = random_step_case(mode, batch_size, 1, width=3000)
    static.load_inputs(case)
    want = case.expected(outputs)
    graph.replay()
    torch.cuda.synchronize(OTHER)
    assert_outputs_equal(outputs, want)


@pytest.mark.parametrize("batch_size", [4, 700])
def test_fill_extend_metadata(batch_size):
    template = extend_cases.random_extend_case(batch_size, 0, longest_extend=16, width=3000)
    static = template.to(OTHER)
    outputs = extend_cases.poisoned_outputs(static, token_capacity=batch_size * 16 + 5,
                                            kv_capacity=batch_size * 3020 + 7)
    want = template.expected(outputs)
    static.call(**outputs)
    assert torch.cuda.current_device() == 0
    assert_outputs_equal(outputs, want)

    stream = torch.cuda.Stream(device=OTHER)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream):
        static.call(**outputs)
    case = extend_cases.random_extend_case(batch_size, 1, longest_extend=16, width=3000)
    static.load_inputs(case)
    want = case.expected(outputs)
    graph.replay()
    torch.cuda.synchronize(OTHER)
    assert_outputs_equal(outputs, want)
