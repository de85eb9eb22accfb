"""`sysgym bench --policies`: decision latency and memory footprint of every exported artifact.

For each artifact in `results/policies/`, both runtimes (numpy for `.npz`, onnxruntime for `.onnx`) are timed on
observations and masks recorded from the artifact's own env (random valid actions on the model backend, with
the env kwargs the run trained with): one
decision at a time (p50 and p99 of `perf_counter_ns` around each call) and batches of 1024 (median batch time per
decision). The goals come from Harmonia (240 ns per inference and 206 KiB for both agents, inside a storage
stack): a single decision within 10 µs p50 in Python with numpy, 1 µs per decision in batches of 1024, storage
policies within 206 KiB. The cost of one tiny numpy call is measured in the same run as a machine yardstick.

Each artifact is measured in a fresh interpreter with BLAS and OpenMP limited to one thread, as a storage layer
or scheduler embedding a policy would run it: on a shared machine OpenBLAS's thread pool otherwise makes a
1024-row matmul tens of times slower.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import timeit
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from sysgym.agents.random_policy import sample_action
from sysgym.envs.core.errors import SysgymError
from sysgym.envs.registry import spec
from sysgym.runtime.policy import SUFFIXES, NumpyPolicy, OnnxPolicy, load

GOAL_SINGLE_US = 10.0
GOAL_BATCH_US = 1.0
GOAL_STORAGE_KIB = 206.0
BATCH = 1024


@dataclass(frozen=True)
class PolicyLatency:
    """One artifact's measurement.

    Attributes:
        artifact: file name.
        env_id: the env it was exported for.
        algorithm: the training algorithm.
        runtime: `numpy` or `onnxruntime`.
        parameters: number of network parameters (weights and biases).
        file_bytes: size on disk.
        memory_bytes: bytes the loaded runtime keeps (numpy: arrays and buffers; onnxruntime: the model file).
        single_p50_us: median latency of one decision.
        single_p99_us: 99th percentile latency of one decision.
        batch_us: per-decision latency in batches of 1024 (median over rounds).
        storage: whether the env is a storage env (the 206 KiB goal applies).
        yardstick_us: one tiny `np.add` in the same interpreter just before the single-decision timing.
    """

    artifact: str
    env_id: str
    algorithm: str
    runtime: str
    parameters: int
    file_bytes: int
    memory_bytes: int
    single_p50_us: float
    single_p99_us: float
    batch_us: float
    storage: bool
    yardstick_us: float


def recorded_inputs(
    env_id: str, count: int, env_kwargs: dict[str, Any] | None = None, seed: int = 0, budget_s: float = 10.0
) -> tuple[np.ndarray, list[Any]]:
    """Observations and masks of up to `count` decisions with random valid actions (cycled when episodes end early)."""
    env = gym.make(env_id, disable_env_checker=True, **(env_kwargs or {}))
    rng = np.random.default_rng(seed)
    observations: list[np.ndarray] = []
    masks: list[Any] = []
    deadline = time.perf_counter() + budget_s
    try:
        obs, info = env.reset(seed=seed)
        while len(observations) < count and time.perf_counter() < deadline:
            observations.append(np.asarray(obs, dtype=np.float32).reshape(-1))
            masks.append(info.get("action_mask"))
            obs, _, terminated, truncated, info = env.step(sample_action(env.action_space, info["action_mask"], rng))
            if terminated or truncated:
                obs, info = env.reset(seed=seed + len(observations))
    finally:
        env.close()
    reps = -(-count // len(observations))
    return np.stack(observations * reps)[:count], (masks * reps)[:count]


def _single(runtime: NumpyPolicy | OnnxPolicy, obs: np.ndarray, masks: list[Any], rounds: int) -> np.ndarray:
    timings = np.empty(rounds * len(obs), dtype=np.float64)
    clock = time.perf_counter_ns
    act = runtime.act
    index = 0
    for _ in range(rounds):
        for o, m in zip(obs, masks, strict=True):
            begin = clock()
            act(o, m)
            timings[index] = clock() - begin
            index += 1
    return timings / 1e3


def _batched(runtime: NumpyPolicy | OnnxPolicy, obs: np.ndarray, masks: list[Any], rounds: int) -> float:
    batch_masks = None if masks[0] is None else np.stack(masks)
    runtime.act_batch(obs, batch_masks)
    times = [timeit.timeit(lambda: runtime.act_batch(obs, batch_masks), number=1) for _ in range(rounds)]
    return float(np.median(times)) / len(obs) * 1e6


def measure(path: Path, rounds: int = 5) -> PolicyLatency:
    """Both measurements of the artifact at `path` with its own runtime."""
    runtime = load(path)
    meta = runtime.metadata
    yardstick = yardstick_us()
    obs, masks = recorded_inputs(meta.env_id, BATCH, json.loads(meta.extra.get("env_kwargs", "{}")))
    single = _single(runtime, obs, masks, rounds)
    batch_us = _batched(runtime, obs, masks, rounds * 4)
    parameters = _parameters(path)
    return PolicyLatency(
        artifact=path.name,
        env_id=meta.env_id,
        algorithm=meta.algorithm,
        runtime="numpy" if isinstance(runtime, NumpyPolicy) else "onnxruntime",
        parameters=parameters,
        file_bytes=int(path.stat().st_size),
        memory_bytes=runtime.memory_bytes,
        single_p50_us=float(np.percentile(single, 50)),
        single_p99_us=float(np.percentile(single, 99)),
        batch_us=batch_us,
        storage=spec(meta.env_id).entry_point.startswith("sysgym.envs.storage"),
        yardstick_us=yardstick,
    )


def _parameters(path: Path) -> int:
    sibling = path.with_suffix(".npz")
    if not sibling.exists():
        return 0
    runtime = load(sibling)
    assert isinstance(runtime, NumpyPolicy)
    return sum(layer.weight.size + layer.bias.size for layer in runtime.program.layers)


def yardstick_us() -> float:
    """Microseconds of one `np.add` on two 8-element float32 vectors: what one numpy call costs on this machine."""
    a = np.ones(8, dtype=np.float32)
    out = np.empty_like(a)
    return min(timeit.repeat(lambda: np.add(a, a, out=out), number=20_000, repeat=5)) / 20_000 * 1e6


def _ok(met: bool) -> str:
    return "yes" if met else "**no**"


def markdown(rows: list[PolicyLatency], yardstick: float, command: str, rounds: int) -> str:
    """results/policy-latency.md."""
    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# Decision latency and footprint of the exported policies",
        "",
        "Every artifact in `results/policies/`, timed in-process on observations and masks recorded from its env.",
        f"Single: p50/p99 over {rounds} rounds of {BATCH} recorded decisions, `perf_counter_ns` around each `act`"
        f" call (timer overhead included). Batch: median time of `act_batch` on {BATCH} decisions, per decision.",
        "Each artifact runs in a fresh interpreter with BLAS/OpenMP limited to one thread (onnxruntime: one intra-op"
        " thread); memory is what the loaded runtime holds (numpy: weights with the bias as an extra row, normaliser"
        " and buffers; onnx: the model file, whose initializers onnxruntime keeps resident).",
        f"Machine: {os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()},"
        f" numpy {np.__version__}, 1-min load average {load_avg:.1f} at the end; one `np.add` of two 8-element"
        f" vectors took {yardstick:.2f} µs at the end of this run (the floor of any numpy call here). The machine is"
        " shared, so each artifact's single p50 is also given in units of that `np.add`, timed in the same"
        " interpreter just before it.",
        "",
        f"Goals (from Harmonia's 240 ns / 206 KiB): single decision <= {GOAL_SINGLE_US:g} µs p50 with numpy;"
        f" <= {GOAL_BATCH_US:g} µs per decision in batches of {BATCH}; storage policies <= {GOAL_STORAGE_KIB:g} KiB.",
        "",
        "| artifact | env | algorithm | runtime | parameters | file KiB | memory KiB | single p50 µs | single p99 µs"
        " | single p50 in np.add | batch µs/decision | single goal | batch goal | size goal |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        single_goal = _ok(r.single_p50_us <= GOAL_SINGLE_US) if r.runtime == "numpy" else "-"
        size_goal = _ok(max(r.file_bytes, r.memory_bytes) / 1024 <= GOAL_STORAGE_KIB) if r.storage else "-"
        lines.append(
            f"| {r.artifact} | {r.env_id} | {r.algorithm} | {r.runtime} | {r.parameters:,} | {r.file_bytes / 1024:.1f}"
            f" | {r.memory_bytes / 1024:.1f} | {r.single_p50_us:.1f} | {r.single_p99_us:.1f}"
            f" | {r.single_p50_us / r.yardstick_us:.0f} | {r.batch_us:.3f}"
            f" | {single_goal} | {_ok(r.batch_us <= GOAL_BATCH_US)} | {size_goal} |"
        )
    if not rows:
        lines.append("| (no artifacts) | | | | | | | | | | | | | |")
    lines += ["", "Command:", "", f"    {command}", ""]
    return "\n".join(lines)


ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def measure_isolated(path: Path, rounds: int) -> PolicyLatency:
    """`measure(path)` in a fresh interpreter limited to one BLAS/OpenMP thread."""
    command = [sys.executable, "-m", "sysgym.experiments.policy_bench", str(path), str(rounds)]
    done = subprocess.run(command, env={**os.environ, **ONE_THREAD}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SysgymError(f"measuring {path} failed: {done.stderr.strip().splitlines()[-1:]}")
    return PolicyLatency(**json.loads(done.stdout.strip().splitlines()[-1]))


def bench_policies(folder: Path, out: Path, command: str, rounds: int = 5) -> str:
    """Measure every artifact in `folder`, write the markdown report to `out` and return it."""
    paths = sorted(folder.iterdir()) if folder.is_dir() else []
    rows = [measure_isolated(path, rounds) for path in paths if path.suffix in SUFFIXES]
    text = markdown(rows, yardstick_us(), command, rounds)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


if __name__ == "__main__":
    print(json.dumps(asdict(measure(Path(sys.argv[1]), int(sys.argv[2])))))
