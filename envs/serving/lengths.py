"""Named prompt/output length distributions of the serving workloads (ShareGPT-like, LongBench-like, their mix).

The datasets themselves are not shipped (licences, size); each distribution is a clipped log-normal whose mean
matches published statistics of the dataset, so runs are reproducible offline and a user can replace any of them
with a trace file of real lengths (`serving.trace`).

Sources of the parameters:
    sharegpt: mean prompt 251 tokens (semi-PD, arXiv 2504.19867, ShareGPT workload), mean output 338 tokens (vLLM,
        SOSP 2023, ShareGPT statistics); log-normal spreads 1.0 / 0.9 give the long right tails of chat data.
    longbench: prompts of a few thousand tokens with short answers, mean prompt 2,400 tokens (semi-PD's LongBench
        TTFT SLOs are 7.5x ShareGPT's, i.e. about 7.5x the prefill work at this length), mean output 96 tokens;
        clipped to the 8k context of the measured layer grid.
    mix-95-5: 95 % ShareGPT-like and 5 % long prompts of about 4k tokens (semi-PD's cluster test).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sysgym.envs.core.errors import UnknownNameError


@dataclass(frozen=True)
class LogNormalLengths:
    """A clipped log-normal length law with the given mean (before clipping) and log-space spread.

    Attributes:
        mean: mean length in tokens of the unclipped law.
        sigma: standard deviation of log(length).
        low: shortest length kept (clipped up to it).
        high: longest length kept (clipped down to it).
    """

    mean: float
    sigma: float
    low: int
    high: int

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw `n` integer lengths."""
        mu = np.log(self.mean) - 0.5 * self.sigma**2
        values = rng.lognormal(mu, self.sigma, size=n)
        return np.clip(np.rint(values), self.low, self.high).astype(np.int64)


@dataclass(frozen=True)
class LengthDistribution:
    """Prompt and output lengths of one named dataset, optionally a mixture with a long-prompt component.

    Attributes:
        name: the registered name.
        prompt: prompt-length law of the main component.
        output: output-length law of the main component.
        long_share: fraction of requests drawn from the long component (0 for none).
        long_prompt: prompt law of the long component.
        long_output: output law of the long component.
    """

    name: str
    prompt: LogNormalLengths
    output: LogNormalLengths
    long_share: float = 0.0
    long_prompt: LogNormalLengths | None = None
    long_output: LogNormalLengths | None = None

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw `n` (prompt, output) length pairs as two int64 arrays."""
        prompts = self.prompt.sample(rng, n)
        outputs = self.output.sample(rng, n)
        if self.long_share > 0.0 and self.long_prompt is not None and self.long_output is not None:
            is_long = rng.random(n) < self.long_share
            count = int(is_long.sum())
            prompts[is_long] = self.long_prompt.sample(rng, count)
            outputs[is_long] = self.long_output.sample(rng, count)
        return prompts, outputs


_SHAREGPT_PROMPT = LogNormalLengths(mean=251.0, sigma=1.0, low=4, high=4096)
_SHAREGPT_OUTPUT = LogNormalLengths(mean=338.0, sigma=0.9, low=1, high=2048)
_LONG_PROMPT = LogNormalLengths(mean=2400.0, sigma=0.5, low=512, high=8000)
_LONG_OUTPUT = LogNormalLengths(mean=96.0, sigma=0.7, low=1, high=512)

DISTRIBUTIONS: dict[str, LengthDistribution] = {
    "sharegpt": LengthDistribution("sharegpt", _SHAREGPT_PROMPT, _SHAREGPT_OUTPUT),
    "longbench": LengthDistribution("longbench", _LONG_PROMPT, _LONG_OUTPUT),
    "mix-95-5": LengthDistribution(
        "mix-95-5",
        _SHAREGPT_PROMPT,
        _SHAREGPT_OUTPUT,
        long_share=0.05,
        long_prompt=LogNormalLengths(mean=4096.0, sigma=0.15, low=2048, high=8000),
        long_output=_SHAREGPT_OUTPUT,
    ),
}


def length_distribution(name: str) -> LengthDistribution:
    """The named distribution; unknown names list the known ones."""
    if name not in DISTRIBUTIONS:
        raise UnknownNameError("length distribution", name, list(DISTRIBUTIONS))
    return DISTRIBUTIONS[name]
