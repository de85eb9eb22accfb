"""Live tiered-file adapter and device calibration for the hybrid-storage envs."""
