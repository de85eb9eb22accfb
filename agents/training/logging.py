"""Tensorboard output under fixed tag namespaces, whatever the algorithm calls its values.

Glossary (also in `agents/training/README.md`):
    charts/  progress: episode return and length (`ep_rew_mean`, `ep_len_mean`), fps, learning rate,
             exploration rate, iterations, explained variance, and periodic evaluations (`eval_*`).
    losses/  optimisation: every SB3 `train/*loss*` value (policy_gradient_loss, value_loss, entropy_loss, loss).
    env/     the env's own episode metrics from `info["metrics"]` (e.g. env/mean_latency_us), averaged over
             the episodes that ended since the last write, plus env/invalid_action_rate for wrapped envs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from stable_baselines3.common.logger import HumanOutputFormat, KVWriter, Logger, TensorBoardOutputFormat


def namespaced(key: str) -> str:
    """SB3's key mapped into sysgym's tag namespaces."""
    group, _, name = key.partition("/")
    if not name:
        return f"charts/{key}"
    if group == "train":
        return f"losses/{name}" if "loss" in name else f"charts/{name}"
    if group in ("rollout", "time", "eval"):
        return f"charts/{'eval_' if group == 'eval' else ''}{name}"
    return key


class NamespacedTensorBoard(KVWriter):
    """SB3's tensorboard writer with keys renamed by `namespaced`."""

    def __init__(self, folder: Path) -> None:
        self._inner = TensorBoardOutputFormat(str(folder))

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        """Rename and forward one dump."""
        self._inner.write(
            {namespaced(k): v for k, v in key_values.items()},
            {namespaced(k): v for k, v in key_excluded.items()},
            step,
        )

    def close(self) -> None:
        """Flush and close the event file."""
        self._inner.close()


def make_logger(folder: Path, verbose: bool) -> Logger:
    """A logger writing tensorboard events into `folder` (and a console table when `verbose`)."""
    folder.mkdir(parents=True, exist_ok=True)
    formats: list[KVWriter] = [NamespacedTensorBoard(folder)]
    if verbose:
        formats.append(HumanOutputFormat(sys.stdout))
    return Logger(str(folder), formats)
