#!/usr/bin/env bash
# Live Spark vs the model on one scenario, same seeds and settings; writes results/spark/live-vs-model.md.
# The compare step also runs the model calibrated with the task-time line (a + b * nominal) the live backend fitted
# at start-up to real UDF tasks, before each episode (never from the compared episodes).
# Run from the repository root: bash results/spark/live_vs_model.sh (needs Java; 14.5 minutes on 2 quiet CPUs).
set -euo pipefail
for backend in live model; do
    .venv/bin/sysgym eval --env sysgym/SparkJobOrder-v0 --backend "$backend" --workload 2_large_2_small_users \
        --policy fifo,fair,uwfq --seeds 0-2 --env-kwargs cores=2 --env-kwargs time_scale=0.5 \
        --env-kwargs default_tasks=2 --out "results/spark/live-vs-model/$backend"
done
.venv/bin/python -m sysgym.runtime.spark.compare results/spark/live-vs-model/live/summary.json \
    results/spark/live-vs-model/model/summary.json --out results/spark/live-vs-model.md
