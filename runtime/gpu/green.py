"""SM partitions as CUDA green contexts, cached by SM count.

A green context's stream dies with the context object, so the manager keeps every context it created alive for
as long as it lives (the calibration's method note).
"""

from __future__ import annotations

import time
from typing import Any


class GreenPartitions:
    """Green contexts and their streams by SM count; `None` SMs means the whole GPU's default stream."""

    def __init__(self, torch: Any, total_sms: int) -> None:
        self.torch = torch
        self.total_sms = total_sms
        self._contexts: dict[int, tuple[Any, Any]] = {}
        self.create_ms: list[float] = []

    def stream(self, sms: int) -> Any:
        """The stream running on `sms` SMs (created on first use; the whole GPU uses the default stream)."""
        if sms >= self.total_sms:
            return self.torch.cuda.current_stream()
        if sms not in self._contexts:
            from torch.cuda.green_contexts import GreenContext

            start = time.perf_counter()
            ctx: Any = GreenContext.create(num_sms=sms, device_id=0)
            stream = ctx.Stream()
            self._contexts[sms] = (ctx, stream)
            self.create_ms.append((time.perf_counter() - start) * 1e3)
        return self._contexts[sms][1]

    def close(self) -> None:
        """Drop every context (after synchronising their streams)."""
        self.torch.cuda.synchronize()
        self._contexts.clear()
