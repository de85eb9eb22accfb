"""The calibrated expert-parallel model behind `sysgym/ExpertReroute-v0`.

One decision per (batch, layer): the router's per-expert loads arrive, the action becomes a token plan, and the
layer model (`layer`) prices it. Received expert weights are freed after the layer unless `replica_slots`
lets each device keep some resident (least recently used first out), which is how EPLB's redundant experts
live on a device. The live backend (`sysgym.runtime.moe.live`) subclasses this one and replaces only the
per-device compute time with a measured one.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from typing import Any

import gymnasium as gym
import numpy as np
from mypy_extensions import mypyc_attr

from sysgym.envs import calibration
from sysgym.envs.core.backend import Backend, Outcome
from sysgym.envs.moe.actions import KNOB_COUNT, KNOBS, knobs_of, plan_of_rows
from sysgym.envs.moe.config import ExpertRerouteConfig
from sysgym.envs.moe.cost import GIB, Fabric, expert_curve, memory_model
from sysgym.envs.moe.layer import LayerModel, NativeStats, StepCost
from sysgym.envs.moe.llep import assign_priced, llep_plan
from sysgym.envs.moe.models import BF16_BYTES, MoEModel, model_config
from sysgym.envs.moe.plan import Plan
from sysgym.envs.moe.sparse import SparseCost
from sysgym.envs.moe.workloads import make_routing

BLOCK = 64
"""Batches drawn and preprocessed per array operation."""


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class _Block:
    """A block of batches of one layer with everything the steps read precomputed in bulk.

    Besides the router's loads this holds each batch's LPT keys (for LLEP), EP sums (for pricing), lower bound
    (for the metrics) and the knob-independent part of its observation: sorted shares, native devices, the
    per-expert moving average and the per-device history. The last two evolve from batch to batch whatever the
    actions, so the block advances them in bulk and leaves the backend's state at their values after its last
    batch.
    """

    def __init__(self, backend: ModelBackend, loads: np.ndarray, layer: int) -> None:
        count, n = loads.shape
        p, h = backend.devices, backend.config.history
        model = backend.layer_model
        shift = backend.id_bits
        self.loads = loads
        self.big = big = int(loads.max()) + 1
        self.radix = 1 << shift
        # LPT keys (big - load) * radix + id with a power-of-two radix: shifts and masks instead of divisions.
        keys = big - loads
        keys <<= shift
        keys |= backend.expert_ids
        ordered = np.sort(keys, axis=1)
        self.order = ordered & (self.radix - 1)
        self.queues = np.sort(keys.reshape(count, p, -1), axis=2)
        totals = loads.sum(axis=1, keepdims=True)
        self.totals: list[int] = totals[:, 0].tolist()
        exact = loads.astype(np.float64)  # converted once for the float work below
        share = exact / totals
        times = model.curve.slice_ms(exact)
        tokens, compute, largest = model.native_stats(loads, times)
        # Typed lists, so the compiled steps read them natively.
        self.tokens: list[list[int]] = tokens.tolist()
        self.compute: list[list[float]] = compute.tolist()
        self.largest: list[list[int]] = largest.tolist()
        copies = not backend.config.replica_slots
        self.bounds: list[float] = model.lower_bounds_ms(exact, copies, times, compute).tolist()
        ordered >>= shift
        np.subtract(big, ordered, out=ordered)  # the loads, hottest first
        self.ratio: list[float] = (ordered[:, 0] * n / totals[:, 0]).tolist()
        device_share = tokens / totals
        obs = np.empty((count, backend.obs_size), dtype=np.float32)  # every column is written below
        np.divide(ordered, totals, out=obs[:, :n])
        obs[:, n : 2 * n] = backend._home.take(self.order)
        # The moving average after batch i is 0.75^(i+1) (x0 + sum over j <= i of 0.25 * share_j / 0.75^(j+1)),
        # x0 being its value before the block: one cumulative sum for the block (no BLAS call, whose threads
        # cost more than the product on small blocks). 0.75^-64 ~ 1e8 keeps the sums exact to ~1e-15.
        grow, decay, steps = _block_scales(count)
        ema = backend._ema[layer]
        share *= grow
        after = np.cumsum(share, axis=0)
        after += ema
        after *= decay
        obs[0, 2 * n : 3 * n] = ema
        obs[1:, 2 * n : 3 * n] = after[:-1]
        ema[:] = after[-1]
        # History slot j (newest first) of batch i is the EP device share of batch i - 1 - j.
        past = np.concatenate([backend._history[layer][::-1], device_share])
        for j in range(h):
            obs[:, 3 * n + j * p : 3 * n + (j + 1) * p] = past[h - 1 - j : h - 1 - j + count]
        backend._history[layer] = past[count - 1 + h : count - 1 : -1]
        k = 3 * n + h * p + p
        obs[:, k - p : k] = device_share
        obs[:, k : k + p] = backend._free
        obs[:, k + p] = backend.layer / max(1, backend.layers - 1)
        batches = backend.config.batches
        progress = steps + backend.batch
        progress /= batches
        np.minimum(progress, 1.0, out=obs[:, k + p + 1])
        self.obs = obs
        self.cursor = 0


def _percentile(values: list[float], q: float) -> float:
    """Numpy's default (linear) percentile in plain Python, which is cheaper for one short list per episode."""
    ordered = sorted(values)
    position = q / 100.0 * (len(ordered) - 1)
    low = int(position)
    if low + 1 >= len(ordered):
        return float(ordered[-1])
    a, b, t = ordered[low], ordered[low + 1], position - low
    return float(b - (b - a) * (1.0 - t) if t >= 0.5 else a + (b - a) * t)


@functools.lru_cache(maxsize=8)
def _block_scales(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A block's columns 0.25 / 0.75^(i+1) and 0.75^(i+1), i < count, and its batch offsets 0..count-1.

    The first two unroll the moving average x <- 0.75 x + 0.25 share over the block.
    """
    powers = 0.75 ** np.arange(1.0, count + 1.0)
    return (0.25 / powers)[:, None], powers[:, None], np.arange(float(count))


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
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


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
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
        self._idle_loads, self._idle_order = np.zeros(n, dtype=np.int64), np.arange(n)
        self.batch = 0
        self.layer = 0
        self.replicas: list[OrderedDict[int, None]] = [OrderedDict() for _ in range(p)]
        self._history = np.zeros((self.layers, config.history, p))
        self._ema = np.zeros((self.layers, n))
        self._step_ms: list[float] = []
        self._peak = 0.0
        self._copied = 0
        self._oom = 0
        self._bounds: list[float] = []
        self._free = self._free_memory()
        self._empty_free = self._free
        self._home = (np.arange(n) // self.per_device) / (p - 1)
        self.id_bits = (n - 1).bit_length()  # bits of an expert id in the blocks' LPT keys
        self.expert_ids = np.arange(n)
        self._blocks: list[_Block | None] = [None] * self.layers
        self._block: _Block | None = None
        self._row = 0
        self._free_at = 3 * n + config.history * p + p
        # Knobs actions on the model backend are planned and priced in sparse form (`_fused_cost`); subclasses
        # that measure or price differently (the live backend) take the general path.
        self._fused = (
            config.action == "knobs"
            and not config.replica_slots
            and type(self).price is ModelBackend.price
            and type(self).measured_compute_ms is ModelBackend.measured_compute_ms
        )
        self._pricer = self.layer_model.pricer
        self._grid = self.layer_model.curve.scalar_grid
        # Each knobs action's lambda, alpha and m as typed lists (the compiled step reads them natively).
        self._lams = [k.lam for k in KNOBS]
        self._alphas = [k.alpha for k in KNOBS]
        self._chunks = [k.min_chunk for k in KNOBS]

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
        self._bounds = []
        self._held = np.zeros(self.devices, dtype=np.int64)
        self._free = self._empty_free
        self._blocks = [None] * self.layers
        self._next_batch()

    def _next_batch(self) -> None:
        block = self._blocks[self.layer]
        if block is None or block.cursor == len(block.loads):
            loads = self.routing.block(self.rng, self.layer, min(BLOCK, self.config.batches))
            block = _Block(self, loads, self.layer)
            self._blocks[self.layer] = block
        row = block.cursor
        block.cursor = row + 1
        self._block, self._row = block, row
        obs = block.obs[row]
        if self.config.replica_slots:
            # Complete the precomputed row with what the actions changed since (free memory, via replicas).
            obs[self._free_at : self._free_at + self.devices] = self._free
        self._obs = obs

    @property
    def loads(self) -> np.ndarray:
        """int64 [N] this batch's tokens per expert (zeros before the first reset)."""
        block = self._block
        return self._idle_loads if block is None else block.loads[self._row]

    @property
    def order(self) -> np.ndarray:
        """Expert ids of this batch, hottest first."""
        block = self._block
        return self._idle_order if block is None else block.order[self._row]

    @property
    def _native(self) -> NativeStats | None:
        """This batch's EP sums (None before the first reset)."""
        block, row = self._block, self._row
        return None if block is None else NativeStats(block.tokens[row], block.compute[row], block.largest[row])

    def _free_memory(self) -> np.ndarray:
        self._held = np.fromiter((len(r) for r in self.replicas), dtype=np.int64, count=self.devices)
        used = self._static_weights + self._held * self.layer_model.memory.expert_bytes
        return np.clip(1.0 - used / self.layer_model.memory.capacity_bytes, 0.0, 1.0)

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
            native = self._native
            ratio = None if self._block is None else self._block.ratio[self._row]
            return llep_plan(
                self.loads, self.devices, knobs_of(action), ratio, None if native is None else native.tokens
            )
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
        native = self._native
        if compute_ms is None and native is not None:
            return self.layer_model.cost_from_native(plan, copies, held, self.loads, native)
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
        if self._fused:
            sparse = self._fused_cost(action)
            step_ms, compute_ms, a2a_ms = sparse.step_ms, np.array(sparse.compute_ms), sparse.a2a_ms
            copied, oom, peak = sparse.copied_experts, sparse.oom_devices, sparse.peak_bytes
        else:
            plan = self.plan_for(action)
            cost = self.price(plan, self.copies_needed(plan), self.measured_compute_ms(plan))
            self._keep_replicas(plan)
            step_ms, compute_ms, a2a_ms = cost.step_ms, cost.compute_ms, cost.a2a_ms
            copied, oom, peak = cost.copied_experts, self.oom_devices(cost), cost.peak_bytes
        if peak > self._peak:
            self._peak = peak
        self._step_ms.append(step_ms)
        self._copied += copied
        self._oom += oom
        self._bounds.append(self._block.bounds[self._row])  # type: ignore[union-attr]
        self.layer += 1
        if self.layer == self.layers:
            self.layer = 0
            self.batch += 1
        done = self.batch >= self.config.batches
        if not done:
            self._next_batch()
        signals = {"step_ms": step_ms, "oom_devices": float(oom)}
        events = {"step_ms": step_ms, "compute_ms": compute_ms, "a2a_ms": a2a_ms}
        return Outcome(signals=signals, terminated=done, events=events)

    def _fused_cost(self, action: int) -> SparseCost:
        """LLEP's plan for a knobs action and its cost, in sparse form (same plan and cost as the general path)."""
        block, row = self._block, self._row
        assert block is not None
        pricer = self._pricer
        tokens = block.tokens[row]
        if block.ratio[row] < self._lams[action]:
            return pricer.native(block.compute[row], tokens, block.largest[row])
        capacity = int(self._alphas[action] * block.totals[row] / self.devices)
        if max(tokens) <= capacity:
            return pricer.native(block.compute[row], tokens, block.largest[row])
        level = tokens[:]
        compute = block.compute[row][:]
        largest = block.largest[row][:]
        received, sent, copies = assign_priced(
            level,
            capacity,
            self._chunks[action],
            block.queues[row],
            block.big,
            block.radix,
            compute,
            largest,
            self._grid,
        )
        return pricer.priced(compute, level, largest, received, sent, copies)

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

    # --- results ---------------------------------------------------------------------------------------
    def metrics(self) -> dict[str, float]:
        """The episode's documented metrics."""
        steps = self._step_ms or [0.0]
        bounds = self._bounds or [0.0]
        return {
            "mean_step_time_ms": math.fsum(steps) / len(steps),
            "p99_step_time_ms": _percentile(steps, 99.0),
            "peak_memory_gib": self._peak / GIB,
            "weights_moved_gib": self._copied * self.layer_model.memory.expert_bytes / GIB,
            "oom_count": float(self._oom),
            "mean_bound_ms": math.fsum(bounds) / len(bounds),
        }

    def samples(self) -> dict[str, list[float]]:
        """Each step's layer time."""
        return {"step_time_ms": list(self._step_ms)}
