"""Print the performance model's held-out interpolation error and its co-running rates.

python -m sysgym.runtime.sm_partition.validate [--calibration FILE]
"""

from __future__ import annotations

import argparse

from sysgym.envs.calibration import load
from sysgym.envs.serving.perf import REFERENCE, PerfModel, fit_error_report, holdout_report


def main() -> None:
    """Refit without held-out rows, print each held-out row's error, the summary, and the co-run table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calibration", default=None)
    args = parser.parse_args()
    calib = load(args.calibration)
    report = holdout_report(calib)
    print("held-out layer_grid rows: sms phase tokens batch kv_len measured_ms predicted_ms error")
    for sms, phase, tokens, batch, kv, measured, predicted in report.rows:
        err = abs(predicted - measured) / measured
        print(f"  {sms:4d} {phase:7s} {tokens:5d} {batch:4d} {kv:5d} {measured:8.3f} {predicted:8.3f} {err:6.1%}")
    print(f"held-out: {len(report.rows)} rows, mean error {report.mape:.1%}, max {report.max_error:.1%}")
    fit = fit_error_report(calib)
    print(f"in-sample: {len(fit.rows)} rows, mean error {fit.mape:.1%}, max {fit.max_error:.1%}")
    corun = PerfModel(calib, REFERENCE).corun
    print("co-running progress rates (prefill SMs: prefill, decode):")
    for p, pr, dr in zip(corun.prefill_sms, corun.prefill_rate, corun.decode_rate, strict=True):
        print(f"  {p:4d}: {pr:.2f} {dr:.2f}")
    print(f"  oversubscribed: {corun.oversub_prefill_rate:.2f} {corun.oversub_decode_rate:.2f}")


if __name__ == "__main__":
    main()
