"""nsa-metadata in five steps: load the library, allocate the engine's buffers
once, fill them for a few speculative-decoding steps, read the token count
without a host sync, and use the functional form.

    python python_demo/demo.py --library build/op/libnsa_metadata.so
"""
import argparse

import torch

NSA_INDEX_TOPK = 2048  # DeepSeek-V3.2
MAX_BATCH, MAX_DRAFT_TOKENS = 8, 4


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", default="build/op/libnsa_metadata.so")
    args = parser.parse_args()
    torch.ops.load_library(args.library)
    ops = torch.ops.nsa_metadata
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device: {device}")

    # Allocated once, for the largest batch: CUDA-graph replay needs fixed addresses.
    capacity = MAX_BATCH * MAX_DRAFT_TOKENS
    seqlens_expanded = torch.zeros(capacity, dtype=torch.int32, device=device)
    nsa_cache_seqlens = torch.zeros(capacity, dtype=torch.int32, device=device)
    num_tokens = torch.zeros(1, dtype=torch.int64, device=device)

    steps = [
        ([4, 4, 4], [3000, 17, 2]),  # the last row is a padded one: seq_len < extend
        ([1, 3, 2, 4, 1], [1, 2500, 40, 9000, 77]),
    ]
    for step, (extend, seq) in enumerate(steps):
        extend_seq_lens = torch.tensor(extend, dtype=torch.int32, device=device)
        seq_lens = torch.tensor(seq, dtype=torch.int32, device=device)
        ops.fill_draft_extend_metadata(extend_seq_lens, seq_lens, NSA_INDEX_TOPK,
                                       seqlens_expanded, nsa_cache_seqlens,
                                       num_tokens=num_tokens)
        print(f"step {step}: extend_seq_lens={extend} seq_lens={seq}")
        print(f"  num_tokens        = {num_tokens.item()}")
        print(f"  seqlens_expanded  = {seqlens_expanded.tolist()}")
        print(f"  nsa_cache_seqlens = {nsa_cache_seqlens.tolist()}")

    fresh_expanded, fresh_cache = ops.draft_extend_metadata(extend_seq_lens, seq_lens,
                                                            NSA_INDEX_TOPK, 16)
    print(f"functional form, capacity 16: {fresh_expanded.tolist()}")
    assert torch.equal(fresh_expanded, seqlens_expanded[:16])
    assert torch.equal(fresh_cache, nsa_cache_seqlens[:16])


if __name__ == "__main__":
    main()
