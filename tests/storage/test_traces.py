"""Trace loaders: the four formats, streaming, line-numbered errors, and hypothesis fuzzing."""

from __future__ import annotations

import itertools
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sysgym.envs.core.errors import TraceFormatError
from sysgym.envs.storage.baselines import BASELINES
from sysgym.envs.storage.traces import detect_format, records
from sysgym.experiments.harness import run_episode

MSR = "128166372003061629,hm,1,Read,7014609920,24576,41286\n128166372016382155,hm,1,Write,1317441536,8192,1963\n"
FIU = "89966527868 4450 syslogd 1024 8 W 6 0 5f3a\n89966530012 4450 syslogd 2048 16 R 6 0 9c1b\n"
SIBYL = "7014609920,24576,Read\n1317441536,8192,Write\n"
CLOUD = "version,time,op,size,lbn\n1,100,0x28,4096,2048\n1,101,0x2a,8192,4096\n1,102,0x35,0,0\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("fmt", "text"), [("msr", MSR), ("fiu", FIU), ("sibyl", SIBYL), ("cloudphysics", CLOUD)])
def test_formats_are_detected_and_normalised(tmp_path: Path, fmt: str, text: str) -> None:
    path = write(tmp_path, f"{fmt}.trace", text)
    assert detect_format(path) == fmt
    rows = list(records(path))
    assert len(rows) == 2
    assert [r.is_write for r in rows] == ([False, True] if fmt != "fiu" else [True, False])
    if fmt == "cloudphysics":
        assert (rows[0].offset, rows[0].size) == (2048 * 512, 4096)
    if fmt == "fiu":
        assert (rows[0].offset, rows[0].size) == (1024 * 512, 8 * 512)
    if fmt == "msr":
        assert rows[1].time_s is not None and rows[1].time_s > rows[0].time_s


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (MSR + "128166372016382155,hm,1,Erase,0,8192,1\n", 3, "neither read nor write"),
        (MSR + "128166372016382155,hm,1,Read,-5,8192,1\n", 3, "offset"),
        (MSR + "oops\n", 3, "expected 7 fields"),
        ("version,time,op,size,lbn\n1,100,0x28,4096,abc\n", 2, "lbn"),
        ("version,time,size\n1,2,3\n", 1, "lacks column"),
    ],
)
def test_malformed_rows_name_their_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, "bad.trace", text)
    with pytest.raises(TraceFormatError, match=message) as info:
        list(records(path))
    assert info.value.line == line


def test_loading_streams_only_the_window(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w") as handle:
        handle.write(MSR * 2000)
        handle.write("garbage that a full read would trip over\n")
    assert len(list(itertools.islice(records(path), 10))) == 10
    env = gym.make("sysgym/HybridStorage-v0", workload=str(path), max_requests=1000)
    env.reset(seed=0)
    with pytest.raises(TraceFormatError, match="4001"):
        gym.make("sysgym/HybridStorage-v0", workload=str(path), max_requests=5000).reset(seed=0)


def cloudphysics_trace(path: Path, n: int, seed: int) -> None:
    """A synthetic block trace in libCacheSim's CloudPhysics vscsi CSV layout."""
    rng = np.random.default_rng(seed)
    hot = rng.integers(0, 1 << 20, 300) * 8
    lines = ["version,time,op,size,lbn"]
    for k in range(n):
        lbn = int(hot[min(int(rng.zipf(1.3)) - 1, 299)]) if rng.random() < 0.8 else int(rng.integers(0, 1 << 23))
        op = "0x2a" if rng.random() < 0.3 else "0x28"
        lines.append(f"1,{1000 + k},{op},{4096 * int(rng.choice([1, 2, 4]))},{lbn}")
    path.write_text("\n".join(lines) + "\n")


def test_a_cloudphysics_trace_loads_and_evaluates(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    cloudphysics_trace(path, 3000, 0)
    means = {}
    for name in ("slow-only", "cde", "fast-only"):
        record = run_episode("sysgym/HybridStorage-v0", BASELINES[name](), 0, {"workload": str(path)})
        means[name] = record.metrics["mean_latency_us"]
        assert record.metrics["requests"] == 3000
    assert means["fast-only"] < means["cde"] < means["slow-only"]


VALID = [MSR, FIU, SIBYL, CLOUD]


def load_or_format_error(path: Path) -> None:
    try:
        for _ in records(path):
            pass
    except TraceFormatError as exc:
        assert exc.line >= 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_random_bytes_load_or_raise_format_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.trace"
    path.write_bytes(data)
    load_or_format_error(path)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.sampled_from(VALID), cuts=st.lists(st.tuples(st.integers(0, 200), st.text(max_size=6)), max_size=4))
def test_mutated_traces_load_or_raise_format_error(tmp_path: Path, base: str, cuts: list[tuple[int, str]]) -> None:
    text = base
    for at, insert in cuts:
        at = at % (len(text) + 1)
        text = text[:at] + insert + text[at + 1 :]
    path = tmp_path / "mutated.trace"
    path.write_text(text)
    load_or_format_error(path)
    try:
        env = gym.make("sysgym/HybridStorage-v0", workload=str(path), max_requests=50)
        env.reset(seed=0)
    except TraceFormatError:
        pass
