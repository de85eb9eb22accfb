"""Measured hardware data that the calibrated models are fitted to (see README.md here for provenance)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from sysgym.envs.core.errors import ConfigError

DEFAULT = "h100.json"


@lru_cache(maxsize=8)
def load(path: str | None = None) -> dict[str, Any]:
    """The calibration file as parsed JSON: the packaged H100 measurements, or a user's file from `calibrate`.

    Args:
        path: a calibration JSON produced by `sysgym calibrate`; None for the packaged `h100.json`.
    """
    if path is None:
        text = resources.files(__name__).joinpath(DEFAULT).read_text()
        source = DEFAULT
    else:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"calibration file {path!r} does not exist")
        text = file.read_text()
        source = path
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"calibration file {source!r} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"calibration file {source!r} must hold a JSON object")
    return data
