import pytest

from sysgym.envs.spark.virtual_time import CFQClock, UWFQClock


def test_uwfq_chains_a_users_jobs_and_gives_a_new_user_an_early_deadline():
    clock = UWFQClock(cores=4)
    clock.submit(0.0, user_id=0, job=1, estimate=8.0)
    clock.submit(0.0, user_id=0, job=2, estimate=8.0)
    # user 0 alone: its jobs run back to back in virtual time
    assert clock.deadline == {1: 8.0, 2: 16.0}
    # at t=1 V = 1 s x 4 cores = 4; user 1 starts there and its 2 core-s job ends at 6 < 8
    clock.submit(1.0, user_id=1, job=3, estimate=2.0)
    assert clock.virtual == pytest.approx(4.0)
    assert clock.deadline[3] == pytest.approx(6.0)
    # user 0's clock ran at 4 cores / 2 jobs for 1 s
    assert clock.active[0].clock == pytest.approx(2.0)


def test_uwfq_departure_and_restart_of_a_user():
    clock = UWFQClock(cores=4)
    clock.submit(0.0, 0, 1, 8.0)
    clock.submit(0.0, 0, 2, 8.0)
    clock.submit(1.0, 1, 3, 2.0)
    # t=3: user 1 (globalEnd 6) departs at t=2 (2 users x 2 cores: (6-4)/2 = 1 s after t=1); then user 0 alone
    # at 4 cores for 1 s: V = 6 + 4 = 10. User 1's new job starts at V, its user clock at 2.
    clock.submit(3.0, 1, 4, 2.0)
    assert 1 in clock.active
    assert clock.virtual == pytest.approx(10.0)
    assert clock.active[1].global_start == pytest.approx(10.0)
    assert clock.deadline[4] == pytest.approx(12.0)
    assert clock.active[0].clock == pytest.approx(5.0)
    assert clock.deadline[1] == 8.0 and clock.deadline[2] == 16.0


def test_uwfq_grace_keeps_global_start_for_a_known_job():
    clock = UWFQClock(cores=4)
    clock.submit(0.0, 0, 1, 8.0)
    clock.submit(0.0, 0, 2, 8.0)
    clock.submit(1.0, 1, 3, 2.0)
    # the second stage of job 3 at t=3: user 1 left at V=6, V is now 10, 10 - 6 = 4 <= grace 3 s x 4/2 = 6
    clock.submit(3.0, 1, 3, 2.0)
    assert clock.active[1].global_start == pytest.approx(6.0)
    assert clock.virtual == pytest.approx(10.0)


def test_uwfq_virtual_time_never_goes_backwards():
    clock = UWFQClock(cores=2)
    seen = []
    for t, user, job in [(0.0, 0, 1), (0.5, 1, 2), (3.0, 1, 2), (3.0, 2, 3), (9.0, 0, 4), (20.0, 1, 2)]:
        clock.submit(t, user, job, 1.0)
        seen.append(clock.virtual)
    assert seen == sorted(seen)


def test_cfq_stage_level_virtual_finish():
    clock = CFQClock(cores=4)
    clock.submit(0.0, job=1, stage=0, estimate=8.0)
    assert clock.deadline[(1, 0)] == 8.0
    clock.submit(1.0, job=2, stage=0, estimate=2.0)
    assert clock.virtual == pytest.approx(4.0)
    assert clock.deadline[(2, 0)] == pytest.approx(6.0)
    # at t=2: stage (2,0) retires exactly at t=2 (two stages x 2 cores from V=4), V = 6
    clock.submit(2.0, job=3, stage=0, estimate=4.0)
    assert clock.virtual == pytest.approx(6.0)
    assert (2, 0) not in clock.active
    assert clock.deadline[(3, 0)] == pytest.approx(10.0)
