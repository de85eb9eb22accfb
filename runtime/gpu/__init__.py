"""Shared live-GPU utilities: device checks, green-context partitions, CUDA-event timing, calibration."""
