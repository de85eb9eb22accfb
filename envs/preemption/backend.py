"""Model backend of the preemption env: the serving core's engine driven by `PreemptionScheduler`.

Decision protocol: the engine runs until the scheduler meets a contended plan and asks for a ranking
(`needs_decision`); the backend shows the candidate window to the agent, hands its scores to the scheduler, and
re-plans the worker at the same simulated instant (`Engine.wake`), then runs to the next decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from struct import Struct
from typing import Any

import gymnasium as gym
import numpy as np

from sysgym.envs.calibration import load
from sysgym.envs.core.backend import Backend, Outcome
from sysgym.envs.preemption.config import ENGINE_FEATURES, FEATURES, PreemptionConfig
from sysgym.envs.preemption.mechanism import Mechanism, mechanism
from sysgym.envs.preemption.metrics import GapExcess, episode_metrics
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


_ON_DEVICE = frozenset((DECODE, READY, TRANSFER))


@cache
def _doubles(count: int) -> Struct:
    """Packs `count` floats as C doubles (one per observation length; kept out of the picklable backend)."""
    return Struct(f"{count}d")


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
        self._tbt_excess = GapExcess(config.tbt_slo_s)

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
        self._tbt_excess.reset()
        self._run()
        self._tokens_seen = self._tokens()

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
        engine.run(until=self.config.max_sim_s, stop=lambda: scheduler.needs_decision)
        self.window = scheduler.window[: self.k] if scheduler.needs_decision else []
        self._fill_observation()

    @property
    def at_decision(self) -> bool:
        """Waiting for the agent's ranking."""
        return self.scheduler.needs_decision

    def apply(self, action: np.ndarray) -> Outcome:
        """Score the window, re-plan at once, and run to the next decision."""
        before_tokens = self._tokens_seen  # nothing moves between two steps: the last step's count stands
        before_ttft = len(self.engine.finished)
        if self.scheduler.needs_decision:
            n = len(self.window)
            scores = np.asarray(action[:n], dtype=np.float64)
            drops = np.asarray(action[self.k : self.k + n]) > 0 if self.config.choose_recompute else None
            self.scheduler.decide(self.window, scores, drops)
            self.engine.wake()
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
        engine = self.engine
        new = engine.finished[before_finished:]
        ttft_over = sum(max(0.0, (r.first_token - r.arrival) / cfg.ttft_slo_s - 1.0) for r in new)
        tbt_over = self._tbt_excess.over(engine, new) if new else 0.0
        vtc = self.scheduler.vtc
        counters = vtc.active_counters()
        spread = 0.0
        if len(counters) > 1:
            mean = sum(counters) / len(counters)
            spread = math.sqrt(sum((c - mean) ** 2 for c in counters) / len(counters)) / (mean + 1.0)
        self._tokens_seen = self._tokens()
        tokens = self._tokens_seen - before_tokens
        return {
            "tokens": float(tokens),
            "ttft_over": ttft_over,
            "tbt_over": tbt_over,
            "fairness_spread": spread,
        }

    # ----------------------------------------------------------------- views
    def _fill_observation(self) -> None:
        """Write the observation in place (plain Python floats per slot: numpy calls cost more on 32 rows)."""
        obs = self._obs
        engine = self.engine
        worker = engine.workers[0]
        scheduler = self.scheduler
        now = engine.now
        tail = self.k * FEATURES
        pool = worker.pool
        capacity = max(pool.capacity, 1)
        it = worker.it
        values: list[float] = []
        demand = 0
        if self.window:
            vtc = scheduler.vtc
            counters = vtc.counter
            active = vtc.active_counters()
            top = max(counters) + 1.0
            scale = sum(active) / len(active) + 1.0 if active else 1.0
            # the deficit against the active users' mean, clipped to [-1, 1] in units of that mean
            deficit = [min(max(d / scale, -1.0), 1.0) for d in vtc.deficit()]
            levels = scheduler.levels
            top_level = max(self.config.priority_levels - 1, 1)
            host_valid = scheduler.host_valid
            slo = self.config.ttft_slo_s
            window = max(self.max_context, 1)
            exp = math.exp
            decoding, swapped_out, on_device = DECODE, SWAPPED, _ON_DEVICE  # locals: read for every candidate
            # conditional expressions instead of min/max calls: this loop runs for every candidate of every step
            for req in self.window:
                phase = req.phase
                generated = req.join_generated + it - req.join_iter if phase == decoding else req.generated
                context = req.prompt + generated
                on_gpu = phase in on_device or req.blocks > 0
                swapped = phase == swapped_out
                first = req.first_token
                last = req.arrival if first < 0 or first < req.arrival else first
                user = req.user
                reusable = host_valid[req.conversation] / (context if context > 1 else 1)
                done = generated / 1024.0
                length = context / window
                values += (
                    1.0,
                    1.0 if on_gpu else 0.0,
                    1.0 if swapped else 0.0,
                    1.0 if not on_gpu and not swapped else 0.0,
                    reusable if reusable < 1.0 else 1.0,
                    counters[user] / top,
                    deficit[user],
                    1.0 - exp(-(now - last) / slo),
                    done if done < 1.0 else 1.0,
                    length if length < 1.0 else 1.0,
                    levels.get(req.rid, 0) / top_level,
                    1.0 if generated > 0 else 0.0,
                )
            block = pool.block_tokens
            demand = scheduler.member_blocks(worker)  # the decode batch's `scheduler.need` sum, in O(block)
            for req in scheduler.live.values():
                if req.phase != DECODE:
                    demand -= (-(req.prompt + req.generated + 1)) // block  # `scheduler.need`, inlined
        filled = len(values)
        if filled:
            # packed as C doubles in one call: numpy's per-element conversion of a list costs more than the loop above
            obs[:filled] = np.frombuffer(_doubles(filled).pack(*values), dtype=np.float64)
        obs[filled:tail] = 0.0
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
        on_gpu = [r.phase in _ON_DEVICE or r.blocks > 0 for r in self.window]
        return PreemptionView(
            candidates=self.window,
            levels=self.scheduler.levels,
            counters=np.array(self.scheduler.vtc.counter),
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
