import dataclasses

import numpy as np
import pytest

from sysgym.envs.serving import (
    Phase,
    Request,
    ServingConfig,
    WorkloadSpec,
    build_engine,
    perf_model,
    synthetic_requests,
)


def one(prompt: int, output: int, t: float = 0.0, rid: int = 0) -> Request:
    return Request(rid, t, prompt, output)


@pytest.mark.parametrize("system", ["vllm-prefill-priority", "vllm-chunked", "semi-pd", "distserve-1p1d"])
def test_single_request_ttft_is_its_prefill_time(system: str) -> None:
    engine = build_engine(ServingConfig(system=system, token_budget=4096))
    req = one(1000, 1)
    engine.reset([req])
    engine.run()
    perf = perf_model("llama3-8b")
    sms = engine.workers[0].sms
    assert req.phase == Phase.FINISHED
    assert req.ttft() == pytest.approx(perf.prefill_s(sms, 1000, 1000.0**2), rel=1e-12)


def test_single_request_decode_iterations_sum() -> None:
    engine = build_engine(ServingConfig(system="vllm-chunked"))
    req = one(100, 5)
    engine.reset([req])
    engine.run()
    perf = perf_model("llama3-8b")
    # decode iteration k reads prompt + k + 1 tokens (the first output token came from prefill)
    expect = sum(perf.decode_s(132, 1, 100 + k) for k in range(1, 5))
    assert req.finish - req.first_token == pytest.approx(expect, rel=1e-9)
    assert req.tpot() == pytest.approx(expect / 4, rel=1e-9)
    gaps = engine.tbt_samples(req)
    assert len(gaps) == 4
    assert gaps.sum() == pytest.approx(expect, rel=1e-9)


def test_kv_exhaustion_blocks_admission() -> None:
    engine = build_engine(ServingConfig(system="vllm-prefill-priority"))
    pool = engine.workers[0].pool
    # shrink the pool: room for the first request (63 prompt blocks, 75 at its end) but not for both prompts
    pool.capacity = 100
    a, b = one(1000, 200, 0.0, 0), one(1000, 3, 0.001, 1)
    engine.reset([a, b])
    engine.run(until=0.2)
    assert a.phase == Phase.DECODE
    assert b.phase == Phase.WAITING and b.blocks == 0
    engine.run()
    assert b.first_token >= a.finish
    assert pool.used == 0


def test_decode_growth_preempts_newest_when_pool_runs_out() -> None:
    engine = build_engine(ServingConfig(system="vllm-chunked"))
    pool = engine.workers[0].pool
    pool.capacity = 40
    a, b = one(300, 300, 0.0, 0), one(300, 300, 0.0, 1)
    engine.reset([a, b])
    engine.run()
    assert engine.done
    assert engine.preemptions >= 1
    assert b.preemptions >= 1 and a.preemptions == 0
    assert pool.used == 0 and pool.peak <= 40


def test_block_accounting_balances_and_is_deterministic() -> None:
    cfg = ServingConfig(system="semi-pd", prefill_sms=64)
    results = []
    for _ in range(2):
        engine = build_engine(cfg)
        reqs = synthetic_requests(WorkloadSpec(rate=40, requests=300), np.random.default_rng(3))
        engine.reset(reqs)
        engine.run()
        assert engine.done
        assert engine.workers[0].pool.used == 0
        results.append([(r.first_token, r.finish) for r in reqs])
    assert results[0] == results[1]


def test_distserve_swaps_when_decode_kv_runs_out() -> None:
    engine = build_engine(ServingConfig(system="distserve-1p1d"))
    engine.workers[1].pool.capacity = 300
    reqs = synthetic_requests(WorkloadSpec(rate=30, requests=200), np.random.default_rng(1))
    engine.reset(reqs)
    engine.run()
    assert engine.done
    assert engine.preemptions > 0 and engine.swapped_blocks > 0
    assert all(w.pool.used == 0 and w.pool.host_used == 0 for w in engine.workers)


def test_partition_switch_takes_effect_after_delay() -> None:
    engine = build_engine(ServingConfig(system="semi-pd", prefill_sms=32))
    engine.reset([one(4000, 2)])
    prefill = engine.workers[0]
    engine.set_sms(prefill, 96, delay=0.5)
    engine.run()
    assert prefill.sms == 32  # the only iteration started before the switch landed
    slow = perf_model("llama3-8b").prefill_s(32, 4000, 4000.0**2)
    assert engine.requests[0].ttft() == pytest.approx(slow, rel=1e-12)


def test_corun_slows_both_partitions() -> None:
    perf = perf_model("llama3-8b")
    for p in (16, 64, 112):
        pr, dr = perf.corun_rates(p, False)
        assert 0 < pr < 1 and 0 < dr < 1
    op, od = perf.corun_rates(0, True)
    assert 0 < op < 1 and 0 < od < 1


def test_config_rejects_unknown_system() -> None:
    from sysgym.envs.core.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="vllm-chunked"):
        ServingConfig(system="orca")
    assert dataclasses.replace(ServingConfig(), model="llama3-70b").model == "llama3-70b"


def test_iteration_hook_fires_at_the_end_of_the_counted_iteration() -> None:
    engine = build_engine(ServingConfig(system="vllm-chunked"))
    req = one(100, 50)
    engine.reset([req])
    worker = engine.workers[0]
    seen: list[tuple[int, int]] = []
    engine.at_iterations(worker, 17, lambda e: seen.append((worker.iterations, worker.it)))
    engine.run()
    # the prefill iteration is the first; decode iterations run in the inline loop, which must stop for the hook
    assert seen == [(17, 16)]
    assert engine.done and req.generated == 50


def test_wake_starts_an_idle_worker_at_once() -> None:
    engine = build_engine(ServingConfig(system="vllm-chunked"))
    req = one(100, 5)
    engine.reset([req])
    worker = engine.workers[0]
    engine.scheduler.on_arrival(engine, req)
    engine._next = 1  # the request is queued by hand, as a scheduler would after an outside input
    assert not worker.busy
    engine.wake()
    assert worker.busy and req.prefilled == 0
    engine.run()
    assert engine.done and req.first_token > 0.0
