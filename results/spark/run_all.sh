#!/usr/bin/env bash
# Regenerates results/spark/: every baseline on every built-in workload over seeds 0-4 (model backend), then the
# README table. Run from the repository root: bash results/spark/run_all.sh
set -euo pipefail
for workload in 2_large_2_small_users 2_power_2_small_users 4_large_users 4_super_small_users poisson; do
    .venv/bin/sysgym eval --env sysgym/SparkJobOrder-v0 --policy all --seeds 0-4 \
        --workload "$workload" --out "results/spark/$workload"
done
.venv/bin/python -m sysgym.experiments.paper.spark
