#!/usr/bin/env bash
# Export every trained agent of the results table (runs/learned/<env>/<algo>, written by results/commands.sh) as
# an ONNX and a numpy artifact here, then measure their decision latency into results/policy-latency.md.
# Harmonia's two-agent folders (harmonia.json, no config.json) are not single SB3 runs and are skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.venv/bin}
for run in runs/learned/*/*/; do
  run=${run%/}
  [ -f "$run/config.json" ] && [ -f "$run/model.zip" ] || { echo "skip $run (no config.json/model.zip)"; continue; }
  name="$(basename "$(dirname "$run")")-$(basename "$run")"
  "$BIN/sysgym" export "$run" --format onnx --out "results/policies/$name.onnx"
  "$BIN/sysgym" export "$run" --format numpy --out "results/policies/$name.npz"
done
"$BIN/sysgym" bench --policies
