"""The calibrated expert-parallel model behind `sysgym/ExpertReroute-v0`.

One decision per (batch, layer): the router's per-expert loads arrive, the action becomes a token plan, and the
layer model (`layer`) prices it. Received expert weights are freed after the layer unless `replica_slots`
lets each device keep some resident (least recently used first out), which is how EPLB's redundant experts
live on a device. The live backend (`sysgym.runtime.moe.live`) subclasses this one and replaces only the
per-device compute time with a measured one.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import gymnasium as gym
import numpy as np

from sysgym.envs import calibration
from sysgym.envs.core.backend import Backend, Outcome
from sysgym.envs.moe.actions import KNOB_COUNT, knobs_of, plan_of_rows
from sysgym.envs.moe.config import ExpertRerouteConfig
from sysgym.envs.moe.cost import GIB, Fabric, expert_curve, memory_model
from sysgym.envs.moe.layer import LayerModel, NativeStats, StepCost
from sysgym.envs.moe.llep import llep_plan
from sysgym.envs.moe.models import BF16_BYTES, MoEModel, model_config
from sysgym.envs.moe.plan import Plan
from sysgym.envs.moe.workloads import make_routing

BLOCK = 64
"""Batches drawn and preprocessed per array operation."""


class _Block:
    """A block of batches of one layer with everything the steps read precomputed in bulk."""

    def __init__(self, backend: ModelBackend, loads: np.ndarray) -> None:
        self.loads = loads
        self.order = np.argsort(-loads, axis=1, kind="stable")
        self.share = loads / loads.sum(axis=1, keepdims=True)
        self.ema_step = 0.25 * self.share
        self.native = backend.layer_model.native_stats(loads)
        home = (self.order // backend.per_device) / (backend.devices - 1)
        # The observation's first 2N entries (sorted shares, native devices) depend on the batch alone.
        self.head = np.concatenate([np.take_along_axis(self.share, self.order, axis=1), home], axis=1).astype(
            np.float32
        )
        self.device_share = self.share.reshape(len(loads), backend.devices, -1).sum(axis=2)
        self.ratio = (loads.max(axis=1) * loads.shape[1] / loads.sum(axis=1)).tolist()
        self.cursor = 0


class MoESystem:
    """Read-only view for heuristics (`info["system"]`); it reads the backend's live state, copying nothing.

    Attributes:
        config: the env's configuration.
        model: the layer shape.
        devices: P.
        per_device: native experts per device (N / P).
    """

    def __init__(self, backend: ModelBackend) -> None:
        self._b = backend
        self.config = backend.config
        self.model = backend.model
        self.devices = backend.devices
        self.per_device = backend.model.experts // backend.devices

    @property
    def loads(self) -> np.ndarray:
        """int64 [N] this batch's tokens per expert (the router's output)."""
        return self._b.loads

    @property
    def order(self) -> np.ndarray:
        """Expert ids, hottest first (the order of the observation and of plan rows)."""
        return self._b.order

    @property
    def batch(self) -> int:
        """Index of the current batch."""
        return self._b.batch

    @property
    def layer(self) -> int:
        """Index of the current layer."""
        return self._b.layer

    def resident(self, device: int) -> tuple[int, ...]:
        """Experts held as replicas on `device`, least recently used first."""
        return tuple(self._b.replicas[device])

    def evaluate(self, action: Any) -> StepCost:
        """What `action` would cost on this batch, without taking it (the oracle's search uses this)."""
        plan = self._b.plan_for(np.asarray(action))
        return self._b.price(plan, self._b.copies_needed(plan))

    def objective(self, cost: StepCost) -> float:
        """Step time plus the out-of-memory penalty in ms (what the reward is minus, up to scale)."""
        return cost.step_ms + self._b.penalty_ms * self._b.oom_devices(cost)

    @property
    def layer_model(self) -> LayerModel:
        """The cost model of this layer (curves, links, memory)."""
        return self._b.layer_model

    @property
    def penalty_ms(self) -> float:
        """Out-of-memory penalty per device, in ms."""
        return self._b.penalty_ms

    def lower_bound_ms(self) -> float:
        """No plan for this batch is faster than this (see `LayerModel.lower_bound_ms`)."""
        return self._b.layer_model.lower_bound_ms(self._b.loads, not self.config.replica_slots)


class ModelBackend(Backend[np.ndarray, Any]):
    """Calibrated model of one MoE layer (or stack) under expert parallelism."""

    def __init__(self, config: ExpertRerouteConfig) -> None:
        self.config = config
        self.model: MoEModel = model_config(config.model)
        self.devices = config.devices
        self.layers = config.layers
        self.per_device = self.model.experts // self.devices
        tokens = config.tokens_per_device or self.model.tokens_per_device
        self.total = tokens * self.devices * self.model.top_k
        data = calibration.load(config.calibration or None)
        self.layer_model = LayerModel(
            devices=self.devices,
            experts=self.model.experts,
            curve=expert_curve(self.model, data),
            fabric=Fabric(config.link_gbps, config.collective_ms),
            memory=memory_model(self.model, config.memory_gib, config.reserved_gib),
            token_bytes=float(self.model.hidden * BF16_BYTES),
        )
        self.routing = make_routing(
            config.workload,
            self.model.experts,
            self.devices,
            self.total,
            self.layers,
            config.hot_placement == "random",
        )
        even = np.full(self.model.experts, self.total // self.model.experts, dtype=np.int64)
        self.scale_ms = self.layer_model.lower_bound_ms(even, copies=False)
        self.penalty_ms = config.oom_penalty * self.scale_ms
        n, p = self.model.experts, self.devices
        self.obs_size = 3 * n + config.history * p + 2 * p + 2
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(self.obs_size,), dtype=np.float32)
        space: gym.Space[Any]
        if config.action == "knobs":
            space = gym.spaces.Discrete(KNOB_COUNT)
        else:
            space = gym.spaces.MultiDiscrete(np.full(config.rows * p, config.plan_levels + 1, dtype=np.int64))
        self.action_space = space
        self._static_weights = self.per_device * self.layer_model.memory.expert_bytes
        self._view = MoESystem(self)
        self._obs = np.zeros(self.obs_size, dtype=np.float32)
        self.loads = np.zeros(n, dtype=np.int64)
        self.order = np.arange(n)
        self.batch = 0
        self.layer = 0
        self.replicas: list[OrderedDict[int, None]] = [OrderedDict() for _ in range(p)]
        self._history = np.zeros((self.layers, config.history, p))
        self._ema = np.zeros((self.layers, n))
        self._step_ms: list[float] = []
        self._peak = 0.0
        self._copied = 0
        self._oom = 0
        self._seen: list[np.ndarray] = []
        self._ema_step = np.zeros(n)
        self._free = self._free_memory()
        self._blocks: list[_Block | None] = [None] * self.layers
        self._native: NativeStats | None = None
        self._ratio = 0.0
        self._head = np.zeros(2 * n, dtype=np.float32)
        self._device_share = np.zeros(p)

    # --- episode ---------------------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        """Fresh routing state, no replicas, empty statistics, first batch's loads."""
        self.rng = rng
        self.routing.reset(rng)
        self.batch = 0
        self.layer = 0
        for held in self.replicas:
            held.clear()
        self._history[:] = 1.0 / self.devices
        self._ema[:] = 1.0 / self.model.experts
        self._step_ms = []
        self._peak = 0.0
        self._copied = 0
        self._oom = 0
        self._seen = []
        self._free = self._free_memory()
        self._blocks = [None] * self.layers
        self._next_batch()

    def _next_batch(self) -> None:
        block = self._blocks[self.layer]
        if block is None or block.cursor == len(block.loads):
            block = _Block(self, self.routing.block(self.rng, self.layer, min(BLOCK, self.config.batches)))
            self._blocks[self.layer] = block
        i = block.cursor
        block.cursor += 1
        self.loads = block.loads[i]
        self.order = block.order[i]
        self._ema_step = block.ema_step[i]
        self._native = block.native[i]
        self._ratio = block.ratio[i]
        self._head = block.head[i]
        self._device_share = block.device_share[i]
        self._write_obs()

    def _free_memory(self) -> np.ndarray:
        self._held = np.fromiter((len(r) for r in self.replicas), dtype=np.int64, count=self.devices)
        used = self._static_weights + self._held * self.layer_model.memory.expert_bytes
        return np.clip(1.0 - used / self.layer_model.memory.capacity_bytes, 0.0, 1.0)

    def _write_obs(self) -> None:
        n, p = self.model.experts, self.devices
        obs = self._obs
        obs[: 2 * n] = self._head
        obs[2 * n : 3 * n] = self._ema[self.layer]
        k = 3 * n
        h = self._history[self.layer]
        obs[k : k + h.size] = h.ravel()
        k += h.size
        obs[k : k + p] = self._device_share
        obs[k + p : k + 2 * p] = self._free
        obs[k + 2 * p] = self.layer / max(1, self.layers - 1)
        obs[k + 2 * p + 1] = min(1.0, self.batch / self.config.batches)

    def observation(self) -> np.ndarray:
        """The current decision's features (a copy; the buffer is reused)."""
        return self._obs.copy()

    def system(self) -> MoESystem:
        """Read-only view for heuristics."""
        return self._view

    # --- dynamics --------------------------------------------------------------------------------------
    def plan_for(self, action: Any) -> Plan:
        """The token plan an action means for the current batch."""
        if self.config.action == "knobs":
            native = None if self._native is None else self._native.tokens
            return llep_plan(self.loads, self.devices, knobs_of(action), self._ratio, native)
        return plan_of_rows(action, self.loads, self.order, self.devices, self.config.plan_rest)

    def copies_needed(self, plan: Plan) -> np.ndarray | None:
        """Which slices need their expert's weights copied (no resident replica there); None: all of them."""
        if not self.config.replica_slots or not plan.spills:
            return None
        return np.fromiter(
            (
                e not in self.replicas[d]
                for e, d in zip(plan.spill_expert.tolist(), plan.spill_device.tolist(), strict=True)
            ),
            dtype=bool,
            count=plan.spills,
        )

    def price(self, plan: Plan, copies: np.ndarray | None, compute_ms: np.ndarray | None = None) -> StepCost:
        """Cost a plan against the current replicas (incrementally from the EP sums unless compute is measured)."""
        held = self._held
        if compute_ms is None and self._native is not None:
            return self.layer_model.cost_from_native(plan, copies, held, self.loads, self._native)
        if copies is None:
            copies = np.ones(plan.spills, dtype=bool)
        return self.layer_model.cost(plan, copies, held, compute_ms)

    def oom_devices(self, cost: StepCost) -> int:
        """Devices whose memory exceeds capacity in this step."""
        return cost.oom_devices

    def measured_compute_ms(self, plan: Plan) -> np.ndarray | None:
        """Per-device compute measured on real hardware; the model backend has none."""
        return None

    def apply(self, action: Any) -> Outcome:
        """Price the plan, keep replicas, record metrics and move to the next decision."""
        plan = self.plan_for(action)
        copies = self.copies_needed(plan)
        cost = self.price(plan, copies, self.measured_compute_ms(plan))
        self._keep_replicas(plan)
        oom = self.oom_devices(cost)
        self._step_ms.append(cost.step_ms)
        self._peak = max(self._peak, cost.peak_bytes)
        self._copied += cost.copied_experts
        self._oom += oom
        self._seen.append(self.loads)
        self._remember()
        self.layer += 1
        if self.layer == self.layers:
            self.layer = 0
            self.batch += 1
        done = self.batch >= self.config.batches
        if not done:
            self._next_batch()
        signals = {"step_ms": cost.step_ms, "oom_devices": float(oom)}
        events = {"step_ms": cost.step_ms, "compute_ms": cost.compute_ms, "a2a_ms": cost.a2a_ms}
        return Outcome(signals=signals, terminated=done, events=events)

    def _keep_replicas(self, plan: Plan) -> None:
        slots = self.config.replica_slots
        if not slots or not plan.spills:
            return
        for e, d in zip(plan.spill_expert.tolist(), plan.spill_device.tolist(), strict=True):
            held = self.replicas[d]
            if e in held:
                held.move_to_end(e)
            else:
                held[e] = None
                if len(held) > slots:
                    held.popitem(last=False)
        self._free = self._free_memory()

    def _remember(self) -> None:
        history = self._history[self.layer]
        history[1:] = history[:-1]
        history[0] = self._device_share
        ema = self._ema[self.layer]
        ema *= 0.75
        ema += self._ema_step

    # --- results ---------------------------------------------------------------------------------------
    def metrics(self) -> dict[str, float]:
        """The episode's documented metrics."""
        steps = np.asarray(self._step_ms) if self._step_ms else np.zeros(1)
        copies = not self.config.replica_slots
        bounds = self.layer_model.lower_bounds_ms(np.array(self._seen), copies) if self._seen else np.zeros(1)
        return {
            "mean_step_time_ms": float(steps.mean()),
            "p99_step_time_ms": float(np.percentile(steps, 99)),
            "peak_memory_gib": self._peak / GIB,
            "weights_moved_gib": self._copied * self.layer_model.memory.expert_bytes / GIB,
            "oom_count": float(self._oom),
            "mean_bound_ms": float(bounds.mean()),
        }

    def samples(self) -> dict[str, list[float]]:
        """Each step's layer time."""
        return {"step_time_ms": list(self._step_ms)}
