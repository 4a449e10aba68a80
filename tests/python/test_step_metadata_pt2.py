"""The step-metadata ops under PyTorch 2's tooling: torch.library.opcheck
(schema, FakeTensor, AOT dispatch with dynamic shapes),
torch.compile(fullgraph=True), with optional mutated buffers, and
torch.export with a dynamic batch."""
import dataclasses

import pytest
import torch

from helpers import POISON
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


class ExportedStep(torch.nn.Module):
    """One step of `template`'s mode on the caller's inputs and buffers (all
    arguments, so that their batch dimension can be dynamic)."""

    def __init__(self, template):
        super().__init__()
        self.template = template

    def forward(self, seq_lens, req_pool_indices, req_to_token, extend_seq_lens, outputs):
        case = dataclasses.replace(self.template, seq_lens=seq_lens,
                                   req_pool_indices=req_pool_indices, req_to_token=req_to_token,
                                   extend_seq_lens=extend_seq_lens)
        case.call(**outputs)
        return outputs["cu_seqlens_k"] + 0


def export_shapes(case, outputs):
    """dynamic_shapes for ExportedStep: the batch and req_to_token's rows
    free, every buffer's rows following the batch (draft-extend's row buffers
    keep a fixed capacity)."""
    batch = torch.export.Dim("batch", min=2, max=1024)
    rows = (batch if case.mode == "decode" else
            case.num_draft_tokens * batch if case.mode == "target_verify" else None)
    per_row = {"cache_seqlens": batch, "cu_seqlens_k": batch + 1, "seqlens_expanded": rows,
               "nsa_cache_seqlens": rows, "nsa_cu_seqlens_k": None if rows is None else rows + 1,
               "page_table_1": rows, "real_page_table": rows, "paged_mqa_context_lens": batch}
    buffers = {name: ({0: per_row[name]} if per_row.get(name) is not None else None)
               for name in outputs}
    extend = {0: batch} if case.extend_seq_lens is not None else None
    pool_rows = {0: torch.export.Dim("pool_rows", min=2, max=4096)}
    return ({0: batch}, {0: batch}, pool_rows, extend, buffers)


@pytest.mark.parametrize("mode", MODES)
def test_torch_export_with_a_dynamic_batch_matches_the_reference(device, mode):
    template = random_step_case(mode, 5, 0, width=300).to(device)
    capacity = 8 * 12  # draft-extend rows: the largest batch below, 8 a request at most

    def buffers_for(case):
        outputs = poisoned_outputs(case, device, row_capacity=capacity,
                                   num_tokens_dtype=torch.int64 if mode == "draft_extend"
                                   else None)
        if mode == "target_verify":
            outputs["paged_mqa_context_lens"] = torch.full(
                (case.batch_size, case.num_draft_tokens), POISON, dtype=torch.int32,
                device=device)
        return outputs

    def arguments(case, outputs):
        return (case.seq_lens, case.req_pool_indices, case.req_to_token, case.extend_seq_lens,
                outputs)

    outputs = buffers_for(template)
    program = torch.export.export(ExportedStep(template), arguments(template, outputs),
                                  dynamic_shapes=export_shapes(template, outputs))
    assert any(node.target == getattr(torch.ops.nsa_metadata, OPS[mode]).default
               for node in program.graph.nodes), "the op is a node of the exported graph"
    for batch_size, seed in ((12, 1), (3, 2), (7, 3)):
        case = random_step_case(mode, batch_size, seed, width=300).to(device)
        outputs = buffers_for(case)
        want = case.expected(outputs)
        returned = program.module()(*arguments(case, outputs))
        assert_outputs_equal(outputs, want)
        assert torch.equal(returned.cpu(), want["cu_seqlens_k"])
