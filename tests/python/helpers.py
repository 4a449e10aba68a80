"""Calls the ops the way an engine does and compares with the reference."""
import torch

import reference
from inputs import random_inputs

POISON = -123456  # Any row left unwritten shows up as this value.


def poisoned_buffer(capacity, device):
    return torch.full((capacity,), POISON, dtype=torch.int32, device=device)


def expected(extend_seq_lens, seq_lens, topk, expanded_capacity, cache_capacity,
             index_kpool=1):
    seqlens_expanded, nsa_cache_seqlens, total = reference.fill_draft_extend_metadata(
        extend_seq_lens.tolist(), seq_lens.tolist(), topk, expanded_capacity, cache_capacity,
        index_kpool)
    return (torch.tensor(seqlens_expanded, dtype=torch.int32),
            torch.tensor(nsa_cache_seqlens, dtype=torch.int32), total)


def guarded(capacity, dtype, device, fill_value, guard):
    """A buffer of `capacity` inside an allocation with `guard` elements of
    `fill_value` on each side: (whole allocation, the buffer)."""
    storage = torch.full((guard + capacity + guard,), fill_value, dtype=dtype, device=device)
    return storage, storage[guard:guard + capacity]


def cuda_kernels_without_sync(call):
    """Runs call() with every host synchronization an error and returns the
    names of the CUDA kernels it launched (from the profiler)."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            call()
            torch.cuda.synchronize()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]


def guard_buffers(plain, device, guard):
    """Copies of the CPU buffers `plain` (name -> 1-D or 2-D tensor) on
    `device`, each inside a larger allocation of its first value (tables with
    `guard` columns and 2 rows on every side). Returns the buffers and a
    function asserting that nothing outside them changed."""
    outputs = {}
    storages = {}
    for name, buffer in plain.items():
        fill_value = buffer.flatten()[0].item() if buffer.numel() else POISON
        if buffer.dim() == 1:
            storage = torch.full((guard + buffer.shape[0] + guard,), fill_value,
                                 dtype=buffer.dtype, device=device)
            outputs[name] = storage[guard:guard + buffer.shape[0]]
        else:
            rows, columns = buffer.shape
            storage = torch.full((rows + 4, columns + 2 * guard), fill_value,
                                 dtype=buffer.dtype, device=device)
            outputs[name] = storage[2:2 + rows, guard:guard + columns]
        outputs[name].copy_(buffer)
        storages[name] = (storage, fill_value)

    def assert_guards_intact():
        for name, (storage, fill_value) in storages.items():
            outside = storage.clone()
            outputs_view = (outside[guard:guard + outputs[name].shape[0]]
                            if storage.dim() == 1 else
                            outside[2:2 + outputs[name].shape[0],
                                    guard:guard + outputs[name].shape[1]])
            outputs_view.fill_(fill_value)
            assert outside.eq(fill_value).all(), f"a write outside {name}"

    return outputs, assert_guards_intact


def run_guarded(extend_seq_lens, seq_lens, topk, expanded_capacity, cache_capacity,
                count_dtype, device, guard, namespace=None):
    """Runs the fill op (of `namespace`, default nsa_metadata) with every
    output, num_tokens included, inside guard regions, and asserts that no
    guard element changed, whatever the call did.
    Returns (the error raised or None, seqlens_expanded, nsa_cache_seqlens,
    num_tokens), outputs on the CPU."""
    counter_poison = -7
    expanded_storage, seqlens_expanded = guarded(expanded_capacity, torch.int32, device,
                                                 POISON, guard)
    cache_storage, nsa_cache_seqlens = guarded(cache_capacity, torch.int32, device, POISON,
                                               guard)
    counter_storage, num_tokens = guarded(1, count_dtype, device, counter_poison, guard)
    error = None
    try:
        (namespace or torch.ops.nsa_metadata).fill_draft_extend_metadata(
            extend_seq_lens.to(device), seq_lens.to(device), topk, seqlens_expanded,
            nsa_cache_seqlens, num_tokens=num_tokens)
    except RuntimeError as raised:
        error = raised
    for storage, capacity, poison in ((expanded_storage, expanded_capacity, POISON),
                                      (cache_storage, cache_capacity, POISON),
                                      (counter_storage, 1, counter_poison)):
        storage = storage.cpu()
        assert storage[:guard].eq(poison).all(), "write before a buffer"
        assert storage[guard + capacity:].eq(poison).all(), "write past a buffer"
    return error, seqlens_expanded.cpu(), nsa_cache_seqlens.cpu(), num_tokens.item()


def assert_guarded_run_matches_reference(extend_seq_lens, seq_lens, capacities, count_dtype,
                                         device, guard, namespace=None, topk=2048):
    """run_guarded, then every output against the reference: the call raises
    nothing, and num_tokens saturates at its dtype's maximum."""
    expanded_capacity, cache_capacity = capacities
    error, got_expanded, got_cache, got_count = run_guarded(
        extend_seq_lens, seq_lens, topk, expanded_capacity, cache_capacity, count_dtype, device,
        guard, namespace)
    assert error is None, error
    want_expanded, want_cache, total = expected(extend_seq_lens, seq_lens, topk,
                                                expanded_capacity, cache_capacity)
    assert_equal(got_expanded, want_expanded, "seqlens_expanded")
    assert_equal(got_cache, want_cache, "nsa_cache_seqlens")
    assert got_count == min(total, torch.iinfo(count_dtype).max)


def assert_buffers_off_a_16_byte_boundary_match(batch_size, guard, device, namespace=None):
    """The rows leave in 16-byte stores where a buffer's address allows it and
    4-byte stores elsewhere: buffers 1, 2 or 3 elements past a 16-byte
    boundary (and, with guard 4, on one), with capacities over the total and
    capacities that cut a group, must get the reference's rows, and nothing
    outside them may change."""
    extend_seq_lens, seq_lens = random_inputs(batch_size, "zeros_to_8", "padded", guard)
    total = int(extend_seq_lens.sum())
    for capacities in ((total + 13, total + 21), (total - 5, total + 3)):
        assert_guarded_run_matches_reference(extend_seq_lens, seq_lens, capacities, torch.int64,
                                             device, guard, namespace)


def define_like_ours(library, names, prefix=""):
    """Defines in `library` (a torch.library.Library) prefix + name with the
    schema of each operator nsa_metadata::name: an emulation or a peer called
    exactly as ours is."""
    for name in names:
        schema = str(getattr(torch.ops.nsa_metadata, name).default._schema)
        library.define(prefix + schema.split("::", 1)[1])


def fill(extend_seq_lens, seq_lens, topk, expanded_capacity, cache_capacity=None,
         count_dtype=torch.int64, index_kpool=1):
    """Runs the fill op into poisoned buffers; returns them and num_tokens on the CPU."""
    device = extend_seq_lens.device
    cache_capacity = expanded_capacity if cache_capacity is None else cache_capacity
    seqlens_expanded = poisoned_buffer(expanded_capacity, device)
    nsa_cache_seqlens = poisoned_buffer(cache_capacity, device)
    num_tokens = torch.full((1,), -1, dtype=count_dtype, device=device)
    torch.ops.nsa_metadata.fill_draft_extend_metadata(
        extend_seq_lens, seq_lens, topk, seqlens_expanded, nsa_cache_seqlens,
        num_tokens=num_tokens, index_kpool=index_kpool)
    return seqlens_expanded.cpu(), nsa_cache_seqlens.cpu(), num_tokens.item()


def assert_matches_reference(extend_seq_lens, seq_lens, topk, expanded_capacity,
                             cache_capacity=None, count_dtype=torch.int64, index_kpool=1):
    cache_capacity = expanded_capacity if cache_capacity is None else cache_capacity
    got_expanded, got_cache, got_total = fill(extend_seq_lens, seq_lens, topk,
                                              expanded_capacity, cache_capacity, count_dtype,
                                              index_kpool)
    want_expanded, want_cache, want_total = expected(extend_seq_lens, seq_lens, topk,
                                                     expanded_capacity, cache_capacity,
                                                     index_kpool)
    count_max = torch.iinfo(count_dtype).max
    assert got_total == min(want_total, count_max)
    assert_equal(got_expanded, want_expanded, "seqlens_expanded")
    assert_equal(got_cache, want_cache, "nsa_cache_seqlens")


def assert_equal(got, want, name):
    if torch.equal(got, want):
        return
    assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    wrong = (got != want).nonzero().flatten()
    first = wrong[0].item()
    raise AssertionError(f"{name}: {wrong.numel()} rows differ; first at row {first}: "
                         f"got {got[first].item()}, want {want[first].item()}")


INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
# Bad values only the device sees, with their documented result (the
# reference implements it): (extend_seq_lens, seq_lens, dtype, capacity).
BAD_DEVICE_VALUES = {
    "negative_extend": ([3, -2, 4, -7, 1], [10, 10, 2, 5, 1], torch.int32, 12),
    "int32_min_extend": ([-2**31, 5, 2], [3, 4, 9], torch.int32, 10),
    "total_over_capacity": ([4, 4, 4, 4], [100, 3, 50, 7], torch.int32, 9),
    "total_over_one_capacity": ([4, 4], [100, 3], torch.int32, (8, 5)),
    "int64_extremes": ([2**62, 2**62, 5, INT64_MAX], [INT64_MAX, INT64_MIN, 1, 0],
                       torch.int64, 64),
    "int64_min_extend": ([INT64_MIN, 3], [INT64_MAX, 2**40], torch.int64, 6),
    "seq_lens_past_int32": ([3, 2], [2**40, 2**31 + 1], torch.int64, 5),
    "negative_seq_lens": ([3, 2], [-5, INT64_MIN], torch.int64, 5),
}
