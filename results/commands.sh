#!/usr/bin/env bash
# The learned-versus-heuristic comparison (`make results` runs this): for every env, train the best-guess agent
# under a wall-clock budget, evaluate it next to every baseline through the harness on held-out seeds, collect the
# training facts and learning curve, and regenerate results/README.md.
# Sibyl is the qrdqn row on the Placement env; Harmonia the two-agent row (`--algo harmonia`).
# Usage: results/commands.sh [env-name | env-name/algo ...]   (default: all envs below; BUDGET_S seconds of training each)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
BUDGET_S=${BUDGET_S:-120}
SEEDS=${SEEDS:-100-104}

# name | env id | algo | env kwargs (training and evaluation alike): each env's quick_kwargs (the spec's short
# episodes), since a 2-core machine shared with other jobs cannot evaluate every baseline on the full defaults
# in the time this table was made; rerun with other kwargs for longer episodes.
PLAN=(
  "SparkJobOrder-v0|sysgym/SparkJobOrder-v0|maskable-ppo|workload=2_large_2_small_users"
  "SMPartition-v0|sysgym/SMPartition-v0|maskable-ppo|requests=300 rate=30.0"
  "ExpertReroute-v0|sysgym/ExpertReroute-v0|maskable-ppo|batches=16"
  "HybridStorage-Placement-v0|sysgym/HybridStorage-Placement-v0|maskable-ppo|max_requests=4000"
  "HybridStorage-Migration-v0|sysgym/HybridStorage-Migration-v0|maskable-ppo|max_requests=4000"
  "HybridStorage-v0|sysgym/HybridStorage-v0|maskable-ppo|max_requests=4000"
  "HybridStorage-v0|sysgym/HybridStorage-v0|harmonia|max_requests=4000"
  "HybridStorage-Placement-v0|sysgym/HybridStorage-Placement-v0|qrdqn|max_requests=4000"
  "Preemption-v0|sysgym/Preemption-v0|ppo|conversations=16 rate=40.0 think_s=0.5 users=4 gpu_mem_gib=21.5"
)

# Arguments select rows by env name (all its agents) or by name/algo.
wanted() { local w; for w in "${ONLY[@]}"; do [ "$w" = "$1" ] || [ "$w" = "$1/$2" ] && return 0; done; return 1; }
ONLY=("$@")

one() {
  local name=$1 id=$2 algo=$3 kwargs=$4
  local run=runs/learned/$name/$algo
  local kw=() k baselines out
  for k in $kwargs; do kw+=(--env-kwargs "$k"); done
  if [ ! -f "$run/model.zip" ] && [ ! -f "$run/harmonia.json" ]; then
    rm -rf "$run"
    nice "$BIN/sysgym" train --env "$id" --algo "$algo" --seed 0 --timesteps 2000000 --budget-s "$BUDGET_S" \
      "${kw[@]}" --out "$run"
  fi
  baselines=$("$BIN/python" -c "import sysgym; from sysgym.envs.registry import spec; print(','.join(spec('$id').baselines))")
  out=results/learned/$name
  if [ "$algo" != "maskable-ppo" ] && [ "$algo" != "ppo" ]; then out=results/learned/$name-$algo; fi
  nice "$BIN/sysgym" eval --env "$id" --policy "$baselines,$run" --seeds "$SEEDS" "${kw[@]}" --out "$out" >/dev/null
  "$BIN/python" -m sysgym.experiments.results_table collect --run "$run" --out "$out"
}

for row in "${PLAN[@]}"; do
  IFS='|' read -r name id algo kwargs <<<"$row"
  if [ ${#ONLY[@]} -gt 0 ] && ! wanted "$name" "$algo"; then continue; fi
  one "$name" "$id" "$algo" "$kwargs" || echo "results: $name ($algo) failed; its row is missing" >&2
done
"$BIN/python" -m sysgym.experiments.results_table table --out results/README.md results/learned/*/
