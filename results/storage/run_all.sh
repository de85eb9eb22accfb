#!/usr/bin/env bash
# Regenerates every table in results/storage: all baselines, seeds 0-4, default synthetic workload (mixed).
set -euo pipefail
cd "$(dirname "$0")/../.."
for config in perf cost tri; do
  .venv/bin/sysgym eval --env sysgym/HybridStorage-v0 --policy all --seeds 0-4 --env-kwargs "config=$config" \
    --out "results/storage/$config"
done
.venv/bin/python -m sysgym.experiments.paper.storage
