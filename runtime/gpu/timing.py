"""CUDA-event timing: the median of `reps` runs after `warmup` runs, in milliseconds."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any


def time_ms(torch: Any, fn: Callable[[], Any], reps: int = 10, warmup: int = 3, stream: Any = None) -> float:
    """Median CUDA-event time of `fn()` on `stream` (the current stream when None)."""
    stream = stream or torch.cuda.current_stream()
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(reps):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record(stream)
            fn()
            end.record(stream)
            end.synchronize()
            times.append(start.elapsed_time(end))
    return float(statistics.median(times))
