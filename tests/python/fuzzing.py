"""What the property-based tests share: hypothesis settings, the index dtypes
they draw and the adversarial values of each.

NSA_FUZZ_EXAMPLES sets the examples per test (150 by default). The draws are
the same on every run unless NSA_FUZZ_RANDOM=1, so that a test run (CI's
too) passes or fails on the code alone; random draws explore further and
belong to runs that hunt for new failures (scripts/gpu_tests.sh)."""
import os

import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("NSA_FUZZ_EXAMPLES", "150"))
RANDOM = os.environ.get("NSA_FUZZ_RANDOM") == "1"
fuzz_settings = settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM,
                         suppress_health_check=[HealthCheck.too_slow])
DTYPES = st.sampled_from([torch.int32, torch.int64])
INT32_MAX = 2**31 - 1


def extremes(dtype):
    """The dtype's edges and int32's, either side of zero."""
    info = torch.iinfo(dtype)
    return [0, 1, -1, info.min, info.max, INT32_MAX, INT32_MAX - 3, -(2**31)]
