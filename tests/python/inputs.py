"""Random draft-extend inputs shaped like a serving engine's, for the tests
and the benchmarks."""
import torch

from reference import INT32_MAX

SEQ_LEN_MAX = 163840  # DeepSeek-V3.2's context length

EXTEND_KINDS = ("draft_1_to_8", "zeros_to_8", "some_large")
SEQ_KINDS = ("up_to_context", "near_int32_max", "padded")


def random_extend_seq_lens(batch_size, kind, generator):
    if kind == "draft_1_to_8":
        return torch.randint(1, 9, (batch_size,), generator=generator)
    if kind == "zeros_to_8":
        return torch.randint(0, 9, (batch_size,), generator=generator)
    if kind == "some_large":
        # Draft-sized lengths with a few long prefills among them.
        lens = torch.randint(0, 9, (batch_size,), generator=generator)
        if batch_size:
            long_rows = torch.randint(0, batch_size, (3,), generator=generator)
            lens[long_rows] = torch.randint(1000, 20000, (3,), generator=generator)
        return lens
    raise ValueError(kind)


def random_seq_lens(extend_seq_lens, kind, generator):
    batch_size = extend_seq_lens.numel()
    if kind == "up_to_context":
        # A KV cache holds at least the tokens just added to it.
        low = extend_seq_lens
        span = torch.randint(0, SEQ_LEN_MAX, (batch_size,), generator=generator)
        return low + span
    if kind == "near_int32_max":
        return INT32_MAX - torch.randint(0, 64, (batch_size,), generator=generator)
    if kind == "padded":
        # Captured batches are padded with rows whose seq_len (often 1) is
        # below their extend length, mixed with real rows.
        padded = torch.randint(0, 4, (batch_size,), generator=generator)
        real = extend_seq_lens + torch.randint(0, 5000, (batch_size,), generator=generator)
        return torch.where(torch.rand(batch_size, generator=generator) < 0.5, padded, real)
    raise ValueError(kind)


def draft_batch(batch_size, extend_min, extend_max, generator, dtype=torch.int32):
    """A draft-extend step as an engine sees it: extend lengths uniform in
    [extend_min, extend_max], each cache holding its new tokens and up to a
    context's worth more. Used by the tests and the benchmarks alike."""
    extend_seq_lens = torch.randint(extend_min, extend_max + 1, (batch_size,),
                                    generator=generator)
    seq_lens = random_seq_lens(extend_seq_lens, "up_to_context", generator)
    return extend_seq_lens.to(dtype), seq_lens.to(dtype)


def random_inputs(batch_size, extend_kind, seq_kind, seed, extend_dtype=torch.int32,
                  seq_dtype=torch.int32, device="cpu"):
    generator = torch.Generator().manual_seed(seed)
    extend_seq_lens = random_extend_seq_lens(batch_size, extend_kind, generator)
    seq_lens = random_seq_lens(extend_seq_lens, seq_kind, generator)
    return (extend_seq_lens.to(device=device, dtype=extend_dtype),
            seq_lens.to(device=device, dtype=seq_dtype))
