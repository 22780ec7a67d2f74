"""The ship-date odds: a Monte Carlo simulation over each application's recent throughput, carried
through the dependency graph. Pure: numpy arrays over plain facts, no ORM.

Each open release is run RUNS times. In each run:
- its remaining work items finish on the first day the application's throughput covers them, each
  day's throughput drawn at random from the application's last HISTORY_DAYS days (a bootstrap of the
  days as they were, quiet days included);
- it ships on the latest of that day, its target, today, its gates' due dates and the same run's ship
  dates of its upstream releases (the day after for "ships before", the same day for "ships with"),
  moved to the first day outside the freezes that hold it.

P50, P85 and P95 are the days by which half, 85% and 95% of the runs shipped; the odds are the share of
runs that shipped on or before the target. Each application's draws are seeded by the application and
the day, so a refresh gives the same answer for the same facts, and only changed rows are written.

There are no odds, and the release says why, when:
- it is blocked (the deterministic forecast has no date);
- it has remaining work in an application with too little history (fewer than MIN_HISTORY_DAYS days
  since its first work item, or fewer than MIN_DONE items done in the last HISTORY_DAYS days);
- an upstream release has no odds for either reason.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import reduce

import numpy as np

from releases.planning.forecast import (
    CANCELLED,
    SHIPPED,
    SHIPS_BEFORE,
    Forecast,
    ForecastState,
    ReleaseFacts,
    topological_order,
)

RUNS = 2000
HISTORY_DAYS = 90  # throughput is drawn from the application's last 90 days
MIN_HISTORY_DAYS = 28  # an application younger than four weeks has too little history
MIN_DONE = 5  # ... as has one that finished fewer items than this in those 90 days
HORIZON_DAYS = 365  # remaining work not done within a year of draws counts as done after it
SEED = 13
PERCENTILES = (50, 85, 95)
RULE = (
    f"{RUNS:,} simulated runs. In each, the remaining work items finish at a throughput drawn day by "
    f"day from the application's last {HISTORY_DAYS} days, and the release ships on the latest of "
    "that day, its target, its gates' due dates and its upstream releases' days in the same run, "
    "moved past freezes. P85: 85% of the runs shipped by then."
)
CHUNK = 1024  # releases whose runs are read as one matrix: about 8 MB at 2,000 runs


@dataclass(frozen=True)
class Throughput:
    """An application's work items done per day, oldest first (at most HISTORY_DAYS days), and how
    many days ago its first work item was created."""

    daily: tuple[int, ...]
    days_known: int

    def too_little(self) -> str:
        """Why this history is too little to draw from, or "" when it is enough."""
        if self.days_known < MIN_HISTORY_DAYS:
            return f"{self.days_known} days of history, {MIN_HISTORY_DAYS} needed"
        done = sum(self.daily)
        if done < MIN_DONE:
            return f"{done} items done in the last {HISTORY_DAYS} days, {MIN_DONE} needed"
        return ""


@dataclass(frozen=True)
class Odds:
    """A release's ship-date distribution, or why it has none (`note`)."""

    p50: date | None = None
    p85: date | None = None
    p95: date | None = None
    on_time: float | None = None  # the share of runs shipped on or before the target
    note: str = ""


def simulate(
    facts: Mapping[int, ReleaseFacts],
    forecasts: Mapping[int, Forecast],
    history: Mapping[int, Throughput],
    *,
    today: date,
    runs: int = RUNS,
    seed: int = SEED,
    delays: Mapping[int, int] | None = None,
    draws: Mapping[int, np.ndarray | str] | None = None,
) -> dict[int, Odds]:
    """The odds of every open release in `facts` (each with its `application_id`); `forecasts` are
    the deterministic ones (what is blocked), `history` the throughput per application. `delays`:
    days a release ships later than it would in every run (a what-if), before freezes move it;
    `draws`: scope_draws of the same facts, to compare two simulations on the same runs."""
    scope_days = (
        draws if draws is not None else scope_draws(facts, history, today=today, runs=runs, seed=seed)
    )
    simulation = _Simulation(facts, forecasts, scope_days, today, runs, delays or {})
    for rid in topological_order(dict(facts)):
        simulation.ships[rid] = simulation.ship_days(facts[rid])
    open_ids = [rid for rid, release in facts.items() if release.status not in (SHIPPED, CANCELLED)]
    found = {
        rid: Odds(note=simulation.ships[rid]) for rid in open_ids if isinstance(simulation.ships[rid], str)
    }
    drawn = [rid for rid in open_ids if rid not in found]
    for start in range(0, len(drawn), CHUNK):
        found |= _odds(drawn[start : start + CHUNK], simulation.ships, facts, today, runs)
    return found


class _Simulation:
    """The runs' ship days of the releases simulated so far (upstream first)."""

    def __init__(self, facts, forecasts, scope_days, today: date, runs: int, delays: Mapping[int, int]):
        self.facts, self.forecasts, self.scope_days = facts, forecasts, scope_days
        self.today, self.runs, self.delays = today, runs, delays
        self.freezes = _FreezeTables(today)
        self.ships: dict[int, np.ndarray | str] = {}  # day offsets from today per run, or why none

    def ship_days(self, release: ReleaseFacts) -> np.ndarray | str:
        today, forecast = self.today, self.forecasts.get(release.id)
        if release.status == SHIPPED and release.actual:
            return np.full(self.runs, (release.actual - today).days, dtype=np.int32)
        if release.status == CANCELLED or forecast is None or forecast.state is ForecastState.BLOCKED:
            return "blocked: no date until what holds it is cleared"
        fixed = max([release.target, today, *(max(gate.due, today) for gate in release.gates)])
        parts: list[np.ndarray | int] = [(fixed - today).days]
        scope = self.scope_days.get(release.id)
        if isinstance(scope, str):
            return scope
        if scope is not None:
            parts.append(scope)
        for up in release.upstream:
            upstream = self.ships.get(up.release_id)
            if upstream is None:
                continue  # not among the facts: ignored, as the deterministic forecast does
            if isinstance(upstream, str):
                label = self.facts[up.release_id].label or "an upstream release"
                return f"waits for {label}, which has no odds"
            parts.append(upstream + (1 if up.kind == SHIPS_BEFORE else 0))
        days = reduce(np.maximum, parts, np.zeros(self.runs, dtype=np.int32)) + self.delays.get(release.id, 0)
        return self.freezes.moved(days, release.freezes)


def scope_draws(
    facts, history, *, today: date, runs: int = RUNS, seed: int = SEED
) -> dict[int, np.ndarray | str]:
    """Per open release with remaining work: the days (from today) its work finishes in each run, or
    why it cannot be drawn. One matrix of draws per application serves all its releases."""
    by_application: dict[int, list[ReleaseFacts]] = {}
    for release in facts.values():
        if release.remaining_items and release.status not in (SHIPPED, CANCELLED):
            by_application.setdefault(release.application_id, []).append(release)
    found: dict[int, np.ndarray | str] = {}
    for application_id, releases in by_application.items():
        throughput = history.get(application_id, Throughput((), 0))
        why = throughput.too_little()
        if why:
            found |= {release.id: f"too little history: {why}" for release in releases}
            continue
        rng = np.random.default_rng([seed, application_id or 0, today.toordinal()])
        daily = np.asarray(throughput.daily, dtype=np.int32)
        remaining = np.asarray([release.remaining_items for release in releases])
        finish = _finish_days(rng, daily, remaining, runs)
        found |= {release.id: finish[:, n] for n, release in enumerate(releases)}
    return found


def _finish_days(rng, daily: np.ndarray, remaining: np.ndarray, runs: int) -> np.ndarray:
    """Each run's finishing day of each remaining count. Days are drawn for three times the mean's
    estimate (plus two weeks) first; when a run needs more, the whole horizon is drawn instead."""
    days = min(HORIZON_DAYS, int(3 * remaining.max() / daily.mean()) + 14)
    while True:
        finish = _first_day_reaching(np.cumsum(rng.choice(daily, (runs, days)), axis=1), remaining)
        if days == HORIZON_DAYS or int(finish.max()) <= days:
            return finish
        days = HORIZON_DAYS


def _first_day_reaching(done: np.ndarray, remaining: np.ndarray) -> np.ndarray:
    """For each run (row of `done`, the cumulative items done by the end of each day) and each count
    in `remaining`: the day count (1 = today) by which it is reached, one past the last day when never.
    One searchsorted over the rows laid end to end, each lifted above the one before."""
    runs, days = done.shape
    lift = int(max(done[:, -1].max(), remaining.max())) + 1
    rows = np.arange(runs, dtype=np.int64)[:, None] * lift
    flat = (done + rows).ravel()
    position = np.searchsorted(flat, (remaining[None, :] + rows).ravel(), side="left").reshape(runs, -1)
    return (position - np.arange(runs)[:, None] * days + 1).astype(np.int32)


class _FreezeTables:
    """Per set of freeze windows: for each day offset, the first day offset outside them."""

    def __init__(self, today: date):
        self.today = today
        self.tables: dict[tuple, np.ndarray] = {}

    def moved(self, days: np.ndarray, freezes: tuple) -> np.ndarray:
        if not freezes:
            return days
        table = self.tables.get(freezes)
        needed = int(days.max()) + 2
        if table is None or len(table) < needed:
            table = self.tables[freezes] = self._table(freezes, max(needed, 2 * HORIZON_DAYS))
        return table[days]

    def _table(self, freezes: tuple, length: int) -> np.ndarray:
        frozen = np.zeros(length + 1, dtype=bool)
        for first, after, *_name in freezes:
            start, stop = (first - self.today).days, (after - self.today).days
            frozen[max(start, 0) : max(min(stop, length), 0)] = True
        table = np.arange(length + 1, dtype=np.int32)
        for day in range(length - 1, -1, -1):  # a frozen day moves to where the next day moves
            if frozen[day]:
                table[day] = table[day + 1]
        return table


def _odds(ids: list[int], ships, facts, today: date, runs: int) -> dict[int, Odds]:
    """The percentiles and the share on time of many releases at once: their runs as the rows of one
    matrix, partitioned at the percentiles' ranks (the inverted CDF: the smallest day at or past the
    share), not sorted."""
    matrix = np.stack([ships[rid] for rid in ids])
    ranks = [math.ceil(share * runs / 100) - 1 for share in PERCENTILES]
    days = np.partition(matrix, ranks, axis=1)[:, ranks]
    targets = np.asarray([(facts[rid].target - today).days for rid in ids])
    on_time = np.count_nonzero(matrix <= targets[:, None], axis=1) / runs
    return {
        rid: Odds(*(today + timedelta(days=int(day)) for day in days[n]), float(on_time[n]))
        for n, rid in enumerate(ids)
    }
