from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from sysgym.envs.core.config import config_from_kwargs, config_to_kwargs, require
from sysgym.envs.core.errors import ConfigError, TraceFormatError, UnknownNameError
from sysgym.experiments.arguments import parse_kwargs, parse_seeds


@dataclass(frozen=True)
class Example:
    """Attributes:
    cores: how many.
    rate: per second.
    mode: which.
    sizes: a tuple.
    trace: optional path.
    """

    cores: int = 4
    rate: float = 1.0
    mode: Literal["a", "b"] = "a"
    sizes: tuple[int, ...] = (1, 2)
    trace: str | None = None

    def __post_init__(self) -> None:
        require(self.cores > 0, f"cores must be positive, got {self.cores}")


def test_builds_and_coerces() -> None:
    config = config_from_kwargs(Example, {"cores": 8, "rate": 2, "sizes": [3, 4], "mode": "b"})
    assert config == Example(cores=8, rate=2.0, mode="b", sizes=(3, 4))
    assert isinstance(config.rate, float)
    assert config_to_kwargs(config) == {"cores": 8, "rate": 2.0, "mode": "b", "sizes": [3, 4], "trace": None}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"corez": 1}, "unknown argument.*'corez'.*known: cores"),
        ({"cores": "8"}, "Example.cores must be int"),
        ({"cores": True}, "Example.cores must be int"),
        ({"mode": "c"}, "Example.mode must be"),
        ({"sizes": [1, "x"]}, "Example.sizes must be"),
        ({"cores": -1}, "cores must be positive, got -1"),
    ],
)
def test_rejects_bad_values_naming_them(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_kwargs(Example, kwargs)


def test_error_messages() -> None:
    assert str(UnknownNameError("workload", "x", ["b", "a"])) == "unknown workload 'x'; known: a, b"
    assert str(TraceFormatError("t.csv", 7, "bad")) == "t.csv:7: bad"


def test_seeds() -> None:
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,1,7") == [0, 1, 7]
    assert parse_seeds("0-1,9") == [0, 1, 9]
    for bad in ("a", "4-2", "", "-3"):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def test_kwargs() -> None:
    assert parse_kwargs(["cores=8", "workload=poisson", "w=[1,2]", "f=0.5"]) == {
        "cores": 8,
        "workload": "poisson",
        "w": [1, 2],
        "f": 0.5,
    }
    with pytest.raises(ConfigError, match="key=value"):
        parse_kwargs(["cores"])
