"""Virtual Token Counters (Sheng et al., OSDI 2024): per-user weighted service, the fairness state of the env.

Each user's counter grows by `w_in` per prompt token admitted and `w_out` per token generated (the reference
implementation's 1 and 2). When a user becomes active (its queue goes from empty to non-empty) its counter is
lifted to the smallest counter among the other active users, so an idle user cannot bank credit. The same
counters give the observation's per-user service and deficit against the fair share, and the `vtc` baseline.
"""

from __future__ import annotations

import numpy as np


class VirtualTokenCounters:
    """Counters, lift on activation, and the raw (unlifted) service used for the fairness metric.

    Plain lists: a handful of users, charged on every iteration's accounting, where numpy's per-element access
    costs more than the arithmetic.

    Attributes:
        counter: per-user counter (service plus lifts).
        service: per-user weighted service actually received.
        active: per-user requests in the system.
    """

    def __init__(self, users: int, w_in: float = 1.0, w_out: float = 2.0) -> None:
        self.w_in = w_in
        self.w_out = w_out
        self.counter = [0.0] * users
        self.service = [0.0] * users
        self.active = [0] * users

    def activate(self, user: int) -> None:
        """A request of `user` arrived: count it and lift the counter if the user was idle."""
        active = self.active
        if active[user] == 0:
            others = [c for u, (c, a) in enumerate(zip(self.counter, active, strict=True)) if a > 0 and u != user]
            if others:
                self.counter[user] = max(self.counter[user], min(others))
        active[user] += 1

    def deactivate(self, user: int) -> None:
        """A request of `user` finished."""
        self.active[user] -= 1

    def charge(self, user: int, prompt_tokens: int, output_tokens: int) -> None:
        """Add one iteration's service to `user`."""
        amount = self.w_in * prompt_tokens + self.w_out * output_tokens
        self.counter[user] += amount
        self.service[user] += amount

    def active_counters(self) -> list[float]:
        """Counters of the users with requests in the system."""
        return [c for c, a in zip(self.counter, self.active, strict=True) if a > 0]

    def deficit(self) -> list[float]:
        """How far each active user's counter lags the active users' mean (positive = owed service)."""
        live = self.active_counters()
        if not live:
            return [0.0] * len(self.counter)
        mean = sum(live) / len(live)
        return [mean - c if a > 0 else 0.0 for c, a in zip(self.counter, self.active, strict=True)]


def jain(values: np.ndarray) -> float:
    """Jain's fairness index of non-negative values (1 = equal; 1/n = one gets everything)."""
    total = float(values.sum())
    if len(values) == 0 or total <= 0:
        return 1.0
    return total * total / (len(values) * float(np.square(values).sum()))
