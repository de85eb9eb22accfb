"""The step model (`layer`) over plain per-device lists: the model backend's hot path for knobs actions.

LLEP's assignment (`llep.assign_priced`) leaves per-device sums in lists; pricing them needs no Plan or numpy
array, only P-long loops, which mypyc (setup.py) compiles to native arithmetic. Per-device memory is defined here
once, for both paths (`LayerModel` totals every other plan with `SparsePricer.memory`). The all-to-all multiplies by
a precomputed per-token time, so it can differ from `LayerModel`'s in the last bit; tests/moe/test_fast_paths.py
checks both paths agree.
"""

from __future__ import annotations

from typing import NamedTuple

from mypy_extensions import mypyc_attr


class SparseCost(NamedTuple):
    """What one knobs step costs, and what the episode's metrics keep of it.

    Attributes:
        step_ms: the layer's time.
        compute_ms: [P] expert slices per device.
        a2a_ms: dispatch plus combine.
        tokens: [P] tokens each device computed.
        copied_experts: weight copies made.
        oom_devices: devices whose memory exceeds capacity.
        peak_bytes: the largest per-device memory of the step.
    """

    step_ms: float
    compute_ms: list[float]
    a2a_ms: float
    tokens: list[int]
    copied_experts: int
    oom_devices: int
    peak_bytes: float


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class SparsePricer:
    """`LayerModel`'s constants held as native fields, per-device memory, and the cost of plans in sparse form.

    Built by `LayerModel.pricer`. Plans priced in sparse form copy every slice's weights (no resident replicas).
    """

    def __init__(
        self,
        devices: int,
        per_device: int,
        copy_ms: float,
        token_ms: float,
        collective_ms: float,
        expert_bytes: float,
        pair_bytes: float,
        slice_bytes: float,
        capacity_bytes: float,
    ) -> None:
        self.devices = devices
        self.per_device = per_device
        self.copy_ms = copy_ms
        self.token_ms = token_ms
        self.collective_ms = collective_ms
        self.expert_bytes = expert_bytes
        self.pair_bytes = pair_bytes
        self.slice_bytes = slice_bytes
        self.capacity_bytes = capacity_bytes
        self._zeros = [0] * devices  # no replicas held, no copies received (read only)

    def memory(self, tokens: list[int], largest: list[int], resident: list[int], received: list[int]) -> list[float]:
        """Per-device memory: native, resident and received weights, routed tokens, the largest slice."""
        return [
            (self.per_device + resident[d] + received[d]) * self.expert_bytes
            + tokens[d] * self.pair_bytes
            + largest[d] * self.slice_bytes
            for d in range(self.devices)
        ]

    def native(self, compute: list[float], tokens: list[int], largest: list[int]) -> SparseCost:
        """Standard EP for a batch (its `NativeStats` lists): nothing moves, nothing is copied."""
        worst = compute[0]
        for d in range(1, self.devices):
            if compute[d] > worst:
                worst = compute[d]
        return self._finish(worst, compute, tokens, largest, self._zeros, 0)

    def priced(
        self,
        compute: list[float],
        tokens: list[int],
        largest: list[int],
        received: list[int],
        sent: list[int],
        copied: int,
    ) -> SparseCost:
        """A plan's cost from `llep.assign_priced`'s per-device sums.

        Args:
            compute: [P] expert slices' time per device.
            tokens: [P] tokens each device computes.
            largest: [P] largest slice per device.
            received: [P] weight copies each device receives.
            sent: [P] weight copies each device sends.
            copied: weight copies made.
        """
        worst = -1.0
        for d in range(self.devices):
            moved = received[d] if received[d] > sent[d] else sent[d]
            busy = compute[d] + moved * self.copy_ms
            if busy > worst:
                worst = busy
        return self._finish(worst, compute, tokens, largest, received, copied)

    def _finish(
        self,
        worst: float,
        compute: list[float],
        tokens: list[int],
        largest: list[int],
        received: list[int],
        copied: int,
    ) -> SparseCost:
        """All-to-all and memory around the slowest device's time."""
        p = self.devices
        top = low = tokens[0]
        total = 0
        for t in tokens:
            total += t
            if t > top:
                top = t
            if t < low:
                low = t
        spread = top * (p - 1) / p
        gathered = (total - low) / p
        a2a = 2.0 * ((spread if spread > gathered else gathered) * self.token_ms + self.collective_ms)
        peak = 0.0
        oom = 0
        for memory in self.memory(tokens, largest, self._zeros, received):
            if memory > peak:
                peak = memory
            if memory > self.capacity_bytes:
                oom += 1
        return SparseCost(a2a + worst, compute, a2a, tokens, copied, oom, peak)
