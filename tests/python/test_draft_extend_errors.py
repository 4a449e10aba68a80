"""One test per bad input: the error names the argument, what was expected and
what came. Host-visible checks run on every device, the Meta device included;
data checks (negative lengths, too many tokens) are CPU errors."""
import re

import pytest
import torch

from conftest import DEVICES

fill = torch.ops.nsa_metadata.fill_draft_extend_metadata
functional = torch.ops.nsa_metadata.draft_extend_metadata

DEVICES_AND_META = DEVICES + ["meta"]


def valid_arguments(device):
    return dict(
        extend_seq_lens=torch.tensor([2, 1, 3], dtype=torch.int32, device=device),
        seq_lens=torch.tensor([10, 1, 7], dtype=torch.int64, device=device),
        nsa_index_topk=2048,
        seqlens_expanded=torch.zeros(8, dtype=torch.int32, device=device),
        nsa_cache_seqlens=torch.zeros(8, dtype=torch.int32, device=device),
        num_tokens=torch.zeros(1, dtype=torch.int64, device=device),
    )


KEYWORDS = ("num_tokens", "index_kpool")


def call_fill(arguments):
    positional = {name: value for name, value in arguments.items() if name not in KEYWORDS}
    fill(*positional.values(), **{name: arguments[name] for name in KEYWORDS if name in arguments})


def elsewhere(tensor, device):
    """The same tensor on another device than `device`."""
    other = "cpu" if torch.device(device).type != "cpu" else "meta"
    return torch.zeros_like(tensor, device=other)


# (name, how to break the valid arguments, expected message)
HOST_CHECKS = [
    ("extend_float", lambda a, d: a.update(extend_seq_lens=a["extend_seq_lens"].float()),
     "extend_seq_lens should have dtype int32 or int64, got Float"),
    ("extend_int16", lambda a, d: a.update(extend_seq_lens=a["extend_seq_lens"].short()),
     "extend_seq_lens should have dtype int32 or int64, got Short"),
    ("seq_float", lambda a, d: a.update(seq_lens=a["seq_lens"].double()),
     "seq_lens should have dtype int32 or int64, got Double"),
    ("extend_2d", lambda a, d: a.update(extend_seq_lens=a["extend_seq_lens"].view(1, 3)),
     "extend_seq_lens should be a 1-D tensor, got 2-D"),
    ("seq_0d", lambda a, d: a.update(seq_lens=a["seq_lens"][0]),
     "seq_lens should be a 1-D tensor, got 0-D"),
    ("length_mismatch", lambda a, d: a.update(seq_lens=a["seq_lens"][:2]),
     "seq_lens should have the same length as extend_seq_lens (3), got 2"),
    ("topk_zero", lambda a, d: a.update(nsa_index_topk=0),
     "nsa_index_topk should be >= 1, got 0"),
    ("topk_negative", lambda a, d: a.update(nsa_index_topk=-5),
     "nsa_index_topk should be >= 1, got -5"),
    ("kpool_zero", lambda a, d: a.update(index_kpool=0), "index_kpool should be >= 1, got 0"),
    ("expanded_int64", lambda a, d: a.update(seqlens_expanded=a["seqlens_expanded"].long()),
     "seqlens_expanded should have dtype int32, got Long"),
    ("cache_float", lambda a, d: a.update(nsa_cache_seqlens=a["nsa_cache_seqlens"].float()),
     "nsa_cache_seqlens should have dtype int32, got Float"),
    ("expanded_2d", lambda a, d: a.update(seqlens_expanded=a["seqlens_expanded"].view(2, 4)),
     "seqlens_expanded should be a 1-D tensor, got 2-D"),
    ("cache_strided",
     lambda a, d: a.update(nsa_cache_seqlens=torch.zeros(16, dtype=torch.int32, device=d)[::2]),
     "nsa_cache_seqlens should be contiguous, got a tensor with stride 2"),
    ("counter_float", lambda a, d: a.update(num_tokens=a["num_tokens"].float()),
     "num_tokens should have dtype int32 or int64, got Float"),
    ("counter_two_elements",
     lambda a, d: a.update(num_tokens=torch.zeros(2, dtype=torch.int32, device=d)),
     "num_tokens should have exactly 1 element, got 2"),
    ("seq_other_device",
     lambda a, d: a.update(seq_lens=elsewhere(a["seq_lens"], d)),
     "seq_lens should be on the same device as extend_seq_lens"),
    ("expanded_other_device",
     lambda a, d: a.update(seqlens_expanded=elsewhere(a["seqlens_expanded"], d)),
     "seqlens_expanded should be on the same device as extend_seq_lens"),
    ("cache_other_device",
     lambda a, d: a.update(nsa_cache_seqlens=elsewhere(a["nsa_cache_seqlens"], d)),
     "nsa_cache_seqlens should be on the same device as extend_seq_lens"),
    ("counter_other_device",
     lambda a, d: a.update(num_tokens=elsewhere(a["num_tokens"], d)),
     "num_tokens should be on the same device as extend_seq_lens"),
]


@pytest.mark.parametrize("device", DEVICES_AND_META)
@pytest.mark.parametrize("name,break_arguments,message", HOST_CHECKS,
                         ids=[check[0] for check in HOST_CHECKS])
def test_host_check(device, name, break_arguments, message):
    arguments = valid_arguments(device)
    break_arguments(arguments, device)
    with pytest.raises(RuntimeError, match=re.escape(message)):
        call_fill(arguments)


@pytest.mark.parametrize("device", DEVICES_AND_META)
def test_valid_arguments_pass_the_checks(device):
    call_fill(valid_arguments(device))


@pytest.mark.parametrize("device", DEVICES)
def test_outputs_may_not_alias(device):
    arguments = valid_arguments(device)
    arguments["nsa_cache_seqlens"] = arguments["seqlens_expanded"]
    with pytest.raises(RuntimeError, match="seqlens_expanded should not share memory with "
                                           "nsa_cache_seqlens"):
        call_fill(arguments)
    arguments = valid_arguments(device)
    buffer = torch.zeros(12, dtype=torch.int32, device=device)
    arguments["seqlens_expanded"], arguments["nsa_cache_seqlens"] = buffer[:8], buffer[4:]
    with pytest.raises(RuntimeError, match="should not share memory"):
        call_fill(arguments)
    arguments = valid_arguments(device)
    arguments["extend_seq_lens"] = arguments["seqlens_expanded"][:3]
    with pytest.raises(RuntimeError, match="seqlens_expanded should not share memory with "
                                           "extend_seq_lens"):
        call_fill(arguments)


def test_negative_extend_length_is_a_cpu_error():
    arguments = valid_arguments("cpu")
    arguments["extend_seq_lens"] = torch.tensor([2, -1, 3], dtype=torch.int32)
    with pytest.raises(RuntimeError, match=re.escape("extend_seq_lens[1] should be >= 0, got -1")):
        call_fill(arguments)


@pytest.mark.parametrize("seq_lens,message", [
    ([4, -2, 9], "seq_lens[1] should be >= 0, got -2"),
    ([4, 5, 2**31], "the KV length of request 2 (seq_lens[2] = 2147483648) should fit int32, "
                    "got 2147483648"),
])
def test_bad_seq_lens_are_cpu_errors(seq_lens, message):
    # The step-metadata operators' checks and messages (docs/draft_extend.md).
    arguments = valid_arguments("cpu")
    arguments["seq_lens"] = torch.tensor(seq_lens, dtype=torch.int64)
    with pytest.raises(RuntimeError, match=re.escape(message)):
        call_fill(arguments)


@pytest.mark.parametrize("buffer", ["seqlens_expanded", "nsa_cache_seqlens"])
def test_too_many_tokens_is_a_cpu_error(buffer):
    arguments = valid_arguments("cpu")
    arguments[buffer] = torch.zeros(5, dtype=torch.int32)
    with pytest.raises(RuntimeError, match=re.escape(
            f"{buffer} should hold the 6 rows of the batch, got 5 elements")):
        call_fill(arguments)


def test_cpu_data_error_leaves_the_buffers_untouched():
    arguments = valid_arguments("cpu")
    arguments["extend_seq_lens"] = torch.tensor([2, 1, -3], dtype=torch.int32)
    arguments["seqlens_expanded"].fill_(-9)
    arguments["num_tokens"].fill_(-9)
    with pytest.raises(RuntimeError, match=re.escape("extend_seq_lens[2]")):
        call_fill(arguments)
    assert arguments["seqlens_expanded"].eq(-9).all()
    assert arguments["num_tokens"].item() == -9


@pytest.mark.parametrize("device", DEVICES_AND_META)
def test_functional_negative_capacity(device):
    arguments = valid_arguments(device)
    with pytest.raises(RuntimeError, match="capacity should be >= 0, got -1"):
        functional(arguments["extend_seq_lens"], arguments["seq_lens"], 2048, -1)


@pytest.mark.parametrize("device", DEVICES_AND_META)
def test_functional_checks_its_inputs(device):
    arguments = valid_arguments(device)
    with pytest.raises(RuntimeError, match=re.escape(
            "extend_seq_lens should have dtype int32 or int64, got Float")):
        functional(arguments["extend_seq_lens"].float(), arguments["seq_lens"], 2048, 8)
