"""The risk score (releases.planning.risk): each part with its points and words, capped at 100."""

from datetime import date, timedelta

from releases.planning.forecast import (
    SHIPS_BEFORE,
    BuildFact,
    GateFact,
    ReleaseFacts,
    Upstream,
    forecast_all,
)
from releases.planning.odds import Odds
from releases.planning.risk import BLOCKED, FAILING_TESTS, MISS, OVERDUE_GATE, UPSTREAM, risk

TODAY = date(2026, 12, 3)


def day(n: int) -> date:
    return TODAY + timedelta(days=n)


def scored(*releases: ReleaseFacts, odds: dict | None = None):
    forecasts = forecast_all(releases, today=TODAY)
    last = releases[-1]
    return risk(last, forecasts[last.id], (odds or {}).get(last.id, Odds()))


def test_a_sure_release_with_nothing_wrong_scores_zero():
    assert scored(ReleaseFacts(1, target=day(5)), odds={1: Odds(day(5), day(5), day(5), 1.0)}).score == 0


def test_the_chance_of_missing_the_target_weighs_up_to_forty():
    found = scored(ReleaseFacts(1, target=day(5)), odds={1: Odds(day(5), day(8), day(9), 0.25)})
    assert found.score == round(MISS * 0.75) == 30
    assert found.reasons[0].text == "75% of the runs ship after the target"


def test_every_part_adds_its_points_with_its_reason_heaviest_first():
    late_upstream = ReleaseFacts(1, target=day(9), remaining_items=30, items_per_day=1)
    release = ReleaseFacts(
        2,
        target=day(5),
        upstream=(Upstream(1, SHIPS_BEFORE),),
        gates=(GateFact("QA sign-off", due=day(-2)),),
        latest_test_failures=4,
    )
    found = scored(late_upstream, release, odds={2: Odds(day(31), day(31), day(31), 0.0)})
    assert [reason.points for reason in found.reasons] == [MISS, OVERDUE_GATE, FAILING_TESTS, UPSTREAM]
    assert found.score == 70
    assert "gate QA sign-off overdue" in [reason.text for reason in found.reasons]
    assert "latest test run: 4 failed or in error" in [reason.text for reason in found.reasons]


def test_a_blocked_release_scores_its_blocker_and_never_passes_one_hundred():
    blocked = ReleaseFacts(
        1,
        target=day(5),
        gates=(
            GateFact("Security review", due=day(-3)),
            GateFact("CAB", due=day(1), status="failed", rejected=True),
        ),
        latest_build=BuildFact("pay-release", 88, "failure"),
        latest_test_failures=12,
    )
    found = scored(blocked)
    assert found.reasons[0].points == BLOCKED and found.reasons[0].text.startswith("blocked: CAB rejected")
    assert found.score == BLOCKED + OVERDUE_GATE + FAILING_TESTS <= 100
