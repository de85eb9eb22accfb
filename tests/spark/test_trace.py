import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sysgym  # noqa: F401
from sysgym.envs.core.errors import TraceFormatError
from sysgym.envs.spark.config import SparkConfig
from sysgym.envs.spark.trace import read_tasks, trace_workload

HEADER = (
    "workflow_id,ts_submit,ts_submit_seconds,task_count,total_resources,task_id,runtime,"
    "resource_amount_requested,resource_run_time,user_id"
)
ROWS = [
    # workflow, submit s, runtime ms, request, user
    ("w1", 100.0, 60000, 0.05, "alice"),
    ("w1", 101.0, 30000, 0.05, "alice"),
    ("w2", 102.5, 5000, 0.02, "bob"),
    ("w3", 103.0, 900000, 0.10, "carol"),
    ("w4", 104.0, 4000, 0.0, "bob"),  # no CPU request: dropped
    ("w5", 110.0, 20000, 0.03, "bob"),
]


def valid_csv(rows=ROWS) -> str:
    lines = [HEADER]
    for i, (wf, submit, runtime, request, user) in enumerate(rows):
        lines.append(f"{wf},{int(submit * 1000)},{submit},2,0.1,t{i},{runtime},{request},{runtime * request},{user}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "macro.csv"
    path.write_text(valid_csv())
    return path


def test_loader_groups_workflows_and_scales_as_the_benchmark(trace):
    config = SparkConfig(workload=str(trace), task_skew=0.0)
    wl = trace_workload(str(trace), config, np.random.default_rng(0))
    assert wl.users == ("alice", "bob", "carol")
    assert len(wl.jobs) == 4  # w4 has no CPU request
    starts = [s.start for s in wl.streams]
    assert starts == [0.0, 2.5, 3.0, 10.0]
    # w1: scaled = 2 * (3000 + 1500) / 1000 / 32 s per row; 12 default tasks per row of that length
    w1 = wl.jobs[0]
    assert len(w1.stages[0]) == 24
    assert w1.stages[0][0] == pytest.approx(2 * 3000 / 1000 / 32)
    assert w1.estimate == pytest.approx(12 * 2 * 4500 / 1000 / 32, rel=1e-12)
    assert wl.classes == ("small", "large")


def test_homo_mode_drops_long_workflows(trace):
    config = SparkConfig(workload=str(trace), trace_mode="homo", task_skew=0.0)
    wl = trace_workload(str(trace), config, np.random.default_rng(0))
    # w3's runtime (90 000 ms x 0.1) is more than 5x the median; it is dropped
    assert len(wl.jobs) == 3
    assert wl.users == ("alice", "bob")


def test_env_runs_on_a_trace(trace):
    env = gym.make("sysgym/SparkJobOrder-v0", workload=str(trace), cores=4)
    _, info = env.reset(seed=0)
    done = False
    while not done:
        _obs, _, terminated, truncated, info = env.step(int(np.flatnonzero(info["action_mask"])[0]))
        done = terminated or truncated
    assert info["metrics"]["jobs_finished"] == 4


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "empty"),
        ("workflow_id,user_id\nw1,u\n", 1, "lacks column"),
        (valid_csv() + "w9,1,abc,1,1,t,1,0.1,1,u\n", 8, "ts_submit_seconds is not a number"),
        (valid_csv() + "w9,1,1.0,1,1,t,1,0.1,-5,u\n", 8, "resource_run_time"),
        (valid_csv() + "w9,1,1.0,1\n", 8, "expected 10 fields"),
        (valid_csv() + "w9,1,nan,1,1,t,1,0.1,1,u\n", 8, "ts_submit_seconds"),
        (HEADER + "\nw1,1,1.0,1,1,t,1,0.0,1,u\n", 2, "no task row"),
        (valid_csv() + ",1,1.0,1,1,t,1,0.1,1,u\n", 8, "must not be empty"),
    ],
)
def test_malformed_rows_name_their_line(tmp_path, text, line, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TraceFormatError, match=message) as err:
        read_tasks(path)
    assert err.value.line == line
    assert str(path) in str(err.value)


def test_binary_file_is_a_trace_error(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"workflow_id\n\xff\xfe\x00garbage")
    with pytest.raises(TraceFormatError, match="UTF-8") as err:
        read_tasks(path)
    assert err.value.line == 2


def _load(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "t.csv"
    path.write_bytes(data)
    try:
        wl = trace_workload(str(path), SparkConfig(workload=str(path)), np.random.default_rng(0))
    except TraceFormatError:
        return
    assert wl.jobs and all(np.isfinite(j.estimate) and j.estimate >= 0 for j in wl.jobs)


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_load_or_raise_trace_error(tmp_path_factory, data):
    _load(tmp_path_factory, data)


@FUZZ
@given(
    st.lists(
        st.tuples(st.integers(0, 400), st.sampled_from(["", ",", "\n", "x", "-1", "1e308", "nan", '"', "\x00", "9"])),
        max_size=8,
    )
)
def test_mutated_valid_files_load_or_raise_trace_error(tmp_path_factory, edits):
    text = valid_csv()
    for position, insert in edits:
        cut = min(position, len(text))
        text = text[:cut] + insert + text[cut + 1 :]
    _load(tmp_path_factory, text.encode())
