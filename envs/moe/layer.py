"""Step time and memory of one MoE layer under a plan (the project's step model, reference section 7).

step = dispatch + max over devices (weight copies into or out of it + its expert slices) + combine.

* Slices: each (expert, device) slice costs `launch + gemm(B)` (see `cost`).
* All-to-all: tokens start evenly spread over devices, so a device computing `n` routed tokens receives
  `n (P-1)/P` token vectors and each device sends `(total - n_own)/P`; a collective lasts as long as its
  busiest link direction. Combine moves the same bytes back.
* Weight copies: a slice off its expert's native device copies the expert's weights there unless a resident
  replica is already present; a device's copies take as long as its busier link direction.
* Memory: native weights + replicas held + weights received, plus every routed token's input and output and
  the intermediates of the largest slice on the device. Above capacity is an out-of-memory event.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sysgym.envs.moe.cost import ExpertCurve, Fabric, Memory
from sysgym.envs.moe.plan import Plan
from sysgym.envs.moe.sparse import SparsePricer


@dataclass(frozen=True)
class StepCost:
    """What one plan costs.

    Attributes:
        step_ms: the layer's time.
        compute_ms: float [P], expert slices per device.
        copy_ms: float [P], weight copies per device.
        a2a_ms: dispatch plus combine.
        memory_bytes: float [P], peak memory per device.
        copied_experts: weight copies made (experts x devices).
        device_tokens: int64 [P] tokens each device computed.
        peak_bytes: the largest entry of `memory_bytes`.
        oom_devices: devices whose memory exceeds capacity.
    """

    step_ms: float
    compute_ms: np.ndarray
    copy_ms: np.ndarray
    a2a_ms: float
    memory_bytes: np.ndarray
    copied_experts: int
    device_tokens: np.ndarray
    peak_bytes: float
    oom_devices: int


class NativeStats(NamedTuple):
    """Per-device sums of a batch under standard EP, precomputed per block of batches.

    Plain lists, because the per-step paths (`LayerModel.cost_from_native`, `llep.assign_priced`) edit copies of them
    element by element.

    Attributes:
        tokens: [P] native tokens per device.
        compute_ms: [P] native slices' time per device.
        largest: [P] largest native slice per device.
    """

    tokens: list[int]
    compute_ms: list[float]
    largest: list[int]


@dataclass(frozen=True)
class LayerModel:
    """Everything needed to cost a plan for one layer shape on P devices.

    Attributes:
        devices: P.
        experts: N.
        curve: expert slice time.
        fabric: link parameters.
        memory: memory accounting.
        token_bytes: bytes of one token vector moved by the all-to-all (hidden x bf16).
    """

    devices: int
    experts: int
    curve: ExpertCurve
    fabric: Fabric
    memory: Memory
    token_bytes: float

    def cost(
        self,
        plan: Plan,
        copies: np.ndarray,
        resident: np.ndarray,
        compute_ms: np.ndarray | None = None,
    ) -> StepCost:
        """Cost `plan`.

        Args:
            plan: the token plan.
            copies: bool [S], which of the plan's slices need a weight copy (no resident replica there).
            resident: int [P], replicas held on each device besides its native experts.
            compute_ms: measured per-device compute of all the plan's slices (the live backend); None to use the
                calibrated curve.
        """
        p = self.devices
        keep = plan.keep.reshape(p, -1)
        tokens = keep.sum(axis=1)
        largest = keep.max(axis=1)
        modelled = compute_ms is None
        if compute_ms is None:
            compute_ms = self.curve.slice_ms(keep).sum(axis=1)
        if plan.spills:
            dev = plan.spill_device
            tokens = tokens + np.bincount(dev, weights=plan.spill_tokens, minlength=p).astype(np.int64)
            np.maximum.at(largest, dev, plan.spill_tokens)
            if modelled:
                compute_ms = compute_ms + np.bincount(dev, weights=self.curve.slice_ms(plan.spill_tokens), minlength=p)
            received = np.bincount(dev[copies], minlength=p)
            sent = np.bincount(plan.spill_expert[copies] // keep.shape[1], minlength=p)
            copy_ms = np.maximum(received, sent) * (self.memory.expert_bytes / self.fabric.bytes_per_ms)
            copied = int(received.sum())
        else:
            received = np.zeros(p, dtype=np.int64)
            copy_ms = np.zeros(p)
            copied = 0
        return self._finish(compute_ms, copy_ms, tokens, largest, resident, received, copied)

    def native_stats(self, loads: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-device EP sums of each row of loads int [B, N]: tokens, compute and largest slice, each [B, P].

        `times` float [B, N] is `curve.slice_ms(loads)`. Row b's `NativeStats` is the three rows b as lists.
        """
        blocks = loads.reshape(len(loads), self.devices, -1)
        compute = times.reshape(blocks.shape).sum(axis=2)
        return blocks.sum(axis=2), compute, blocks.max(axis=2)

    def cost_from_native(
        self, plan: Plan, copies: np.ndarray | None, resident: np.ndarray, loads: np.ndarray, native: NativeStats
    ) -> StepCost:
        """`cost` of a plan that differs from EP in a few experts, from the batch's EP sums (plan actions' path).

        Equal to `cost(plan, copies, resident)` up to float rounding (a test checks it); the few experts whose
        native share changed and the few slices are priced in plain Python. `copies` None means every slice
        copies its weights.
        """
        held = resident.tolist()
        p = self.devices
        if not plan.spills:
            return self._assemble(native.compute_ms, [0.0] * p, native.tokens, native.largest, held, [0] * p, 0)
        per_device = self.per_device
        one = self.curve.scalar_ms
        compute = native.compute_ms[:]
        tokens = native.tokens[:]
        largest = native.largest[:]
        keep = plan.keep
        touched = plan.touched if plan.touched is not None else np.flatnonzero(keep != loads).tolist()
        for e in touched:
            d = e // per_device
            before, after = int(loads[e]), int(keep[e])
            compute[d] += one(after) - one(before)
            tokens[d] += after - before
            if before >= largest[d]:
                largest[d] = int(keep[d * per_device : (d + 1) * per_device].max())
        received = [0] * p
        sent = [0] * p
        flags = [True] * plan.spills if copies is None else copies.tolist()
        for e, d, t, c in zip(
            plan.spill_expert.tolist(), plan.spill_device.tolist(), plan.spill_tokens.tolist(), flags, strict=True
        ):
            compute[d] += one(t)
            tokens[d] += t
            if t > largest[d]:
                largest[d] = t
            if c:
                received[d] += 1
                sent[e // per_device] += 1
        per_copy = self.memory.expert_bytes / self.fabric.bytes_per_ms
        copy = [max(r, s) * per_copy for r, s in zip(received, sent, strict=True)]
        return self._assemble(compute, copy, tokens, largest, held, received, sum(received))

    @functools.cached_property
    def pricer(self) -> SparsePricer:
        """This layer's per-device memory and pricer of plans in sparse form."""
        mem, fabric = self.memory, self.fabric
        return SparsePricer(
            devices=self.devices,
            per_device=self.per_device,
            copy_ms=mem.expert_bytes / fabric.bytes_per_ms,
            token_ms=self.token_bytes / fabric.bytes_per_ms,
            collective_ms=fabric.collective_ms,
            expert_bytes=mem.expert_bytes,
            pair_bytes=mem.pair_bytes,
            slice_bytes=mem.slice_bytes,
            capacity_bytes=mem.capacity_bytes,
        )

    def _finish(
        self,
        compute_ms: np.ndarray,
        copy_ms: np.ndarray,
        tokens: np.ndarray,
        largest: np.ndarray,
        resident: np.ndarray,
        received: np.ndarray,
        copied: int,
    ) -> StepCost:
        return self._assemble(
            compute_ms.tolist(),
            copy_ms.tolist(),
            tokens.tolist(),
            largest.tolist(),
            resident.tolist(),
            received.tolist(),
            copied,
        )

    def _assemble(
        self,
        compute: list[float],
        copy: list[float],
        tokens: list[int],
        largest: list[int],
        resident: list[int],
        received: list[int],
        copied: int,
    ) -> StepCost:
        """The step's totals from per-device lists (plain Python: P is small and this runs every step)."""
        step, a2a, memory = self._totals(compute, copy, tokens, largest, resident, received)
        capacity = self.memory.capacity_bytes
        return StepCost(
            step,
            np.array(compute),
            np.array(copy),
            a2a,
            np.array(memory),
            copied,
            np.array(tokens),
            max(memory),
            sum(1 for m in memory if m > capacity),
        )

    def _totals(
        self,
        compute: list[float],
        copy: list[float],
        tokens: list[int],
        largest: list[int],
        resident: list[int],
        received: list[int],
    ) -> tuple[float, float, list[float]]:
        """Step time, all-to-all time and per-device memory from per-device lists."""
        p = self.devices
        fabric = self.fabric
        busiest = max(max(tokens) * (p - 1) / p, (sum(tokens) - min(tokens)) / p)
        a2a = 2.0 * (busiest * self.token_bytes / fabric.bytes_per_ms + fabric.collective_ms)
        step = a2a + max(map(operator.add, compute, copy))
        return step, a2a, self.pricer.memory(tokens, largest, resident, received)

    @property
    def per_device(self) -> int:
        """Native experts per device."""
        return self.experts // self.devices

    def lower_bound_ms(self, loads: np.ndarray, copies: bool = True) -> float:
        """`lower_bounds_ms` of one batch."""
        return float(self.lower_bounds_ms(loads[None, :], copies)[0])

    def lower_bounds_ms(
        self,
        loads: np.ndarray,
        copies: bool = True,
        times: np.ndarray | None = None,
        device_ms: np.ndarray | None = None,
    ) -> np.ndarray:
        """Times no plan can beat, for loads int [batches, N].

        `times` (their `curve.slice_ms`) and `device_ms` (its per-device sums [batches, P]) are passed when known.

        The all-to-all is smallest when every device computes total / P tokens. On top of it the slowest device
        takes at least the larger of two bounds:

        * average work: each expert's tokens cost at least `min_work_ms` however they are sliced, so some device
          does at least the sum of those over P;
        * a device's own experts: if device g ships k of its experts (wholly or in part) elsewhere, it still
          computes every other native expert whole and sends at least k weight copies, so its time is at least
          min over k of (native work - its k largest experts' work + k * copy time). That minimum ships exactly
          the experts whose work exceeds the copy time, so it is native work - sum of (work - copy)+. With
          resident replicas allowed (`copies=False`) the copy term is dropped.
        """
        p = self.devices
        curve = self.curve
        if times is None:
            times = curve.slice_ms(loads)
        whole = times.reshape(len(loads), p, -1)
        if device_ms is None:
            device_ms = whole.sum(axis=2)
        # min_work_ms is slice_ms except above `whole_is_cheapest_to` tokens: correct only those few loads.
        work = device_ms.sum(axis=1)
        heavy = loads > curve.whole_is_cheapest_to
        if heavy.any():
            rows, cols = np.nonzero(heavy)
            gap = times[rows, cols] - curve.min_work_ms(loads[rows, cols])
            work -= np.bincount(rows, weights=gap, minlength=len(loads))
        work /= p
        copy_ms = self.memory.expert_bytes / self.fabric.bytes_per_ms if copies else 0.0
        excess = whole - copy_ms
        np.maximum(excess, 0.0, out=excess)
        own = device_ms - excess.sum(axis=2)
        busiest = loads.sum(axis=1) / p * (p - 1) / p
        a2a = 2.0 * (busiest * self.token_bytes / self.fabric.bytes_per_ms + self.fabric.collective_ms)
        return a2a + np.maximum(work, own.max(axis=1))
