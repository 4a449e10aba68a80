"""nsa_metadata: the per-step metadata of DeepSeek-V3.2-style sparse attention
(NSA/DSA) as PyTorch operators, one sync-free, CUDA-graph-safe launch per step.

Importing the package loads the operator library; the functions below call
``torch.ops.nsa_metadata.*`` directly, so ``torch.compile``, ``torch.export``
and CUDA graphs see the operators themselves.
"""
from nsa_metadata._library import build_info, cmake_prefix_path, library_path, load_library

load_library()

from nsa_metadata.ops import (  # noqa: E402  (after the library is loaded)
    draft_extend_metadata,
    fill_decode_metadata,
    fill_draft_extend_metadata,
    fill_draft_extend_metadata_full,
    fill_extend_metadata,
    fill_target_verify_metadata,
)

__version__ = build_info()[0] or "0+source"

__all__ = [
    "cmake_prefix_path",
    "draft_extend_metadata",
    "fill_decode_metadata",
    "fill_draft_extend_metadata",
    "fill_draft_extend_metadata_full",
    "fill_extend_metadata",
    "fill_target_verify_metadata",
    "library_path",
]
