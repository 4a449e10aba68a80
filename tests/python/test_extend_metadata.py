"""fill_extend_metadata (docs/extend.md) against the one reference, on the
CPU and the GPU: the hand-worked case, random batches of every size class
(both CUDA kernels), dtypes, index_kpool, capacities and tails, subsets of
outputs, narrow tables, guard regions, opcheck, torch.compile and
torch.export; the host checks and the CPU's data errors. What only the CUDA
kernel must show is in test_extend_metadata_cuda.py."""
import dataclasses
import re

import pytest
import torch

from conftest import DEVICES
from extend_cases import (COUNTERS, OUTPUTS, TOKEN_OUTPUTS, ExtendCase, poisoned_outputs,
                          random_extend_case)
from helpers import POISON
from step_cases import assert_outputs_equal

INT32_MAX = 2**31 - 1


def assert_matches_reference(case, device, **poisoned_kwargs):
    case = case.to(device)
    outputs = poisoned_outputs(case, **poisoned_kwargs)
    want = case.expected(outputs)
    case.call(**outputs)
    assert_outputs_equal(outputs, want)


@pytest.mark.parametrize("device", DEVICES)
def test_by_hand(device):
    # Extend 3 and 2 tokens onto KV lengths 10 and 4.
    req_to_token = (torch.arange(2).view(2, 1) * 100 + torch.arange(12).view(1, 12)).int()
    case = ExtendCase(torch.tensor([10, 4]), torch.tensor([3, 2]), torch.tensor([1, 0]),
                      req_to_token, nsa_index_topk=3, page_size=4).to(device)
    outputs = poisoned_outputs(case, spare_tokens=1, spare_kv=2)
    case.call(**outputs)
    got = {name: buffer.cpu().tolist() for name, buffer in outputs.items()}
    assert got["cache_seqlens"] == [10, 4]
    assert got["cu_seqlens_k"] == [0, 10, 14]
    assert got["cu_seqlens_q"] == [0, 3, 5]
    assert got["seqlens_expanded"] == [8, 9, 10, 3, 4, 0]
    assert got["nsa_cache_seqlens"] == [3, 3, 3, 3, 3, 0]
    assert got["nsa_cu_seqlens_k"] == [0, 3, 6, 9, 12, 15, 15]
    assert got["token_to_batch_idx"] == [0, 0, 0, 1, 1, 0]
    assert got["indexer_k_start"] == [0, 0, 0, 10, 10, 0]
    assert got["indexer_k_end"] == [8, 9, 10, 13, 14, 0]
    assert got["page_table_1"][0] == list(range(100, 110)) + [POISON] * 2
    assert got["page_table_1"][1] == [0, 1, 2, 3] + [POISON] * 8
    assert got["real_page_table"] == [[25, 26, 27], [0, POISON, POISON]]
    assert got["page_table_1_flattened"] == list(range(100, 110)) + [0, 1, 2, 3] + [POISON] * 2
    assert got["num_tokens"] == [5] and got["num_kv_tokens"] == [14]


@pytest.mark.parametrize("device", DEVICES)
def test_index_kpool_by_hand(device):
    # K = 4, topk 8: x = 14 keeps min(12, 8) + 2 = 10; x = 5 keeps 4 + 1.
    case = ExtendCase(torch.tensor([14, 5]), torch.tensor([1, 1]), torch.tensor([0, 1]),
                      torch.zeros(2, 16, dtype=torch.int32), nsa_index_topk=8, page_size=4,
                      index_kpool=4).to(device)
    outputs = poisoned_outputs(case, names=("nsa_cache_seqlens", "nsa_cu_seqlens_k"),
                               spare_tokens=0)
    case.call(**outputs)
    assert outputs["nsa_cache_seqlens"].cpu().tolist() == [10, 5]
    assert outputs["nsa_cu_seqlens_k"].cpu().tolist() == [0, 10, 15]


# Around the sizes a CUDA kernel would split on, and a large batch.
@pytest.mark.parametrize("batch_size", [0, 1, 2, 31, 33, 257, 3000])
@pytest.mark.parametrize("device", DEVICES)
def test_size_classes(batch_size, device):
    assert_matches_reference(random_extend_case(batch_size, batch_size), device)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("device", DEVICES)
def test_long_extends_and_prefixes(seed, device):
    # Extends up to 8192 tokens onto prefixes up to 128K, past a 2048-wide pool.
    case = random_extend_case(6, seed, longest_extend=8192, longest_prefix=131072, width=2048)
    assert_matches_reference(case, device)


@pytest.mark.parametrize("dtypes", [(torch.int32, torch.int32), (torch.int32, torch.int64),
                                    (torch.int64, torch.int32), (torch.int64, torch.int64)])
@pytest.mark.parametrize("device", DEVICES)
def test_index_dtypes(dtypes, device):
    assert_matches_reference(random_extend_case(40, 5, dtypes=dtypes), device)


@pytest.mark.parametrize("index_kpool", [1, 2, 4, 64, 5000])
@pytest.mark.parametrize("topk", [1, 7, 2048])
@pytest.mark.parametrize("device", DEVICES)
def test_index_kpool(index_kpool, topk, device):
    case = random_extend_case(30, index_kpool, longest_extend=40, nsa_index_topk=topk,
                              index_kpool=index_kpool)
    assert_matches_reference(case, device)


@pytest.mark.parametrize("page_size", [1, 3, 64, 1000])
@pytest.mark.parametrize("device", DEVICES)
def test_page_sizes(page_size, device):
    assert_matches_reference(random_extend_case(20, page_size, width=2000, page_size=page_size),
                             device)


@pytest.mark.parametrize("spare_tokens,spare_kv", [(0, 0), (1, 1), (1000, 300)])
@pytest.mark.parametrize("counter_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("device", DEVICES)
def test_capacities_and_tails(spare_tokens, spare_kv, counter_dtype, device):
    case = random_extend_case(25, 9)
    assert_matches_reference(case, device, spare_tokens=spare_tokens, spare_kv=spare_kv,
                             counter_dtype=counter_dtype)


@pytest.mark.parametrize("counter_dtype,want", [(torch.int32, [INT32_MAX] * 2),
                                                 (torch.int64, [INT32_MAX + 1, INT32_MAX + 2])])
@pytest.mark.parametrize("device", DEVICES)
def test_counters_hold_totals_past_int32(counter_dtype, want, device):
    """Totals of 2^31 tokens and 2^31 + 1 KV tokens: an int64 counter holds
    them, an int32 one saturates (docs/extend.md, Bad values)."""
    case = ExtendCase(seq_lens=torch.tensor([INT32_MAX, 2]),
                      extend_seq_lens=torch.tensor([INT32_MAX, 1]),
                      req_pool_indices=torch.tensor([0, 0]),
                      req_to_token=torch.zeros(1, 64, dtype=torch.int32)).to(device)
    outputs = poisoned_outputs(case, names=(), counter_dtype=counter_dtype)
    case.call(**outputs)
    assert [outputs["num_tokens"].item(), outputs["num_kv_tokens"].item()] == want


@pytest.mark.parametrize("names", [(name,) for name in OUTPUTS] + [TOKEN_OUTPUTS, ()])
# Both CUDA kernels; at 300 requests two chunks, with short requests only (each
# thread writes its own request's rows) or some long ones (rows shared).
@pytest.mark.parametrize("batch_size,longest_extend", [(12, 8), (300, 8), (300, 40)])
@pytest.mark.parametrize("device", DEVICES)
def test_any_subset_of_outputs(names, batch_size, longest_extend, device):
    case = random_extend_case(batch_size, 3, longest_extend=longest_extend)
    assert_matches_reference(case, device, names=names, counter_dtype=None)


@pytest.mark.parametrize("widths", [(1, 1), (100, 2), (0, 0)])
@pytest.mark.parametrize("device", DEVICES)
def test_page_tables_narrower_than_the_pool(widths, device):
    assert_matches_reference(random_extend_case(15, 4, width=1024), device, widths=widths)


@pytest.mark.parametrize("device", DEVICES)
def test_strided_inputs_and_row_strided_tables(device):
    case = random_extend_case(16, 6, width=512).to(device)
    seq_wide = torch.zeros(32, dtype=case.seq_lens.dtype, device=device)
    seq_wide[::2] = case.seq_lens
    tokens_wide = torch.zeros(case.req_to_token.shape[0], 700, dtype=torch.int32, device=device)
    tokens_wide[:, 100:612] = case.req_to_token
    case.seq_lens, case.req_to_token = seq_wide[::2], tokens_wide[:, 100:612]
    outputs = poisoned_outputs(case, names=[n for n in OUTPUTS if n != "page_table_1"])
    storage = torch.full((16, 520), POISON, dtype=torch.int32, device=device)
    outputs["page_table_1"] = storage[:, 4:516]
    want = case.expected(outputs)
    case.call(**outputs)
    assert_outputs_equal(outputs, want)
    assert storage[:, :4].eq(POISON).all() and storage[:, 516:].eq(POISON).all()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("batch_size", [20, 40])  # both CUDA kernels
def test_nothing_outside_the_buffers_is_written(device, batch_size):
    case = random_extend_case(batch_size, 8).to(device)
    plain = poisoned_outputs(case)
    storages = {name: torch.full((buffer.numel() + 64,), POISON, dtype=buffer.dtype,
                                 device=device)
                for name, buffer in plain.items()}
    outputs = {name: storages[name][32:32 + buffer.numel()].view(buffer.shape)
               for name, buffer in plain.items()}
    for name in COUNTERS:
        outputs[name].fill_(-1)
    want = case.expected(outputs)
    case.call(**outputs)
    assert_outputs_equal(outputs, want)
    for name, storage in storages.items():
        assert storage[:32].eq(POISON).all() and storage[-32:].eq(POISON).all(), name


def valid_case():
    return ExtendCase(torch.tensor([10, 4]), torch.tensor([3, 2]), torch.tensor([1, 0]),
                      torch.zeros(2, 16, dtype=torch.int32), page_size=4)


# (name, change to the case or its outputs, the message's start)
BAD_ARGUMENTS = [
    ("seq_lens_dtype", lambda c, o: setattr(c, "seq_lens", c.seq_lens.float()),
     "seq_lens should have dtype int32 or int64, got Float"),
    ("extend_length", lambda c, o: setattr(c, "extend_seq_lens", torch.tensor([3])),
     "extend_seq_lens should have the same length as seq_lens (2), got 1"),
    ("pool_length", lambda c, o: setattr(c, "req_pool_indices", torch.tensor([0, 1, 1])),
     "req_pool_indices should have the same length as seq_lens (2), got 3"),
    ("tokens_dtype", lambda c, o: setattr(c, "req_to_token", c.req_to_token.long()),
     "req_to_token should have dtype int32"),
    ("topk", lambda c, o: setattr(c, "nsa_index_topk", 0), "nsa_index_topk should be >= 1, got 0"),
    ("page_size", lambda c, o: setattr(c, "page_size", 0), "page_size should be in [1, "),
    ("kpool", lambda c, o: setattr(c, "index_kpool", 0), "index_kpool should be >= 1, got 0"),
    ("cache_length", lambda c, o: o.update(cache_seqlens=torch.zeros(3, dtype=torch.int32)),
     "cache_seqlens should have 2 elements (batch size), got 3"),
    ("cu_q_length", lambda c, o: o.update(cu_seqlens_q=torch.zeros(2, dtype=torch.int32)),
     "cu_seqlens_q should have 3 elements (batch size + 1), got 2"),
    ("token_dtype", lambda c, o: o.update(indexer_k_start=torch.zeros(9, dtype=torch.int64)),
     "indexer_k_start should have dtype int32"),
    ("nsa_cu_empty", lambda c, o: o.update(nsa_cu_seqlens_k=torch.zeros(0, dtype=torch.int32)),
     "nsa_cu_seqlens_k should have at least 1 element, got 0"),
    ("table_rows", lambda c, o: o.update(page_table_1=torch.zeros(3, 8, dtype=torch.int32)),
     "page_table_1 should have 2 rows (one per request), got 3"),
    ("table_width", lambda c, o: o.update(real_page_table=torch.zeros(2, 5, dtype=torch.int32)),
     "real_page_table should have at most 4 columns (req_to_token has 16), got 5"),
    ("counter", lambda c, o: o.update(num_kv_tokens=torch.zeros(2, dtype=torch.int64)),
     "num_kv_tokens should have exactly 1 element, got 2"),
    ("aliasing", lambda c, o: o.update(indexer_k_end=o["indexer_k_start"]),
     "indexer_k_start should not share memory with indexer_k_end"),
]


@pytest.mark.parametrize("name,change,message", BAD_ARGUMENTS, ids=[b[0] for b in BAD_ARGUMENTS])
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_bad_arguments_name_the_argument(name, change, message, device):
    if device == "meta" and name == "aliasing":
        return  # Meta tensors have no memory to share.
    case = valid_case()
    outputs = poisoned_outputs(case, spare_tokens=4)
    change(case, outputs)
    if device == "meta":
        case = ExtendCase(*(t.to("meta") if isinstance(t, torch.Tensor) else t
                            for t in (case.seq_lens, case.extend_seq_lens, case.req_pool_indices,
                                      case.req_to_token)),
                          nsa_index_topk=case.nsa_index_topk, page_size=case.page_size,
                          index_kpool=case.index_kpool)
        outputs = {n: b.to("meta") for n, b in outputs.items()}
    with pytest.raises(RuntimeError, match=re.escape(message)):
        case.call(**outputs)


# Data only a CUDA kernel could not check: a CPU error naming request and
# value. (changed inputs, {output: its capacity}, the message's start)
BAD_DATA = [
    ("negative_seq", dict(seq_lens=[10, -1]), {}, "seq_lens[1] should be >= 0, got -1"),
    ("negative_extend", dict(extend_seq_lens=[3, -2]), {},
     "extend_seq_lens[1] should be >= 0, got -2"),
    ("seq_past_int32", dict(seq_lens=[10, 2**31]), {},
     "the KV length of request 1 (seq_lens[1] = 2147483648) should fit int32"),
    ("pool_index", dict(req_pool_indices=[1, 2]), {},
     "req_pool_indices[1] should be in [0, 2) (the rows of req_to_token), got 2"),
    ("tokens_over_capacity", {}, dict(seqlens_expanded=4),
     "seqlens_expanded should hold the 5 rows of the batch, got 4 elements"),
    ("kv_over_capacity", {}, dict(page_table_1_flattened=13),
     "page_table_1_flattened should hold the 14 KV tokens of the batch, got 13 elements"),
    ("kv_sum_past_int32", dict(seq_lens=[2**31 - 1, 4]), dict(cu_seqlens_k=3),
     "cu_seqlens_k's last element, the sum of the KV lengths, should fit int32, got 2147483651"),
    ("indexer_past_int32", dict(seq_lens=[2**31 - 1, 4]), dict(indexer_k_start=8),
     "indexer_k_start's values, up to the sum of the KV lengths, should fit int32"),
]


@pytest.mark.parametrize("name,inputs,capacities,message", BAD_DATA,
                         ids=[b[0] for b in BAD_DATA])
def test_bad_data_is_a_cpu_error_and_writes_nothing(name, inputs, capacities, message):
    case = valid_case()
    for field, values in inputs.items():
        setattr(case, field, torch.tensor(values))
    capacities = {"cache_seqlens": 2, "seqlens_expanded": 8, **capacities}
    outputs = {n: torch.full((size,), POISON, dtype=torch.int32)
               for n, size in capacities.items()}
    outputs["page_table_1"] = torch.full((2, 8), POISON, dtype=torch.int32)
    with pytest.raises(RuntimeError, match=re.escape(message)):
        case.call(**outputs)
    for n, buffer in outputs.items():
        assert buffer.eq(POISON).all(), n


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    case = random_extend_case(9, 2, width=300).to(device)
    outputs = poisoned_outputs(case)
    torch.library.opcheck(torch.ops.nsa_metadata.fill_extend_metadata, case.inputs(),
                          dict(outputs, index_kpool=2))


@pytest.mark.parametrize("device", DEVICES)
def test_torch_compile_matches_eager(device):
    case = random_extend_case(11, 3, width=400).to(device)
    eager = poisoned_outputs(case)
    compiled = {name: buffer.clone() for name, buffer in eager.items()}
    case.call(**eager)

    def step(seq_lens, extend_seq_lens, req_pool_indices, req_to_token, outputs):
        torch.ops.nsa_metadata.fill_extend_metadata(
            seq_lens, extend_seq_lens, req_pool_indices, req_to_token, case.nsa_index_topk,
            case.page_size, index_kpool=case.index_kpool, **outputs)

    torch.compile(step, fullgraph=True)(*case.inputs()[:4], compiled)
    assert_outputs_equal(compiled, {name: buffer.cpu() for name, buffer in eager.items()})


class ExportedExtendStep(torch.nn.Module):
    """One extend step on the caller's inputs and buffers (all arguments, so
    that their batch dimension can be dynamic)."""

    def __init__(self, template):
        super().__init__()
        self.template = template

    def forward(self, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, outputs):
        case = dataclasses.replace(self.template, seq_lens=seq_lens,
                                   extend_seq_lens=extend_seq_lens,
                                   req_pool_indices=req_pool_indices, req_to_token=req_to_token)
        case.call(**outputs)
        return outputs["num_tokens"] + 0


@pytest.mark.parametrize("device", DEVICES)
def test_torch_export_with_a_dynamic_batch_matches_the_reference(device):
    # Per-token and flattened buffers of a fixed capacity (an engine's), the
    # per-request ones and the page tables following the batch.
    def buffers_for(case):
        return poisoned_outputs(case, token_capacity=200, kv_capacity=40000)

    def arguments(case, outputs):
        return case.inputs()[:4] + (outputs,)

    template = random_extend_case(5, 0, longest_extend=12, width=600).to(device)
    outputs = buffers_for(template)
    batch = torch.export.Dim("batch", min=2, max=1024)
    per_request = {"cache_seqlens": batch, "cu_seqlens_k": batch + 1, "cu_seqlens_q": batch + 1,
                   "page_table_1": batch, "real_page_table": batch}
    buffers = {name: ({0: per_request[name]} if name in per_request else None)
               for name in outputs}
    pool_rows = {0: torch.export.Dim("pool_rows", min=2, max=4096)}
    program = torch.export.export(
        ExportedExtendStep(template), arguments(template, outputs),
        dynamic_shapes=({0: batch}, {0: batch}, {0: batch}, pool_rows, buffers))
    assert any(node.target == torch.ops.nsa_metadata.fill_extend_metadata.default
               for node in program.graph.nodes), "the op is a node of the exported graph"
    for batch_size, seed in ((12, 1), (3, 2), (7, 3)):
        case = random_extend_case(batch_size, seed, longest_extend=12, width=600).to(device)
        outputs = buffers_for(case)
        want = case.expected(outputs)
        returned = program.module()(*arguments(case, outputs))
        assert_outputs_equal(outputs, want)
        assert torch.equal(returned.cpu(), want["num_tokens"])


def test_the_eager_peer_fills_what_consumers_read():
    # The benchmark's peer (benchmarks/peers/extend_peers.py) must be right to
    # be a fair one: every per-token position below the token total, every
    # flattened position below the KV total, every page-table column below a
    # request's KV length.
    import pathlib
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
    from peers import extend_peers

    # KV lengths within req_to_token's width, as in an engine (the peer packs
    # a request's slots after the previous request's last one it read).
    case = random_extend_case(30, 12, longest_extend=300, width=4000, index_kpool=4,
                              nsa_index_topk=100)
    outputs = poisoned_outputs(case)
    want = case.expected(outputs)
    extend_peers.eager_extend(case, extend_peers.HostLists(case), outputs)
    tokens, kv_tokens = case.tokens(), case.kv_tokens()
    for name in TOKEN_OUTPUTS:
        assert torch.equal(outputs[name][:tokens], want[name][:tokens]), name
    assert torch.equal(outputs["nsa_cu_seqlens_k"][:tokens + 1],
                       want["nsa_cu_seqlens_k"][:tokens + 1])
    assert torch.equal(outputs["page_table_1_flattened"][:kv_tokens],
                       want["page_table_1_flattened"][:kv_tokens])
    for name in ("cache_seqlens", "cu_seqlens_k", "cu_seqlens_q", "num_tokens",
                 "num_kv_tokens"):
        assert torch.equal(outputs[name], want[name]), name
    for i, s in enumerate(case.seq_lens.tolist()):
        columns = min(s, outputs["page_table_1"].shape[1])
        assert torch.equal(outputs["page_table_1"][i, :columns],
                           want["page_table_1"][i, :columns])
        pages = min(-(-s // case.page_size), outputs["real_page_table"].shape[1])
        assert torch.equal(outputs["real_page_table"][i, :pages],
                           want["real_page_table"][i, :pages])
