"""Checks that a live GPU backend can run here, with errors that say what is missing."""

from __future__ import annotations

from typing import Any

from sysgym.envs.core.errors import BackendUnavailableError


def require_cuda(green_contexts: bool = True) -> Any:
    """Import torch and check for a CUDA device (and green contexts); return the torch module.

    Raises:
        BackendUnavailableError: torch is missing, no CUDA device is visible, or torch lacks green contexts.
    """
    try:
        import torch
    except ImportError as exc:
        raise BackendUnavailableError("the live GPU backend needs PyTorch with CUDA; torch is not installed") from exc
    if not torch.cuda.is_available():
        raise BackendUnavailableError(
            f"the live GPU backend needs an NVIDIA GPU, but torch {torch.__version__} sees no CUDA device"
        )
    if green_contexts:
        try:
            from torch.cuda import green_contexts as gc
        except ImportError as exc:
            raise BackendUnavailableError(
                f"torch {torch.__version__} has no torch.cuda.green_contexts (needs a build with CUDA >= 12.4)"
            ) from exc
        if not getattr(gc, "SUPPORTED", True):
            raise BackendUnavailableError("this torch build or driver does not support CUDA green contexts")
    return torch


def device_info(torch: Any) -> dict[str, Any]:
    """The `device` section of a calibration file."""
    props = torch.cuda.get_device_properties(0)
    return {
        "name": props.name,
        "sms": int(props.multi_processor_count),
        "mem_gib": props.total_memory / 1024**3,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "l2_mb": getattr(props, "L2_cache_size", 0) / 1e6,
    }
