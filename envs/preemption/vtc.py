"""Virtual Token Counters (Sheng et al., OSDI 2024): per-user weighted service, the fairness state of the env.

Each user's counter grows by `w_in` per prompt token admitted and `w_out` per token generated (the reference
implementation's 1 and 2). When a user becomes active (its queue goes from empty to non-empty) its counter is
lifted to the smallest counter among the other active users, so an idle user cannot bank credit. The same
counters give the observation's per-user service and deficit against the fair share, and the `vtc` baseline.
"""

from __future__ import annotations

import numpy as np


class VirtualTokenCounters:
    """Counters, lift on activation, and the raw (unlifted) service used for the fairness metric."""

    def __init__(self, users: int, w_in: float = 1.0, w_out: float = 2.0) -> None:
        self.w_in = w_in
        self.w_out = w_out
        self.counter = np.zeros(users)
        self.service = np.zeros(users)
        self.active = np.zeros(users, dtype=np.int64)

    def activate(self, user: int) -> None:
        """A request of `user` arrived: count it and lift the counter if the user was idle."""
        if self.active[user] == 0:
            others = (self.active > 0) & (np.arange(len(self.active)) != user)
            if others.any():
                self.counter[user] = max(self.counter[user], float(self.counter[others].min()))
        self.active[user] += 1

    def deactivate(self, user: int) -> None:
        """A request of `user` finished."""
        self.active[user] -= 1

    def charge(self, user: int, prompt_tokens: int, output_tokens: int) -> None:
        """Add one iteration's service to `user`."""
        amount = self.w_in * prompt_tokens + self.w_out * output_tokens
        self.counter[user] += amount
        self.service[user] += amount

    def deficit(self) -> np.ndarray:
        """How far each active user's counter lags the active users' mean (positive = owed service)."""
        mask = self.active > 0
        if not mask.any():
            return np.zeros_like(self.counter)
        return np.where(mask, float(self.counter[mask].mean()) - self.counter, 0.0)


def jain(values: np.ndarray) -> float:
    """Jain's fairness index of non-negative values (1 = equal; 1/n = one gets everything)."""
    total = float(values.sum())
    if len(values) == 0 or total <= 0:
        return 1.0
    return total * total / (len(values) * float(np.square(values).sum()))
