from __future__ import annotations

import json
from pathlib import Path

import pytest

from sysgym.experiments.results_table import is_bound, load_rows, table, verdict


@pytest.mark.parametrize(
    ("learned", "best", "lower", "expected"),
    [
        (90.0, 100.0, True, "beats (+10.0%)"),
        (110.0, 100.0, True, "loses to (-10.0%)"),
        (101.0, 100.0, True, "matches (-1.0%)"),
        (0.5, 0.8, False, "loses to (-37.5%)"),
        (0.9, 0.8, False, "beats (+12.5%)"),
    ],
)
def test_verdict_follows_the_metric_direction(learned: float, best: float, lower: bool, expected: str) -> None:
    assert verdict(learned, best, lower) == expected


def test_bounds_are_not_the_bar() -> None:
    assert is_bound("oracle") and is_bound("srpt-oracle") and is_bound("fast-only")
    assert not is_bound("cde") and not is_bound("uwfq")


def _write(folder: Path, run: str) -> None:
    folder.mkdir(parents=True)
    stat = lambda m: {"mean_latency_us": {"mean": m, "std": 1.0, "values": [m]}}  # noqa: E731
    summary = {
        "env": "sysgym/X-v0",
        "headline_metric": "mean_latency_us",
        "lower_is_better": True,
        "ranking": ["oracle", "cde", run, "slow-only"],
        "policies": {"oracle": stat(10.0), "cde": stat(20.0), run: stat(25.0), "slow-only": stat(40.0)},
        "env_kwargs": {"max_requests": 10},
        "seeds": [100, 101],
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    training = {"run": run, "algo": "maskable-ppo", "timesteps": 1234, "wall_s": 5.0, "command": "sysgym train x"}
    (folder / "training.json").write_text(json.dumps(training))


def test_table_compares_with_the_best_heuristic_not_the_oracle(tmp_path: Path) -> None:
    _write(tmp_path / "results" / "learned" / "X-v0", "runs/learned/X-v0/maskable-ppo")
    (tmp_path / "results" / "learned" / "empty").mkdir()
    rows = load_rows(sorted((tmp_path / "results" / "learned").iterdir()))
    assert len(rows) == 1
    text = table(rows, tmp_path / "results" / "README.md")
    line = next(row for row in text.splitlines() if row.startswith("| [sysgym/X-v0]"))
    assert "| cde |" in line
    assert "loses to (-25.0%)" in line
    assert "(learned/X-v0/summary.md)" in line
    assert "1234" in line
