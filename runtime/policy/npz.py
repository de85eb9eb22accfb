"""The `.npz` artifact: one compressed numpy archive, no pickles, read back with `allow_pickle=False`.

Layout: `program` (uint8 JSON: metadata, layer activations, head), `norm_mean`/`norm_std`, `w{i}`/`b{i}` per layer,
`head_low`/`head_high` for continuous actions.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from sysgym.runtime.policy.program import ArtifactError, Dense, Head, Normaliser, PolicyMetadata, PolicyProgram


def _text(data: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(json.dumps(data, sort_keys=True).encode(), dtype=np.uint8)


def save_npz(program: PolicyProgram, path: Path) -> None:
    """Write `program` to `path` (suffix `.npz`)."""
    arrays: dict[str, np.ndarray] = {}
    description: dict[str, Any] = {
        "metadata": program.metadata.to_json(),
        "layers": [{"activation": layer.activation, "alpha": layer.alpha} for layer in program.layers],
        "head": {
            "kind": program.head.kind,
            "nvec": list(program.head.nvec),
            "squash": program.head.squash,
            "mask_rule": program.head.mask_rule,
        },
        "clip": None if program.normaliser is None else program.normaliser.clip,
    }
    for index, layer in enumerate(program.layers):
        arrays[f"w{index}"] = np.ascontiguousarray(layer.weight, dtype=np.float32)
        arrays[f"b{index}"] = np.ascontiguousarray(layer.bias, dtype=np.float32)
    if program.normaliser is not None:
        arrays["norm_mean"] = program.normaliser.mean.astype(np.float64)
        arrays["norm_std"] = program.normaliser.std.astype(np.float64)
    if program.head.low is not None and program.head.high is not None:
        arrays["head_low"] = program.head.low.astype(np.float32)
        arrays["head_high"] = program.head.high.astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        np.savez_compressed(handle, program=_text(description), **arrays)  # type: ignore[arg-type]


def load_npz(path: Path) -> PolicyProgram:
    """Read a `.npz` artifact, naming the file in every error."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ArtifactError(f"{path}: not a sysgym policy archive ({exc})") from exc
    try:
        description = json.loads(arrays["program"].tobytes().decode())
        layers = tuple(
            Dense(arrays[f"w{i}"], arrays[f"b{i}"], str(spec["activation"]), float(spec["alpha"]))
            for i, spec in enumerate(description["layers"])
        )
        head_spec = description["head"]
        head = Head(
            kind=str(head_spec["kind"]),
            nvec=tuple(int(x) for x in head_spec["nvec"]),
            low=arrays.get("head_low"),
            high=arrays.get("head_high"),
            squash=bool(head_spec["squash"]),
            mask_rule=str(head_spec["mask_rule"]),
        )
        clip = description["clip"]
        normaliser = None if clip is None else Normaliser(arrays["norm_mean"], arrays["norm_std"], float(clip))
        return PolicyProgram(PolicyMetadata.from_json(description["metadata"]), normaliser, layers, head)
    except ArtifactError as exc:
        raise ArtifactError(f"{path}: {exc}") from exc
    except (KeyError, TypeError, ValueError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: incomplete sysgym policy archive (missing or malformed {exc})") from exc
