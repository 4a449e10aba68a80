"""The step-metadata engine's CUDA kernels (both of them, every instance) run
on the CPU by the emulation in tests/emulation, against the reference: every
mode and size class, subsets of outputs, page sizes, narrow tables, index
pools, the documented result of every bad value only the device sees, and
never a write outside the buffers (guard regions). The emulation runs the
kernels' own code, the launcher's plan and the CUDA operators' host checks
(tests/emulation/emulated_engine.cpp) on a machine without a GPU; what it
cannot show (timing, the memory model) the GPU tests do.

CTest runs this file with NSA_METADATA_EMULATION_LIBRARY set to the library
it built; without it the tests skip, saying so."""
import os

import pytest
import torch

from extend_cases import BAD_DEVICE_VALUES as EXTEND_BAD_VALUES
from extend_cases import bad_values_case as extend_bad_values_case
from extend_cases import poisoned_outputs as extend_outputs
from extend_cases import random_extend_case
from helpers import POISON, guard_buffers
from reference import MODES
from step_cases import (BAD_DEVICE_VALUES, OPS, SEQ_KINDS, TABLES, assert_outputs_equal,
                        bad_values_case, guarded_outputs, outputs_of, random_step_case)

LIBRARY = os.environ.get("NSA_METADATA_EMULATION_LIBRARY")
pytestmark = pytest.mark.skipif(
    not LIBRARY, reason="needs the emulation library (NSA_METADATA_EMULATION_LIBRARY; "
                        "CTest's emulated_cuda_kernels sets it)")
GUARD = 64


@pytest.fixture(scope="module")
def emulated():
    """torch.ops.nsa_metadata_emulated: the operators' schemas, copied from
    nsa_metadata's, over the emulation library's kernels."""
    torch.ops.load_library(LIBRARY)
    library = torch.library.Library("nsa_metadata_emulated", "DEF")
    for name in (*OPS.values(), "fill_extend_metadata"):
        schema = str(getattr(torch.ops.nsa_metadata, name).default._schema)
        library.define(schema.split("::", 1)[1])
    yield torch.ops.nsa_metadata_emulated
    del library


def num_tokens_dtype(mode):
    return torch.int64 if mode == "draft_extend" else None


def assert_step_matches(emulated, case, **poisoned_kwargs):
    poisoned_kwargs.setdefault("num_tokens_dtype", num_tokens_dtype(case.mode))
    outputs, assert_guards_intact = guarded_outputs(case, "cpu", GUARD, **poisoned_kwargs)
    want = case.expected(outputs)
    case.call(namespace=emulated, **outputs)
    assert_guards_intact()
    assert_outputs_equal(outputs, want)


# Both kernels: the warp-batch kernel up to 32 requests, the block kernel
# past it (one tile, several tiles, several chunks).
SIZES = [0, 1, 5, 32, 33, 300, 700]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_size", SIZES)
@pytest.mark.parametrize("seq_kind", SEQ_KINDS)
def test_every_mode_and_size_class(emulated, mode, batch_size, seq_kind):
    case = random_step_case(mode, batch_size, batch_size + 7, seq_kind=seq_kind, width=600)
    assert_step_matches(emulated, case, row_capacity=8 * batch_size + 5)


@pytest.mark.parametrize("batch_size", [3, 32, 100])
def test_draft_extend_with_a_static_count(emulated, batch_size):
    case = random_step_case("draft_extend", batch_size, 1, width=500, static_extend=True)
    assert_step_matches(emulated, case, num_tokens_dtype=torch.int32)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("names", ["vectors", "tables", "page_table_1", "real_page_table"])
@pytest.mark.parametrize("batch_size", [9, 120])
def test_subsets_of_outputs(emulated, mode, names, batch_size):
    chosen = {"tables": TABLES, "page_table_1": ("page_table_1",),
              "real_page_table": ("real_page_table",),
              "vectors": [n for n in outputs_of(mode) if n not in TABLES]}[names]
    case = random_step_case(mode, batch_size, 3, width=2500)
    assert_step_matches(emulated, case, names=chosen)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("page_size", [1, 7, 64, 4096])
@pytest.mark.parametrize("batch_size", [4, 50])
def test_page_sizes(emulated, mode, page_size, batch_size):
    case = random_step_case(mode, batch_size, page_size, width=3000, page_size=page_size)
    assert_step_matches(emulated, case)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_size", [6, 40])
def test_tables_narrower_than_the_pool(emulated, mode, batch_size):
    case = random_step_case(mode, batch_size, 5, width=1000)
    assert_step_matches(emulated, case, widths=(333, 9))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("index_kpool", [1, 3, 64])
@pytest.mark.parametrize("batch_size", [10, 80])
def test_index_pools(emulated, mode, index_kpool, batch_size):
    case = random_step_case(mode, batch_size, index_kpool, width=2500, topk=100)
    case.index_kpool = index_kpool
    assert_step_matches(emulated, case)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(BAD_DEVICE_VALUES))
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("copies", [1, 10])  # 4 or 40 requests: both kernels
def test_bad_device_values_give_the_documented_result(emulated, mode, name, dtype, copies):
    case, capacity = bad_values_case(mode, name, dtype, copies)
    assert_step_matches(emulated, case, row_capacity=capacity)


def assert_extend_matches(emulated, case, plain):
    outputs, assert_guards_intact = guard_buffers(plain, "cpu", GUARD)
    want = case.expected(outputs)
    case.call(namespace=emulated, **outputs)
    assert_guards_intact()
    assert_outputs_equal(outputs, want)


@pytest.mark.parametrize("batch_size", SIZES)
@pytest.mark.parametrize("longest_extend", [1, 8, 300])
def test_extend_size_classes(emulated, batch_size, longest_extend):
    case = random_extend_case(batch_size, batch_size + longest_extend,
                              longest_extend=longest_extend, longest_prefix=2000, width=2500)
    assert_extend_matches(emulated, case, extend_outputs(case))


@pytest.mark.parametrize("batch_size", [7, 200])
def test_extend_capacities_cut_the_batch(emulated, batch_size):
    case = random_extend_case(batch_size, 11, longest_extend=40, width=900)
    plain = extend_outputs(case, token_capacity=case.tokens() // 2,
                           kv_capacity=case.kv_tokens() // 3)
    assert_extend_matches(emulated, case, plain)


@pytest.mark.parametrize("offset", [0, 1, 2, 3])
@pytest.mark.parametrize("batch_size", [5, 120])
def test_flattened_table_at_every_alignment(emulated, offset, batch_size):
    case = random_extend_case(batch_size, 20 + offset, longest_prefix=3000, width=4000)
    plain = {"page_table_1_flattened": torch.full((case.kv_tokens() - 1 - 2 * offset,), POISON,
                                                  dtype=torch.int32),
             "num_kv_tokens": torch.full((1,), -1, dtype=torch.int64)}
    outputs, assert_guards_intact = guard_buffers(plain, "cpu", GUARD + offset)
    assert outputs["page_table_1_flattened"].data_ptr() % 16 == 4 * offset
    want = case.expected(outputs)
    case.call(namespace=emulated, **outputs)
    assert_guards_intact()
    assert_outputs_equal(outputs, want)


@pytest.mark.parametrize("name", list(EXTEND_BAD_VALUES))
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("copies", [1, 10])
def test_extend_bad_device_values_give_the_documented_result(emulated, name, dtype, copies):
    case, plain = extend_bad_values_case(name, dtype, copies)
    assert_extend_matches(emulated, case, plain)


def test_a_broken_launch_would_show(emulated):
    """The comparison can fail: a buffer the kernels never saw keeps its
    poison and differs from the reference."""
    case = random_step_case("decode", 40, 2, width=300)
    outputs, _ = guarded_outputs(case, "cpu", GUARD)
    want = case.expected(outputs)
    case.call(namespace=emulated, **{n: b for n, b in outputs.items() if n != "cu_seqlens_k"})
    with pytest.raises(AssertionError):
        assert_outputs_equal(outputs, want)
