"""A release's risk score, 0 to 100, with the reasons that make it up. Pure: it reads the facts, the
deterministic forecast and the odds that forecast_refresh computed.

- the chance of missing the target: up to MISS points (the share of runs that ship after it);
- blocked by a failed gate or build, or a blocked or cancelled upstream: BLOCKED points;
- a gate past its due date: OVERDUE_GATE points;
- the latest test run has failures or errors: FAILING_TESTS points;
- an upstream release at risk or blocked: UPSTREAM points.

The parts add up to 100 at most. Each reason says its points, so the score is never a bare number.
"""

from dataclasses import dataclass

from releases.planning.forecast import DependencyState, Forecast, ForecastState, ReleaseFacts, odds_words
from releases.planning.odds import Odds

MISS, BLOCKED, OVERDUE_GATE, FAILING_TESTS, UPSTREAM = 40, 30, 10, 10, 10


@dataclass(frozen=True)
class Reason:
    points: int
    text: str


@dataclass(frozen=True)
class Risk:
    score: int
    reasons: tuple[Reason, ...] = ()


def risk(release: ReleaseFacts, forecast: Forecast, odds: Odds) -> Risk:
    """The score of an open release and its reasons, the heaviest first."""
    reasons = []
    if forecast.state is ForecastState.BLOCKED:
        reasons.append(Reason(BLOCKED, f"blocked: {forecast.blocked_reason or 'no date'}"))
    elif odds.on_time is not None and odds.on_time < 1:
        miss = 1 - odds.on_time
        reasons.append(Reason(round(MISS * miss), f"{odds_words(miss)} of the runs ship after the target"))
    overdue = [hold.name for hold in forecast.waiting_for if hold.overdue]
    if overdue:
        reasons.append(
            Reason(OVERDUE_GATE, f"gate {overdue[0]} overdue" + (" and more" if len(overdue) > 1 else ""))
        )
    if release.latest_test_failures:
        reasons.append(
            Reason(FAILING_TESTS, f"latest test run: {release.latest_test_failures} failed or in error")
        )
    late = sum(
        state in (DependencyState.AT_RISK, DependencyState.BLOCKED)
        for state in forecast.dependencies.values()
    )
    if late:
        reasons.append(Reason(UPSTREAM, f"{late} upstream release{'s' if late > 1 else ''} late or blocked"))
    reasons = [reason for reason in reasons if reason.points > 0]
    reasons.sort(key=lambda reason: -reason.points)
    return Risk(min(sum(reason.points for reason in reasons), 100), tuple(reasons))
