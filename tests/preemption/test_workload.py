import numpy as np
import pytest

from sysgym.envs.core.errors import ConfigError
from sysgym.envs.preemption.priority import PriorityProcess, PrioritySpec
from sysgym.envs.preemption.vtc import VirtualTokenCounters, jain
from sysgym.envs.preemption.workload import ConversationSpec, draw_conversations
from sysgym.envs.serving.lengths import length_distribution

SHAREGPT = length_distribution("sharegpt").sample


def test_conversations_average_about_five_and_a_half_turns() -> None:
    spec = ConversationSpec(conversations=4000, max_context=1 << 20)
    work = draw_conversations(spec, SHAREGPT, np.random.default_rng(0))
    turns = np.diff(work.first)
    assert turns.mean() == pytest.approx(5.5, abs=0.25)
    assert turns.min() >= 1


def test_contexts_stay_in_the_window_and_arrivals_are_poisson() -> None:
    spec = ConversationSpec(conversations=3000, rate=5.5, users=4)
    work = draw_conversations(spec, SHAREGPT, np.random.default_rng(1))
    for c in range(0, work.count, 37):
        span = work.turns_of(c)
        context = np.cumsum(work.prompt_tokens[span] + work.output_tokens[span])
        assert context[-1] <= spec.max_context
    gaps = np.diff(work.start_s)
    assert gaps.mean() == pytest.approx(spec.mean_turns / spec.rate, rel=0.08)
    assert set(np.unique(work.user)) == {0, 1, 2, 3}
    assert work.think_s[work.first[:-1]].max() == 0.0


def test_heavy_user_owns_its_share_and_draws_are_seeded() -> None:
    spec = ConversationSpec(conversations=2000, users=8, heavy_share=0.5)
    a = draw_conversations(spec, SHAREGPT, np.random.default_rng(2))
    b = draw_conversations(spec, SHAREGPT, np.random.default_rng(2))
    assert np.mean(a.user == 0) == pytest.approx(0.5, abs=0.04)
    assert np.array_equal(a.prompt_tokens, b.prompt_tokens) and np.array_equal(a.start_s, b.start_s)


def test_bad_workload_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="heavy_share"):
        ConversationSpec(heavy_share=1.0)
    with pytest.raises(ConfigError, match="rate"):
        ConversationSpec(rate=0)


def test_random_pattern_redraws_and_markov_moves_one_level() -> None:
    rng = np.random.default_rng(3)
    random = PriorityProcess(PrioritySpec("random", levels=8), rng)
    levels = random.update([0] * 2000)
    assert len(levels) == 2000 and set(levels) == set(range(8))
    markov = PriorityProcess(PrioritySpec("markov", levels=4, markov_move=0.3), rng)
    before = rng.integers(0, 4, 5000)
    after = np.asarray(markov.update(before.tolist()))
    assert np.abs(after - before).max() == 1
    assert after.min() >= 0 and after.max() <= 3
    assert np.mean(after != before) == pytest.approx(0.6, abs=0.05)


def test_update_gaps_follow_the_frequency() -> None:
    process = PriorityProcess(PrioritySpec(update_freq=0.04), np.random.default_rng(4))
    gaps = [process.gap() for _ in range(4000)]
    assert np.mean(gaps) == pytest.approx(25, rel=0.06)
    assert PriorityProcess(PrioritySpec(update_freq=0.0), np.random.default_rng(0)).gap() >= 1 << 40


def test_vtc_charges_weights_and_lifts_an_idle_user() -> None:
    vtc = VirtualTokenCounters(3)
    vtc.activate(0)
    vtc.charge(0, 100, 10)
    assert vtc.counter[0] == 120
    vtc.activate(1)
    assert vtc.counter[1] == 120, "a user becoming active is lifted to the least active counter"
    vtc.deactivate(0)
    vtc.charge(1, 0, 5)
    vtc.activate(2)
    assert vtc.counter[2] == 130
    assert vtc.service[2] == 0, "the lift changes the counter, not the service received"
    assert vtc.deficit()[0] == 0.0


def test_jain_index() -> None:
    assert jain(np.array([1.0, 1.0, 1.0])) == pytest.approx(1.0)
    assert jain(np.array([1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.25)
    assert jain(np.array([])) == 1.0
