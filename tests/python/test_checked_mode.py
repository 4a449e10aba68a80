"""Checked mode (NSA_METADATA_CHECKED) is read once per process, at the first
call, so the tests that need it (those taking the `checked_mode` fixture)
run here, in a fresh pytest process started with the variable set."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

from conftest import CHECKED_MODE, LIBRARY, requires_cuda

HERE = pathlib.Path(__file__).resolve().parent
FILES_WITH_CHECKED_MODE_TESTS = ["test_draft_extend_cuda.py", "test_extend_metadata_cuda.py",
                                 "test_step_metadata_cuda.py"]


@requires_cuda
@pytest.mark.skipif(CHECKED_MODE, reason="this is the checked process itself")
def test_checked_mode_tests_pass_in_a_process_started_with_it():
    environment = dict(os.environ, NSA_METADATA_CHECKED="1", NSA_METADATA_LIBRARY=LIBRARY)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "-k", "checked_mode", *(str(HERE / name) for name in FILES_WITH_CHECKED_MODE_TESTS)],
        env=environment, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary), output
    assert "skipped" not in summary and "failed" not in summary, output
