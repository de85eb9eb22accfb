"""Routing workloads: per-expert token loads for each (batch, layer), by name or from a trace file.

Names (the LLEP paper's scenarios plus the project's additions):

* `balanced`: every expert equally likely (multinomial noise of a real router around N even loads).
* `hot{H}-{F}` for H in 1, 4, 16 and F in 30, 50, 80, 95: F % of routed tokens go to H hot experts, the rest
  evenly to the others. The hot experts are ids 0..H-1, which sit on device 0: the paper harness's worst case.
  `hot_placement="random"` draws them at random per layer instead.
* `drift`: a hot set that moves from batch to batch with the statistics the paper reports for real gpt-oss
  routing: the hottest expert takes 12-20 % of the tokens, the hottest device about 32 % on average (30-35 %
  in the paper), and the hottest device changes in about two batches of three. Each batch keeps the previous
  hot set with probability 0.25, otherwise draws a new one of four experts (shares s, 0.7 s, 0.49 s, 0.34 s with
  s uniform in [0.12, 0.20]); each further hot expert shares the first one's device with probability 0.3 (topic
  experts co-activate) and the rest of the mass is spread with lognormal noise (sigma 0.3).
* a path to a trace file: one line per (batch, layer) step in order, N comma-separated non-negative integer
  token counts (`#` starts a comment); steps cycle through the file.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from sysgym.envs.core.errors import ConfigError, TraceFormatError, UnknownNameError

HOT_COUNTS = (1, 4, 16)
HOT_SHARES = (30, 50, 80, 95)
NAMES: tuple[str, ...] = (
    "balanced",
    *(f"hot{h}-{f}" for h in HOT_COUNTS for f in HOT_SHARES),
    "drift",
)
_HOT = re.compile(r"^hot(\d+)-(\d+)$")


class Routing(ABC):
    """A source of per-expert loads; all randomness comes from the `rng` it is given."""

    @abstractmethod
    def reset(self, rng: np.random.Generator) -> None:
        """Start a new episode."""

    @abstractmethod
    def block(self, rng: np.random.Generator, layer: int, count: int) -> np.ndarray:
        """int64 [count, N] tokens per expert for the next `count` batches of `layer`.

        Drawing batches in blocks keeps per-step work to a few array reads; the stream of batches is the same
        whatever the block size, except that the generator state advances block by block.
        """


def sample_counts(
    rng: np.random.Generator, total: int, probs: np.ndarray, shape: tuple[int, int] | None = None
) -> np.ndarray:
    """Router counts around `total * probs` rows, each row summing to `total` exactly.

    `shape` ([rows, N]) is given when `probs` is a single row that every row shares.

    Each expert's count is binomial(total, p); with thousands of tokens per expert the normal approximation
    (mean total p, variance total p (1 - p)) is accurate and vectorises over a block, where numpy's multinomial
    costs tens of microseconds per row. Rows are then rescaled to `total` and rounded through their running
    sums, so each count is within one token of its scaled value and every row sums to `total` exactly.
    """
    mean = total * probs
    draws = rng.standard_normal(shape or probs.shape)
    draws *= np.sqrt(mean * (1.0 - probs))
    draws += mean
    np.maximum(draws, 0.0, out=draws)
    sums = draws.sum(axis=1, keepdims=True)
    if (sums > 0).all():
        draws *= total / sums
    else:
        draws = np.where(sums > 0, draws * (total / np.where(sums > 0, sums, 1.0)), mean)
    running = np.rint(np.cumsum(draws, axis=1)).astype(np.int64)
    running[:, -1] = total
    counts = running.copy()
    counts[:, 1:] -= running[:, :-1]
    return counts


class Balanced(Routing):
    """Uniform routing."""

    def __init__(self, experts: int, total: int) -> None:
        self.total = total
        self.probs = np.full(experts, 1.0 / experts)

    def reset(self, rng: np.random.Generator) -> None:
        """Stateless."""

    def block(self, rng: np.random.Generator, layer: int, count: int) -> np.ndarray:
        """Router noise around even loads."""
        return sample_counts(rng, self.total, self.probs, (count, self.probs.size))


class Hot(Routing):
    """A fixed share of tokens to a few hot experts (the paper's synthetic scenarios)."""

    def __init__(self, experts: int, total: int, layers: int, hot: int, share: float, random_placement: bool) -> None:
        self.experts, self.total, self.layers = experts, total, layers
        self.hot, self.share, self.random_placement = hot, share, random_placement
        self.probs = np.zeros((layers, experts))
        self._fill(np.tile(np.arange(hot), (layers, 1)))

    def _fill(self, hot_ids: np.ndarray) -> None:
        self.probs[:] = (1.0 - self.share) / (self.experts - self.hot)
        np.put_along_axis(self.probs, hot_ids, self.share / self.hot, axis=1)

    def reset(self, rng: np.random.Generator) -> None:
        """Random placement draws each layer's hot experts anew."""
        if self.random_placement:
            ids = np.stack([rng.choice(self.experts, self.hot, replace=False) for _ in range(self.layers)])
            self._fill(ids)

    def block(self, rng: np.random.Generator, layer: int, count: int) -> np.ndarray:
        """Router noise around the scenario's expected loads."""
        return sample_counts(rng, self.total, self.probs[layer], (count, self.experts))


class Drift(Routing):
    """A moving hot set calibrated to the paper's real-routing statistics (see the module docstring)."""

    HOT = 4
    RATIO = 0.7
    LOW, HIGH = 0.12, 0.20
    KEEP = 0.25
    COLOCATE = 0.3
    NOISE = 0.3

    def __init__(self, experts: int, devices: int, total: int, layers: int) -> None:
        if experts < 2 * self.HOT:
            raise ConfigError(f"drift needs at least {2 * self.HOT} experts, the model has {experts}")
        self.experts, self.per_device, self.total = experts, experts // devices, total
        self.hot_sets = np.zeros((layers, self.HOT), dtype=np.int64)
        self.decay = self.RATIO ** np.arange(self.HOT)

    def _draws(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """`count` candidate hot sets int64 [count, HOT], drawn together (one generator call for the block).

        Each set is its first expert followed by the first distinct picks in order (a pick is on the first's
        device with probability COLOCATE); the rare row with too few distinct picks is completed by uniform
        draws. Most rows' first HOT - 1 picks are already distinct, so those rows are computed in bulk and only
        the others pick one by one, in row order.
        """
        tries, hot, colocate = 2 * self.HOT, self.HOT, self.COLOCATE if self.per_device > 1 else 0.0
        n, per = self.experts, self.per_device
        u = rng.random((count, 1 + 2 * tries))
        if count <= 2:  # an episode's first sets, one per layer: bulk array work only pays off for blocks
            return np.array([self._pick(rng, row) for row in u.tolist()], dtype=np.int64).reshape(count, hot)
        near = u[:, 1:hot] < colocate
        spots = near * float(per - n)
        spots += n
        spots *= u[:, 1 + tries : tries + hot]
        first = (u[:, 0] * n).astype(np.int64)
        sets = np.empty((count, hot), dtype=np.int64)
        sets[:, 0] = first
        sets[:, 1:] = spots  # truncation, as int() does
        sets[:, 1:] += near * (first - first % per)[:, None]
        ordered = np.sort(sets, axis=1)
        for i in np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1)).tolist():
            sets[i] = self._pick(rng, u[i].tolist())
        return sets

    def _pick(self, rng: np.random.Generator, u: list[float]) -> list[int]:
        """One hot set from its row of uniforms, pick by pick (rows whose first picks repeat an expert)."""
        tries, hot, colocate = 2 * self.HOT, self.HOT, self.COLOCATE if self.per_device > 1 else 0.0
        n, per = self.experts, self.per_device
        first = int(u[0] * n)
        home = first - first % per
        chosen = [first]
        for k in range(1, 1 + tries):
            e = home + int(u[k + tries] * per) if u[k] < colocate else int(u[k + tries] * n)
            if e not in chosen:
                chosen.append(e)
                if len(chosen) == hot:
                    break
        while len(chosen) < hot:
            e = int(rng.integers(n))
            if e not in chosen:
                chosen.append(e)
        return chosen

    def reset(self, rng: np.random.Generator) -> None:
        """Every layer starts with its own hot set."""
        self.hot_sets[:] = self._draws(rng, len(self.hot_sets))

    def block(self, rng: np.random.Generator, layer: int, count: int) -> np.ndarray:
        """Move the hot set (or keep it) batch by batch, then draw the block's loads."""
        draws = rng.random((count, 2))
        fresh = self._draws(rng, count)
        # Batch i uses the candidate of the last batch j <= i that moved the set, or the previous hot set.
        moved = np.maximum.accumulate(np.where(draws[:, 0] >= self.KEEP, np.arange(count), -1))
        hot = np.where((moved >= 0)[:, None], fresh[np.maximum(moved, 0)], self.hot_sets[layer])
        self.hot_sets[layer] = hot[-1]
        weights = rng.standard_normal((count, self.experts))
        weights *= self.NOISE
        np.exp(weights, out=weights)
        rows = np.arange(count)[:, None]
        weights[rows, hot] = 0.0
        shares = (self.LOW + (self.HIGH - self.LOW) * draws[:, 1:2]) * self.decay[None, :]
        probs = weights * ((1.0 - shares.sum(axis=1, keepdims=True)) / weights.sum(axis=1, keepdims=True))
        probs[rows, hot] = shares
        return sample_counts(rng, self.total, probs)


class Trace(Routing):
    """Loads replayed from a file, cycling; the batch size is whatever the file says."""

    def __init__(self, rows: np.ndarray, layers: int) -> None:
        self.rows = rows
        self.layers = layers
        self.position = [0] * layers

    def reset(self, rng: np.random.Generator) -> None:
        """Replay from the first row."""
        self.position = [0] * self.layers

    def block(self, rng: np.random.Generator, layer: int, count: int) -> np.ndarray:
        """The next rows of `layer`: row b * layers + layer is batch b's (rows cycle)."""
        batches = self.position[layer] + np.arange(count)
        self.position[layer] += count
        return self.rows[(batches * self.layers + layer) % len(self.rows)]


def load_trace(path: str | Path, experts: int) -> np.ndarray:
    """Parse a routing trace into int64 [rows, experts]; malformed lines raise TraceFormatError with the line."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TraceFormatError(path, 1, f"not UTF-8 text: {exc.reason}") from exc
    rows: list[list[int]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != experts:
            raise TraceFormatError(path, number, f"expected {experts} comma-separated counts, got {len(fields)}")
        values = []
        for f in fields:
            if not f.isdigit() or not f.isascii() or len(f) > 12:
                raise TraceFormatError(path, number, f"count {f!r} is not a non-negative integer below 1e12")
            values.append(int(f))
        if sum(values) == 0:
            raise TraceFormatError(path, number, "a step routes no tokens")
        rows.append(values)
    if not rows:
        raise TraceFormatError(path, 1, "the trace has no rows")
    return np.array(rows, dtype=np.int64)


def make_routing(
    name: str, experts: int, devices: int, total: int, layers: int, random_placement: bool = False
) -> Routing:
    """The routing process named `name` (or a trace path) for a layer of `experts` experts on `devices`."""
    if name == "balanced":
        return Balanced(experts, total)
    if name == "drift":
        return Drift(experts, devices, total, layers)
    match = _HOT.match(name)
    if match and name in NAMES:
        hot, share = int(match.group(1)), int(match.group(2)) / 100.0
        if hot >= experts:
            raise ConfigError(f"workload {name!r} needs more than {hot} experts; the model has {experts}")
        return Hot(experts, total, layers, hot, share, random_placement)
    if "/" in name or name.endswith((".csv", ".txt")):
        if not Path(name).is_file():
            raise ConfigError(f"routing trace {name!r} does not exist")
        return Trace(load_trace(name, experts), layers)
    raise UnknownNameError("workload", name, NAMES)
