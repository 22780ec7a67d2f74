"""The ship-date odds (releases.planning.odds): known throughput gives known percentiles, a chain
takes the latest of its parts, freezes push the days, and too little history is said, not guessed."""

from datetime import date, timedelta

import pytest

from releases.planning.forecast import (
    SHIPS_BEFORE,
    SHIPS_WITH,
    GateFact,
    ReleaseFacts,
    Upstream,
    forecast_all,
)
from releases.planning.odds import HISTORY_DAYS, MIN_HISTORY_DAYS, Throughput, simulate

TODAY = date(2026, 12, 3)
APP, OTHER_APP = 1, 2
STEADY = Throughput(daily=(2,) * HISTORY_DAYS, days_known=400)  # two items every day
COIN = Throughput(daily=(0, 2) * (HISTORY_DAYS // 2), days_known=400)  # 0 or 2 a day, one a day on average


def day(n: int) -> date:
    return TODAY + timedelta(days=n)


def release(rid, *, remaining=0, target=TODAY, app=APP, **extra) -> ReleaseFacts:
    return ReleaseFacts(
        rid, target=target, remaining_items=remaining, application_id=app, label=f"R{rid}", **extra
    )


def odds(*releases, history=None, **options):
    facts = {r.id: r for r in releases}
    forecasts = forecast_all(facts.values(), today=TODAY)
    return simulate(facts, forecasts, history or {APP: STEADY, OTHER_APP: STEADY}, today=TODAY, **options)


def test_steady_throughput_gives_one_certain_day():
    late = odds(release(1, remaining=10, target=day(4)))[1]
    assert (late.p50, late.p85, late.p95) == (day(5), day(5), day(5))  # 10 items at 2 a day
    assert late.on_time == 0.0
    early = odds(release(1, remaining=10, target=day(7)))[1]
    assert (early.p50, early.p95, early.on_time) == (day(7), day(7), 1.0)  # done early, ships on target


def test_a_coin_flip_throughput_gives_the_negative_binomial_percentiles():
    # 100 items at 0 or 2 a day: 50 two-item days needed, so the day count is negative binomial
    # (50 successes at p = 1/2): mean 100, standard deviation 10.
    found = odds(release(1, remaining=100, target=day(100)), history={APP: COIN})[1]
    assert abs((found.p50 - TODAY).days - 100) <= 2
    assert abs((found.p85 - TODAY).days - 110) <= 3
    assert abs((found.p95 - TODAY).days - 117) <= 3
    assert 0.45 <= found.on_time <= 0.60  # P(at most 100 days): a little over half


def test_a_release_never_ships_before_its_target_today_or_its_gates():
    gate = GateFact("Security review", due=day(9))
    found = odds(release(1, remaining=2, target=day(3), gates=(gate,)))[1]
    assert found.p50 == found.p95 == day(9)
    assert odds(release(2, target=TODAY - timedelta(days=5)))[2].p50 == TODAY  # a missed target: today


def test_a_chain_takes_the_latest_of_its_parts_in_each_run():
    upstream = release(1, remaining=20, target=day(1))  # done on day 10
    before = release(2, remaining=6, target=day(2), upstream=(Upstream(1, SHIPS_BEFORE),))  # own: day 3
    alongside = release(3, target=day(2), upstream=(Upstream(1, SHIPS_WITH),))
    found = odds(upstream, before, alongside)
    assert found[2].p50 == found[2].p95 == day(11)  # the day after its upstream
    assert found[3].p50 == day(10)
    later_own = release(4, remaining=40, target=day(1), upstream=(Upstream(1, SHIPS_BEFORE),))
    assert odds(upstream, later_own)[4].p50 == day(20)  # its own work is later than the upstream


def test_a_freeze_pushes_every_run_past_it():
    freeze = ((day(4), day(9), "Year-end freeze"),)
    found = odds(release(1, remaining=10, target=day(2), freezes=freeze))[1]
    assert found.p50 == found.p95 == day(9)
    assert found.on_time == 0.0


@pytest.mark.parametrize(
    ("history", "words"),
    [
        (Throughput((2,) * 10, days_known=10), f"10 days of history, {MIN_HISTORY_DAYS} needed"),
        (Throughput((0,) * HISTORY_DAYS, days_known=300), f"0 items done in the last {HISTORY_DAYS} days"),
        (None, f"0 days of history, {MIN_HISTORY_DAYS} needed"),
    ],
)
def test_too_little_history_is_said_not_guessed(history, words):
    young = release(1, remaining=5, target=day(10))
    downstream = release(2, app=OTHER_APP, target=day(20), upstream=(Upstream(1, SHIPS_BEFORE),))
    found = odds(young, downstream, history={OTHER_APP: STEADY} | ({APP: history} if history else {}))
    assert found[1].p50 is None and found[1].on_time is None
    assert found[1].note.startswith("too little history") and words in found[1].note
    assert found[2].p50 is None and found[2].note == "waits for R1, which has no odds"


def test_no_remaining_work_needs_no_history():
    found = odds(release(1, target=day(6)), history={})[1]
    assert (found.p50, found.on_time, found.note) == (day(6), 1.0, "")


def test_a_blocked_release_has_no_odds():
    failed = GateFact("CAB", due=day(2), status="failed", rejected=True)
    found = odds(release(1, remaining=4, target=day(8), gates=(failed,)))[1]
    assert found.p50 is None and found.note.startswith("blocked")


def test_shipped_and_cancelled_releases_get_no_odds_of_their_own():
    shipped = release(1, target=day(-3), status="released", actual=day(-2))
    downstream = release(2, target=day(1), upstream=(Upstream(1, SHIPS_BEFORE),))
    found = odds(shipped, downstream, release(3, status="cancelled"))
    assert set(found) == {2} and found[2].p50 == day(1)


def test_the_draws_are_reproducible_and_seeded():
    coin = {APP: COIN}
    first = odds(release(1, remaining=60, target=day(60)), history=coin)
    assert odds(release(1, remaining=60, target=day(60)), history=coin) == first
    reseeded = [odds(release(1, remaining=60, target=day(60)), history=coin, seed=s)[1] for s in range(1, 6)]
    assert any(other.on_time != first[1].on_time for other in reseeded)
