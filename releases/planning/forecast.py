"""The ship-date forecast: pure functions over plain data, no ORM inside the algorithm.

A release's forecast is the latest of:
- its own target date, or, when its scope is behind, the day its remaining work items finish at
  the application's recent throughput;
- today, for a release that has not shipped (a missed target slips day by day);
- the forecasts of its upstream releases, transitively (`ships_before`: the day after; `ships_with`:
  the same day);
- the due dates of its gates not yet passed (an overdue gate holds the release until today);
then moved to the first day outside the freeze windows that apply to it.

A release is *blocked*, and has no date until that changes, when one of its gates failed (a signer
rejected it, or its evidence failed it) or its latest finished build did not succeed (`failure`,
`unstable` or `aborted`; a build still running changes nothing until it ends), or when an upstream
release is blocked or cancelled: it cannot ship before that upstream, which has no date. Each blocked
release names what holds it, down to the gate or build at the root of the chain.

Every release gets one `ForecastState` (on track, at risk, blocked, shipped, cancelled); the list, the
calendar, the home page, the train and the API all show that one value (`delivery_state`).

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
# The days a release may be planned for: the forecast and its odds count days from today, and a year 1
# or 9999 would overflow them.
EARLIEST_PLAN_DAY, LATEST_PLAN_DAY = date(2000, 1, 1), date(2199, 12, 31)


class ForecastState(StrEnum):
    """How a release's delivery stands: the one state every page and the API show."""

    ON_TRACK = "on_track"  # forecast on its target, nothing overdue
    AT_RISK = "at_risk"  # forecast after its target, an upstream at risk, or a gate overdue
    BLOCKED = "blocked"  # a failed gate or build, or a blocked or cancelled upstream: no date
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


STATE_LABELS = {
    ForecastState.ON_TRACK: "On track",
    ForecastState.AT_RISK: "At risk",
    ForecastState.BLOCKED: "Blocked",
    ForecastState.SHIPPED: "Shipped",
    ForecastState.CANCELLED: "Cancelled",
}
# The states the stored `at_risk` flag (the "at risk only" filters, the calendar's counts) stands for.
NEEDS_ATTENTION = frozenset({ForecastState.AT_RISK, ForecastState.BLOCKED})
# A finished build that did not succeed blocks its release; `running` is not finished.
FAILED_BUILD_RESULTS = ("failure", "unstable", "aborted")
BUILD_RESULT_WORDS = {"failure": "failed", "unstable": "unstable", "aborted": "aborted"}


def delivery_state(status: str, stored_state: str) -> ForecastState:
    """The state to show for a release: its status when it is closed (a release shipped or cancelled
    since the last refresh is that already), else the state forecast_refresh stored."""
    if status == SHIPPED:
        return ForecastState.SHIPPED
    if status == CANCELLED:
        return ForecastState.CANCELLED
    try:
        state = ForecastState(stored_state)
    except ValueError:
        return ForecastState.ON_TRACK
    return ForecastState.ON_TRACK if state in (ForecastState.SHIPPED, ForecastState.CANCELLED) else state


def odds_words(on_time: float | None) -> str:
    """The share of runs shipped by the target as a percentage that never rounds to 0% or 100% when
    the truth is not: 1 run in 2,000 is "< 1%", 1,999 in 2,000 "> 99%"."""
    if on_time is None:
        return "—"
    if 0 < on_time < 0.005:
        return "< 1%"
    if 0.995 <= on_time < 1:
        return "> 99%"
    return f"{on_time * 100:.0f}%"


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
class GateFact:
    """A gate not yet passed or waived."""

    name: str
    due: date
    status: str = "pending"  # "pending" or "failed"
    rejected: bool = False  # failed by a signer's rejection (else by its evidence)
    evidence: str = ""  # the evidence in words ("41 of 42 tests passed (97.6%), 1 failed")


@dataclass(frozen=True)
class BuildFact:
    """The release's latest finished build."""

    job: str
    number: int
    result: str  # "success", "unstable", "failure", "aborted"

    @property
    def name(self) -> str:
        return f"{self.job} #{self.number}"


@dataclass(frozen=True)
class ReleaseFacts:
    """What the forecast needs to know about one release."""

    id: int
    target: date
    status: str = "planned"
    actual: date | None = None
    label: str = ""  # "PAY 2.8.1": how other releases' holds name it
    application_id: int | None = None  # whose throughput the odds draw from (releases.planning.odds)
    upstream: tuple[Upstream, ...] = ()
    remaining_items: int = 0
    items_per_day: float = 0.0  # the application's recent throughput
    gates: tuple[GateFact, ...] = ()  # the gates not yet passed or waived
    latest_build: BuildFact | None = None
    latest_test_failures: int = 0  # failed and in error in its latest test run (releases.planning.risk)
    # half-open [first day, day after) windows that apply, each with its name (the freeze's reason)
    freezes: tuple[tuple[date, date] | tuple[date, date, str], ...] = ()


@dataclass(frozen=True)
class Hold:
    """One thing the forecast waits for: its kind, the date it implies, and what it is, named.

    kind: "target", "today", "scope", "upstream", "gate", "freeze", or "blocked" (then `cause` says by
    what: "gate", "build" or "upstream"). `name` is the gate's name, the build ("web-pay #412"), the
    upstream release ("PAY 2.8.1") or the freeze window's name."""

    kind: str
    until: date | None
    detail: str = ""
    release_id: int | None = None
    name: str = ""
    cause: str = ""
    overdue: bool = False  # a gate past its due date

    @property
    def reason(self) -> str:
        """A blocked hold's cause without the word "Blocked" ("Security review rejected")."""
        prefix = {"build": "build ", "upstream": "upstream "}.get(self.cause, "")
        return f"{prefix}{self.name} {self.detail}".strip()

    @property
    def text(self) -> str:
        """The hold in words, naming what it waits for."""
        if self.kind == "blocked":
            return f"Blocked: {self.reason}"
        if self.kind == "upstream":
            after = "to ship first" if self.detail == SHIPS_BEFORE else "to ship with it"
            return f"Waits for {self.name or 'an upstream release'} {after}"
        if self.kind == "gate":
            return (
                f"Gate “{self.name}” {self.detail}" if self.name else f"A gate not yet passed ({self.detail})"
            )
        if self.kind == "freeze":
            return (
                f"Freeze window “{self.name}” ({self.detail})"
                if self.name
                else f"A freeze window ({self.detail})"
            )
        if self.kind == "scope":
            return f"Scope: {self.detail}"
        if self.kind == "today":
            return "Not shipped yet: a missed target moves day by day"
        return self.detail or self.kind


@dataclass(frozen=True)
class Forecast:
    release_id: int
    ship_date: date | None  # None: cancelled or blocked
    slip_days: int
    driver: Hold  # what sets the date (or blocks it)
    waiting_for: tuple[Hold, ...] = ()  # what blocks it, then what is later than the target, latest first
    dependencies: dict[int, DependencyState] = field(default_factory=dict)
    state: ForecastState = ForecastState.ON_TRACK
    blockers: tuple[Hold, ...] = ()
    # blocked: the release at the root of the chain and what blocks it there ("RPT 1.0", "CAB rejected")
    root_cause: tuple[str, str] = ("", "")
    label: str = ""

    @property
    def at_risk(self) -> bool:
        return self.state in NEEDS_ATTENTION

    @property
    def blocked_reason(self) -> str:
        return "; ".join(hold.reason for hold in self.blockers)


def stored_hold_text(stored: dict, *, name: str = "") -> str:
    """The words of a stored "waiting for" line (forecast_refresh stores them as `text`); a line stored
    before lines carried their words is worded again from its parts, `name` naming its release."""
    if stored.get("text"):
        return stored["text"]
    until = date.fromisoformat(stored["until"]) if stored.get("until") else None
    parts = (stored.get("kind", ""), until, stored.get("detail", ""), stored.get("release_id"))
    return Hold(*parts, name=stored.get("name") or name, cause=stored.get("cause", "")).text


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
        slip = (release.actual - release.target).days
        return Forecast(
            release.id,
            release.actual,
            slip,
            hold,
            dependencies=states,
            state=ForecastState.SHIPPED,
            label=release.label,
        )
    if release.status == CANCELLED:
        return Forecast(
            release.id,
            None,
            0,
            Hold("cancelled", None),
            dependencies=states,
            state=ForecastState.CANCELLED,
            label=release.label,
        )

    holds = _holds(release, known, today)
    blockers = _own_blockers(release) + _upstream_blockers(release, known, states)
    if blockers:
        late = [h for h in holds if h.until > release.target and h.kind != "today"]
        late.sort(key=lambda h: h.until, reverse=True)
        return Forecast(
            release.id,
            None,
            0,
            blockers[0],
            (*blockers, *late, *_overdue_not_late(holds, late)),
            states,
            ForecastState.BLOCKED,
            blockers,
            _root_cause(release, blockers[0], known),
            release.label,
        )

    driver = max(holds, key=lambda h: h.until)
    ship_date, freeze = _first_day_outside_freezes(driver.until, release.freezes)
    if freeze:
        driver = freeze
        holds.append(freeze)
    late = sorted((h for h in holds if h.until > release.target), key=lambda h: h.until, reverse=True)
    slip = (ship_date - release.target).days
    at_risk = slip > 0 or any(h.overdue for h in holds) or DependencyState.AT_RISK in states.values()
    state = ForecastState.AT_RISK if at_risk else ForecastState.ON_TRACK
    waiting = (*late, *_overdue_not_late(holds, late))
    return Forecast(release.id, ship_date, slip, driver, waiting, states, state, label=release.label)


def _own_blockers(release: ReleaseFacts) -> list[Hold]:
    """Its failed gates (latest due first) and its latest finished build, if it did not succeed."""
    blockers = []
    for gate in sorted(release.gates, key=lambda g: g.due):
        if gate.status != "failed":
            continue
        failed = f"failed ({gate.evidence})" if gate.evidence else "failed"
        detail = "rejected" if gate.rejected else failed
        blockers.append(Hold("blocked", None, detail, name=gate.name, cause="gate"))
    build = release.latest_build
    if build is not None and build.result in FAILED_BUILD_RESULTS:
        blockers.append(
            Hold("blocked", None, BUILD_RESULT_WORDS[build.result], name=build.name, cause="build")
        )
    return blockers


def _upstream_blockers(release: ReleaseFacts, known: dict[int, Forecast], states) -> list[Hold]:
    """An upstream that is blocked or cancelled blocks this release: it has no date to wait for."""
    blockers = []
    for up in release.upstream:
        if states.get(up.release_id) is not DependencyState.BLOCKED:
            continue
        upstream = known[up.release_id]
        root_label, root_reason = upstream.root_cause
        if upstream.state is ForecastState.CANCELLED:
            detail = "was cancelled"
        elif root_label and root_label != upstream.label:
            detail = f"is blocked ({root_label}: {root_reason})"
        else:
            detail = f"is blocked ({root_reason})"
        blockers.append(Hold("blocked", None, detail, up.release_id, upstream.label, cause="upstream"))
    return blockers


def _root_cause(release: ReleaseFacts, first: Hold, known: dict[int, Forecast]) -> tuple[str, str]:
    """What releases downstream are told holds this one: the gate or build at the root, and whose."""
    if first.cause != "upstream":
        return release.label, first.reason
    upstream = known[first.release_id]
    if upstream.state is ForecastState.CANCELLED:
        return upstream.label, "cancelled"
    return upstream.root_cause


def _label(known: dict[int, Forecast], release_id: int) -> str:
    return known[release_id].label


def _overdue_not_late(holds: list[Hold], late: list[Hold]) -> tuple[Hold, ...]:
    """Gates past their due date that do not move the date (the target is later still): listed too."""
    return tuple(h for h in holds if h.overdue and h not in late)


def _holds(release: ReleaseFacts, known: dict[int, Forecast], today: date) -> list[Hold]:
    holds = [Hold("target", release.target), Hold("today", today, "not shipped yet")]
    if release.remaining_items:
        holds.append(_scope_hold(release, today))
    for up in release.upstream:
        upstream = known.get(up.release_id)
        if upstream is None or upstream.ship_date is None:
            continue
        earliest = upstream.ship_date + (ONE_DAY if up.kind == SHIPS_BEFORE else timedelta(0))
        holds.append(Hold("upstream", earliest, up.kind, up.release_id, name=_label(known, up.release_id)))
    for gate in release.gates:
        if gate.status == "failed":
            continue  # a failed gate blocks: see _own_blockers
        overdue = gate.due < today
        when = f"overdue since {gate.due.isoformat()}" if overdue else f"due {gate.due.isoformat()}"
        holds.append(Hold("gate", max(gate.due, today), when, name=gate.name, overdue=overdue))
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


def _first_day_outside_freezes(day: date, freezes) -> tuple[date, Hold | None]:
    """Move `day` past every freeze it falls in; windows may touch or chain, so repeat until clear."""
    hit = None
    moved = True
    while moved:
        moved = False
        for start, end, *name in freezes:
            if start <= day < end:
                last_day = end - ONE_DAY
                words = f"{start.isoformat()} to {last_day.isoformat()}"
                day, hit, moved = end, Hold("freeze", end, words, name=name[0] if name else ""), True
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
