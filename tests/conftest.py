"""Shared fixtures: GPU tests skip without CUDA; the toy env is registered for harness tests."""

from __future__ import annotations

import pytest

import sysgym  # noqa: F401 - registers every env
from tests.toy_env import register_toy


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


register_toy()
