import math

import pytest

from sysgym.envs.calibration import load
from sysgym.envs.core.errors import ConfigError
from sysgym.envs.preemption.swapcost import KVGeometry, SwapCostModel

CAL = load()
MODEL = SwapCostModel.from_calibration(CAL)
GEO = KVGeometry()
MIB = 1 << 20


def measured(kind: str, size: int, key: str) -> float:
    rows = [r for r in CAL["sections"]["pcie"] if r["kind"] == kind and r["pinned"]]
    field = "bytes" if kind == "single" else "chunk"
    return next(float(r[key]) for r in rows if r[field] == size)


@pytest.mark.parametrize("size", [65536, MIB, 16 * MIB, 256 * MIB])
@pytest.mark.parametrize("direction", ["d2h", "h2d"])
def test_single_copy_fit_within_10_percent(size: int, direction: str) -> None:
    predicted = MODEL.link(direction).single_s(size) * 1e3
    assert predicted == pytest.approx(measured("single", size, f"{direction}_ms"), rel=0.10)


def test_fixed_cost_and_bandwidth_match_the_calibration_story() -> None:
    assert 4e-6 < MODEL.d2h.latency_s < 8e-6
    assert 53e9 < MODEL.d2h.bandwidth_bps < 57e9


@pytest.mark.parametrize(("chunk", "gbps_low", "gbps_high"), [(16384, 1.7, 2.6), (MIB, 46, 51), (16 * MIB, 53, 56)])
def test_chunked_copies_move_at_the_measured_rates(chunk: int, gbps_low: float, gbps_high: float) -> None:
    total = 256 * MIB
    for direction in ("d2h", "h2d"):
        gbps = total / MODEL.chunked_s(direction, total, chunk) / 1e9
        assert gbps_low <= gbps <= gbps_high


def test_chunked_interpolation_leave_one_out_error() -> None:
    rows = [r for r in CAL["sections"]["pcie"] if r["kind"] == "chunked"]
    errors = []
    for held in rows[1:-1]:
        sub = {**CAL, "sections": {**CAL["sections"], "pcie": [r for r in CAL["sections"]["pcie"] if r is not held]}}
        model = SwapCostModel.from_calibration(sub)
        predicted = model.chunked_s("d2h", held["bytes"], held["chunk"]) * 1e3
        errors.append(abs(predicted - held["d2h_ms"]) / held["d2h_ms"])
    assert max(errors) < 0.25


def test_gather_then_copy_reaches_the_measured_53_gbps() -> None:
    total = 256 * MIB
    gbps = total / MODEL.gather_copy_s("d2h", total) / 1e9
    assert gbps == pytest.approx(CAL["sections"]["kv_gather"][0]["effective_gbps"], rel=0.03)


def test_contention_is_the_measured_three_percent() -> None:
    assert MODEL.contention == pytest.approx(23.153791427612305 / 22.494495391845703 - 1, rel=1e-6)


def test_python_threads_slow_small_copies_as_measured() -> None:
    one = MODEL.sequence_s("d2h", 16384, 16384, threads=1)
    four = MODEL.sequence_s("d2h", 16384, 16384, threads=4)
    assert four / one == pytest.approx(2.42 / 0.663, rel=0.25)
    assert MODEL.sequence_s("d2h", 100, 16 * MIB, threads=4) == pytest.approx(
        MODEL.sequence_s("d2h", 100, 16 * MIB), rel=1e-9
    )


def test_vllm_block_swap_of_1000_tokens_matches_the_reference_example() -> None:
    blocks = GEO.blocks(1000)
    assert 2 * GEO.layers * blocks == 4032
    assert GEO.copy_bytes_per_block == 32 * 1024
    block = MODEL.swap_s("d2h", blocks, GEO, "block")
    assert 0.010 < block < 0.040
    grouped = MODEL.swap_s("d2h", blocks, GEO, "group", group_blocks=32, native=True)
    gathered = MODEL.swap_s("d2h", blocks, GEO, "gather")
    bandwidth_bound = blocks * GEO.block_bytes / MODEL.d2h.bandwidth_bps
    assert block / grouped > 5
    assert bandwidth_bound < gathered < 1.2 * bandwidth_bound + 5e-4


def test_group_layout_counts_full_and_partial_groups() -> None:
    per = GEO.copy_bytes_per_block
    expected = MODEL.sequence_s("d2h", 64 * 2, 32 * per, native=True) + MODEL.sequence_s(
        "d2h", 64, 5 * per, native=True
    )
    assert MODEL.swap_s("d2h", 69, GEO, "group", group_blocks=32, native=True) == pytest.approx(expected)
    assert MODEL.swap_s("h2d", 0, GEO, "block") == 0.0


def test_missing_sections_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="swap-cost"):
        SwapCostModel.from_calibration({"sections": {"pcie": []}})
    assert math.isfinite(MODEL.thread_exponent)
