"""The step-metadata ops under PyTorch 2's tooling: torch.library.opcheck
(schema, FakeTensor, AOT dispatch with dynamic shapes) and
torch.compile(fullgraph=True), with optional mutated buffers."""
import pytest
import torch

from reference import MODES
from step_cases import (OPS, TABLES, assert_outputs_equal, outputs_of, poisoned_outputs,
                        random_step_case)



def opcheck_arguments(case, outputs):
    """(args, kwargs) of the op's schema for `case`."""
    inputs = (case.seq_lens, case.req_pool_indices, case.req_to_token)
    if case.mode == "decode":
        return inputs + (case.nsa_index_topk, case.page_size), outputs
    if case.mode == "target_verify":
        return inputs + (case.num_draft_tokens, case.nsa_index_topk, case.page_size), outputs
    kwargs = dict(outputs)
    if case.extend_seq_lens is None:
        kwargs["num_draft_tokens"] = case.num_draft_tokens
    return inputs + (case.extend_seq_lens, case.nsa_index_topk, case.page_size), kwargs


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("names", ["all", "vectors", "tables"])
def test_opcheck(device, mode, names):
    case = random_step_case(mode, 23, 1, width=300).to(device)
    chosen = {"all": outputs_of(mode), "tables": TABLES,
              "vectors": [n for n in outputs_of(mode) if n not in TABLES]}[names]
    outputs = poisoned_outputs(case, device, names=chosen,
                               num_tokens_dtype=torch.int64 if mode == "draft_extend" else None)
    args, kwargs = opcheck_arguments(case, outputs)
    op = getattr(torch.ops.nsa_metadata, OPS[mode])
    torch.library.opcheck(op, args, kwargs)


def test_opcheck_draft_extend_static_count(device):
    case = random_step_case("draft_extend", 17, 2, width=200, static_extend=True).to(device)
    outputs = poisoned_outputs(case, device, num_tokens_dtype=torch.int32)
    args, kwargs = opcheck_arguments(case, outputs)
    torch.library.opcheck(torch.ops.nsa_metadata.fill_draft_extend_metadata_full, args, kwargs)


class StepMetadata(torch.nn.Module):
    """An engine's per-step update of its fixed buffers, for one mode."""

    def __init__(self, case, outputs):
        super().__init__()
        self.case = case
        self.names = list(outputs)
        for name, buffer in outputs.items():
            self.register_buffer(name, buffer)

    def forward(self, seq_lens, req_pool_indices, extend_seq_lens):
        self.case.seq_lens = seq_lens
        self.case.req_pool_indices = req_pool_indices
        if self.case.mode == "draft_extend":
            self.case.extend_seq_lens = extend_seq_lens
        self.case.call(**{name: getattr(self, name) for name in self.names})
        return self.cache_seqlens * 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dynamic", [False, True])
def test_torch_compile_fullgraph(device, mode, dynamic):
    torch._dynamo.reset()
    template = random_step_case(mode, 30, 0, width=400).to(device)
    outputs = poisoned_outputs(template, device, row_capacity=300,
                               num_tokens_dtype=torch.int64 if mode == "draft_extend" else None)
    step = StepMetadata(template, outputs)
    compiled = torch.compile(step, fullgraph=True, dynamic=dynamic)
    for seed in (1, 2, 3):
        case = random_step_case(mode, 30, seed, width=400).to(device)
        case.req_to_token = template.req_to_token
        want = case.expected({name: getattr(step, name) for name in step.names})
        doubled = compiled(case.seq_lens, case.req_pool_indices, case.extend_seq_lens)
        assert_outputs_equal({name: getattr(step, name) for name in step.names}, want)
        assert torch.equal(doubled.cpu(), want["cache_seqlens"] * 2)
