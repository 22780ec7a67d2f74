"""What if a release slips N days, or its target moves: every release downstream of it, across
portfolios, whose P85 or delivery state would change. Nothing is saved.

The release's downstream releases (transitively) and every open release they wait on are read, then
the deterministic forecast and the odds are computed on them twice, on the same draws: as they stand,
and changed. A slip makes the release ship N days later in the forecast and in every run; a new target
replaces its target, as saving it would.
"""

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import connection

from releases.models import Release, ReleaseDependency
from releases.planning.forecast import STATE_LABELS, ForecastState, forecast_all, odds_words
from releases.planning.odds import Odds, scope_draws, simulate
from releases.planning.services.forecasting import FACT_COLUMNS, load_facts, throughput_history

MAX_SLIP_DAYS = 365


class NoDateToMove(ValueError):
    """The release is blocked or closed: it has no ship date to move."""


@dataclass(frozen=True)
class Change:
    release_id: int
    label: str
    portfolio: str
    target: date
    p85_before: date | None
    p85_after: date | None
    odds_before: str
    odds_after: str
    state_before: ForecastState
    state_after: ForecastState

    @property
    def state_words(self) -> tuple[str, str]:
        return STATE_LABELS[self.state_before], STATE_LABELS[self.state_after]


def what_if(release: Release, *, today: date, slip_days: int = 0, target: date | None = None) -> list[Change]:
    """The downstream releases that change, the nearest targets first."""
    if not release.is_open:
        raise NoDateToMove(f"{release} is {release.get_status_display().lower()}: it has no date to move.")
    plan = _Plan.around({release.pk}, today=today)
    if plan.before[release.pk].ship_date is None:
        raise NoDateToMove(f"{release} is blocked: it has no date to move until what holds it is cleared.")
    changed_facts, delays = dict(plan.facts), {}
    if target is not None:
        changed_facts[release.pk] = dataclasses.replace(plan.facts[release.pk], target=target)
    if slip_days:  # the forecast: its own date N days later; the runs: each N days later
        later = plan.before[release.pk].ship_date + timedelta(days=slip_days)
        changed_facts[release.pk] = dataclasses.replace(changed_facts[release.pk], target=later)
        delays = {release.pk: slip_days}
    drawn_facts = plan.facts if slip_days else changed_facts  # a slip is the runs' delay, not a new target
    return plan.changes(changed_facts, drawn_facts=drawn_facts, delays=delays, among=plan.downstream)


def plan_effect(edits: dict[int, dict], *, today: date) -> list[Change]:
    """What saving `edits` ({release id: {"target": day, "status": ...}}, open releases only) would do
    to the forecast: the edited releases and every release downstream of them whose P85 or delivery
    state changes, the nearest targets first."""
    plan = _Plan.around(set(edits), today=today)
    changed_facts = dict(plan.facts)
    for rid, fields in edits.items():
        if rid in changed_facts:
            changed_facts[rid] = dataclasses.replace(changed_facts[rid], **fields)
    return plan.changes(changed_facts, drawn_facts=changed_facts, among=plan.downstream | set(edits))


@dataclass
class _Plan:
    """The releases around some moved ones (those downstream, and every open release they wait on),
    with their forecast and odds as they stand. `changes` computes them again, changed, on the same
    draws: a new target or status moves no work."""

    today: date
    downstream: set[int]
    facts: dict
    history: dict
    before: dict
    odds_before: dict
    draws: object

    @classmethod
    def around(cls, moved: set[int], *, today: date) -> "_Plan":
        downstream = release_closure(moved, down=True) - moved
        ids = release_closure(downstream | moved, down=False)
        rows = {row["id"]: row for row in Release.objects.open().filter(pk__in=ids).values(*FACT_COLUMNS)}
        facts = load_facts(rows, today=today)
        applications = {fact.application_id for fact in facts.values() if fact.application_id}
        history = throughput_history(today, applications)
        before = forecast_all(facts.values(), today=today)
        draws = scope_draws(facts, history, today=today)
        odds_before = simulate(facts, before, history, today=today, draws=draws)
        return cls(today, downstream, facts, history, before, odds_before, draws)

    def changes(
        self, changed_facts: dict, *, drawn_facts: dict, among: set[int], delays=None
    ) -> list[Change]:
        after = forecast_all(changed_facts.values(), today=self.today)
        odds_after = simulate(
            drawn_facts, after, self.history, today=self.today, delays=delays or {}, draws=self.draws
        )
        targets = {rid: changed_facts[rid].target for rid in among if rid in changed_facts}
        return _changes(among, targets, self.before, after, self.odds_before, odds_after)


def _changes(among, targets, before, after, odds_before, odds_after) -> list[Change]:
    """The releases of `among` whose P85 or state differs, each with its target as planned; a release
    cancelled in the plan has no odds after it (Odds()), and its state says cancelled."""
    odds_before, odds_after = defaultdict(Odds, odds_before), defaultdict(Odds, odds_after)
    moved = [
        rid
        for rid in among
        if rid in before
        and (odds_before[rid].p85 != odds_after[rid].p85 or before[rid].state != after[rid].state)
    ]
    described = Release.objects.filter(pk__in=moved).values_list(
        "pk", "application__key", "version", "application__portfolio__name"
    )
    changes = [
        Change(
            rid,
            f"{key} {version}",
            portfolio,
            targets[rid],
            odds_before[rid].p85,
            odds_after[rid].p85,
            odds_words(odds_before[rid].on_time),
            odds_words(odds_after[rid].on_time),
            before[rid].state,
            after[rid].state,
        )
        for rid, key, version, portfolio in described
    ]
    return sorted(changes, key=lambda change: (change.target, change.label))


def release_closure(ids: set[int], *, down: bool) -> set[int]:
    """The releases downstream of `ids` (down=True) or upstream of them, transitively, with `ids`:
    one recursive query whatever the depth of the graph (it has no cycle: dependency_add refuses one,
    and UNION stops at a row seen before anyway)."""
    near, far = ("upstream_id", "downstream_id") if down else ("downstream_id", "upstream_id")
    table = connection.ops.quote_name(ReleaseDependency._meta.db_table)
    seeds = ", ".join(["%s"] * len(ids))
    sql = (
        f"WITH RECURSIVE reached(id) AS ("  # noqa: S608 (names from the model, values as parameters)
        f"SELECT {far} FROM {table} WHERE {near} IN ({seeds}) "
        f"UNION SELECT link.{far} FROM {table} link JOIN reached ON link.{near} = reached.id"
        f") SELECT id FROM reached"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, list(ids))
        return set(ids) | {row[0] for row in cursor.fetchall()}
