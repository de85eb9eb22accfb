"""Parsing of the command line's small languages: seed ranges and `key=value` env kwargs."""

from __future__ import annotations

import json
from typing import Any

from sysgym.envs.core.errors import ConfigError


def parse_seeds(text: str) -> list[int]:
    """`0-4` -> [0, 1, 2, 3, 4]; `0,1,7` -> [0, 1, 7]; ranges and lists mix (`0-2,9`)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                low, high = part.split("-", 1)
                if int(high) < int(low):
                    raise ConfigError(f"seed range {part!r} is empty")
                seeds.extend(range(int(low), int(high) + 1))
            else:
                seeds.append(int(part))
        except ValueError as exc:
            raise ConfigError(f"cannot read seeds {text!r}: {part!r} is not a number or a range a-b") from exc
    if not seeds:
        raise ConfigError("no seeds given")
    if any(s < 0 for s in seeds):
        raise ConfigError(f"seeds must be non-negative, got {text!r}")
    return seeds


def parse_kwargs(items: list[str]) -> dict[str, Any]:
    """`["cores=8", "workload=poisson", "weights=[1,2]"]` -> a dict; values are JSON where they parse as JSON."""
    kwargs: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"env kwarg {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key.isidentifier():
            raise ConfigError(f"env kwarg name {key!r} is not a valid name")
        try:
            kwargs[key] = json.loads(raw)
        except json.JSONDecodeError:
            kwargs[key] = raw
    return kwargs
