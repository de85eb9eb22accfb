"""Replayable episode records, one JSON object per line (CompilerGym-style validation data)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sysgym.envs.core.errors import SysgymError


@dataclass
class EpisodeRecord:
    """Everything needed to re-run one evaluated episode and check its metrics.

    Attributes:
        env_id: the versioned env id.
        version: the env's version when the episode ran (replay refuses other versions).
        sysgym_version: the package version that produced the record.
        backend: `model` or `live`.
        env_kwargs: the exact kwargs passed to `gym.make` (policy overrides included).
        seed: the reset seed.
        policy: the policy's name.
        actions: every action in order, as JSON values.
        metrics: the env's metrics at the end of the episode, plus `episode_return` and `steps`.
        samples: per-item measurements (e.g. response times) for CDFs.
        wall_time_s: wall-clock seconds of the episode.
    """

    env_id: str
    version: int
    sysgym_version: str
    backend: str
    env_kwargs: dict[str, Any]
    seed: int
    policy: str
    actions: list[Any]
    metrics: dict[str, float]
    samples: dict[str, list[float]] = field(default_factory=dict)
    wall_time_s: float = 0.0


def to_json_value(value: Any) -> Any:
    """Actions and metrics as plain JSON (numpy scalars and arrays become numbers and lists)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    return value


def write_records(path: Path, records: list[EpisodeRecord]) -> None:
    """Write `records` as JSON lines."""
    with path.open("w") as handle:
        for record in records:
            handle.write(json.dumps(to_json_value(asdict(record))) + "\n")


def read_records(path: Path) -> Iterator[EpisodeRecord]:
    """Read JSON-lines records, naming the line of any malformed one."""
    if not path.is_file():
        raise SysgymError(f"episode file {str(path)!r} does not exist")
    with path.open() as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield EpisodeRecord(**json.loads(line))
            except (json.JSONDecodeError, TypeError) as exc:
                raise SysgymError(f"{path}:{number}: not an episode record ({exc})") from exc
