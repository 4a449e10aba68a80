"""Finds and loads the operator library, once, and says which torch it needs."""
import os
import pathlib

import torch

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent

#: The prefix to give CMake's ``find_package(nsa_metadata)``: the installed
#: package keeps ``lib/cmake/nsa_metadata/`` under it.
cmake_prefix_path = str(PACKAGE_DIR)


def library_path() -> str:
    """Path of ``libnsa_metadata.so``: the one installed with the package, or
    the one ``NSA_METADATA_LIBRARY`` names (a build tree's, for development)."""
    return os.environ.get("NSA_METADATA_LIBRARY") or str(PACKAGE_DIR / "lib" / "libnsa_metadata.so")


def _base_version(version: str) -> str:
    return version.split("+", 1)[0]


def check_torch_version(built_against: str, running: str) -> None:
    """Raises ImportError unless ``running`` is the torch release the library
    was built against (libtorch's C++ ABI changes between releases)."""
    if _base_version(built_against) != _base_version(running):
        raise ImportError(
            f"nsa_metadata was built against torch {_base_version(built_against)}, but torch "
            f"{_base_version(running)} is installed: rebuild it against this torch "
            "(pip install --no-build-isolation <nsa-metadata source>) or install torch "
            f"{_base_version(built_against)}")


def build_info():
    """(package version, torch version built against), or (None, None) when
    the package runs from a source tree."""
    try:
        from nsa_metadata import _build_info
    except ImportError:
        return None, None
    return _build_info.VERSION, _build_info.TORCH_VERSION


_loaded = False


def load_library() -> None:
    global _loaded
    if _loaded:
        return
    _, torch_version = build_info()
    if torch_version is not None and not os.environ.get("NSA_METADATA_LIBRARY"):
        check_torch_version(torch_version, torch.__version__)
    torch.ops.load_library(library_path())
    _loaded = True
