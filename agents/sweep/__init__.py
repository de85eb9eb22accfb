"""Hyperparameter sweeps with Optuna: search spaces per algorithm, the study, storages and worker heartbeats."""
