"""Loads the operator library for every test and provides the device fixture.

The library is found at $NSA_METADATA_LIBRARY, else in the default build tree.
CUDA tests skip, with the reason shown by `pytest -rs`, where no GPU is present.
"""
import os
import pathlib

import pytest
import torch

REPO = pathlib.Path(__file__).resolve().parents[2]
LIBRARY = os.environ.get("NSA_METADATA_LIBRARY",
                         str(REPO / "build" / "op" / "libnsa_metadata.so"))
torch.ops.load_library(LIBRARY)

NO_GPU_REASON = "needs a CUDA GPU: run through the device tool (see docs/testing.md)"
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU_REASON)

DEVICES = ["cpu", pytest.param("cuda", marks=requires_cuda)]


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)
