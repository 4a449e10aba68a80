"""Loads the operators for every test through the `nsa_metadata` package and
provides the device fixture.

The tests run against the installed package when there is one (as
.ci/test_package.sh runs them). Otherwise the package's Python files come
from python/ and the library from $NSA_METADATA_LIBRARY, else from the
default build tree.
CUDA tests skip, with the reason shown by `pytest -rs`, where no GPU is present.
Checked-mode tests skip unless the process started with NSA_METADATA_CHECKED
set; test_checked_mode.py starts such a process for them.
"""
import importlib.util
import os
import pathlib
import sys

import pytest
import torch

REPO = pathlib.Path(__file__).resolve().parents[2]
INSTALLED = importlib.util.find_spec("nsa_metadata") is not None
if not INSTALLED:
    sys.path.insert(0, str(REPO / "python"))
    # Absolute, so that a pytest process started from elsewhere
    # (test_checked_mode.py) loads the same library.
    os.environ["NSA_METADATA_LIBRARY"] = os.path.abspath(os.environ.get(
        "NSA_METADATA_LIBRARY", str(REPO / "build" / "op" / "libnsa_metadata.so")))
import nsa_metadata  # noqa: E402  (loads the library)

LIBRARY = nsa_metadata.library_path()

NO_GPU_REASON = "needs a CUDA GPU (docs/testing.md shows how to run these on a GPU machine)"
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU_REASON)

DEVICES = ["cpu", pytest.param("cuda", marks=requires_cuda)]
requires_two_gpus = pytest.mark.skipif(
    torch.cuda.device_count() < 2,
    reason="needs two CUDA GPUs (docs/testing.md shows how to run these on a GPU machine)")


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


# The library reads NSA_METADATA_CHECKED once per process, so the tests that
# need checked mode run in a pytest process started with it set
# (test_checked_mode.py), and skip everywhere else.
CHECKED_MODE = os.environ.get("NSA_METADATA_CHECKED", "") not in ("", "0")


@pytest.fixture
def checked_mode():
    if not CHECKED_MODE:
        pytest.skip("needs NSA_METADATA_CHECKED=1 from the process start: "
                    "test_checked_mode.py runs it in such a process")
