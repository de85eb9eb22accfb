"""Request streams: arrival processes (Poisson, Gamma) with named length laws, or a trace file.

Trace file format (CSV, `#` starts a comment, an optional header line naming the columns):

    arrival_s,prompt_tokens,output_tokens[,user,conversation,turn]

Arrival times are seconds from the start and must not decrease; token counts are positive integers. Any malformed
row raises `TraceFormatError` with the file and line number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sysgym.envs.core.config import require
from sysgym.envs.core.errors import TraceFormatError
from sysgym.envs.serving.lengths import DISTRIBUTIONS, length_distribution
from sysgym.envs.serving.request import Request

ARRIVALS = ("poisson", "gamma")
TRACE_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens", "user", "conversation", "turn")


@dataclass(frozen=True)
class WorkloadSpec:
    """A synthetic request stream.

    Attributes:
        dataset: a length distribution name (`sharegpt`, `longbench`, `mix-95-5`).
        rate: mean arrival rate, requests per second.
        requests: number of requests in the stream.
        arrival: `poisson` (exponential gaps) or `gamma` (Gamma gaps with coefficient of variation `cv`).
        cv: coefficient of variation of the gaps for `gamma` (1 is Poisson; above 1 is burstier).
        users: users the requests are spread over uniformly.
    """

    dataset: str = "sharegpt"
    rate: float = 10.0
    requests: int = 1000
    arrival: str = "poisson"
    cv: float = 1.0
    users: int = 1

    def __post_init__(self) -> None:
        require(self.rate > 0 and math.isfinite(self.rate), f"rate must be a positive number, got {self.rate}")
        require(self.requests >= 1, f"requests must be >= 1, got {self.requests}")
        require(self.arrival in ARRIVALS, f"arrival must be one of {ARRIVALS}, got {self.arrival!r}")
        require(self.cv > 0, f"cv must be > 0, got {self.cv}")
        require(self.users >= 1, f"users must be >= 1, got {self.users}")
        length_distribution(self.dataset)


def arrival_times(spec: WorkloadSpec, rng: np.random.Generator) -> np.ndarray:
    """Arrival times (seconds, increasing) of `spec.requests` requests at mean rate `spec.rate`."""
    n = spec.requests
    if spec.arrival == "poisson":
        gaps = rng.exponential(1.0 / spec.rate, size=n)
    else:
        shape = 1.0 / spec.cv**2
        gaps = rng.gamma(shape, 1.0 / (spec.rate * shape), size=n)
    return np.cumsum(gaps)


def synthetic_requests(spec: WorkloadSpec, rng: np.random.Generator) -> list[Request]:
    """Draw a request stream: arrivals from the process, lengths from the named dataset law."""
    times = arrival_times(spec, rng)
    prompts, outputs = length_distribution(spec.dataset).sample(rng, spec.requests)
    users = rng.integers(0, spec.users, size=spec.requests) if spec.users > 1 else np.zeros(spec.requests, int)
    return [
        Request(i, t, p, o, u)
        for i, (t, p, o, u) in enumerate(
            zip(times.tolist(), prompts.tolist(), outputs.tolist(), users.tolist(), strict=True)
        )
    ]


def _parse_row(path: Path, lineno: int, fields: list[str]) -> tuple[float, int, int, int, int, int]:
    if not 3 <= len(fields) <= len(TRACE_COLUMNS):
        raise TraceFormatError(
            path, lineno, f"expected 3 to 6 comma-separated fields {TRACE_COLUMNS}, got {len(fields)}"
        )
    try:
        arrival = float(fields[0])
    except ValueError:
        raise TraceFormatError(path, lineno, f"arrival_s {fields[0]!r} is not a number") from None
    if not math.isfinite(arrival) or arrival < 0:
        raise TraceFormatError(path, lineno, f"arrival_s must be a finite number >= 0, got {fields[0]!r}")
    ints: list[int] = []
    for name, text in zip(TRACE_COLUMNS[1:], fields[1:], strict=False):
        try:
            value = int(text)
        except ValueError:
            raise TraceFormatError(path, lineno, f"{name} {text!r} is not an integer") from None
        low = 1 if name in ("prompt_tokens", "output_tokens") else 0
        if value < low or value > 10_000_000:
            raise TraceFormatError(path, lineno, f"{name} must be in [{low}, 10000000], got {value}")
        ints.append(value)
    while len(ints) < 5:
        ints.append(0 if len(ints) != 3 else -1)
    return arrival, ints[0], ints[1], ints[2], ints[3], ints[4]


def load_trace(path: str | Path, max_tokens: int | None = None) -> list[Request]:
    """Read a trace file into requests, in file order.

    Args:
        path: the CSV trace (format in the module docstring).
        max_tokens: if given, prompt + output of a row may not exceed it (the model's context window).

    Raises:
        TraceFormatError: a row is malformed, arrivals decrease, or the file holds no requests.
    """
    file = Path(path)
    try:
        text = file.read_bytes().decode("utf-8")
    except OSError as exc:
        raise TraceFormatError(file, 0, f"cannot read the trace: {exc}") from None
    except UnicodeDecodeError as exc:
        raise TraceFormatError(file, 1, f"the trace is not UTF-8 text: {exc.reason}") from None
    requests: list[Request] = []
    last = 0.0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(",")]
        if not requests and fields[0] == TRACE_COLUMNS[0]:
            if tuple(fields) != TRACE_COLUMNS[: len(fields)] or len(fields) < 3:
                raise TraceFormatError(file, lineno, f"header must name the columns {TRACE_COLUMNS} in order")
            continue
        arrival, prompt, output, user, conversation, turn = _parse_row(file, lineno, fields)
        if arrival < last:
            raise TraceFormatError(file, lineno, f"arrival_s {arrival} is earlier than the previous row's {last}")
        if max_tokens is not None and prompt + output > max_tokens:
            raise TraceFormatError(
                file, lineno, f"prompt + output = {prompt + output} tokens exceeds the context window {max_tokens}"
            )
        last = arrival
        requests.append(Request(len(requests), arrival, prompt, output, user, conversation, turn))
    if not requests:
        raise TraceFormatError(file, 1, "the trace holds no requests")
    return requests


def is_builtin_dataset(name: str) -> bool:
    """Whether `name` is a built-in length distribution (otherwise callers treat it as a trace path)."""
    return name in DISTRIBUTIONS
