"""Model backend of the preemption env: the serving core's engine driven by `PreemptionScheduler`.

Decision protocol: the engine runs until the scheduler meets a contended plan and asks for a ranking
(`needs_decision`); the backend shows the candidate window to the agent, hands its scores to the scheduler, and
re-plans the worker at the same simulated instant (a zero-delay core timer), then runs to the next decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from sysgym.envs.calibration import load
from sysgym.envs.core.backend import Backend, Outcome
from sysgym.envs.preemption.config import ENGINE_FEATURES, FEATURES, PreemptionConfig
from sysgym.envs.preemption.mechanism import Mechanism, mechanism
from sysgym.envs.preemption.metrics import episode_metrics
from sysgym.envs.preemption.priority import PrioritySpec
from sysgym.envs.preemption.scheduler import ContendedPerf, PreemptionScheduler, SwapPath
from sysgym.envs.preemption.swapcost import KVGeometry, SwapCostModel
from sysgym.envs.preemption.trace import load_conversations
from sysgym.envs.preemption.workload import Conversations, ConversationSpec, draw_conversations
from sysgym.envs.serving.engine import Engine
from sysgym.envs.serving.lengths import length_distribution
from sysgym.envs.serving.models import model_spec
from sysgym.envs.serving.request import DECODE, READY, SWAPPED, TRANSFER, Request
from sysgym.envs.serving.system import ServingConfig, build_engine


@dataclass(eq=False)
class PreemptionView:
    """`info["system"]`: what heuristics read at a decision (live objects, not copies).

    Attributes:
        candidates: the scored window, in slot order (`Request` objects of the serving core).
        levels: exogenous priority level by request id (higher = more important).
        counters: VTC counters by user (weighted service so far, lifted on activation).
        now: simulated time, seconds.
        mechanism: the switching mechanism in force.
        on_gpu: per candidate, whether it holds device KV.
        action_width: length of the action vector (candidate slots, doubled with `choose_recompute`).
    """

    candidates: list[Request]
    levels: dict[int, int]
    counters: np.ndarray
    now: float
    mechanism: Mechanism
    on_gpu: list[bool]
    action_width: int

    def key(self) -> tuple[Any, ...]:
        """A value summary: two views are equal when they describe the same decision."""
        return (
            tuple((r.rid, int(r.phase), r.prefilled, r.generated, self.levels.get(r.rid, 0)) for r in self.candidates),
            self.counters.tobytes(),
            self.now,
            self.mechanism.name,
            tuple(self.on_gpu),
            self.action_width,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PreemptionView) and self.key() == other.key()

    __hash__ = None  # type: ignore[assignment]


def build_scheduler_engine(config: PreemptionConfig, swap_model: SwapCostModel) -> tuple[Engine, PreemptionScheduler]:
    """The core engine for `config` with the preemption scheduler, the mechanism's swap path and contention."""
    mech = mechanism(config.mechanism)
    spec = model_spec(config.model)
    geometry = KVGeometry(spec.layers, spec.kv_heads, spec.head_dim, spec.dtype_bytes, config.block_tokens)
    swap = SwapPath(swap_model, geometry, mech)
    priorities = PrioritySpec(config.priority_pattern, config.priority_levels, config.update_freq)
    scheduler = PreemptionScheduler(mech, swap, priorities, config.users, config.decide_every)
    serving = ServingConfig(
        system="vllm-chunked",
        model=config.model,
        calibration=config.calibration,
        gpu_mem_gib=config.gpu_mem_gib,
        mem_util=config.mem_util,
        block_tokens=config.block_tokens,
        host_mem_gib=config.host_swap_gib,
        max_batch=config.max_batch,
        token_budget=config.token_budget,
    )
    engine = build_engine(serving, scheduler)
    engine.swap_cost = swap
    engine.async_swap = mech.asynchronous
    if mech.asynchronous:
        engine.perf = ContendedPerf(engine.perf, engine, swap_model.contention)
    return engine, scheduler


class PreemptionModelBackend(Backend[np.ndarray, np.ndarray]):
    """Calibrated simulation of preemptive fair serving; see `PreemptionEnv` for the spaces."""

    def __init__(self, config: PreemptionConfig) -> None:
        self.config = config
        self.swap_model = SwapCostModel.from_calibration(load(config.calibration))
        self.engine, self.scheduler = build_scheduler_engine(config, self.swap_model)
        self.k = config.candidates
        self.max_context = model_spec(config.model).context
        self.observation_space = gym.spaces.Box(
            -1.0, 1.0, shape=(self.k * FEATURES + ENGINE_FEATURES,), dtype=np.float32
        )
        width = 2 * self.k if config.choose_recompute else self.k
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(width,), dtype=np.float32)
        self._obs = np.zeros(self.observation_space.shape, dtype=np.float32)
        self.window: list[Request] = []
        self._trace: Conversations | None = None

    # ----------------------------------------------------------------- episode
    def conversations(self, rng: np.random.Generator) -> Conversations:
        """The episode's workload: drawn from the generator, or the trace (read once)."""
        cfg = self.config
        if cfg.is_trace:
            if self._trace is None:
                self._trace = load_conversations(cfg.workload, cfg.users, self.max_context)
            return self._trace
        spec = ConversationSpec(
            conversations=cfg.conversations,
            rate=cfg.rate,
            mean_turns=cfg.mean_turns,
            users=cfg.users,
            heavy_share=0.5 if cfg.workload == "multiturn-heavy" else 0.0,
            think_s=cfg.think_s,
            max_context=self.max_context,
        )
        return draw_conversations(spec, length_distribution(cfg.dataset).sample, rng)

    def reset(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        """Draw the workload, restart the engine and run to the first decision."""
        work = self.conversations(rng)
        first = self.scheduler.start(self.engine, work, rng)
        self.engine.reset(first)
        self.scheduler.attach()
        self.engine.on_finish = self._finished
        self.swap_path.bytes = 0.0
        self.swap_path.seconds = 0.0
        self._run()

    def _finished(self, request: Request) -> None:
        """Completion hook of the engine (the live backend also frees the request's real blocks)."""
        self.scheduler.on_finish(request)

    @property
    def swap_path(self) -> SwapPath:
        """The engine's swap-cost hook."""
        return self.scheduler.swap

    def _run(self) -> None:
        scheduler = self.scheduler
        engine = self.engine
        limit = self.config.max_sim_s
        # `until` would move the clock to the limit even when `stop` fires, so the limit is part of `stop`.
        engine.run(stop=lambda: scheduler.needs_decision or engine.now >= limit)
        self.window = scheduler.window[: self.k] if scheduler.needs_decision else []
        self._fill_observation()

    @property
    def at_decision(self) -> bool:
        """Waiting for the agent's ranking."""
        return self.scheduler.needs_decision

    def apply(self, action: np.ndarray) -> Outcome:
        """Score the window, re-plan at once, and run to the next decision."""
        before_tokens = self._tokens()
        before_ttft = len(self.engine.finished)
        if self.scheduler.needs_decision:
            n = len(self.window)
            scores = np.asarray(action[:n], dtype=np.float64)
            drops = np.asarray(action[self.k : self.k + n]) > 0 if self.config.choose_recompute else None
            self.scheduler.decide(self.window, scores, drops)
            self.engine.add_timer(self.engine.now, _noop)
            self._run()
        signals = self._signals(before_tokens, before_ttft)
        truncated = not self.engine.done and self.engine.now >= self.config.max_sim_s
        terminated = self.engine.done
        return Outcome(signals, terminated=terminated, truncated=truncated and not terminated)

    def _tokens(self) -> int:
        it = self.engine.workers[0].it
        # `scheduler.generated` inlined: this sums over every live request twice a step
        return self.scheduler.finished_tokens + sum(
            r.join_generated + it - r.join_iter if r.phase == DECODE else r.generated
            for r in self.scheduler.live.values()
        )

    def _signals(self, before_tokens: int, before_finished: int) -> dict[str, float]:
        cfg = self.config
        new = self.engine.finished[before_finished:]
        ttft_over = sum(max(0.0, (r.first_token - r.arrival) / cfg.ttft_slo_s - 1.0) for r in new)
        tbt_over = 0.0
        for req in new:
            gaps = self.engine.tbt_samples(req)
            if gaps.size:
                tbt_over += float(np.maximum(gaps / cfg.tbt_slo_s - 1.0, 0.0).sum())
        counters = self.scheduler.vtc.counter[self.scheduler.vtc.active > 0]
        spread = float(counters.std() / (counters.mean() + 1.0)) if counters.size > 1 else 0.0
        tokens = self._tokens() - before_tokens
        return {
            "tokens": float(tokens),
            "ttft_over": ttft_over,
            "tbt_over": tbt_over,
            "fairness_spread": spread,
        }

    # ----------------------------------------------------------------- views
    def _fill_observation(self) -> None:
        """Write the observation in place (plain Python floats per slot: numpy scalar calls cost more here)."""
        obs = self._obs
        obs[:] = 0.0
        engine = self.engine
        worker = engine.workers[0]
        scheduler = self.scheduler
        cfg = self.config
        now = engine.now
        vtc = scheduler.vtc
        counters = vtc.counter.tolist()
        active = vtc.active > 0
        top = max(counters) + 1.0
        deficit = vtc.deficit().tolist()
        scale = float(vtc.counter[active].mean()) + 1.0 if active.any() else 1.0
        levels = scheduler.levels
        top_level = max(cfg.priority_levels - 1, 1)
        host_valid = scheduler.host_valid
        slo = cfg.ttft_slo_s
        window = max(self.max_context, 1)
        values: list[float] = []
        for req in self.window:
            generated = scheduler.generated(req, worker)
            context = req.prompt + generated
            phase = req.phase
            on_gpu = phase in _ON_GPU or req.blocks > 0
            swapped = phase == SWAPPED
            last = req.arrival if req.first_token < 0 else max(req.first_token, req.arrival)
            user = req.user
            values += (
                1.0,
                1.0 if on_gpu else 0.0,
                1.0 if swapped else 0.0,
                1.0 if not on_gpu and not swapped else 0.0,
                min(int(host_valid[req.conversation]) / max(context, 1), 1.0),
                counters[user] / top,
                min(max(deficit[user] / scale, -1.0), 1.0),
                1.0 - math.exp(-(now - last) / slo),
                min(generated / 1024.0, 1.0),
                min(context / window, 1.0),
                levels.get(req.rid, 0) / top_level,
                1.0 if generated > 0 else 0.0,
            )
        if values:
            obs[: len(values)] = values
        tail = self.k * FEATURES
        pool = worker.pool
        demand = sum(scheduler.need(r, worker) for r in scheduler.live.values()) if self.window else 0
        capacity = max(pool.capacity, 1)
        obs[tail] = min(pool.used / capacity, 1.0)
        obs[tail + 1] = min(demand / capacity / 2.0, 1.0)
        obs[tail + 2] = min(pool.host_used / max(pool.host_capacity, 1), 1.0) if pool.host_capacity else 0.0
        obs[tail + 3] = min(max(engine.swap_channel_free - now, 0.0) / 0.1, 1.0)
        obs[tail + 4] = min(len(scheduler.live) / (2.0 * self.k), 1.0)
        obs[tail + 5] = min(len(worker.members) / max(worker.max_batch, 1), 1.0)

    def observation(self) -> np.ndarray:
        """The current observation (a copy, so stored observations do not change)."""
        return self._obs.copy()

    def system(self) -> PreemptionView:
        """Read-only view for heuristics."""
        on_gpu = [r.phase in (DECODE, READY, TRANSFER) or r.blocks > 0 for r in self.window]
        return PreemptionView(
            candidates=self.window,
            levels=self.scheduler.levels,
            counters=self.scheduler.vtc.counter,
            now=self.engine.now,
            mechanism=self.scheduler.mechanism,
            on_gpu=on_gpu,
            action_width=int(self.action_space.shape[0]),
        )

    def metrics(self) -> dict[str, float]:
        """Episode metrics (see `metrics.episode_metrics`)."""
        out = episode_metrics(self.engine, self.config.users, self.config.fairness_window_s, self.swap_path.bytes)
        out["decisions"] = float(self.scheduler.decisions)
        out["reused_gib"] = self.scheduler.reuse_tokens * model_spec(self.config.model).kv_bytes_per_token / 2**30
        return out

    def samples(self) -> dict[str, list[float]]:
        """Per-request TTFT (seconds) for the CDF plot."""
        return {"ttft_s": [r.first_token - r.arrival for r in self.engine.finished]}


_ON_GPU = (DECODE, READY, TRANSFER)


def _noop(engine: Engine) -> None:
    """Zero-delay timer: makes the core re-plan its workers at the current instant."""
