"""Routing workloads: the paper's scenarios, the drift statistics, and the trace loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sysgym.envs.core.errors import ConfigError, TraceFormatError, UnknownNameError
from sysgym.envs.moe.workloads import NAMES, Drift, load_trace, make_routing

TOTAL = 8 * 32768 * 4


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("hot")])
def test_hot_scenarios_send_their_share_to_device_zero(name: str) -> None:
    hot, share = int(name[3:].split("-")[0]), int(name.split("-")[1]) / 100
    routing = make_routing(name, 128, 8, TOTAL, 1)
    rng = np.random.default_rng(0)
    routing.reset(rng)
    loads = routing.block(rng, 0, 16)
    assert np.all(loads.sum(axis=1) == TOTAL)
    assert loads[:, :hot].sum() / loads.sum() == pytest.approx(share, abs=0.002)
    per_device = loads.reshape(16, 8, 16).sum(axis=2)
    assert np.all(per_device.argmax(axis=1) == 0)


def test_random_placement_moves_hot_experts() -> None:
    routing = make_routing("hot1-95", 128, 8, TOTAL, 4, random_placement=True)
    rng = np.random.default_rng(3)
    routing.reset(rng)
    hottest = {int(routing.block(rng, layer, 1)[0].argmax()) for layer in range(4)}
    assert len(hottest) > 1


def test_balanced_is_even_up_to_router_noise() -> None:
    routing = make_routing("balanced", 128, 8, TOTAL, 1)
    loads = routing.block(np.random.default_rng(0), 0, 32)
    assert np.all(loads.sum(axis=1) == TOTAL)
    assert loads.max() / (TOTAL / 128) < 1.1


def test_drift_matches_the_papers_real_routing_statistics() -> None:
    routing = make_routing("drift", 128, 8, TOTAL, 1)
    assert isinstance(routing, Drift)
    rng = np.random.default_rng(0)
    routing.reset(rng)
    loads = np.concatenate([routing.block(rng, 0, 64) for _ in range(16)])
    share = loads / TOTAL
    device = share.reshape(len(share), 8, 16).sum(axis=2)
    assert 0.28 <= device.max(axis=1).mean() <= 0.37
    assert share.max(axis=1).mean() >= 0.10 and share.max() <= 0.22
    hottest = device.argmax(axis=1)
    assert np.mean(hottest[1:] != hottest[:-1]) > 0.5


def test_unknown_and_impossible_workloads_fail_clearly() -> None:
    with pytest.raises(UnknownNameError, match="drift"):
        make_routing("hot2-95", 128, 8, TOTAL, 1)
    with pytest.raises(ConfigError, match="more than 16"):
        make_routing("hot16-50", 8, 8, TOTAL, 1)
    with pytest.raises(ConfigError, match="does not exist"):
        make_routing("/nonexistent/trace.csv", 8, 8, TOTAL, 1)


def test_trace_rows_replay_per_layer(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("# batch 0\n1,2,3,4\n5,6,7,8\n\n9,10,11,12  # batch 1, layer 0\n13,14,15,16\n")
    routing = make_routing(str(path), 4, 2, 10, 2)
    rng = np.random.default_rng(0)
    routing.reset(rng)
    assert routing.block(rng, 0, 3).tolist() == [[1, 2, 3, 4], [9, 10, 11, 12], [1, 2, 3, 4]]
    assert routing.block(rng, 1, 1).tolist() == [[5, 6, 7, 8]]


@pytest.mark.parametrize(
    ("text", "line"), [("1,2,3\n", 1), ("1,2,3,4\n1,2,x,4\n", 2), ("\n\n1,2,-3,4\n", 3), ("0,0,0,0\n", 1), ("#\n", 1)]
)
def test_bad_traces_name_the_line(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TraceFormatError) as err:
        load_trace(path, 4)
    assert err.value.line == line


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_random_bytes_load_or_raise_trace_format_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "random.csv"
    path.write_bytes(data)
    try:
        rows = load_trace(path, 4)
    except TraceFormatError:
        return
    assert rows.shape[1] == 4 and np.all(rows >= 0)


VALID = "10,20,30,40\n# comment\n1,0,0,7\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(0, len(VALID)), insert=st.text(max_size=5), cut=st.integers(0, 3))
def test_mutated_traces_load_or_raise_trace_format_error(tmp_path: Path, position: int, insert: str, cut: int) -> None:
    path = tmp_path / "mutated.csv"
    path.write_text(VALID[:position] + insert + VALID[position + cut :], encoding="utf-8")
    try:
        rows = load_trace(path, 4)
    except TraceFormatError:
        return
    assert rows.shape[1] == 4 and np.all(rows.sum(axis=1) > 0)


@pytest.mark.parametrize(("experts", "devices"), [(128, 8), (8, 2), (16, 16)])
def test_bulk_hot_sets_equal_row_by_row_picks(experts: int, devices: int) -> None:
    # The bulk path computes rows whose first picks are distinct at once; the others (and 8-expert layers,
    # where repeats are common) go pick by pick. Both must give the one-row-at-a-time sets and generator state.
    drift = Drift(experts, devices, 1000, 1)
    for seed in range(40):
        for count in (1, 32):
            bulk_rng, row_rng = np.random.default_rng(seed), np.random.default_rng(seed)
            bulk = drift._draws(bulk_rng, count)
            uniforms = row_rng.random((count, 1 + 4 * Drift.HOT)).tolist()
            assert bulk.tolist() == [drift._pick(row_rng, row) for row in uniforms]
            assert bulk_rng.random() == row_rng.random()
