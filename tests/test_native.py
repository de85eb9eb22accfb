"""The mypyc-compiled modules (setup.py's COMPILED) run, and were built from the sources in the tree.

mypyc puts every compiled module's code in one library, `package/native__mypyc*.so`, and leaves a small loader
extension next to each source; a source edited after the last build would otherwise run stale.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOADERS = sorted((ROOT / "envs").rglob("*.so"))
LIBRARY = sorted((ROOT / "package").glob("native__mypyc*.so"))


def _source(loader: Path) -> Path:
    return loader.with_name(loader.name.split(".")[0] + ".py")


def _module(loader: Path) -> str:
    """`envs/storage/core.cpython-311-x86_64-linux-gnu.so` -> `sysgym.envs.storage.core`."""
    return "sysgym." + ".".join(_source(loader).relative_to(ROOT).with_suffix("").parts)


def test_storage_simulator_is_compiled() -> None:
    """An install that silently skipped compilation would lose the speed the benchmarks report."""
    assert LIBRARY, "no compiled library: run make"
    assert any(p.parent.name == "storage" and p.name.startswith("core.") for p in LOADERS)


@pytest.mark.parametrize("loader", LOADERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_compiled_module_is_current_and_imported(loader: Path) -> None:
    source = _source(loader)
    assert source.exists(), f"{loader} has no source next to it"
    built = max(p.stat().st_mtime for p in LIBRARY)
    assert built >= source.stat().st_mtime, f"{source} changed after it was compiled: run make"
    module = importlib.import_module(_module(loader))
    assert module.__file__ is not None and module.__file__.endswith(".so")
