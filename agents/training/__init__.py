"""Training of SB3 / sb3-contrib agents on sysgym envs: run folders, checkpoints, resume, and the policy adapter.

`sysgym train` builds a `TrainConfig` from the command line and the per-algorithm YAML, `run.train` trains it into a
run folder, and `policy.load` turns that folder into a harness `Policy`.
"""
