"""Typed dataclass configs built from `gym.make` keyword arguments.

Envs take their configuration as kwargs (no global parser, nothing read at import). Turning those kwargs into a
frozen dataclass in one place means an unknown key or a wrong type fails loudly with the field's name, and every
env validates ranges in `__post_init__` with `require`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from sysgym.envs.core.errors import ConfigError

C = TypeVar("C")


def require(condition: bool, message: str) -> None:
    """Raise `ConfigError(message)` unless `condition` holds; used by configs' `__post_init__`."""
    if not condition:
        raise ConfigError(message)


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin in (tuple, list):
        args = typing.get_args(hint)
        if not isinstance(value, (tuple, list)):
            return False
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return all(_matches(v, args[0]) for v in value) if args else True
        return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args, strict=True))
    if origin is not None:
        return isinstance(value, origin)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def config_from_kwargs(cls: type[C], kwargs: Mapping[str, Any]) -> C:
    """Build the dataclass `cls` from kwargs, rejecting unknown keys and wrongly typed values.

    Ints are accepted for float fields and lists for tuple fields (they arrive that way from JSON and the CLI).
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(kwargs) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown argument(s) {', '.join(map(repr, unknown))} for {cls.__name__}; "
            f"known: {', '.join(sorted(fields))}"
        )
    values: dict[str, Any] = {}
    for key, value in kwargs.items():
        hint = hints[key]
        if not _matches(value, hint):
            raise ConfigError(f"{cls.__name__}.{key} must be {_describe(hint)}, got {value!r}")
        if hint is float and isinstance(value, int):
            value = float(value)
        if typing.get_origin(hint) is tuple and isinstance(value, list):
            value = tuple(value)
        values[key] = value
    return cls(**values)


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def config_to_kwargs(config: Any) -> dict[str, Any]:
    """The JSON-friendly kwargs that rebuild `config` (used in run folders and replay records)."""
    return {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
