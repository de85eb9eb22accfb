import contextlib
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sysgym.envs.calibration import load
from sysgym.envs.core.errors import ConfigError, TraceFormatError, UnknownNameError
from sysgym.envs.serving import WorkloadSpec, length_distribution, load_trace, synthetic_requests
from sysgym.envs.serving.perf import holdout_report

VALID = "# a trace\narrival_s,prompt_tokens,output_tokens,user\n0.0,100,20,1\n0.5,300,7,2\n0.5,50,1,1\n"


def write(text: str | bytes) -> Path:
    with tempfile.NamedTemporaryFile("wb", suffix=".csv", delete=False) as f:
        f.write(text.encode() if isinstance(text, str) else text)
    return Path(f.name)


def test_trace_loads_rows_in_order() -> None:
    reqs = load_trace(write(VALID))
    assert [(r.arrival, r.prompt, r.output, r.user) for r in reqs] == [
        (0.0, 100, 20, 1),
        (0.5, 300, 7, 2),
        (0.5, 50, 1, 1),
    ]


@pytest.mark.parametrize(
    ("text", "line", "match"),
    [
        ("0.0,100,20\n1.0,abc,3\n", 2, "prompt_tokens"),
        ("0.0,100,20\n-1,5,3\n", 2, "arrival_s"),
        ("1.0,100,20\n0.5,5,3\n", 2, "earlier"),
        ("0.0,100\n", 1, "expected 3 to 6"),
        ("0.0,0,3\n", 1, "prompt_tokens must be"),
        ("# only a comment\n", 1, "no requests"),
    ],
)
def test_trace_errors_name_the_line(text: str, line: int, match: str) -> None:
    with pytest.raises(TraceFormatError, match=match) as err:
        load_trace(write(text))
    assert err.value.line == line


def test_context_window_checked() -> None:
    with pytest.raises(TraceFormatError, match="context window"):
        load_trace(write("0,9000,10\n"), max_tokens=8192)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_load_or_raise_trace_error(data: bytes) -> None:
    try:
        reqs = load_trace(write(data))
    except TraceFormatError:
        return
    assert reqs and all(r.prompt >= 1 and r.output >= 1 for r in reqs)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(VALID) - 1), st.sampled_from([",", "x", "-", "\n", "9", ".", "#", "e", "\x00"]))
def test_mutated_trace_loads_or_raises_trace_error(pos: int, char: str) -> None:
    text = VALID[:pos] + char + VALID[pos + 1 :]
    with contextlib.suppress(TraceFormatError):
        load_trace(write(text))


def test_length_distributions_match_their_sources() -> None:
    rng = np.random.default_rng(0)
    prompts, outputs = length_distribution("sharegpt").sample(rng, 50_000)
    assert 220 < prompts.mean() < 260 and 300 < outputs.mean() < 350
    long_p, _ = length_distribution("longbench").sample(rng, 20_000)
    assert 2000 < long_p.mean() < 2600
    mix_p, _ = length_distribution("mix-95-5").sample(rng, 50_000)
    assert 0.04 < np.mean(mix_p >= 2048) < 0.07
    with pytest.raises(UnknownNameError, match="sharegpt"):
        length_distribution("alpaca")


def test_arrivals_have_requested_rate_and_burstiness() -> None:
    rng = np.random.default_rng(1)
    poisson = synthetic_requests(WorkloadSpec(rate=10, requests=20_000), rng)
    gaps = np.diff([r.arrival for r in poisson])
    assert gaps.mean() == pytest.approx(0.1, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.05)
    bursty = synthetic_requests(WorkloadSpec(rate=10, requests=20_000, arrival="gamma", cv=3.0), rng)
    gaps = np.diff([r.arrival for r in bursty])
    assert gaps.std() / gaps.mean() == pytest.approx(3.0, rel=0.15)
    with pytest.raises(ConfigError):
        WorkloadSpec(rate=0)


def test_holdout_interpolation_error_under_ten_percent() -> None:
    report = holdout_report(load())
    assert len(report.rows) >= 20
    assert report.mape < 0.05
    assert report.max_error < 0.10
