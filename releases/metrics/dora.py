"""The four DORA measures, from the production deployments Flightdeck holds, each with its universe.

The rules (also written on the page):
- a *deployment* is a finished attempt to deploy to a production environment (kind `prod`):
  succeeded, failed or rolled back; one still in progress is not counted yet;
- *deployment frequency*: the successful ones, per week of the period;
- *change failure rate*: failed or rolled-back deployments (the tool's own rollback, or a successful
  deployment of a version that ran there before, replacing a different one), successful ones of a
  release that an incident work item names, and successful ones replaced next by a hotfix release,
  over all deployments, each counted once; incidents that name no release are shown apart, not counted;
- *time to restore*: from a failure to the next successful deployment of the same application on
  the same environment; a failure with none yet is "not restored" and counted apart;
- *lead time for changes*: from the release's first work (its first pull request opened or first work
  item created, whichever is earlier) to its successful production deployment.

Each deployment is judged once by these rules and stored (releases.metrics.rollups); counts are SQL
aggregates of the stored outcomes, restore and lead times are read one number per failure or
deployment and their median taken here.
"""

import statistics
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, ExpressionWrapper, IntegerField, Q, Value

from releases.metrics.memo import per_run
from releases.metrics.period import Period, Scope
from releases.metrics.rollups import SUCCESS, Outcomes, outcomes
from releases.metrics.sql import DaysBetween
from releases.models import WorkItem
from releases.numbers import share

__all__ = ["Dora", "Period", "Scope", "dora", "incidents", "share", "span", "unlinked_incidents", "weekly"]


@dataclass(frozen=True)
class Dora:
    period: Period
    deployments: int  # finished attempts
    successes: int
    failures: int
    restored: list[timedelta]
    unrestored: int
    lead_times: list[timedelta]

    @property
    def per_week(self) -> float:
        return self.successes * 7 / self.period.days

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.deployments if self.deployments else None

    @property
    def median_restore(self) -> timedelta | None:
        return _median(self.restored)

    @property
    def median_lead_time(self) -> timedelta | None:
        return _median(self.lead_times)

    @property
    def failure_share(self) -> str:
        return share(self.failures, self.deployments)

    @property
    def restore_words(self) -> str:
        return span(self.median_restore)

    @property
    def lead_time_words(self) -> str:
        return span(self.median_lead_time)


def span(duration: timedelta | None) -> str:
    """A duration in the largest units that say it: "3 d 4 h", "2 h 5 min", "12 min"."""
    if duration is None:
        return "—"
    minutes = int(duration.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def incidents(scope: Scope, period: Period):
    """The incident work items opened in the period."""
    opened = WorkItem.objects.filter(
        type=WorkItem.Type.INCIDENT, created_at__gte=period.start, created_at__lt=period.end
    )
    return opened.filter(scope.q("application"))


def unlinked_incidents(scope: Scope, period: Period) -> int:
    """Incidents opened in the period that name no release: shown, not counted as a change's failure."""
    return incidents(scope, period).filter(fix_releases=None).count()


def dora(scope: Scope, period: Period, found: Outcomes | None = None) -> Dora:
    """From the stored outcomes (three queries) and the days after them, judged live (`found`: the
    period's outcomes when the caller has them already)."""
    found = found or outcomes(scope, period)

    def stored_figures() -> tuple[dict, list[float], list[float]]:
        counts = found.stored.aggregate(
            total=Count("pk"),
            successes=Count("pk", filter=Q(status=SUCCESS)),
            failures=Count("pk", filter=Q(failure=True)),
            unrestored=Count("pk", filter=Q(failure=True, restore_hours__isnull=True)),
        )
        restores = found.stored.filter(failure=True, restore_hours__isnull=False)
        leads = found.stored.filter(lead_hours__isnull=False)
        return (
            counts,
            list(restores.values_list("restore_hours", flat=True)),
            list(leads.values_list("lead_hours", flat=True)),
        )

    counts, restores, leads = per_run(found.run, ("dora", scope, period), stored_figures)
    for row in found.live:
        counts["total"] += 1
        counts["successes"] += row.status == SUCCESS
        counts["failures"] += row.failure
        counts["unrestored"] += row.failure and row.restore_hours is None
        restores += [row.restore_hours] if row.failure and row.restore_hours is not None else []
        leads += [row.lead_hours] if row.lead_hours is not None else []
    return Dora(
        period,
        counts["total"],
        counts["successes"],
        counts["failures"],
        [timedelta(hours=h) for h in restores],
        counts["unrestored"],
        [timedelta(hours=h) for h in leads],
    )


def weekly(scope: Scope, period: Period, found: Outcomes | None = None) -> list[dict]:
    """Successful and failed production deployments per week (Monday) of the period: one query."""
    first_monday = (period.start - timedelta(days=period.start.weekday())).date()
    # The week as a number counted in SQL (TruncWeek calls back into Python per row on SQLite).
    week = ExpressionWrapper(DaysBetween("day", Value(first_monday)) / 7, output_field=IntegerField())
    found = found or outcomes(scope, period)

    def stored_weeks() -> dict:
        rows = (
            found.stored.annotate(week=week)
            .values("week")
            .annotate(total=Count("pk"), failures=Count("pk", filter=Q(failure=True)))
            .order_by("week")
        )
        return {row["week"]: [row["total"], row["failures"]] for row in rows}

    counted = per_run(found.run, ("weekly", scope, period), stored_weeks)
    for row in found.live:
        totals = counted.setdefault((row.day - first_monday).days // 7, [0, 0])
        totals[0], totals[1] = totals[0] + 1, totals[1] + row.failure
    weeks, monday, n = [], first_monday, 0
    while monday < period.end.date():
        total, failures = counted.get(n, (0, 0))
        # Every finished deployment either failed or succeeded: the successes are the rest.
        weeks.append({"week": monday, "successes": total - failures, "failures": failures})
        monday, n = monday + timedelta(days=7), n + 1
    return weeks


def _median(values: list[timedelta]) -> timedelta | None:
    return statistics.median(values) if values else None
