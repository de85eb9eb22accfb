"""Exported policies at decision time: the artifact format and the torch-free runtimes that execute it.

`load(path)` returns a runtime with `metadata`, `act(obs, mask)` and `act_batch(obs, masks)` for a `.npz`
(numpy only) or an `.onnx` artifact (onnxruntime).
"""

from __future__ import annotations

from pathlib import Path

from sysgym.runtime.policy.forward import NumpyPolicy
from sysgym.runtime.policy.npz import load_npz, save_npz
from sysgym.runtime.policy.onnx_runner import OnnxPolicy
from sysgym.runtime.policy.program import (
    ArtifactError,
    Dense,
    Head,
    Normaliser,
    PolicyMetadata,
    PolicyProgram,
    SpaceSpec,
)

SUFFIXES = (".npz", ".onnx")


def load(path: Path) -> NumpyPolicy | OnnxPolicy:
    """The runtime for the artifact at `path`, chosen by its suffix."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"policy artifact {str(path)!r} does not exist")
    if path.suffix == ".npz":
        return NumpyPolicy(load_npz(path))
    if path.suffix == ".onnx":
        return OnnxPolicy(path)
    raise ArtifactError(f"{path}: unknown artifact kind {path.suffix!r}; known: {SUFFIXES}")


__all__ = [
    "SUFFIXES",
    "ArtifactError",
    "Dense",
    "Head",
    "Normaliser",
    "NumpyPolicy",
    "OnnxPolicy",
    "PolicyMetadata",
    "PolicyProgram",
    "SpaceSpec",
    "load",
    "load_npz",
    "save_npz",
]
