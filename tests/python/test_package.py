"""The Python package: its functions are the operators (same results, seen
by torch.compile), its docstring examples run, it says where its library and
CMake files are, and it refuses a torch other than the one it was built
against, naming both versions."""
import doctest
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import torch

import nsa_metadata
from conftest import INSTALLED, REPO
from nsa_metadata import _library, ops

installed_only = pytest.mark.skipif(
    not INSTALLED, reason="needs the installed package (.ci/test_package.sh installs it)")


def test_docstring_examples_run():
    failures, tried = doctest.testmod(ops, globs={"torch": torch, "nsa_metadata": nsa_metadata})
    assert tried >= 5 and failures == 0


def test_functions_call_the_operators():
    extend, seq = torch.tensor([3, 0, 2]), torch.tensor([10, 4, 1])
    want = torch.ops.nsa_metadata.draft_extend_metadata(extend, seq, 8, 7)
    got = nsa_metadata.draft_extend_metadata(extend, seq, 8, 7)
    assert all(torch.equal(g, w) for g, w in zip(got, want))
    pool = torch.arange(40, dtype=torch.int32).view(4, 10)
    buffers = {name: torch.full(shape, -1, dtype=torch.int32) for name, shape in
               (("cache_seqlens", (2,)), ("cu_seqlens_k", (3,)), ("page_table_1", (2, 10)))}
    nsa_metadata.fill_decode_metadata(torch.tensor([4, 2]), torch.tensor([3, 1]), pool, 2048, 4,
                                      **buffers)
    assert buffers["cu_seqlens_k"].tolist() == [0, 4, 6]
    assert buffers["page_table_1"][0, :4].tolist() == [30, 31, 32, 33]
    assert buffers["page_table_1"][0, 4:].eq(-1).all()


def test_torch_compile_sees_the_operator():
    compiled = torch.compile(
        lambda e, s: nsa_metadata.draft_extend_metadata(e, s, 2048, 16), fullgraph=True)
    extend, seq = torch.tensor([4, 4]), torch.tensor([3000, 2])
    got = compiled(extend, seq)
    want = torch.ops.nsa_metadata.draft_extend_metadata(extend, seq, 2048, 16)
    assert all(torch.equal(g, w) for g, w in zip(got, want))


def test_library_path_is_the_loaded_library():
    assert pathlib.Path(nsa_metadata.library_path()).is_file()


def test_torch_version_mismatch_names_both_versions():
    with pytest.raises(ImportError, match=r"built against torch 2\.13\.0, but torch 2\.14\.1 "):
        _library.check_torch_version("2.13.0", "2.14.1+cu130")
    _library.check_torch_version("2.14.1", "2.14.1+cpu")


@installed_only
def test_installed_package_has_its_version_and_cmake_files():
    version_line = next(line for line in (REPO / "CMakeLists.txt").read_text().splitlines()
                        if line.startswith("project(nsa_metadata VERSION"))
    assert nsa_metadata.__version__ == version_line.split()[2]
    config = pathlib.Path(nsa_metadata.cmake_prefix_path) / "lib" / "cmake" / "nsa_metadata"
    assert (config / "nsa_metadataConfig.cmake").is_file()
    assert (pathlib.Path(nsa_metadata.cmake_prefix_path) / "include" / "nsa_metadata"
            / "nsa_metadata.h").is_file()


@installed_only
def test_import_refuses_another_torch(tmp_path):
    package = pathlib.Path(nsa_metadata.__file__).parent
    copy = tmp_path / "nsa_metadata"
    shutil.copytree(package, copy)
    (copy / "_build_info.py").write_text('VERSION = "0.0.0"\nTORCH_VERSION = "1.0.0"\n')
    environment = {k: v for k, v in os.environ.items() if k != "NSA_METADATA_LIBRARY"}
    environment["PYTHONPATH"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-c", "import nsa_metadata"], env=environment,
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0
    base = torch.__version__.split("+")[0]
    assert f"built against torch 1.0.0, but torch {base} is installed" in result.stderr


@installed_only
def test_bare_cmake_project_finds_the_pip_installed_package(tmp_path):
    """The C++ package from a pip install: tests/cmake/bare_downstream
    configured with nothing but nsa_metadata.cmake_prefix_path."""
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("needs CMake on PATH")
    environment = {k: v for k, v in os.environ.items() if k != "CMAKE_PREFIX_PATH"}
    build = tmp_path / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    for command in ([cmake, "-S", str(REPO / "tests" / "cmake" / "bare_downstream"), "-B",
                     str(build), *generator,
                     f"-DCMAKE_PREFIX_PATH={nsa_metadata.cmake_prefix_path}"],
                    [cmake, "--build", str(build)],
                    [str(build / "bare_downstream")]):
        result = subprocess.run(command, env=environment, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "bare_downstream: ok" in result.stdout
