"""The ship-date forecast: pure functions over plain data, no ORM inside the algorithm.

A release's forecast is the latest of:
- its own target date, or, when its scope is behind, the day its remaining work items finish at
  the application's recent throughput;
- today, for a release that has not shipped (a missed target slips day by day);
- the forecasts of its upstream releases, transitively (`ships_before`: the day after; `ships_with`:
  the same day);
- the due dates of its gates not yet passed (an overdue gate holds the release until today);
then moved to the first day outside the freeze windows that apply to it.

A whole portfolio is computed in one pass in topological order: O(V + E).
"""

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from releases.errors import Conflict

SHIPPED = "released"
CANCELLED = "cancelled"
SHIPS_BEFORE = "ships_before"
SHIPS_WITH = "ships_with"
ONE_DAY = timedelta(days=1)


class DependencyState(StrEnum):
    SATISFIED = "satisfied"  # upstream shipped
    PENDING = "pending"  # upstream on course for this release's target
    AT_RISK = "at_risk"  # upstream forecast too late for this release's target
    BLOCKED = "blocked"  # upstream cancelled


@dataclass(frozen=True)
class Upstream:
    release_id: int
    kind: str = SHIPS_BEFORE


@dataclass(frozen=True)
class ReleaseFacts:
    """What the forecast needs to know about one release."""

    id: int
    target: date
    status: str = "planned"
    actual: date | None = None
    upstream: tuple[Upstream, ...] = ()
    remaining_items: int = 0
    items_per_day: float = 0.0  # the application's recent throughput
    open_gate_due_dates: tuple[date, ...] = ()
    freezes: tuple[tuple[date, date], ...] = ()  # half-open [first day, day after) windows that apply


@dataclass(frozen=True)
class Hold:
    """One thing the forecast waits for: its kind, the date it implies, and what it is."""

    kind: str  # "target", "today", "scope", "upstream", "gate", "freeze", "blocked"
    until: date | None
    detail: str = ""
    release_id: int | None = None


@dataclass(frozen=True)
class Forecast:
    release_id: int
    ship_date: date | None  # None: cancelled, or blocked by a cancelled upstream
    slip_days: int
    driver: Hold  # what sets the date
    waiting_for: tuple[Hold, ...] = ()  # everything later than the target, latest first
    dependencies: dict[int, DependencyState] = field(default_factory=dict)

    @property
    def at_risk(self) -> bool:
        return (
            self.ship_date is None
            or self.slip_days > 0
            or DependencyState.AT_RISK in self.dependencies.values()
        )


class DependencyCycle(Conflict, ValueError):
    def __init__(self, cycle: list[int]):
        self.cycle = cycle
        super().__init__("dependency cycle: " + " -> ".join(str(r) for r in cycle))


def forecast_all(releases: Iterable[ReleaseFacts], *, today: date) -> dict[int, Forecast]:
    """Forecast every release given; upstream releases not in the input are ignored."""
    facts = {r.id: r for r in releases}
    forecasts: dict[int, Forecast] = {}
    for release_id in topological_order(facts):
        forecasts[release_id] = _forecast_one(facts[release_id], forecasts, today)
    return forecasts


def critical_path(forecasts: dict[int, Forecast], release_id: int) -> list[int]:
    """The chain of upstream releases that sets this release's date, nearest first.

    Each forecast keeps only its driving upstream (a parent link), so computing the portfolio stays
    O(V + E) and a path costs its own length when asked for.
    """
    path = []
    driver = forecasts[release_id].driver
    while driver.kind in ("upstream", "blocked") and driver.release_id in forecasts:
        path.append(driver.release_id)
        driver = forecasts[driver.release_id].driver
    return path


def topological_order(facts: dict[int, ReleaseFacts]) -> list[int]:
    """Upstream before downstream (Kahn's algorithm); a cycle raises DependencyCycle naming it."""
    downstream: dict[int, list[int]] = {rid: [] for rid in facts}
    waiting_on = dict.fromkeys(facts, 0)
    for release in facts.values():
        for up in release.upstream:
            if up.release_id in facts:
                downstream[up.release_id].append(release.id)
                waiting_on[release.id] += 1
    ready = deque(sorted(rid for rid, count in waiting_on.items() if count == 0))
    order = []
    while ready:
        rid = ready.popleft()
        order.append(rid)
        for child in downstream[rid]:
            waiting_on[child] -= 1
            if waiting_on[child] == 0:
                ready.append(child)
    if len(order) < len(facts):
        raise DependencyCycle(find_cycle(facts, {rid for rid, count in waiting_on.items() if count}))
    return order


def find_cycle(facts: dict[int, ReleaseFacts], candidates: set[int]) -> list[int]:
    """A cycle among the releases Kahn's algorithm could not order, as [a, b, ..., a]."""
    start = min(candidates)
    path, seen = [start], {start: 0}
    while True:
        # Every candidate waits on at least one other candidate, so this walk must loop.
        nxt = min(up.release_id for up in facts[path[-1]].upstream if up.release_id in candidates)
        if nxt in seen:
            return [*path[seen[nxt] :], nxt][::-1]
        seen[nxt] = len(path)
        path.append(nxt)


def would_create_cycle(
    edges: Iterable[tuple[int, int]], *, downstream: int, upstream: int
) -> list[int] | None:
    """Would adding `downstream depends on upstream` close a loop? Returns the cycle or None.

    `edges` are existing (downstream, upstream) pairs. The new edge closes a loop when `downstream`
    is already reachable going upstream from `upstream`.
    """
    if downstream == upstream:
        return [downstream, downstream]
    ups: dict[int, list[int]] = {}
    for down, up in edges:
        ups.setdefault(down, []).append(up)
    parent = {upstream: None}
    queue = deque([upstream])
    while queue:
        node = queue.popleft()
        if node == downstream:
            chain = [node]
            while parent[chain[-1]] is not None:
                chain.append(parent[chain[-1]])
            return [downstream, *reversed(chain)]
        for nxt in ups.get(node, ()):
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return None


def _forecast_one(release: ReleaseFacts, known: dict[int, Forecast], today: date) -> Forecast:
    states = {
        up.release_id: _dependency_state(release, up, known)
        for up in release.upstream
        if up.release_id in known
    }
    if release.status == SHIPPED and release.actual:
        hold = Hold("shipped", release.actual)
        return Forecast(
            release.id, release.actual, (release.actual - release.target).days, hold, dependencies=states
        )
    if release.status == CANCELLED:
        return Forecast(release.id, None, 0, Hold("cancelled", None), dependencies=states)
    blocked = [rid for rid, state in states.items() if state is DependencyState.BLOCKED]
    if blocked:
        hold = Hold("blocked", None, "an upstream release was cancelled", blocked[0])
        return Forecast(release.id, None, 0, hold, (hold,), states)

    holds = _holds(release, known, today)
    driver = max(holds, key=lambda h: h.until)
    ship_date, freeze = _first_day_outside_freezes(driver.until, release.freezes)
    if freeze:
        driver = freeze
        holds.append(freeze)
    late = sorted((h for h in holds if h.until > release.target), key=lambda h: h.until, reverse=True)
    return Forecast(release.id, ship_date, (ship_date - release.target).days, driver, tuple(late), states)


def _holds(release: ReleaseFacts, known: dict[int, Forecast], today: date) -> list[Hold]:
    holds = [Hold("target", release.target), Hold("today", today, "not shipped yet")]
    if release.remaining_items:
        holds.append(_scope_hold(release, today))
    for up in release.upstream:
        upstream = known.get(up.release_id)
        if upstream is None or upstream.ship_date is None:
            continue
        earliest = upstream.ship_date + (ONE_DAY if up.kind == SHIPS_BEFORE else timedelta(0))
        holds.append(Hold("upstream", earliest, up.kind, up.release_id))
    for due in release.open_gate_due_dates:
        holds.append(Hold("gate", max(due, today), f"gate due {due.isoformat()}"))
    return holds


def _scope_hold(release: ReleaseFacts, today: date) -> Hold:
    if release.items_per_day <= 0:
        # No recent throughput: the scope never finishes on its own; hold it a cadence-free year out.
        return Hold(
            "scope",
            today + timedelta(days=365),
            f"{_items(release.remaining_items)} open, no recent throughput",
        )
    days = math.ceil(release.remaining_items / release.items_per_day)
    return Hold("scope", today + timedelta(days=days), f"{_items(release.remaining_items)} open")


def _items(count: int) -> str:
    return f"{count} work item{'' if count == 1 else 's'}"


def _first_day_outside_freezes(day: date, freezes: tuple[tuple[date, date], ...]) -> tuple[date, Hold | None]:
    """Move `day` past every freeze it falls in; windows may touch or chain, so repeat until clear."""
    hit = None
    moved = True
    while moved:
        moved = False
        for start, end in freezes:
            if start <= day < end:
                day, hit, moved = (
                    end,
                    Hold("freeze", end, f"freeze {start.isoformat()} to {end.isoformat()}"),
                    True,
                )
    return day, hit


def _dependency_state(release: ReleaseFacts, up: Upstream, known: dict[int, Forecast]) -> DependencyState:
    upstream = known[up.release_id]
    return dependency_state(
        shipped=upstream.driver.kind == "shipped",
        upstream_date=upstream.ship_date,
        downstream_target=release.target,
        kind=up.kind,
    )


def dependency_state(
    *, shipped: bool, upstream_date: date | None, downstream_target: date, kind: str
) -> DependencyState:
    """Shipped upstream: satisfied. No upstream date (it, or something it needs, was cancelled):
    blocked. An upstream date later than the target allows (ships_before: the day before it;
    ships_with: the target itself): at risk. Otherwise pending."""
    if shipped:
        return DependencyState.SATISFIED
    if upstream_date is None:
        return DependencyState.BLOCKED
    latest_ok = downstream_target - (ONE_DAY if kind == SHIPS_BEFORE else timedelta(0))
    return DependencyState.AT_RISK if upstream_date > latest_ok else DependencyState.PENDING
