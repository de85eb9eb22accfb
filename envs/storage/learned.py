"""The two ML baselines: Archivist's online hot/cold classifier and RNN-HSS's LSTM hotness predictor.

Both learn online inside an episode from what the view shows (no pre-training, no future knowledge), so their
results depend only on the workload and the seed.
"""

from __future__ import annotations

import math

import numpy as np

from sysgym.envs.storage.core import StorageView
from sysgym.envs.storage.heuristics import level_for, prefix, watermark_evictions


class ArchivistPlacement:
    """Archivist (Ren et al. 2019): a small neural network classifies each write as hot or cold.

    It predicts whether the written data is reused within W requests, from size, sequentiality, recency and
    frequency; reused ("hot") data goes to the fastest device.

    Labels arrive W requests late and train the network in batches with plain SGD; until the first batch the
    rule places like HPS (fast while space lasts). [W = 2,000 requests, 8 tanh hidden units, batch 256]
    """

    WINDOW = 2_000
    BATCH = 256
    HIDDEN = 8
    RATE = 0.5
    EPOCHS = 20

    def reset(self, seed: int) -> None:
        """Fresh weights from `seed`, no examples."""
        rng = np.random.default_rng(seed)
        self.w1 = rng.normal(0.0, 0.5, (4, self.HIDDEN))
        self.b1 = np.zeros(self.HIDDEN)
        self.w2 = rng.normal(0.0, 0.5, self.HIDDEN)
        self.b2 = 0.0
        self.pending: list[tuple[int, int, list[float]]] = []
        self.xs: list[list[float]] = []
        self.ys: list[float] = []
        self.trained = False
        self.calls = 0

    def _features(self, view: StorageView) -> list[float]:
        last = view.last_access(view.start)
        recency = math.log1p(view.index - last) / math.log1p(view.n_requests) if last >= 0 else 1.0
        return [
            math.log2(view.nbytes / 4096.0 + 1.0) / 8.0,
            1.0 if view.sequential else 0.0,
            recency,
            math.log1p(view.count(view.start)) / math.log1p(1024.0),
        ]

    def _resolve(self, view: StorageView) -> None:
        keep = []
        for index, page, x in self.pending:
            if view.last_access(page) > index:
                self.xs.append(x)
                self.ys.append(1.0)
            elif view.index - index > self.WINDOW:
                self.xs.append(x)
                self.ys.append(0.0)
            else:
                keep.append((index, page, x))
        self.pending = keep
        if len(self.ys) >= self.BATCH:
            self._train(np.asarray(self.xs), np.asarray(self.ys))
            self.xs, self.ys = [], []

    def _train(self, x: np.ndarray, y: np.ndarray) -> None:
        for _ in range(self.EPOCHS):
            h = np.tanh(x @ self.w1 + self.b1)
            p = 1.0 / (1.0 + np.exp(-(h @ self.w2 + self.b2)))
            g = (p - y) / len(y)
            gh = np.outer(g, self.w2) * (1.0 - h * h)
            self.w2 -= self.RATE * (h.T @ g)
            self.b2 -= self.RATE * float(g.sum())
            self.w1 -= self.RATE * (x.T @ gh)
            self.b1 -= self.RATE * gh.sum(axis=0)
        self.trained = True

    def place(self, view: StorageView) -> int:
        """Fastest device for writes predicted to be reused soon, slowest otherwise."""
        self.calls += 1
        if self.calls % 32 == 0:
            self._resolve(view)
        x = self._features(view)
        self.pending.append((view.index, view.start, x))
        if not self.trained:
            return 0 if view.free(0) >= view.npages else view.n_devices - 1
        h = np.tanh(np.asarray(x) @ self.w1 + self.b1)
        return 0 if float(h @ self.w2 + self.b2) > 0.0 else view.n_devices - 1


class RnnHss:
    """RNN-HSS (after Kleio, Doudali et al. 2019): an LSTM hotness predictor keeps the hottest pages fast.

    The LSTM predicts each page's access count in the next interval from its counts in the last few; the
    predicted-hottest pages (as many as the fastest device holds) are the hot set. Writes to hot pages go
    fast, hot candidates are promoted and cold fast pages demoted.

    The LSTM (hidden 8) is trained online at every interval end on the pages active in the history, predicting
    the latest interval from the ones before it. [interval 1,000 requests, history 4 intervals, 1,024 sampled
    pages x 5 Adam steps per interval]
    """

    INTERVAL = 1_000
    HISTORY = 4
    SAMPLE = 1_024
    STEPS = 5

    def reset(self, seed: int) -> None:
        """Fresh network from `seed`, empty history."""
        import torch

        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.lstm = torch.nn.LSTM(1, 8, batch_first=True)
            self.head = torch.nn.Linear(8, 1)
        params = [*self.lstm.parameters(), *self.head.parameters()]
        self.optim = torch.optim.Adam(params, lr=0.01)
        self.rng = np.random.default_rng(seed)
        self.history: np.ndarray | None = None
        self.previous: np.ndarray | None = None
        self.hot: np.ndarray | None = None
        self.boundary = self.INTERVAL

    def _predict(self, seq: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            out, _ = self.lstm(torch.as_tensor(seq[:, :, None], dtype=torch.float32))
            return self.head(out[:, -1]).squeeze(-1).numpy()

    def _interval_end(self, view: StorageView) -> None:
        import torch

        counts = view.counts()
        if self.history is None or self.previous is None:
            self.history = np.zeros((len(counts), self.HISTORY + 1))
            self.previous = np.zeros(len(counts))
        self.history = np.roll(self.history, -1, axis=1)
        self.history[:, -1] = counts - self.previous
        self.previous = counts
        active = np.flatnonzero(self.history.sum(axis=1) > 0)
        if len(active) == 0:
            return
        logs = np.log1p(self.history[active])
        n = len(active)
        pick = np.arange(n) if n <= self.SAMPLE else self.rng.choice(n, self.SAMPLE, replace=False)
        x = torch.as_tensor(logs[pick, :-1, None], dtype=torch.float32)
        y = torch.as_tensor(logs[pick, -1], dtype=torch.float32)
        for _ in range(self.STEPS):
            out, _ = self.lstm(x)
            loss = torch.mean((self.head(out[:, -1]).squeeze(-1) - y) ** 2)
            self.optim.zero_grad()
            loss.backward()
            self.optim.step()
        predicted = self._predict(logs[:, 1:])
        hot = np.zeros(len(counts), bool)
        top = np.argsort(-predicted, kind="stable")[: view.capacity[0]]
        top = top[predicted[top] > math.log1p(0.5)]
        hot[active[top]] = True
        self.hot = hot

    def _update(self, view: StorageView) -> None:
        if view.index < self.boundary:
            return
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny tensors: extra threads only contend (25x slower on a loaded machine)
        try:
            while view.index >= self.boundary:
                self._interval_end(view)
                self.boundary += self.INTERVAL
        finally:
            torch.set_num_threads(threads)

    def place(self, view: StorageView) -> int:
        """Fast for predicted-hot pages, and for pages without history while the fast device has room."""
        self._update(view)
        if self.hot is not None and self.hot[view.start]:
            return 0
        known_cold = self.hot is not None and self.history is not None and self.history[view.start].any()
        return 0 if not known_cold and view.free(0) >= view.npages else view.n_devices - 1

    def migrate(self, view: StorageView) -> tuple[int, int]:
        """Promote predicted-hot candidates, demote fast pages that fell out of the hot set."""
        self._update(view)
        if self.hot is None:
            return 0, watermark_evictions(view)
        hot = self.hot
        up = view.promote_candidates
        down = view.evict_candidates
        n_up = prefix(up, lambda p: bool(hot[p]))
        n_down = prefix(down, lambda p: not hot[p])
        evict = max(level_for(view, n_down, len(down)), watermark_evictions(view))
        return level_for(view, n_up, len(up)), evict
