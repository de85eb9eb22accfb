"""Model backend of `sysgym/SMPartition-v0`: the shared serving engine with semi-PD's two SM partitions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from sysgym.envs.core.backend import Backend, Outcome
from sysgym.envs.core.errors import ConfigError
from sysgym.envs.serving.engine import Engine
from sysgym.envs.serving.lengths import length_distribution
from sysgym.envs.serving.metrics import latencies, summarize
from sysgym.envs.serving.models import Slo, model_spec, slo
from sysgym.envs.serving.perf import PerfModel
from sysgym.envs.serving.request import Request
from sysgym.envs.serving.system import ServingConfig, build_engine, gpus, perf_model
from sysgym.envs.serving.workload import WorkloadSpec, is_builtin_dataset, load_trace, synthetic_requests
from sysgym.envs.sm_partition.config import PARTITION_STEP, SCALED_SLOS, SMPartitionConfig

OBS_SIZE = 14
RATIO_CAP = 4.0


def partitions(total_sms: int) -> list[tuple[int, int, bool]]:
    """The action set: (prefill SMs, decode SMs, oversubscribed) for every green-context split, then (all, all)."""
    splits = [(p, total_sms - p, False) for p in range(PARTITION_STEP, total_sms, PARTITION_STEP)]
    return [*splits, (total_sms, total_sms, True)]


@dataclass
class WindowStats:
    """What one decision window observed (read by baselines through `SMPartitionView`).

    Attributes:
        ttft: TTFTs of requests whose first token came in the window, seconds.
        tpot: TPOTs of requests that finished in the window, seconds.
        finished: requests finished in the window.
        attained: of those, requests within both SLOs.
        arrivals: requests that arrived in the window.
        seconds: simulated length of the window.
        prefill_full_s: summed prefill time on all SMs of the window's arrivals (semi-PD's l_100 estimate).
    """

    ttft: list[float] = field(default_factory=list)
    tpot: list[float] = field(default_factory=list)
    finished: int = 0
    attained: int = 0
    arrivals: int = 0
    seconds: float = 0.0
    prefill_full_s: float = 0.0


@dataclass
class SMPartitionView:
    """`info["system"]`: the state heuristics may read (refreshed at each decision, never copied).

    Attributes:
        config: the env configuration.
        slo: the TTFT/TPOT objectives.
        partitions: the action set, (prefill SMs, decode SMs, oversubscribed) per action index.
        total_sms: SMs of one GPU.
        action: the split in force (action index).
        window: the last window's measurements.
        p90_ttft_s: 90th-percentile TTFT over the last window (0 when none).
        p90_tpot_s: 90th-percentile TPOT over the last window (0 when none).
        rate_rps: arrival-rate estimate (exponentially smoothed over windows).
        l100_s: mean prefill time of one request on all SMs, from the window's arrivals (the model's estimate).
        queue: requests waiting for prefill.
        decode_batch: requests in the decode batch.
        kv_usage: fraction of device KV blocks in use.
        now_s: simulated time.
    """

    config: SMPartitionConfig
    slo: Slo
    partitions: list[tuple[int, int, bool]]
    total_sms: int
    action: int = 0
    window: WindowStats = field(default_factory=WindowStats)
    p90_ttft_s: float = 0.0
    p90_tpot_s: float = 0.0
    rate_rps: float = 0.0
    l100_s: float = 0.0
    queue: int = 0
    decode_batch: int = 0
    kv_usage: float = 0.0
    now_s: float = 0.0


def _p(ordered: list[float], q: float) -> float:
    """`np.percentile(values, q)` (linear method, same arithmetic, so bit-equal) of already sorted values, 0 if none.

    Pure Python: numpy's per-call overhead on these short per-window lists outweighed the sort itself.
    """
    if not ordered:
        return 0.0
    last = len(ordered) - 1
    index = last * (q / 100)
    lo = int(index)
    t = index - lo
    a = ordered[lo]
    b = ordered[lo + 1 if lo < last else last]
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


class ModelBackend(Backend[np.ndarray, int]):
    """semi-PD (or a baseline deployment) on the calibrated performance model."""

    def __init__(self, config: SMPartitionConfig) -> None:
        self.config = config
        self.perf: PerfModel = perf_model(config.model, config.calibration)
        self.total_sms = self.perf.total_sms
        self.parts = partitions(self.total_sms)
        n = len(self.parts)
        if not -1 <= config.initial_action < n:
            raise ConfigError(f"initial_action must be in [-1, {n - 1}], got {config.initial_action}")
        self.semi_pd = config.system == "semi-pd"
        self.initial = config.initial_action % n if self.semi_pd else n - 1
        p_sms, _, over = self.parts[self.initial]
        self.serving = ServingConfig(
            system=config.system,
            model=config.model,
            calibration=config.calibration,
            gpu_mem_gib=config.gpu_mem_gib,
            max_batch=config.max_batch,
            token_budget=config.token_budget,
            prefill_sms=p_sms if not over else self.total_sms // 2,
            oversubscribed=over and self.semi_pd,
        )
        self._trace: list[Request] | None = None
        if not is_builtin_dataset(config.workload):
            self._trace = load_trace(config.workload, max_tokens=model_spec(config.model).context)
        self.slo = self._objective()
        self.switch_s = self.perf.switch_s if config.switch_ms < 0 else config.switch_ms / 1e3
        self.gpus = gpus(self.serving)
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(OBS_SIZE,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(n)
        self._mask = np.ones(n, dtype=bool)
        if not self.semi_pd:
            self._mask[:] = False
            self._mask[n - 1] = True
        self.engine: Engine = build_engine(self.serving)
        self.view = SMPartitionView(config, self.slo, self.parts, self.total_sms)
        # a prompt's prefill time on the whole GPU (semi-PD's l_100 estimate), by prompt length: a pure function
        self._full_prefill_s: dict[int, float] = {}
        # the episode's latency arrays at its end, for `metrics` and `samples` alike: (finished count, arrays)
        self._times: tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    def _objective(self) -> Slo:
        """The configured SLO: a table entry, or semi-PD's rule (7.5x / 10x a lone request) on this GPU."""
        c = self.config
        if c.slo not in SCALED_SLOS:
            return slo(c.model, c.slo)
        if self._trace is not None:
            prompt = float(np.mean([r.prompt for r in self._trace]))
        else:
            prompt = length_distribution(c.workload).prompt.mean
        tokens = round(prompt)
        ttft = self.perf.prefill_s(self.total_sms, tokens, float(tokens) ** 2)
        tpot = self.perf.decode_s(self.total_sms, 1, tokens + 1)
        factor = SCALED_SLOS[c.slo]
        return Slo(round(factor * ttft, 4), round(factor * tpot, 4))

    # ---- episode --------------------------------------------------------------------------------------------
    def _requests(self, rng: np.random.Generator) -> list[Request]:
        if self._trace is not None:
            return [Request(r.rid, r.arrival, r.prompt, r.output, r.user, r.conversation, r.turn) for r in self._trace]
        c = self.config
        spec = WorkloadSpec(dataset=c.workload, rate=c.rate, requests=c.requests, arrival=c.arrival, cv=c.cv)
        return synthetic_requests(spec, rng)

    def reset(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        """Draw the workload and start the deployment on the initial split."""
        self.engine = self._build()
        self.engine.reset(self._requests(rng))
        self.engine.on_finish = self._on_finish
        self.action = self.initial
        self._window = WindowStats()
        self._first_seen = 0
        self._arrived_seen = 0
        self._attained_total = 0
        self._switches = 0
        self.view = SMPartitionView(self.config, self.slo, self.parts, self.total_sms, action=self.action)
        self._busy0 = [0.0, 0.0]
        self._obs = np.zeros(OBS_SIZE, dtype=np.float32)
        self._refresh(WindowStats())
        self._times = None

    def _build(self) -> Engine:
        """A fresh engine for an episode (the live backend swaps in measured iteration times)."""
        return build_engine(self.serving)

    def _on_finish(self, req: Request) -> None:
        w = self._window
        w.finished += 1
        # `req.tpot()` of a finished request, inlined: this runs once per request
        tpot = (req.finish - req.first_token) / (req.output - 1) if req.output > 1 else 0.0
        w.tpot.append(tpot)
        if req.first_token - req.arrival <= self.slo.ttft_s and tpot <= self.slo.tpot_s:
            w.attained += 1
            self._attained_total += 1

    # ---- decisions --------------------------------------------------------------------------------------------
    def apply(self, action: int) -> Outcome:
        """Re-partition if the split changed, then run one window."""
        if self.semi_pd and action != self.action:
            self._switch(action)
        engine = self.engine
        start = engine.now
        self._window = WindowStats()
        decode = engine.workers[-1]
        if self.config.window_ms > 0:
            engine.run(until=start + self.config.window_ms / 1e3)
        else:
            target = decode.it + self.config.window_iters
            engine.it_stop = (decode.idx, target)
            engine.run(until=start + 30.0)  # `it_stop` ends the run once the window's iterations are done
            engine.it_stop = None
        window = self._window
        window.seconds = engine.now - start
        self._collect_window(window)
        self._refresh(window)
        terminated = engine.done
        truncated = not terminated and engine.now >= self.config.max_sim_s
        goodput = window.attained / max(window.seconds, 1e-9)
        signals = {
            "attainment": window.attained / window.finished if window.finished else 0.0,
            "goodput": goodput / self.config.rate,
            "finished": float(window.finished),
            "simulated_s": window.seconds,
        }
        return Outcome(signals, terminated=terminated, truncated=truncated)

    def _switch(self, action: int) -> None:
        engine = self.engine
        p_sms, d_sms, over = self.parts[action]
        prefill, decode = engine.workers
        engine.oversubscribed = over
        engine.set_sms(prefill, p_sms, self.switch_s)
        engine.set_sms(decode, d_sms, self.switch_s)
        self.action = action
        self._switches += 1

    def _collect_window(self, window: WindowStats) -> None:
        engine = self.engine
        reqs = engine.requests
        perf = self.perf
        full = self._full_prefill_s
        arrived = engine.arrived
        while self._arrived_seen < arrived:
            prompt = reqs[self._arrived_seen].prompt
            window.arrivals += 1
            seconds = full.get(prompt)
            if seconds is None:
                seconds = full[prompt] = perf.prefill_s(self.total_sms, prompt, float(prompt) ** 2)
            window.prefill_full_s += seconds
            self._arrived_seen += 1
        # requests get their first token roughly in arrival order; scan forward from the oldest unseen one
        i = self._first_seen
        while i < len(reqs) and reqs[i].first_token >= 0:
            window.ttft.append(reqs[i].first_token - reqs[i].arrival)
            i += 1
        self._first_seen = i

    def _refresh(self, window: WindowStats) -> None:
        v = self.view
        engine = self.engine
        slo_ = self.slo
        v.window = window
        v.action = self.action
        v.now_s = engine.now
        ttft = sorted(window.ttft)
        tpot = sorted(window.tpot)
        v.p90_ttft_s = _p(ttft, 90)
        v.p90_tpot_s = _p(tpot, 90)
        if window.seconds > 0:
            inst = window.arrivals / window.seconds
            v.rate_rps = inst if v.rate_rps == 0 else 0.5 * v.rate_rps + 0.5 * inst
            if window.arrivals:
                v.l100_s = window.prefill_full_s / window.arrivals
        v.queue = sum(len(w.waiting) for w in engine.workers)
        v.decode_batch = engine.workers[-1].batch
        v.kv_usage = max(w.pool.usage() for w in engine.workers)
        p_sms, d_sms, over = self.parts[self.action]
        busy = [w.busy_s for w in engine.workers[:2]] + [0.0] * (2 - len(engine.workers[:2]))
        span = max(window.seconds, 1e-9)
        util = [min((busy[i] - self._busy0[i]) / span, 1.0) if window.seconds > 0 else 0.0 for i in range(2)]
        self._busy0 = busy
        o = self._obs
        o[0] = min(v.p90_ttft_s / slo_.ttft_s, RATIO_CAP) / RATIO_CAP
        o[1] = min(v.p90_tpot_s / slo_.tpot_s, RATIO_CAP) / RATIO_CAP
        o[2] = min(_p(ttft, 50) / slo_.ttft_s, RATIO_CAP) / RATIO_CAP
        o[3] = min(_p(tpot, 50) / slo_.tpot_s, RATIO_CAP) / RATIO_CAP
        o[4] = window.attained / window.finished if window.finished else 0.0
        o[5] = v.queue / (v.queue + 32.0)
        o[6] = min(v.decode_batch / self.config.max_batch, 1.0)
        o[7] = min(v.rate_rps / (2.0 * self.config.rate), 1.0)
        o[8] = min(v.kv_usage, 1.0)
        o[9] = min(p_sms / self.total_sms, 1.0)
        o[10] = min(d_sms / self.total_sms, 1.0)
        o[11] = 1.0 if over else 0.0
        o[12] = max(util[0], 0.0)
        o[13] = max(util[1], 0.0)

    # ---- views ----------------------------------------------------------------------------------------------
    def observation(self) -> np.ndarray:
        """The normalised observation vector (a copy)."""
        return self._obs.copy()

    def action_mask(self) -> np.ndarray:
        """All splits under semi-PD; only the fixed deployment's action otherwise."""
        return self._mask.copy()

    def system(self) -> SMPartitionView:
        """The read-only view for heuristics."""
        return self.view

    def metrics(self) -> dict[str, float]:
        """Episode metrics (unfinished requests count as missing their SLO)."""
        engine = self.engine
        out = summarize(engine.finished, len(engine.requests), self.slo, engine.now, self._latencies())
        out["simulated_s"] = engine.now
        out["switches"] = float(self._switches)
        out["preemptions"] = float(engine.preemptions)
        out["gpus"] = float(self.gpus)
        out["rate_per_gpu"] = self.config.rate / self.gpus
        out["kv_peak"] = max(w.pool.peak / w.pool.capacity for w in engine.workers)
        return out

    def samples(self) -> dict[str, list[float]]:
        """Per-request TTFT and TPOT of finished requests, seconds (finished requests have finite TPOTs)."""
        ttft, tpot, _ = self._latencies()
        return {"ttft_s": ttft.tolist(), "tpot_s": tpot.tolist()}

    def _latencies(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`latencies` of the finished requests, computed once per finished count (the episode end asks twice)."""
        finished = self.engine.finished
        if self._times is None or self._times[0] != len(finished):
            self._times = (len(finished), latencies(finished))
        return self._times[1]
