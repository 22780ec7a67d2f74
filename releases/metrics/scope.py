"""Planned vs delivered scope of the releases shipped in a period, from the history of their scope
(releases.models.ScopeChange: an item joining or leaving a release, and when).

The rules (also written on the page):
- the releases measured: shipped in the period (their shipping day in it) with a code freeze date;
  those shipped without one (hotfixes) are counted apart and not measured. A release that shipped
  before its freeze date is measured at its shipping day;
- an item is *in* a release's scope at a moment when its latest change for that release at or before
  it is "added" (so a change repeated changes nothing); days are whole days of the portal's time zone,
  UTC, and "at the freeze" means at the end of the code freeze day;
- *in at code freeze*: the items in scope at the end of the freeze day;
- *added after*: the items that joined the scope after the freeze day, up to the end of the shipping
  day; *removed after*: those that left it in that time (descoping an item is its leaving). An item
  that joined and left again counts in both;
- *shipped*: the items in scope at the end of the shipping day that were done then (done in the tool,
  resolved on or before that day, not descoped).

When a change happened is recorded as well as Flightdeck can know it (see ScopeChange): the tool's
last update of the item when a sync observes the change, the item's creation when it is in the
release at first sight (and for the scope Flightdeck held before it kept the history), the moment
itself for a change made in Flightdeck.

Each figure is a SQL count: the releases in one query, the counts per release in one (a correlated
NOT EXISTS finds each pair's latest change). A shipped release's figures rarely change, so the page
reads them from the daily roll-up (releases.metrics.daily, figure "release_scope": `scope_by_day`
stores them per shipping day and application) and counts only the days after it live.
"""

from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce, Least

from releases.metrics.period import Period, Scope, portal_day
from releases.metrics.sql import UtcDay
from releases.models import Release, ScopeChange, WorkItem

FIGURES = ("in_at_freeze", "added_after", "removed_after", "shipped")
UNIVERSE = ("releases", "without_freeze", "with_history")
ADDED, REMOVED = ScopeChange.Kind.ADDED, ScopeChange.Kind.REMOVED


@dataclass(frozen=True)
class ScopeTotals:
    releases: int  # shipped in the period with a code freeze: the releases measured
    without_freeze: int  # shipped in the period without one: not measured
    with_history: int  # of the releases measured, those with any work item in their scope's history
    in_at_freeze: int
    added_after: int
    removed_after: int
    shipped: int


def shipped_releases(scope: Scope, period: Period):
    first, after = portal_day(period.start), portal_day(period.end)
    return Release.objects.filter(
        status=Release.Status.RELEASED, actual_date__gte=first, actual_date__lt=after
    ).filter(scope.q("application"))


def measured_releases(scope: Scope, period: Period):
    """The releases the figures rest on: shipped in the period, with a code freeze."""
    return shipped_releases(scope, period).filter(code_freeze_date__isnull=False)


def _latest_by(day: str) -> Exists:
    """This change is its pair's latest by the end of the outer row's `day` (an alias)."""
    later = (
        ScopeChange.objects.filter(release=OuterRef("release"), work_item=OuterRef("work_item"))
        .alias(day=UtcDay("at"))
        .filter(day__lte=OuterRef(day))
        .filter(Q(at__gt=OuterRef("at")) | Q(at=OuterRef("at"), pk__gt=OuterRef("pk")))
    )
    return ~Exists(later)


def scope_counts(scope: Scope, period: Period):
    """Per measured release that has any scope history: {"release", *FIGURES}. One query."""
    after_freeze = Q(day__gt=F("freeze"), day__lte=F("ship"))
    done_at_ship = Q(
        work_item__status_category=WorkItem.StatusCategory.DONE,
        work_item__descoped=False,
        resolved__lte=F("ship"),
    )
    return (
        ScopeChange.objects.filter(release__in=measured_releases(scope, period))
        .alias(
            day=UtcDay("at"),
            ship=F("release__actual_date"),
            freeze=Least("release__code_freeze_date", "release__actual_date"),
            # A done item the tool gave no resolution time counts as done when it shipped.
            resolved=Coalesce(UtcDay("work_item__resolved_at"), F("release__actual_date")),
        )
        .alias(latest_at_freeze=_latest_by("freeze"), latest_at_ship=_latest_by("ship"))
        .values("release", "release__actual_date", "release__application_id")
        .annotate(
            in_at_freeze=Count("pk", filter=Q(kind=ADDED, day__lte=F("freeze"), latest_at_freeze=True)),
            added_after=Count("work_item", distinct=True, filter=Q(kind=ADDED) & after_freeze),
            removed_after=Count("work_item", distinct=True, filter=Q(kind=REMOVED) & after_freeze),
            shipped=Count("pk", filter=Q(kind=ADDED, day__lte=F("ship"), latest_at_ship=True) & done_at_ship),
        )
        .order_by()
    )


def scope_totals(scope: Scope, period: Period) -> ScopeTotals:
    """The four figures over the measured releases, and the universe: the rolled-up days' sums and
    the days after them counted live (releases.metrics.daily)."""
    from releases.metrics.daily import figure_totals  # daily reads this module's scope_by_day
    from releases.metrics.rollups import rolled

    totals = figure_totals("release_scope", scope, period, rolled())
    return ScopeTotals(**{name: totals.get((name, ""), {}).get("count", 0) for name in UNIVERSE + FIGURES})


def scope_by_day(scope: Scope, period: Period) -> list[dict]:
    """The figures and the universe per shipping day and application, as the daily roll-up stores
    them ({"figure_day", "figure_application", "figure_label": a name of UNIVERSE + FIGURES, "count"}).
    Two queries; the sums are taken here over the releases' rows, never over work items."""
    sums: dict[tuple, int] = {}

    def add(day, application, name, value):
        sums[(day, application, name)] = sums.get((day, application, name), 0) + (value or 0)

    universe = (
        shipped_releases(scope, period)
        .values("actual_date", "application_id")
        .annotate(
            releases=Count("pk", filter=Q(code_freeze_date__isnull=False)),
            without_freeze=Count("pk", filter=Q(code_freeze_date__isnull=True)),
        )
        .order_by()
    )
    for row in universe:
        for name in ("releases", "without_freeze"):
            add(row["actual_date"], row["application_id"], name, row[name])
    for row in scope_counts(scope, period):
        day, application = row["release__actual_date"], row["release__application_id"]
        add(day, application, "with_history", 1)
        for name in FIGURES:
            add(day, application, name, row[name])
    return [
        {"figure_day": day, "figure_application": application, "figure_label": name, "figure_outcome": ""}
        | {"count": count, "known": 0, "total": 0.0}
        for (day, application, name), count in sums.items()
        if count
    ]


def scope_by_release(scope: Scope, period: Period) -> list[dict]:
    """Each measured release, shipped first to last, with its figures (zeros for a release with no
    scope history). Two queries; the rows are releases, never work items."""
    counts = {row["release"]: row for row in scope_counts(scope, period)}
    releases = (
        measured_releases(scope, period)
        .order_by("actual_date", "application__key", "version")
        .values("pk", "application__key", "version", "code_freeze_date", "actual_date")
    )
    return [
        release | {name: counts.get(release["pk"], {}).get(name, 0) for name in FIGURES}
        for release in releases
    ]
