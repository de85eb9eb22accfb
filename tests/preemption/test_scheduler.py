"""A hand-checked preemption sequence on the serving core: two long requests, KV for only one of them."""

from __future__ import annotations

import numpy as np
import pytest

from sysgym.envs.preemption.backend import PreemptionModelBackend
from sysgym.envs.preemption.config import PreemptionConfig
from sysgym.envs.preemption.workload import Conversations
from sysgym.envs.serving.engine import Engine, Worker
from sysgym.envs.serving.request import Phase, Request

PROMPT = 3000


class TwoRequests(PreemptionModelBackend):
    def conversations(self, rng: np.random.Generator) -> Conversations:
        return Conversations(
            start_s=np.zeros(2),
            user=np.array([0, 1]),
            first=np.array([0, 1, 2]),
            prompt_tokens=np.array([PROMPT, PROMPT]),
            output_tokens=np.array([200, 200]),
            think_s=np.zeros(2),
        )


def make(mechanism: str) -> TwoRequests:
    config = PreemptionConfig(mechanism=mechanism, gpu_mem_gib=19.5, users=2, update_freq=0.0)
    backend = TwoRequests(config)
    backend.reset(np.random.default_rng(0), {})
    return backend


def favour(backend: TwoRequests, rid: int) -> None:
    window = backend.window
    action = np.full(backend.k, -1.0, dtype=np.float32)
    for slot, req in enumerate(window):
        action[slot] = 1.0 if req.rid == rid else 0.0
    backend.apply(action)


def request(backend: TwoRequests, rid: int) -> Request:
    return next(r for r in backend.engine.requests if r.rid == rid)


def test_only_one_fits_so_the_agent_is_asked() -> None:
    backend = make("vllm")
    pool = backend.engine.workers[0].pool
    need = pool.blocks_for(PROMPT + 1)
    assert need < pool.capacity < 2 * need
    assert backend.at_decision
    assert [r.rid for r in backend.window] == [0, 1]


@pytest.mark.parametrize("mechanism", ["vllm", "fastswitch"])
def test_preempting_the_runner_swaps_exactly_its_blocks(mechanism: str) -> None:
    backend = make(mechanism)
    for _ in range(50):
        favour(backend, 1)
        if request(backend, 1).phase == Phase.DECODE and request(backend, 1).join_iter < backend.engine.workers[0].it:
            break
    runner = request(backend, 1)
    waiting = request(backend, 0)
    assert runner.phase == Phase.DECODE and waiting.phase == Phase.WAITING and waiting.prefilled == 0
    assert backend.engine.preemptions == 0
    worker = backend.engine.workers[0]
    generated = runner.join_generated + worker.it - runner.join_iter
    blocks = worker.pool.blocks_for(PROMPT + generated - 1)
    favour(backend, 0)
    assert backend.engine.preemptions == 1
    assert runner.phase == Phase.SWAPPED and runner.host_blocks == blocks
    geometry = backend.swap_path.geometry
    assert backend.swap_path.bytes == blocks * geometry.block_bytes
    mech = backend.scheduler.mechanism
    expected = backend.swap_model.swap_s(
        "d2h", blocks, geometry, mech.layout, group_blocks=mech.group_blocks, native=mech.native, threads=mech.threads
    )
    assert backend.swap_path.seconds == pytest.approx(expected)
    if mechanism == "vllm":
        assert 2 * geometry.layers * blocks * 6e-6 < expected, "block-granular: one ~7 us copy per block per layer"
    else:
        assert expected < blocks * geometry.block_bytes / 40e9, "block groups move near PCIe bandwidth"


def test_fastswitch_reuse_moves_only_new_blocks_on_the_second_swap_out() -> None:
    backend = make("fastswitch")
    worker = backend.engine.workers[0]
    for _ in range(50):
        favour(backend, 1)
        if request(backend, 1).phase == Phase.DECODE and request(backend, 1).join_iter < worker.it:
            break
    favour(backend, 0)
    runner = request(backend, 1)
    first_out = backend.swap_path.bytes
    valid = int(backend.scheduler.host_valid[runner.conversation])
    assert valid == runner.prompt + runner.generated - 1
    backend.engine.add_timer(backend.engine.now + 0.5, lambda engine: None)
    for _ in range(50):
        favour(backend, 1)
        if runner.phase == Phase.DECODE and worker.it > runner.join_iter + 10:
            break
    assert runner.phase == Phase.DECODE
    swapped_in = backend.swap_path.bytes - first_out
    assert swapped_in == worker.pool.blocks_for(valid) * backend.swap_path.geometry.block_bytes
    generated = runner.join_generated + worker.it - runner.join_iter
    blocks = worker.pool.blocks_for(runner.prompt + generated - 1)
    before = backend.swap_path.bytes
    favour(backend, 0)
    assert runner.phase == Phase.SWAPPED
    moved = (backend.swap_path.bytes - before) / backend.swap_path.geometry.block_bytes
    assert moved == blocks - valid // worker.pool.block_tokens
    assert moved < blocks / 4


def test_vllm_swap_in_drops_the_host_copy() -> None:
    backend = make("vllm")
    worker = backend.engine.workers[0]
    for _ in range(50):
        favour(backend, 1)
        if request(backend, 1).phase == Phase.DECODE and request(backend, 1).join_iter < worker.it:
            break
    favour(backend, 0)
    for _ in range(50):
        favour(backend, 1)
        if request(backend, 1).phase == Phase.DECODE:
            break
    assert backend.scheduler.host_valid[1] == 0
    assert worker.pool.host_used == 0


def test_fast_paths_agree_with_the_direct_sums(monkeypatch: pytest.MonkeyPatch) -> None:
    """`_contended` (from the engine's residue counts) and the reward's TBT excess (prefix sums) against per-request
    loops, at every plan and step of a contended episode."""
    from sysgym.envs.preemption import backend as backend_module
    from sysgym.envs.preemption.scheduler import PreemptionScheduler
    from sysgym.envs.serving.request import DECODE

    checked = [0, 0]

    class Checked(PreemptionScheduler):  # a Python subclass: the compiled scheduler calls its override
        def _contended(self, worker: Worker) -> bool:
            total = 0
            for req in self.live.values():
                generated = req.join_generated + worker.it - req.join_iter if req.phase == DECODE else req.generated
                total += worker.pool.blocks_for(req.prompt + generated + 1)
            direct = len(self.live) > worker.max_batch or total > worker.pool.capacity
            assert super()._contended(worker) == direct
            checked[0] += 1
            return direct

    monkeypatch.setattr(backend_module, "PreemptionScheduler", Checked)
    config = PreemptionConfig(conversations=24, rate=40.0, think_s=0.5, users=4, gpu_mem_gib=21.5)
    backend = PreemptionModelBackend(config)
    backend.reset(np.random.default_rng(0), {})
    rng = np.random.default_rng(1)
    while not backend.engine.done:
        before = len(backend.engine.finished)
        outcome = backend.apply(rng.uniform(-1, 1, backend.action_space.shape).astype(np.float32))
        new = backend.engine.finished[before:]
        direct = sum(float(np.maximum(backend.engine.tbt_samples(r) / config.tbt_slo_s - 1.0, 0.0).sum()) for r in new)
        assert outcome.signals["tbt_over"] == pytest.approx(direct, rel=1e-9, abs=1e-9)
        checked[1] += len(new)
    assert checked[0] > 100 and checked[1] > 50


def _run_with_quiet(
    monkeypatch: pytest.MonkeyPatch, config: PreemptionConfig, inline: bool
) -> tuple[np.ndarray, dict[str, float], int, list[int]]:
    """One episode of random scores; `inline=False` makes the scheduler never report `quiet` (always re-plan)."""
    from sysgym.envs.preemption import backend as backend_module
    from sysgym.envs.preemption.scheduler import PreemptionScheduler

    calls = [0, 0]  # quiet calls, and calls that let the decode loop run on

    class Counted(PreemptionScheduler):  # a Python subclass: the compiled engine calls its override
        def quiet(self, engine: Engine, worker: Worker) -> bool:
            calls[0] += 1
            on = inline and super().quiet(engine, worker)
            calls[1] += on
            return on

    monkeypatch.setattr(backend_module, "PreemptionScheduler", Counted)
    backend = PreemptionModelBackend(config)
    backend.reset(np.random.default_rng(3), {})
    rng = np.random.default_rng(4)
    observations = [backend.observation()]
    while not backend.engine.done:
        backend.apply(rng.uniform(-1, 1, backend.action_space.shape).astype(np.float32))
        observations.append(backend.observation())
    return np.stack(observations), backend.metrics(), backend.engine.workers[0].iterations, calls


def test_priority_updates_inline_match_the_event_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine runs a priority update inside its decode loop when `quiet` says re-planning changes nothing; the
    episode must be bit-identical to one that re-plans at every update (the event-by-event path)."""
    config = PreemptionConfig(conversations=16, rate=40.0, think_s=0.5, users=4, gpu_mem_gib=21.5)
    obs_a, metrics_a, iterations_a, calls_a = _run_with_quiet(monkeypatch, config, inline=True)
    obs_b, metrics_b, iterations_b, calls_b = _run_with_quiet(monkeypatch, config, inline=False)
    assert calls_a[1] > 10 and calls_b[0] > 20 and calls_b[1] == 0
    assert iterations_a == iterations_b
    assert metrics_a == metrics_b
    np.testing.assert_array_equal(obs_a, obs_b)
